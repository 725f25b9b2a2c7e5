"""Metrics by name: the page, `pulse export` and the tests all reach a metric through here.

A metric declares its output columns and its options. Calling it (directly or by name)
types the query's raw option strings against that declaration, fills in defaults and
rejects unknown options, so a metric body only ever sees valid typed values.

A metric whose table can be too big to hold (a list of every event) also declares its
`rows`: the one SQL statement, with its parameters, whose result is the table, so an export
can stream it from the store in batches (metrics.files) instead of building the frame.
"""

from __future__ import annotations

import difflib
import functools
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

import polars as pl

from pulse.query import FILTERS, Query, QueryError, parse_date
from pulse.schema import BOOLEAN_WORDS, EVENT_TYPES, MONEY
from pulse.settings import parse_alert_rules, parse_limits

# The largest amount the store's money type holds; a bound beyond it compares with nothing
# stored and cannot be bound as that type.
LARGEST_AMOUNT = Decimal(10) ** (MONEY.precision - MONEY.scale) - Decimal(1).scaleb(-MONEY.scale)


@dataclass(frozen=True)
class Option:
    """A metric option as the user gives it (text), declared with everything that checks it.

    kind is int, bool, choice, list, date, str, amount (a decimal), probability (a float
    strictly between 0 and 1), limits (plan=calls pairs) or thresholds (rule=number|off pairs). A list with choices accepts only those items. An int lies between `minimum` and
    `maximum`, so no value overflows the SQL it is bound into. `required` is the sentence shown
    when the option is missing; `invalid`, when given, the sentence for a wrong value
    ({value} is the offending value or item, {choices} the choices). `setting` names the
    store setting that gives the default (session_timeout, api_limits), so a page, an
    export and a schedule all count with the same value.
    """

    name: str
    kind: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    required: str | None = None
    invalid: str | None = None
    setting: str | None = None

    def parse(self, raw: Any, metric: str) -> Any:
        if not isinstance(raw, str):
            return raw
        text = raw.strip()

        def bad(value: str = raw) -> QueryError:
            if self.invalid:
                return QueryError(self.invalid.format(value=value, choices=", ".join(self.choices)))
            return QueryError(f"Option {self.name}={value!r} for {metric} is not valid: {self.describe()}.")

        if self.kind == "int":
            try:
                value = int(text)
            except ValueError:
                raise bad() from None
            if (self.minimum is not None and value < self.minimum) or (self.maximum is not None and value > self.maximum):
                raise bad()
            return value
        if self.kind == "bool":
            if text.lower() not in BOOLEAN_WORDS:
                raise bad()
            return BOOLEAN_WORDS[text.lower()]
        if self.kind == "choice":
            if text not in self.choices:
                raise bad(text)
            return text
        if self.kind == "list":
            items = tuple(part.strip() for part in text.split(",") if part.strip())
            if not items:
                raise bad()
            unknown = sorted(set(items) - set(self.choices)) if self.choices else []
            if unknown:
                raise bad(unknown[0])
            return items
        if self.kind == "date":
            return parse_date(text, f"option {self.name}")
        if self.kind == "amount":
            try:
                amount = Decimal(text)
            except InvalidOperation:
                amount = Decimal("NaN")
            if not amount.is_finite():
                raise QueryError(f"Option {self.name}={text!r} is not an amount; use a number such as 9.99.")
            if abs(amount) > LARGEST_AMOUNT:
                raise QueryError(f"Option {self.name}={text!r} is beyond any amount Pulse stores (at most {LARGEST_AMOUNT}).")
            return amount
        if self.kind in ("limits", "thresholds"):
            try:
                return (parse_limits if self.kind == "limits" else parse_alert_rules)(text)
            except ValueError as exc:
                raise QueryError(str(exc)) from None
        if self.kind == "probability":
            try:
                value = float(text)
            except ValueError:
                raise bad() from None
            if not 0 < value < 1:
                raise bad()
            return value
        return text

    def describe(self) -> str:
        if self.kind == "choice":
            return f"one of {'|'.join(self.choices)}"
        if self.kind == "int":
            if self.minimum is not None and self.maximum is not None:
                return f"a whole number from {self.minimum} to {self.maximum}"
            if self.maximum is not None:
                return f"a whole number <= {self.maximum}"
            return "a whole number" + (f" >= {self.minimum}" if self.minimum is not None else "")
        if self.kind == "list" and self.choices:
            return f"some of {','.join(self.choices)}"
        return {"bool": "true or false", "list": "a comma-separated list", "date": "a date YYYY-MM-DD",
                "amount": "an amount such as 9.99", "limits": "plan=calls pairs, comma-separated",
                "thresholds": "rule=number or rule=off pairs, comma-separated",
                "probability": "a number between 0 and 1"}.get(self.kind, "text")

    def default_text(self) -> str:
        """What the option is when it is not given, for `pulse metrics` and docs/metrics.md."""
        if self.setting:
            return f"default the {self.setting} setting"
        if self.default is not None:
            return f"default {self.show(self.default)}"
        return "required" if self.required else "no default"

    def show(self, value: Any) -> str:
        """A value as the user would type it (for `pulse metrics` and the pages)."""
        if self.kind in ("limits", "thresholds"):
            return ",".join(f"{key}={'off' if number is None else f'{number:g}'}" for key, number in value)
        if isinstance(value, tuple):
            return ",".join(str(v) for v in value)
        return str(value).lower() if isinstance(value, bool) else str(value)


