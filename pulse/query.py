"""The one query object every metric takes, parsed once from the command line or filter bar.

Nothing downstream sees raw parameters: dates are dates, the interval is checked, filters
are split from metric options, and a metric's options arrive typed (see metrics.registry).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from pulse.periods import INTERVALS, period_count, period_end, period_start, periods_between
from pulse.schema import DEVICE_TYPES, FIRST_DAY, LAST_DAY, SUPPORTED_DAYS

FILTERS = ("country", "device_type", "plan")


class QueryError(Exception):
    """The user asked for something that cannot be answered; the text is one sentence."""


def parse_date(value: str | date, what: str = "date") -> date:
    """A day the user gave, refused with one sentence when it is not a date Pulse supports.

    Every date from the command line, the filter bar and date options passes here, so no
    metric meets a day whose period or local midnight falls off the calendar.
    """
    if isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value).strip())
        except ValueError:
            raise QueryError(f"The {what} {value!r} is not a date; use YYYY-MM-DD, e.g. 2024-03-01.") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise QueryError(f"The {what} {day.isoformat()} is outside the days Pulse supports, {SUPPORTED_DAYS}.")
    return day


# The most periods one query answers: every day of 54 years, every week or month Pulse supports.
MAX_PERIODS = 20_000


@dataclass(frozen=True)
class Query:
    """A date range (both ends inclusive, reporting timezone), an interval, filters, options.

    `filters` restrict users/events before a metric runs (country, device_type, plan);
    `options` are the metric's own typed settings, as (name, value) pairs so the query stays
    hashable for caching.
    """

    start: date
    end: date
    interval: str = "day"
    filters: tuple[tuple[str, str], ...] = ()
    options: tuple[tuple[str, Any], ...] = field(default=())
    # A staff member's data scope: the only countries and plans whose users they may see
    # (empty: all). Applied with the filters, so no metric can forget it.
    scope: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def __post_init__(self) -> None:
        if self.interval not in INTERVALS:
            raise QueryError(f"Unknown interval {self.interval!r}; use one of: {', '.join(INTERVALS)}.")
        if self.end < self.start:
            raise QueryError(f"The end date {self.end} is before the start date {self.start}.")
        if period_count(self.start, self.end, self.interval) > MAX_PERIODS:
            raise QueryError(f"The range {self.start} – {self.end} has more than {MAX_PERIODS:,} {self.interval}s, the most "
                             "one query answers; choose a shorter range or a longer interval.")
        for name, _ in self.filters:
            if name not in FILTERS:
                raise QueryError(f"Unknown filter {name!r}; use one of: {', '.join(FILTERS)}.")
        device = self.filter("device_type")
        if device is not None and device not in DEVICE_TYPES:
            raise QueryError(f"Unknown device_type {device!r}; use one of: {', '.join(DEVICE_TYPES)}.")

    @property
    def range_start(self) -> date:
        """The start widened back to the first day of its period."""
        return period_start(self.start, self.interval)

    @property
    def range_end(self) -> date:
        """The end widened on to the last day of its period."""
        return period_end(self.end, self.interval)

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def periods(self) -> list[date]:
        """The first day of every period in the (widened) range, in order."""
        return periods_between(self.start, self.end, self.interval)

    def filter(self, name: str) -> str | None:
        return dict(self.filters).get(name)

    def opt(self, name: str) -> Any:
        """A typed option value; metrics.registry fills in every declared default."""
        values = dict(self.options)
        if name not in values:
            raise KeyError(f"option {name!r} was not declared for this metric")
        return values[name]

    def scoped(self, countries: tuple[str, ...] = (), plans: tuple[str, ...] = ()) -> Query:
        """This query limited to the users of these countries and plans (none given: all)."""
        scope = tuple((name, tuple(sorted(values))) for name, values in (("country", countries), ("plan", plans))
                      if values)
        return replace(self, scope=scope)

    def in_scope(self, name: str) -> tuple[str, ...]:
        """The values of `name` (country, plan) the scope allows; empty when it allows all."""
        return dict(self.scope).get(name, ())

    def with_options(self, **options: Any) -> Query:
        merged = dict(self.options) | options
        return replace(self, options=tuple(sorted(merged.items())))

    def previous(self) -> Query:
        """The range of equal length that ends the day before this one starts."""
        length = timedelta(days=self.days)
        return replace(self, start=self.start - length, end=self.end - length)


def make_query(
    start: str | date,
    end: str | date,
    interval: str = "day",
    options: dict[str, str] | None = None,
) -> Query:
    """A query from user text: filters are split out of the options; metric options stay raw
    (strings) until metrics.registry types them against the metric's declaration."""
    filters, rest = {}, {}
    for key, value in (options or {}).items():
        (filters if key in FILTERS else rest)[key] = value
    return Query(
        start=parse_date(start, "start date"),
        end=parse_date(end, "end date"),
        interval=interval,
        filters=tuple(sorted((k, str(v)) for k, v in filters.items() if str(v) != "")),
        options=tuple(sorted(rest.items())),
    )


def parse_options(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`KEY=VALUE` strings from the command line into a dict."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise QueryError(f"The option {pair!r} is not KEY=VALUE, e.g. --option country=DE.")
        out[key.strip()] = value.strip()
    return out
