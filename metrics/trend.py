"""Trend: one or more series over events or transactions per period, with filters, a
breakdown, a formula and a comparison (METRICS.md "Explore"; docs/metrics.md "trend").

The options are parsed once, up front, into a TrendSpec (PostHog's query object): every
field name comes from an allow-list, every value is a bound parameter, and every way to ask
for something that cannot be answered is one sentence before any SQL runs. Each series is
then one scan of its table over the local-day range (zonemaps on `day` prune the rest),
all series in one statement; polars shapes the small result (zeros, the previous range,
the formula).
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any

import polars as pl

from metrics.base import Params, active_days, event_scope
from metrics.money import transactions_scope
from metrics.registry import Option, metric
from metrics.sessions import SESSION_TIMEOUT, built_timeout
from pulse.derived import sessions_select
from pulse.measures import NOT_SET, local_day, rate
from pulse.periods import end_of_day_utc, local_midnight_utc, period_end as period_end_day, previous_period, trunc_sql
from pulse.query import Query, QueryError
from pulse.schema import BOOLEAN_WORDS, EVENT_TYPES, TRANSACTION_KINDS, TRANSACTION_STATUSES

ANY = "any"
SOURCES = ("events", "transactions")
MATHS = ("total", "unique_users", "per_user", "sessions", "sum", "avg", "median", "p90", "min", "max")
# Maths over a numeric property; the others count rows, users or sessions.
PROPERTY_MATHS = ("sum", "avg", "median", "p90", "min", "max")
# Maths whose value is 0, not empty, in a period without rows (they add up across periods).
ADDITIVE_MATHS = ("total", "unique_users", "sessions", "sum")
MAX_SERIES = 10
LETTERS = "ABCDEFGHIJ"
OTHER = "Other"
MAX_FORMULA = 200


@dataclass(frozen=True)
class Field:
    """A field a filter or a breakdown may name: its SQL over the aliases e (events),
    t (transactions) and p (the user's profile, people), and its kind (text, number, bool,
    property: a key of the events' properties JSON, text that may hold a number)."""

    name: str
    sql: str
    kind: str
    user: bool = False
    key: str | None = None  # the JSON path bound for a property, e.g. $.duration


EVENT_FIELDS = {name: Field(name, sql, "text") for name, sql in {
    "event_type": "e.event_type::VARCHAR", "event_name": "e.event_name", "page_path": "e.page_path",
    "device_type": "e.device_type::VARCHAR", "browser": "e.browser", "os": "e.os", "country_code": "e.country_code",
    "referrer": "e.referrer"}.items()}
TRANSACTION_FIELDS = {name: Field(name, sql, "text") for name, sql in {
    "kind": "t.kind::VARCHAR", "status": "t.status::VARCHAR", "category": "t.category", "provider": "t.provider",
    "payment_method": "t.payment_method", "product_id": "t.product_id", "product_name": "t.product_name"}.items()}
TRANSACTION_FIELDS["amount"] = Field("amount", "t.amount", "number")
USER_FIELDS = {
    "country": Field("country", "p.country", "text", user=True),
    "plan": Field("plan", "p.plan", "text", user=True),
    "auth_provider": Field("auth_provider", "p.auth_provider", "text", user=True),
    "signup_month": Field("signup_month", "strftime(p.signup_day, '%Y-%m')", "text", user=True),
    "marketing_opt_in": Field("marketing_opt_in", "p.marketing_opt_in", "bool", user=True),
}
PROPERTY_KEY = re.compile(r"[A-Za-z0-9_]{1,64}")
# Operators a field's kind takes, in the spelling used in messages.
OPERATORS = {
    "text": ("=", "!=", "~", "in", "is set", "is not set"),
    "property": ("=", "!=", "~", "in", ">", "<", "is set", "is not set"),
    "number": ("=", "!=", ">", "<", "in", "is set", "is not set"),
    "bool": ("=", "!=", "is set", "is not set"),
}
CONDITION = re.compile(
    r"(?P<field>[A-Za-z_][A-Za-z0-9_]*(?:\.[^\s=!≠~<>?]*)?)\s*"
    r"(?:(?P<set>\?|is set|is not set)|(?P<op>!=|≠|=|~|>|<|(?<=\s)in\s)\s*(?P<value>.*))",
    re.IGNORECASE,
)


def fields(source: str) -> dict[str, Field]:
    """The fields of one source's rows and of their users (properties.<key> besides, for events)."""
    return {**(EVENT_FIELDS if source == "events" else TRANSACTION_FIELDS), **USER_FIELDS}


def field(source: str, name: str, what: str) -> Field:
    """The allow-listed field `name` of `source`, or one sentence naming what asked for it."""
    known = fields(source)
    if name in known:
        return known[name]
    if source == "events" and name.startswith("properties."):
        key = name.removeprefix("properties.")
        if not PROPERTY_KEY.fullmatch(key):
            raise QueryError(f"{what}: {name!r} is not a property key; keys are letters, digits and _, e.g. properties.duration.")
        return Field(name, "", "property", key=f"$.{key}")
    listed = ", ".join([*known, *(["properties.<key>"] if source == "events" else [])])
    raise QueryError(f"{what}: unknown field {name!r} for {source}; use one of: {listed}.")


@dataclass(frozen=True)
class Condition:
    field: Field
    op: str  # one of OPERATORS' spellings
    value: Any = None


def parse_where(text: str | None, source: str, series: str) -> tuple[Condition, ...]:
    """`field=value;field2!=value;...` (see docs/metrics.md "trend") as conditions."""
    out = []
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        what = f"Series {series}'s where {part!r}"
        match = CONDITION.fullmatch(part)
        if not match:
            raise QueryError(f"{what} is not field=value, field!=value, field~text, field in a,b, field>number, "
                             "field<number or field?.")
        f = field(source, match["field"], what)
        op = (match["set"] or match["op"]).strip().lower()
        op = {"≠": "!=", "?": "is set"}.get(op, op)
        if op not in OPERATORS[f.kind]:
            kind = "a number" if f.kind == "number" else "true or false" if f.kind == "bool" else "text"
            raise QueryError(f"{what}: {f.name} is {kind}, which does not take {op}.")
        out.append(Condition(f, op, _value(f, op, (match["value"] or "").strip(), what)))
    return tuple(out)


def _value(f: Field, op: str, raw: str, what: str) -> Any:
    if op in ("is set", "is not set"):
        return None
    items = [v.strip() for v in raw.split(",")] if op == "in" else [raw]
    if any(not v for v in items):
        raise QueryError(f"{what} has no value to compare with.")
    if f.name == "country":  # users' countries are stored upper-case, as the filter bar compares them
        items = [v.upper() for v in items]
    if f.kind == "bool":
        if raw.lower() not in BOOLEAN_WORDS:
            raise QueryError(f"{what}: {f.name} is true or false, not {raw!r}.")
        return BOOLEAN_WORDS[raw.lower()]
    if f.kind == "number" or op in (">", "<"):
        try:
            numbers = [float(v) for v in items]
        except ValueError:
            raise QueryError(f"{what}: {op} compares numbers, and {raw!r} is not one.") from None
        return numbers if op == "in" else numbers[0]
    return items if op == "in" else items[0]


@dataclass(frozen=True)
class Series:
    letter: str
    label: str
    source: str
    event: str
    name: str | None
    path: str | None
    kind: str | None
    status: str | None
    math: str
    property: str | None  # the JSON path ($.key) for events, "amount" for transactions
    where: tuple[Condition, ...]


@dataclass(frozen=True)
class TrendSpec:
    series: tuple[Series, ...]
    breakdown: Field | None
    top: int
    compare: bool
    formula: str | None
    formula_tree: ast.expr | None


SOURCE = Option("source", "choice", "events", "what to count: events or transactions", SOURCES)
EVENT = Option("event", "choice", ANY, "events of this type only (events)", (*EVENT_TYPES, ANY))
NAME = Option("name", "str", None, "events with exactly this event_name only (events)")
PATH = Option("path", "str", None, "events with exactly this page_path only (events)")
KIND = Option("kind", "choice", None, "transactions of this kind only (transactions; any when not given)",
              (*TRANSACTION_KINDS, ANY))
STATUS = Option("status", "choice", None, "transactions with this status only (transactions; succeeded when not given)",
                (*TRANSACTION_STATUSES, ANY))
MATH = Option("math", "choice", "total", "what to compute over the matching rows", MATHS)
PROPERTY = Option("property", "str", None, "the number sum…max read: a key of properties (events) or amount (transactions)")
WHERE = Option("where", "str", None, "filters on event, transaction and user fields, e.g. country=DE;plan in free,pro")
# The keys a series may give, each typed by the option of the same name.
SERIES_OPTIONS = (SOURCE, EVENT, NAME, PATH, KIND, STATUS, MATH, PROPERTY, WHERE)
SERIES_KEYS = tuple(o.name for o in SERIES_OPTIONS) + ("label",)


def trend_spec(q: Query) -> TrendSpec:
    """The trend asked for by q's options, checked: one sentence (QueryError) for anything
    that cannot be answered."""
    given = q.opt("series")
    if given is None:
        objects: list[dict[str, Any]] = [{}]
    else:
        try:
            objects = json.loads(given)
        except ValueError:
            objects = None
        if not isinstance(objects, list) or not objects or not all(isinstance(o, dict) for o in objects):
            raise QueryError('Option series is not a JSON list of objects, e.g. [{"event":"page_view"},{"event":"login"}].')
    if len(objects) > MAX_SERIES:
        raise QueryError(f"A trend has at most {MAX_SERIES} series; series lists {len(objects)}.")
    series = tuple(_series(q, LETTERS[i], o) for i, o in enumerate(objects))

    breakdown = None
    if q.opt("breakdown") is not None:
        name = q.opt("breakdown").strip()
        for s in series:
            breakdown = field(s.source, name, f"breakdown (series {s.letter})")

    formula, tree = q.opt("formula"), None
    if formula is not None:
        formula = formula.strip()
        tree = parse_formula(formula, [s.letter for s in series])
    return TrendSpec(series, breakdown, q.opt("top"), q.opt("compare"), formula, tree)


def _series(q: Query, letter: str, given: dict[str, Any]) -> Series:
    """One series from its JSON object; a key it leaves out takes the option of that name."""
    unknown = sorted(set(given) - set(SERIES_KEYS))
    if unknown:
        raise QueryError(f"Series {letter} has an unknown key {unknown[0]!r}; use: {', '.join(SERIES_KEYS)}.")
    for key, value in given.items():
        if not isinstance(value, str):
            raise QueryError(f"Series {letter}'s {key} is not text; write it in quotes, e.g. \"{key}\": \"...\".")
    v = {o.name: o.parse(given[o.name], "trend") if o.name in given else q.opt(o.name) for o in SERIES_OPTIONS}
    source, math = v["source"], v["math"]
    if source == "events":
        for key in ("kind", "status"):
            if v[key] is not None:
                raise QueryError(f"Series {letter} counts events, and {key} applies to transactions only.")
    else:
        for key in ("name", "path"):
            if v[key] is not None:
                raise QueryError(f"Series {letter} counts transactions, and {key} applies to events only.")
        if v["event"] != ANY:
            raise QueryError(f"Series {letter} counts transactions, and event applies to events only.")
        if math == "sessions":
            raise QueryError(f"Series {letter} counts transactions, which have no sessions; math=sessions counts events.")
    prop = v["property"]
    if math in PROPERTY_MATHS and not prop:
        example = "duration" if source == "events" else "amount"
        raise QueryError(f"Series {letter}'s math={math} needs a numeric property, e.g. property={example}.")
    if prop and math not in PROPERTY_MATHS:
        raise QueryError(f"Series {letter}'s property is read only by math sum, avg, median, p90, min or max, not {math}.")
    if prop and source == "transactions":
        if prop.strip() != "amount":
            raise QueryError(f"Series {letter}: the one number of a transaction is amount, not {prop.strip()!r}.")
        prop = "amount"
    elif prop:
        prop = field("events", "properties." + prop.strip().removeprefix("properties."), f"Series {letter}'s property").key
    return Series(letter, given.get("label", letter), source, v["event"], v["name"], v["path"], v["kind"], v["status"],
                  math, prop, parse_where(v["where"], source, letter))


def parse_formula(text: str, letters: list[str]) -> ast.expr:
    """The formula as a Python expression tree holding only series letters, numbers,
    + - * / and parentheses (parsed, never evaluated as code)."""
    bad = QueryError(f"The formula {text!r} is not arithmetic over the series, e.g. B / A or 100 * B / A.")
    if not text or len(text) > MAX_FORMULA:
        raise bad
    try:
        tree = ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError):
        raise bad from None
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in letters:
                raise QueryError(f"The formula names series {node.id}, but the series are {', '.join(letters)}.")
        elif isinstance(node, ast.Constant):
            if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
                raise bad
        elif not isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.USub, ast.UAdd,
                                   ast.Load)):
            raise bad
    return tree