EVENT_TYPE = Option("event_type", "choice", None, "count only events of this type as activity", EVENT_TYPES,
                    invalid="Unknown event_type {value!r}; use one of: {choices}.")
# Paging of the explorers' lists; an export takes every row (limit 0).
LIMIT = Option("limit", "int", 0, "rows per page (0: all)", minimum=0, maximum=1_000_000)
OFFSET = Option("offset", "int", 0, "rows to skip (paging)", minimum=0, maximum=1_000_000_000)


# A metric's area is the page that draws it, in the order of the app's navigation.
AREAS = ("overview", "activity", "retention", "purchases", "revenue", "user", "data")


@dataclass(frozen=True)
class Metric:
    name: str
    func: Callable[..., pl.DataFrame]
    columns: tuple[str, ...]
    options: tuple[Option, ...]
    area: str
    summary: str
    internal: bool = False  # feeds a page's controls (choices, search) rather than showing a figure
    # (store, q) -> (sql, params) whose result is exactly func's frame, for metrics that stream.
    rows: Callable[..., tuple[str, dict[str, Any]]] | None = None

    def option(self, name: str) -> Option:
        """The declared option `name` (its default, choices and help, for a page's controls)."""
        for option in self.options:
            if option.name == name:
                return option
        raise KeyError(f"{self.name} has no option {name!r}")

    def typed(self, q: Query, store: Any = None) -> Query:
        """q with this metric's options parsed, checked and defaulted (from `store`'s settings
        where an option says so)."""
        declared = {o.name: o for o in self.options}
        given = dict(q.options)
        unknown = sorted(set(given) - set(declared))
        if unknown:
            known = ", ".join(sorted(list(declared) + list(FILTERS))) or "none"
            raise QueryError(f"Unknown option {unknown[0]!r} for {self.name}; its options are: {known}.")
        values = {name: opt.parse(given[name], self.name) if name in given else opt.default for name, opt in declared.items()}
        for name, opt in declared.items():
            if opt.setting and values[name] is None and store is not None:
                values[name] = getattr(store, opt.setting)
        for name, opt in declared.items():
            if opt.required and values[name] in (None, "", ()):
                raise QueryError(opt.required)
        return replace(q, options=tuple(sorted(values.items(), key=lambda kv: kv[0])))


REGISTRY: dict[str, Metric] = {}


def metric(name: str, columns: list[str] | tuple[str, ...], options: tuple[Option, ...] = (), area: str = "",
           internal: bool = False, rows: Callable[..., tuple[str, dict[str, Any]]] | None = None) -> Callable:
    """Register `func(store, q) -> DataFrame` under `name`; the wrapper types q's options.

    `rows(store, q) -> (sql, params)`, for a metric whose table can be huge, is the statement
    func's frame is the result of (func is then `store.fetch(*rows(store, q))`); it is
    registered with the same typing of q.
    """
    if area not in AREAS:
        raise ValueError(f"metric {name!r} has area {area!r}, not one of {AREAS}")

    def register(func: Callable[..., pl.DataFrame]) -> Callable[..., pl.DataFrame]:
        summary = (func.__doc__ or "").strip().splitlines()[0] if func.__doc__ else ""

        @functools.wraps(func)
        def wrapper(store: Any, q: Query) -> pl.DataFrame:
            out = func(store, entry.typed(q, store))
            if tuple(out.columns) != entry.columns:
                raise AssertionError(f"{name} returned columns {out.columns}, declared {list(entry.columns)}")
            return out

        def typed_rows(store: Any, q: Query) -> tuple[str, dict[str, Any]]:
            return rows(store, entry.typed(q, store))

        entry = Metric(name, wrapper, tuple(columns), tuple(options), area, summary, internal,
                       typed_rows if rows else None)
        if name in REGISTRY:
            raise ValueError(f"metric {name!r} registered twice")
        REGISTRY[name] = entry
        return wrapper

    return register


# Importing this module imports the `metrics` package first, whose __init__ imports every
# metric module: the registry is complete before anyone can ask it for a metric.


def get(name: str) -> Metric:
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f" Did you mean {close[0]}?" if close else " Run `pulse metrics` to list them."
        raise QueryError(f"Unknown metric {name!r}.{hint}")
    return REGISTRY[name]


def all_metrics() -> list[Metric]:
    return sorted(REGISTRY.values(), key=lambda m: (AREAS.index(m.area), m.name))


def run(name: str, store: Any, q: Query) -> pl.DataFrame:
    return get(name).func(store, q)

