"""One metric definition, two dialects: the store's SQL (written for DuckDB) rendered for ClickHouse.

sqlglot's DuckDB → ClickHouse transpiler does the bulk; what it does not render exactly is
rewritten here by name, one rule per difference, each pinned by a test in
tests/test_dialect.py rather than assumed:

- parameters: `$name` becomes a typed literal of its value (dates as Date32, instants as
  DateTime64(6, 'UTC'), lists as arrays), so no value is ever spliced in as text;
- result names: ClickHouse names an unaliased `t.col` "t.col" where DuckDB says "col", so
  every projection gets its own name as an alias;
- local time: DuckDB's `timezone(tz, timezone('UTC', ts))` (a stored UTC instant as the
  wall-clock time in tz) is `toTimeZone(toDateTime64(ts, 6, 'UTC'), tz)` without the zone;
- quantiles: `quantile_cont` / `percentile_cont` (linear interpolation) is
  `quantileExactInclusiveOrNull`, the same interpolation (NULL over no rows, as DuckDB; so is a mean);
- counts are signed (DuckDB's BIGINT), not ClickHouse's UInt64, so `-count(*)` and a UNION
  of counts and their negatives keep one type;
- a subquery joined without a name gets one (ClickHouse requires it);
- a name that is both a column and an alias of the same SELECT is the column (a setting:
  ClickHouse would read the alias, in WHERE and in later projections alike), and ORDER BY
  such a name sorts by the output, as DuckDB does;
- bitmaps of user numbers (pulse.measures.BITMAP_MACROS: bitstrings on DuckDB) are
  groupBitmap states, bitmapAnd and bitmapCardinality;
- number and date series: `FROM range(a, b[, INTERVAL 1 DAY])` and `unnest(generate_series(…))`
  are `numbers()` and `arrayMap` over it, with DuckDB's column name `range`;
- an instant in microseconds: `epoch_us(ts)` is `toUnixTimestamp64Micro`;
- booleans all true: `bool_and(x)` is the minimum of x (ClickHouse has no bool_and);
- an ordered list: `list(x ORDER BY y)` is `groupArray` of (y, x) pairs, sorted, then x;
- a list as JSON text: `to_json(list)` is `toJSONString`, which writes a list of texts as
  DuckDB does once forward slashes are left unescaped (a setting below);
- a JSON object's members: `json_each(doc) AS j` joined beside its table is an ARRAY JOIN over
  the object's keys, each with DuckDB's `json_type(j.value)` name (a non-negative integer is
  UBIGINT, a negative one BIGINT) and DuckDB's text `j.value ->> '$'` (a string unquoted, a
  whole double with its `.0`, JSON null as NULL), read from the document itself; `j.key`,
  `json_type(j.value)` and `j.value ->> '$'` are the parts rendered. Numbers beyond 64-bit
  integers and repeated keys are not rendered alike (ClickHouse reads such a number as text, and
  a repeated key's first value twice).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import functools
import re

import sqlglot
from sqlglot import exp

# Settings every ClickHouse read runs with: UTC wall clocks (stored instants are UTC), and
# NULL-aware joins and casts as DuckDB has them.
CLICKHOUSE_SETTINGS = {
    "session_timezone": "UTC",
    "join_use_nulls": 1,
    "cast_keep_nullable": 1,
    "allow_experimental_analyzer": 1,
    # A name that is both a column and an alias of the same SELECT is the column, as in DuckDB
    # (ClickHouse reads the alias: `SELECT round(x, 2) AS x, x + y AS z` would add the rounded x).
    "prefer_column_name_to_alias": 1,
    "output_format_json_escape_forward_slashes": 0,  # to_json: DuckDB writes "a/b", not "a\\/b"
}


# pulse.measures.BITMAP_MACROS, as ClickHouse's bitmaps of UInt32 user numbers.
_BITMAPS = {
    "bitmap_of": "groupBitmapState(toUInt32(assumeNotNull({0})))",
    "bitmap_union": "groupBitmapOrState({0})",
    "bitmap_and": "bitmapAnd({0}, {1})",
    "bitmap_count": "toInt64(bitmapCardinality({0}))",
}

# DuckDB's json_type names for ClickHouse's JSONType; integers are signed by their text below.
_JSON_TYPES = {"Null": "NULL", "Bool": "BOOLEAN", "Double": "DOUBLE", "String": "VARCHAR", "Object": "OBJECT",
               "Array": "ARRAY"}
# One member of a JSON object `{doc}` under the key json_key, as json_each's row with DuckDB's
# json_type name and ->> '$' text: (key, type, text).
_JSON_MEMBER = """CAST((json_key,
    multiIf(JSONType({doc}, json_key) IN ('Int64', 'UInt64'),
                if(startsWith(JSONExtractRaw({doc}, json_key), '-'), 'BIGINT', 'UBIGINT'),
            transform(toString(JSONType({doc}, json_key)), {names}, {duckdb}, '')),
    multiIf(JSONType({doc}, json_key) = 'Null', NULL,
            JSONType({doc}, json_key) = 'String', JSONExtractString({doc}, json_key),
            JSONType({doc}, json_key) = 'Double' AND match(JSONExtractRaw({doc}, json_key), '^-?[0-9]+$'),
                concat(JSONExtractRaw({doc}, json_key), '.0'),
            JSONExtractRaw({doc}, json_key))), 'Tuple(key String, type String, text Nullable(String))')"""


class DialectError(Exception):
    """SQL that cannot be rendered for ClickHouse; the text says which part."""


def clickhouse(sql: str, params: dict[str, Any] | None = None) -> str:
    """`sql` (DuckDB, `$name` parameters) as ClickHouse SQL with the parameters' values inlined.

    A statement is rendered once per text (sqlglot takes tens of milliseconds over a metric's
    SQL) with each parameter as a marker, and each call puts its values' typed literals in
    place of the markers: a page asks the same statements with other dates."""
    values = params or {}
    rendered = _template(sql, frozenset(values))

    def value(match: re.Match) -> str:
        return literal(values[match.group(1)]).sql(dialect="clickhouse")

    return _MARKER.sub(value, rendered)


# A parameter while a statement is rendered: a text no SQL of ours holds, replaced afterwards.
_MARKER = re.compile(r"'@pulse_parameter@(\w+)@'")


@functools.lru_cache(maxsize=4096)
def _template(sql: str, names: frozenset[str]) -> str:
    try:
        tree = sqlglot.parse_one(sql, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        raise DialectError(f"The SQL does not parse: {exc}") from None
    tree = tree.transform(lambda node: _parameter(node, names)).transform(_rewrite)
    # ClickHouse wants a name for every subquery it joins; DuckDB does without.
    for number, subquery in enumerate(s for s in tree.find_all(exp.Subquery)
                                      if isinstance(s.parent, (exp.From, exp.Join)) and not s.alias):
        subquery.set("alias", exp.TableAlias(this=exp.to_identifier(f"_subquery_{number}")))
    for select in tree.find_all(exp.Select):
        _json_each(select)
        _order_reads_aliases(select)
        select.set("expressions", [_named(e) for e in select.expressions])
    return tree.sql(dialect="clickhouse")


def literal(value: Any) -> exp.Expression:
    """A Python value as a typed SQL literal."""
    if value is None:
        return exp.Null()
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, dt.datetime):
        text = value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return exp.Anonymous(this="toDateTime64", expressions=[exp.Literal.string(text), exp.Literal.number(6),
                                                                exp.Literal.string("UTC")])
    if isinstance(value, dt.date):
        return exp.Anonymous(this="toDate32", expressions=[exp.Literal.string(value.isoformat())])
    if isinstance(value, (list, tuple)):
        return exp.Array(expressions=[literal(v) for v in value])
    if isinstance(value, Decimal):
        return exp.Anonymous(this="toDecimal128", expressions=[exp.Literal.string(str(value)), exp.Literal.number(4)])
    if isinstance(value, (int, float, str)):
        return exp.convert(value)
    raise DialectError(f"A parameter of type {type(value).__name__} has no ClickHouse literal.")


def _parameter(node: exp.Expression, names: frozenset[str]) -> exp.Expression:
    if isinstance(node, (exp.Parameter, exp.Placeholder)):
        if node.name not in names:
            raise DialectError(f"The parameter ${node.name} has no value.")
        return exp.Literal.string(f"@pulse_parameter@{node.name}@")
    return node


def _rewrite(node: exp.Expression) -> exp.Expression:
    if _is_count(node) and not (isinstance(node, exp.Count) and isinstance(node.parent, (exp.Filter, exp.Window))):
        return exp.Anonymous(this="toInt64", expressions=[node])  # a count is BIGINT in DuckDB, UInt64 here
    if isinstance(node, exp.Table) and isinstance(node.this, exp.GenerateSeries):
        return _series_table(node)
    if isinstance(node, exp.Explode) and isinstance(node.this, exp.GenerateSeries):
        values, count = _series(node.this)
        return _parse(f"arrayJoin(arrayMap(number -> {values}, range({count})))")
    if isinstance(node, exp.BitmapCount):  # sqlglot knows this one name (from Snowflake)
        return _parse(_BITMAPS["bitmap_count"].format(_sql(node.this)))
    if isinstance(node, exp.Anonymous) and node.name.lower() in _BITMAPS:
        return _parse(_BITMAPS[node.name.lower()].format(*(_sql(e) for e in node.expressions)))
    if isinstance(node, exp.Anonymous) and node.name.lower() == "timezone" and len(node.expressions) == 2:
        return _local_time(node)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "epoch_us" and len(node.expressions) == 1:
        return _parse(f"toUnixTimestamp64Micro(toDateTime64({_sql(node.expressions[0])}, 6))")
    if isinstance(node, exp.Cast) and node.to.is_type(exp.DataType.Type.TIMESTAMP, exp.DataType.Type.TIMESTAMPNTZ):  # DuckDB's is to the µs
        node.set("to", exp.DataType.build("DateTime64(6)", dialect="clickhouse"))
        return node
    if isinstance(node, exp.Avg):  # the mean of no rows is NULL, as in DuckDB, not NaN
        return _parse(f"avgOrNull({_sql(node.this)})")
    if isinstance(node, (exp.BitwiseAnd, exp.BitwiseOr, exp.BitwiseXor)):  # ClickHouse has no & | operators
        name = {exp.BitwiseAnd: "bitAnd", exp.BitwiseOr: "bitOr", exp.BitwiseXor: "bitXor"}[type(node)]
        return _parse(f"{name}({_sql(node.this)}, {_sql(node.expression)})")
    if isinstance(node, (exp.Lead, exp.Lag)):  # past the partition's edge: NULL as in DuckDB, not a default value
        node.set("this", exp.Anonymous(this="toNullable", expressions=[node.this.copy().transform(_rewrite)]))
        return node
    if isinstance(node, exp.LogicalAnd):
        return _parse(f"toBool(min({_sql(node.this)}))")
    if isinstance(node, exp.GroupConcat) and isinstance(node.this, exp.Order):  # string_agg(x, sep ORDER BY y)
        separator = node.args.get("separator") or exp.Literal.string(",")
        return _parse(f"arrayStringConcat({_ordered_list(node.this).sql(dialect='clickhouse')}, {_sql(separator)})")
    if isinstance(node, exp.ArrayAgg) and isinstance(node.this, exp.Order):
        return _ordered_list(node.this)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "to_json" and len(node.expressions) == 1:
        return _parse(f"toJSONString({_sql(node.expressions[0])})")
    if isinstance(node, exp.PercentileCont):
        return exp.ParameterizedAgg(this="quantileExactInclusiveOrNull", expressions=[node.expression],
                                    params=[node.this.copy().transform(_rewrite)])
    return node


def _is_count(node: exp.Expression) -> bool:
    return isinstance(node, exp.Count) or (isinstance(node, (exp.Filter, exp.Window)) and isinstance(node.this, exp.Count))


def _series(series: exp.GenerateSeries) -> tuple[str, str]:
    """A DuckDB range / generate_series as ClickHouse SQL: the n-th value (of `number`) and how many."""
    start = series.args.get("start") or exp.Literal.number(0)
    end, step = series.args["end"], series.args.get("step")
    first, last = _sql(start), _sql(end)
    extra = "" if series.args.get("is_end_exclusive") else " + 1"
    if step is None or (isinstance(step, exp.Literal) and step.this == "1"):
        return f"toInt64(({first}) + number)", f"assumeNotNull(toUInt64(greatest(0, ({last}) - ({first}){extra})))"
    if isinstance(step, exp.Interval) and step.this.name == "1" and step.unit and step.unit.name.upper() == "DAY":
        return f"addDays({first}, number)", f"assumeNotNull(toUInt64(greatest(0, dateDiff('day', {first}, {last}){extra})))"
    raise DialectError(f"A series stepping by {step.sql(dialect='duckdb')} has no ClickHouse rendering.")


def _series_table(table: exp.Table) -> exp.Expression:
    """FROM range(...) AS t: a subquery with DuckDB's one column, named range."""
    values, count = _series(table.this)
    alias = table.alias or "range"
    return exp.Subquery(this=_parse(f"SELECT {values} AS range FROM numbers({count})"),
                        alias=exp.TableAlias(this=exp.to_identifier(alias)))