def formula_expr(node: ast.expr) -> pl.Expr:
    """A checked formula tree (parse_formula) as a polars expression over one column per
    series letter; a division by zero is empty."""
    if isinstance(node, ast.Name):
        return pl.col(node.id)
    if isinstance(node, ast.Constant):
        return pl.lit(float(node.value))
    if isinstance(node, ast.UnaryOp):
        inner = formula_expr(node.operand)
        return -inner if isinstance(node.op, ast.USub) else inner
    left, right = formula_expr(node.left), formula_expr(node.right)
    if isinstance(node.op, ast.Add):
        return left + right
    if isinstance(node.op, ast.Sub):
        return left - right
    if isinstance(node.op, ast.Mult):
        return left * right
    return pl.when(right == 0).then(None).otherwise(left / right)


# -- SQL ----------------------------------------------------------------------------------

def condition_sql(c: Condition, sql: str, param: str) -> str:
    """SQL for one where condition on the field expression `sql`, its value bound as $param."""
    if c.op == "is set":
        return f"{sql} IS NOT NULL"
    if c.op == "is not set":
        return f"{sql} IS NULL"
    if c.field.kind == "number" or c.op in (">", "<"):
        sql = f"TRY_CAST({sql} AS DOUBLE)"
    if c.op == "=":
        return f"{sql} = ${param}"
    if c.op == "!=":  # a row without the field is not equal to the value: != keeps it
        return f"{sql} IS DISTINCT FROM ${param}"
    if c.op == "~":
        return f"contains(lower({sql}), lower(${param}))"
    if c.op == "in":
        kind = "DOUBLE" if c.field.kind == "number" else "VARCHAR"
        return f"list_contains(CAST(${param} AS {kind}[]), {sql})"
    return f"{sql} {c.op} ${param}"


