"""Goals: a headline number's recent trend, projected to the goal's date with a prediction interval.

A goal reads "reach at least `target` by `due`": the measure's value in the period that
contains the due date. Its figures come from the registered metrics (the `mrr`, `revenue`,
`active_users` and `new_users` columns the pages show), so a goal's current value is the
same number as everywhere else; goals count the whole business within the viewer's data
scope, whatever the filter bar's country, device or plan.

The method, stated on the page: an ordinary least-squares line of the value on the period
index over the last PERIODS complete periods, projected to the due date's period, with the
80 % prediction interval of a new value there (Student's t with n - 2 degrees of freedom).
A goal is ahead when even the interval's low end clears the target, on track when the
projected value reaches it, else behind. Deliberately simple: a straight line says nothing
about seasons or saturation, and the page says what it is.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from math import fsum, sqrt
from typing import Protocol

import polars as pl
from scipy.stats import t

from metrics import registry
from pulse.periods import next_period, period_count, period_end, period_start, previous_period
from pulse.query import Query


@dataclass(frozen=True)
class Measure:
    """A number a goal can be set for: which metric column it is, per which period."""

    label: str
    interval: str  # month or week: the period the value is counted per
    kind: str  # money or count, for formatting
    metric: str
    column: str
    can_be_negative: bool = False  # net revenue can (refunds); a count or MRR cannot

    def bounded(self, projection: Projection) -> Projection:
        """The projection with what the measure cannot be cut off: no line leads below 0 users."""
        if self.can_be_negative:
            return projection
        return Projection(*(max(0.0, v) for v in (projection.point, projection.low, projection.high)))


MEASURES: dict[str, Measure] = {
    "mrr": Measure("MRR", "month", "money", "mrr", "mrr"),
    "paying_customers": Measure("Paying customers", "month", "count", "mrr", "customers"),
    "active_users": Measure("Active users per month", "month", "count", "active_users", "active_users"),
    "net_revenue": Measure("Net revenue per month", "month", "money", "revenue", "net_revenue", can_be_negative=True),
    "new_users": Measure("New users per week", "week", "count", "new_users", "new_users"),
}
PERIODS = 6  # complete periods the line is fitted to
CONFIDENCE = 0.8
MIN_POINTS = 3  # a line and a spread around it need at least three points

AHEAD, ON_TRACK, BEHIND = "ahead", "on track", "behind"
REACHED, MISSED = "reached", "missed"  # the due date's period is over


class Goal(Protocol):
    """What progress needs of a goal (admin.models.Goal has it)."""

    measure: str
    target: float
    due: date


@dataclass(frozen=True)
class Series:
    """A measure's last complete periods (oldest first) and the period that contains `until`."""

    measure: str
    periods: list[date]  # first days of the complete periods
    values: list[float]
    current_period: date
    current: float  # the current period's value: so far, unless `until` ends it
    until: date

    @property
    def current_complete(self) -> bool:
        return period_end(self.current_period, MEASURES[self.measure].interval) == self.until


@dataclass(frozen=True)
class Projection:
    point: float
    low: float
    high: float


def series(store, q: Query, measure: str, until: date, periods: int = PERIODS) -> Series:
    """The measure's last `periods` complete periods up to `until` (the last complete day),
    and the value of the period containing `until` (complete when `until` is its last day).

    Periods that begin before the store's first day of activity are left out: they would
    count as zeros (or as part of a period) and tilt the line. One metric call, with q's data
    scope but none of its filters, dates or options.
    """
    spec = MEASURES[measure]
    interval = spec.interval
    current = period_start(until, interval)
    last = current if period_end(until, interval) == until else previous_period(current, interval)
    first = last
    for _ in range(periods - 1):
        first = previous_period(first, interval)
    data_from = store.scalar("SELECT min(day) FROM user_days")
    while data_from is not None and first < data_from and first <= last:
        first = next_period(first, interval)
    query = replace(q, start=min(first, current), end=until, interval=interval, filters=(), options=())
    frame = registry.run(spec.metric, store, query)
    by_period = dict(zip(frame[frame.columns[0]].to_list(), (float(v) for v in frame[spec.column].to_list())))
    complete = [p for p in sorted(by_period) if first <= p <= last]
    return Series(measure, complete, [by_period[p] for p in complete], current, by_period[current], until)