def _parse(sql: str) -> exp.Expression:
    return sqlglot.parse_one(sql, read="clickhouse")


def _sql(node: exp.Expression) -> str:
    """A part of a rewritten node, itself rewritten (a replaced node's parts are not visited)."""
    return node.copy().transform(_rewrite).sql(dialect="clickhouse")


def _local_time(node: exp.Anonymous) -> exp.Expression:
    """timezone(tz, timezone('UTC', ts)) → toTimeZone(toDateTime64(ts, 6, 'UTC'), tz), wall clock only."""
    zone, inner = node.expressions
    if isinstance(inner, exp.Anonymous) and inner.name.lower() == "timezone" and len(inner.expressions) == 2:
        utc, instant = inner.expressions
        if isinstance(utc, exp.Literal) and utc.this == "UTC":
            instant = instant.copy().transform(_rewrite)
            as_utc = exp.Anonymous(this="toDateTime64", expressions=[instant, exp.Literal.number(6), exp.Literal.string("UTC")])
            local = exp.Anonymous(this="toTimeZone", expressions=[as_utc, zone])
            # The wall-clock time in the zone, as a zone-less value like DuckDB's TIMESTAMP.
            return exp.Anonymous(this="toDateTime64", expressions=[
                exp.Anonymous(this="toString", expressions=[local]), exp.Literal.number(6), exp.Literal.string("UTC")])
    raise DialectError("timezone() is rendered only as the local time of a UTC instant: timezone(tz, timezone('UTC', ts)).")