def _field_sql(f: Field, param: str, params: Params, alias: str) -> str:
    if f.kind == "property":
        params[param] = f.key
        return f"({alias}.properties ->> ${param})"
    return f.sql


# Per math: the columns a series' rows are grouped by besides (period, bv) — the finest grain
# the math needs, so a breakdown's top values and Other re-aggregate a few thousand rows,
# not every event — and the math over those grouped rows. None: every row is kept, with its
# number (medians and averages need every value).
GRAIN = {"total": (), "unique_users": ("user_id",), "per_user": ("user_id",), "sessions": ("sess",), "sum": ()}
MATH_SQL = {
    "total": "sum(n)",
    "unique_users": "count(DISTINCT user_id)",
    "per_user": rate("sum(n)", "count(DISTINCT user_id)"),
    "sessions": "count(DISTINCT sess)",
    "sum": "coalesce(sum(num), 0)",
    "avg": "avg(num)", "median": "quantile_cont(num, 0.5)", "p90": "quantile_cont(num, 0.9)",
    "min": "min(num)", "max": "max(num)",
}


def _aggregate(s: Series) -> str:
    """SQL for the series' math over its grouped rows (series_rows)."""
    value = MATH_SQL[s.math]
    if s.math in PROPERTY_MATHS and s.source == "transactions":
        value = f"round({value}, 2)"  # money: summed exactly, rounded once
    return f"CAST({value} AS DOUBLE)"