def project(values: list[float], steps_ahead: float, confidence: float = CONFIDENCE) -> Projection:
    """The least-squares line of `values` on their index 0..n-1, at index n - 1 + steps_ahead,
    with the prediction interval of a new value there:
    point ± t((1 + c) / 2, n - 2) · s · sqrt(1 + 1/n + (x0 - x̄)² / Sxx), s² = SSE / (n - 2).
    Centred sums keep an exact line exact: residuals 0, an interval of width 0."""
    n = len(values)
    if n < MIN_POINTS:
        raise ValueError(f"A line needs at least {MIN_POINTS} values to project, not {n}.")
    x_mean, y_mean = (n - 1) / 2, fsum(values) / n
    sxx = fsum((i - x_mean) ** 2 for i in range(n))
    slope = fsum((i - x_mean) * (y - y_mean) for i, y in enumerate(values)) / sxx
    sse = fsum((y - y_mean - slope * (i - x_mean)) ** 2 for i, y in enumerate(values))
    x0 = n - 1 + steps_ahead
    point = y_mean + slope * (x0 - x_mean)
    half = float(t.ppf((1 + confidence) / 2, n - 2)) * sqrt(sse / (n - 2)) * sqrt(1 + 1 / n + (x0 - x_mean) ** 2 / sxx)
    return Projection(point, point - half, point + half)


def status(projection: Projection, target: float) -> str:
    """ahead: even the interval's low end is above the target; on track: the projected value
    reaches it (an exact line that meets it is on track); behind: it falls short."""
    if projection.low > target:
        return AHEAD
    return ON_TRACK if projection.point >= target else BEHIND


def period_words(start: date, interval: str) -> str:
    """'November 2026', 'the week of 2026-11-23': the period as the method sentence names it."""
    return f"{start:%B %Y}" if interval == "month" else f"the week of {start.isoformat()}"


@dataclass(frozen=True)
class Progress:
    """One goal against its measure: where it stands, where the line leads, and how that was worked out."""

    measure: str
    target: float
    due: date
    history: Series
    due_period: date
    steps: int  # periods from the last complete one to the due date's
    projection: Projection | None  # None when the due period is over, or too little history
    status: str  # ahead, on track, behind; reached or missed once the due period is over; "" without a projection
    method: str  # one sentence for the page

    @property
    def spec(self) -> Measure:
        return MEASURES[self.measure]

    @property
    def current(self) -> float:
        return self.history.current

    @property
    def share(self) -> float:
        """The current value as a share of the target, 0 to 1 (for a progress bar)."""
        return max(0.0, min(1.0, self.current / self.target))

    def chart_frame(self) -> pl.DataFrame:
        """Rows to draw: `actual` complete periods, the current period `so far` when it is not
        complete, and the `projected` line with its interval from the last complete period to
        the due date's. Columns: period, part, value, low, high."""
        rows = [(p, "actual", v, None, None) for p, v in zip(self.history.periods, self.history.values)]
        if not self.history.current_complete:
            rows.append((self.history.current_period, "so far", self.current, None, None))
        if self.projection is not None and self.history.periods:
            period = self.history.periods[-1]
            for step in range(self.steps + 1):
                at = self.spec.bounded(project(self.history.values, step))
                rows.append((period, "projected", at.point, at.low, at.high))
                period = next_period(period, self.spec.interval)
        return pl.DataFrame(rows, schema={"period": pl.Date, "part": pl.String, "value": pl.Float64,
                                          "low": pl.Float64, "high": pl.Float64}, orient="row")


def progress(store, q: Query, goal: Goal, until: date, periods: int = PERIODS) -> Progress:
    """The goal's progress on the data up to `until` (the last complete day)."""
    spec = MEASURES[goal.measure]
    interval, unit = spec.interval, spec.interval + "s"
    due_period = period_start(goal.due, interval)
    if period_end(goal.due, interval) <= until:
        history = series(store, q, goal.measure, period_end(goal.due, interval), periods)
        state = REACHED if history.current >= goal.target else MISSED
        method = f"{period_words(due_period, interval).capitalize()} is over: the goal was {state}."
        return Progress(goal.measure, goal.target, goal.due, history, due_period, 0, None, state, method)
    history = series(store, q, goal.measure, until, periods)
    n = len(history.values)
    last = history.periods[-1] if history.periods else history.current_period
    steps = period_count(last, due_period, interval) - 1
    if n < MIN_POINTS:
        method = (f"Too little history to project: {n} complete {unit if n != 1 else interval} of data, "
                  f"and the line needs at least {MIN_POINTS}.")
        return Progress(goal.measure, goal.target, goal.due, history, due_period, steps, None, "", method)
    projection = spec.bounded(project(history.values, steps))
    method = (f"Least-squares line over the last {n} complete {unit}, projected to "
              f"{period_words(due_period, interval)}, with an {round(CONFIDENCE * 100)} % prediction interval.")
    return Progress(goal.measure, goal.target, goal.due, history, due_period, steps, projection,
                    status(projection, goal.target), method)