def _ordered_list(order: exp.Order) -> exp.Expression:
    """list(x ORDER BY y[, z]) → the x of groupArray((y, z, x)) sorted (all keys one way)."""
    keys = order.expressions
    descending = {bool(k.args.get("desc")) for k in keys}
    if len(descending) != 1:
        raise DialectError("An ordered list is rendered only with every ORDER BY key in one direction.")
    parts = ", ".join(_sql(part) for part in [*(k.this for k in keys), order.this])
    sort = "arrayReverseSort" if descending.pop() else "arraySort"
    return _parse(f"arrayMap(pair -> pair.{len(keys) + 1}, {sort}(groupArray(tuple({parts}))))")


def _json_each(select: exp.Select) -> None:
    """FROM t, json_each(t.doc) AS j → FROM t ARRAY JOIN (one named tuple per member of the
    object) AS j, with json_type(j.value) and j.value ->> '$' read as j.type and j.text."""
    for join in select.args.get("joins") or []:
        table = join.this
        if not (isinstance(table, exp.Table) and isinstance(table.this, exp.Anonymous)
                and table.this.name.lower() == "json_each" and len(table.this.expressions) == 1):
            continue
        name = table.alias
        if not name or join.args.get("on") or join.args.get("using"):
            raise DialectError("json_each is rendered only joined beside its table under a name: FROM t, json_each(t.doc) j.")
        doc = f"ifNull({_sql(table.this.expressions[0])}, '{{}}')"
        member = _JSON_MEMBER.format(doc=doc, names=list(_JSON_TYPES), duckdb=list(_JSON_TYPES.values()))
        members = _parse(f"arrayMap(json_key -> {member}, JSONExtractKeys({doc}))")
        join.replace(exp.Join(this=exp.alias_(members, name), kind="ARRAY"))

        def part(node: exp.Expression) -> exp.Expression:
            if isinstance(node, exp.JSONType) and _is_value(node.this, name):
                return exp.column("type", name)
            if (isinstance(node, exp.JSONExtractScalar) and _is_value(node.this, name)
                    and node.expression.sql(dialect="duckdb") == "'$'"):
                return exp.column("text", name)
            if _is_value(node, name):
                raise DialectError(f"Of json_each's {name}.value only json_type({name}.value) and {name}.value ->> '$' are rendered.")
            return node

        for key in ("expressions", "where", "group", "having", "order"):
            value = select.args.get(key)
            if isinstance(value, list):
                select.set(key, [v.transform(part) for v in value])
            elif value is not None:
                select.set(key, value.transform(part))


def _is_value(node: exp.Expression, name: str) -> bool:
    return isinstance(node, exp.Column) and node.name == "value" and node.table == name


def _order_reads_aliases(select: exp.Select) -> None:
    """ORDER BY name means the SELECT's output of that name, in DuckDB as in standard SQL; with
    columns preferred to aliases (CLICKHOUSE_SETTINGS) ClickHouse would sort by a same-named
    column of the FROM instead, so such a name is replaced by the output's expression."""
    order = select.args.get("order")
    if not order:
        return
    outputs = {e.alias: e.this for e in select.expressions if isinstance(e, exp.Alias)}
    for ordered in order.expressions:
        name = ordered.this
        if isinstance(name, exp.Column) and not name.table and name.name in outputs:
            ordered.set("this", outputs[name.name].copy())


def _named(projection: exp.Expression) -> exp.Expression:
    """A projection with the name DuckDB gives its result column."""
    if isinstance(projection, exp.Column) and projection.table and not isinstance(projection.this, exp.Star):
        return exp.alias_(projection, projection.name, quoted=True)
    return projection