def _sessions_sql(store, q: Query, first: date) -> tuple[str, Params]:
    """A relation (user_id, start_ts, end_ts, sday) of the sessions that may hold an event of
    the local days `first` ($t_from)..$t_end, one row per local day each one touches.

    The store's sessions table when it answers (its timeout, no device filter); otherwise
    sessions cut from the raw events of that device, starting one timeout before `first` so
    an event's session is cut as it was (its start may be later than the true one, which
    does not change which events share it)."""
    timeout = q.opt(SESSION_TIMEOUT.name)
    device = q.filter("device_type")
    params: Params = {"x_from": local_midnight_utc(first, store.timezone), "tz": store.timezone}
    if device is None and timeout == built_timeout(store):
        rows = "SELECT user_id, start_ts, end_ts, day FROM sessions WHERE day <= $t_end AND end_ts >= $x_from"
    else:
        where = "events.ts >= $x_cut AND events.ts < $x_to"
        if device is not None:
            where += " AND events.device_type::VARCHAR = $f_device"
            params["f_device"] = device
        rows = f"SELECT user_id, start_ts, end_ts, day FROM ({sessions_select(timeout, where)})"
        params |= {"x_cut": local_midnight_utc(first, store.timezone) - timedelta(minutes=timeout),
                   "x_to": end_of_day_utc(q.range_end, store.timezone)}
    sql = f"""(SELECT user_id, start_ts, end_ts,
                      CAST(unnest(generate_series(day, {local_day('end_ts')}, INTERVAL 1 DAY)) AS DATE) AS sday
               FROM ({rows}))"""
    return sql, params


def series_rows(store, q: Query, s: Series, i: int, breakdown: Field | None, first: date) -> tuple[str, Params]:
    """SQL for the rows of one series on the local days $t_from..$t_end, after the filter
    bar, the data scope and the series' own filters: (period, bv, its GRAIN columns, n rows,
    num, carried, numeric), grouped to the math's grain. bv is the breakdown field's raw
    value; carried and numeric count the rows whose property has a value, and a numeric one."""
    p = f"s{i}_"
    params: Params = {}
    events = s.source == "events"
    alias = "e" if events else "t"
    if (events and s.math == "unique_users" and breakdown is None and not s.where and s.name is None
            and s.path is None):
        # A user-day answers this on its own, and is what active_users counts.
        typed = replace(q, options=(("event_type", None if s.event == ANY else s.event),))
        days, params = active_days(typed, "$t_from", "$t_end")
        return (f"SELECT DISTINCT {trunc_sql('day', q.interval)} AS period, NULL::VARCHAR AS bv, user_id, "
                f"NULL::DOUBLE AS num, 0 AS carried, 0 AS numeric FROM {days}", params)
    if events:
        scope, params = event_scope(q, "e")
        conditions = [scope]
        for key, column, value in (("event", "e.event_type::VARCHAR", None if s.event == ANY else s.event),
                                   ("name", "e.event_name", s.name), ("path", "e.page_path", s.path)):
            if value is not None:
                conditions.append(f"{column} = ${p}{key}")
                params[f"{p}{key}"] = value
    else:
        scope, params = transactions_scope(store, q, "t")
        conditions = [scope]
        for key, value in (("kind", None if s.kind == ANY else s.kind),
                           ("status", "succeeded" if s.status is None else None if s.status == ANY else s.status)):
            if value is not None:
                conditions.append(f"t.{key}::VARCHAR = ${p}{key}")
                params[f"{p}{key}"] = value
    for j, c in enumerate(s.where):
        conditions.append(condition_sql(c, _field_sql(c.field, f"{p}wk{j}", params, alias), f"{p}w{j}"))
        if c.value is not None:
            params[f"{p}w{j}"] = c.value
    bv = "NULL::VARCHAR" if breakdown is None else _field_sql(breakdown, f"{p}bk", params, alias)
    num, raw = "NULL::DOUBLE", "NULL::VARCHAR"
    if s.property == "amount":
        num = "t.amount"
    elif s.property:
        raw = f"({alias}.properties ->> ${p}prop)"
        num = f"TRY_CAST({raw} AS DOUBLE)"
        params[f"{p}prop"] = s.property
    joins = ""
    if breakdown is not None and breakdown.user or any(c.field.user for c in s.where):
        joins = f"LEFT JOIN people p ON p.user_id = {alias}.user_id"
    columns = {"user_id": f"{alias}.user_id", "sess": "NULL"}
    if s.math == "sessions":
        sessions, session_params = _sessions_sql(store, q, first)
        params |= session_params
        joins += (f" JOIN {sessions} x ON x.user_id = e.user_id AND x.sday = e.day "
                  "AND e.ts BETWEEN x.start_ts AND x.end_ts")
        columns["sess"] = "(e.user_id, x.start_ts)"
    table = "events e" if events else "transactions t"
    where = f"{alias}.day BETWEEN $t_from AND $t_end AND {' AND '.join(conditions)}"
    period = trunc_sql(f"{alias}.day", q.interval)
    if s.math in GRAIN:
        keys = [f"{columns[c]} AS {c}" for c in GRAIN[s.math]]
        # Aggregates of nothing are not free at 10M rows: without a property they are constants.
        inner, outer = ((f", sum({num}) AS num, count({raw}) AS carried, count({num}) AS numeric", "") if s.property
                        else ("", ", NULL::DOUBLE AS num, 0 AS carried, 0 AS numeric"))
        sql = f"""
        SELECT *{outer} FROM (
            SELECT {period} AS period, {bv} AS bv, {''.join(k + ', ' for k in keys)}count(*) AS n{inner}
            FROM {table} {joins} WHERE {where} GROUP BY ALL)"""
    else:
        sql = f"""
        SELECT {period} AS period, {bv} AS bv, {num} AS num, CAST({raw} IS NOT NULL AS INTEGER) AS carried,
               CAST({num} IS NOT NULL AS INTEGER) AS numeric
        FROM {table} {joins} WHERE {where}"""
    return sql, params


def periods_before(periods: list[date], interval: str) -> list[date]:
    """The periods of the previous range of equal length: as many periods, ending just before
    the first one."""
    out, current = [], periods[0]
    for _ in periods:
        current = previous_period(current, interval)
        out.append(current)
    return out[::-1]


def trend_frame(store, q: Query, spec: TrendSpec) -> pl.DataFrame:
    """(series_no, period, bv, rank, value, carried, numeric) from one statement: each series
    aggregated per period and breakdown label; series_no -1 lists the top values and their
    rank. carried/numeric count the rows whose property has a value, and a numeric one."""
    periods = q.periods()
    before = periods_before(periods, q.interval) if spec.compare else []
    params: Params = {"t_from": (before or periods)[0], "t_start": q.range_start, "t_end": q.range_end,
                      "t_top": spec.top, "not_set": NOT_SET}
    ctes, selects = [], []
    for i, s in enumerate(spec.series):
        sql, series_params = series_rows(store, q, s, i, spec.breakdown, params["t_from"])
        params |= series_params
        ctes.append(f"s{i} AS MATERIALIZED ({sql})")
    label, rank, top = "NULL::VARCHAR", "0", ""
    if spec.breakdown is not None:
        text = "coalesce(CAST(bv AS VARCHAR), $not_set)"
        # Ranked by series A's math over the current range (not the previous one), ties by value.
        ctes.append(f"""top AS (
            SELECT label, row_number() OVER (ORDER BY v DESC NULLS LAST, label) AS rank
            FROM (SELECT {text} AS label, {_aggregate(spec.series[0])} AS v FROM s0 WHERE period >= $t_start GROUP BY 1)
            QUALIFY rank <= $t_top)""")
        label, rank = f"coalesce(top.label, '{OTHER}')", "coalesce(top.rank, $t_top + 1)"
        top = f"LEFT JOIN top ON top.label = {text}"
        selects.append("SELECT -1 AS series_no, NULL::DATE AS period, label AS bv, rank, NULL::DOUBLE AS value, "
                       "0 AS carried, 0 AS numeric FROM top")
    for i, s in enumerate(spec.series):
        selects.append(f"""SELECT {i} AS series_no, period, {label} AS bv, {rank} AS rank, {_aggregate(s)} AS value,
                                  sum(carried) AS carried, sum(numeric) AS numeric
                           FROM s{i} {top} GROUP BY ALL""")
    sql = f"WITH {', '.join(ctes)} {' UNION ALL '.join(selects)}"
    return store.fetch(sql, params)


def _shaped(spec: TrendSpec, raw: pl.DataFrame, periods: list[date], before: list[date]) -> pl.DataFrame:
    """One row per (series, period, breakdown value) with value and previous_value, in order."""
    tops = raw.filter(pl.col("series_no") == -1).sort("rank")
    labels: list[str | None] = tops["bv"].to_list() if spec.breakdown is not None else [None]
    data = raw.filter(pl.col("series_no") >= 0)
    if spec.breakdown is not None and (data["bv"] == OTHER).any() and OTHER not in labels:
        labels.append(OTHER)
    shift = dict(zip(before, periods))
    frames = []
    names = [s.label for s in spec.series]
    for i, s in enumerate(spec.series):
        rows = data.filter(pl.col("series_no") == i).select("period", "bv", "value")
        grid = pl.DataFrame({"period": [p for p in periods for _ in labels], "bv": labels * len(periods)},
                            schema={"period": pl.Date, "bv": pl.String})
        now = grid.join(rows, on=["period", "bv"], how="left", nulls_equal=True)
        old = rows.with_columns(pl.col("period").replace_strict(shift, default=None, return_dtype=pl.Date))
        out = now.join(old.rename({"value": "previous_value"}), on=["period", "bv"], how="left", nulls_equal=True)
        if s.math in ADDITIVE_MATHS:
            out = out.with_columns(pl.col("value").fill_null(0.0),
                                   pl.col("previous_value").fill_null(0.0) if spec.compare else pl.col("previous_value"))
        frames.append(out.with_columns(series=pl.lit(names[i]), order=pl.lit(i)))
    if spec.formula_tree is not None:
        letters = [s.letter for s in spec.series]
        expr = formula_expr(spec.formula_tree)
        wide = {}
        for column in ("value", "previous_value"):
            columns = [f.select("period", "bv", pl.col(column).alias(letter)) for f, letter in zip(frames, letters)]
            joined = columns[0]
            for other in columns[1:]:
                joined = joined.join(other, on=["period", "bv"], how="left", nulls_equal=True)
            wide[column] = joined.select("period", "bv", expr.cast(pl.Float64).alias(column))
        formula = wide["value"].join(wide["previous_value"], on=["period", "bv"], how="left", nulls_equal=True)
        frames.append(formula.with_columns(series=pl.lit(spec.formula), order=pl.lit(len(frames))))
    rank = {label: n for n, label in enumerate(labels)}
    out = pl.concat([f.select("period", "series", "bv", "value", "previous_value", "order") for f in frames])
    out = out.with_columns(pl.col("bv").replace_strict(rank, default=0, return_dtype=pl.Int64).alias("rank"))
    if not spec.compare:
        out = out.with_columns(pl.lit(None, pl.Float64).alias("previous_value"))
    return (
        out.sort("period", "order", "rank")
        .select("period", "series", pl.col("bv").alias("breakdown_value"), pl.col("value").cast(pl.Float64),
                pl.col("previous_value").cast(pl.Float64))
    )


def _check_properties(spec: TrendSpec, raw: pl.DataFrame) -> None:
    """A property whose values in the range are all text cannot be summed: one sentence."""
    for i, s in enumerate(spec.series):
        if s.source != "events" or not s.property:
            continue
        rows = raw.filter(pl.col("series_no") == i)
        if rows["carried"].sum() > 0 and rows["numeric"].sum() == 0:
            key = s.property.removeprefix("$.")
            raise QueryError(f"Series {s.letter}: property {key} holds no numbers in the range, so math={s.math} "
                             "cannot read it; choose a numeric property such as duration.")


TREND_OPTIONS = (
    SOURCE, EVENT, NAME, PATH, KIND, STATUS, MATH, PROPERTY, WHERE,
    Option("breakdown", "str", None, "split each series by the values of one field (top values and Other)"),
    Option("top", "int", 10, "how many breakdown values to show before Other", minimum=1, maximum=100),
    Option("compare", "bool", False, "add previous_value: the same series over the previous range of equal length"),
    Option("series", "str", None, "several series as a JSON list of objects with the keys above and label"),
    Option("formula", "str", None, "a series computed from the others per period, e.g. B / A"),
    SESSION_TIMEOUT,
)


@metric("trend", ["period", "series", "breakdown_value", "value", "previous_value"], options=TREND_OPTIONS,
        area="activity")
def trend(store, q: Query) -> pl.DataFrame:
    """One or more series of events or transactions per period: a count, unique users, sessions or a sum/average/percentile of a number, filtered, broken down, combined by a formula, against the previous range.

    Rows by period, then series (A, B, …, the formula), then breakdown value (top first,
    Other last). value and previous_value are numbers; counts and sums are 0 where nothing
    happened, per_user and the averages empty.
    """
    spec = trend_spec(q)
    raw = trend_frame(store, q, spec)
    _check_properties(spec, raw)
    periods = q.periods()
    return _shaped(spec, raw, periods, periods_before(periods, q.interval) if spec.compare else [])


@metric(
    "trend_users",
    ["user_id", "email", "plan", "country", "last_seen"],
    options=(
        *TREND_OPTIONS,
        Option("pick", "str", "A", "the series whose point it is (A, B or C; a formula has no users of its own)"),
        Option("period", "date", None, "the first day of the point's period",
               required="Say which point: --option period=YYYY-MM-DD (the first day of its period)."),
        Option("value", "str", None, "the point's breakdown value (Other: the values outside the top ones)"),
    ),
    area="activity",
)
def trend_users(store, q: Query) -> pl.DataFrame:
    """The users behind one point of a trend: those with a matching event or transaction of that series in that period (and breakdown value).

    The same rows the trend counts, whatever its math; last_seen is the user's last event.
    Sorted by user_id.
    """
    spec = trend_spec(q)
    letters = [s.letter for s in spec.series]
    pick = str(q.opt("pick")).strip().upper()
    if pick not in letters:
        raise QueryError(f"There is no series {pick!r} to list users of; the trend has {', '.join(letters)}.")
    index = letters.index(pick)
    series = replace(spec.series[index], math="unique_users")
    first = q.opt("period")
    last = min(period_end_day(first, q.interval), q.range_end)
    sql, params = series_rows(store, q, series, index, spec.breakdown, first)
    params |= {"t_from": max(first, q.range_start), "t_end": last, "not_set": NOT_SET}
    value, picked = q.opt("value"), "TRUE"
    if spec.breakdown is not None and value is not None:
        label = "coalesce(CAST(bv AS VARCHAR), $not_set)"
        if value == OTHER:
            own = {o.name for o in TREND_OPTIONS}
            shown = trend(store, replace(q, options=tuple(kv for kv in q.options if kv[0] in own)))[
                "breakdown_value"].drop_nulls().unique().to_list()
            picked, params["t_shown"] = f"NOT list_contains($t_shown, {label})", [v for v in shown if v != OTHER]
        else:
            picked, params["t_value"] = f"{label} = $t_value", value
    return store.fetch(
        f"""SELECT p.user_id, p.email, p.plan, p.country, p.last_seen FROM people p
            WHERE p.user_id IN (SELECT user_id FROM ({sql}) WHERE {picked}) ORDER BY p.user_id""",
        params,
    )
