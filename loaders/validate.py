"""Turns a raw batch into typed rows for the store and quarantined rows (DATA.md, "Bad input").

Every reader (CSV, Parquet, NDJSON, SQL) hands its batches to `check`, so the rules of the
contract live in one place and every source breaks them the same way. The work is done on
whole columns, by polars (and by DuckDB for JSON); Python runs per row only to merge an
event's extra columns into its `properties`.

Row numbers: `first_row_number` is the 1-based position of the batch's first data row in its
source, header excluded. For a CSV without quoted line breaks, file line = row number + 1;
for NDJSON it is the count of non-blank lines; for Parquet and SQL, the row's position.
"""

from __future__ import annotations

import functools
import json
import math
import re
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import polars as pl

from pulse.periods import local_midnight_utc
from pulse.schema import (
    BOOLEAN_WORDS,
    DEVICE_TYPES,
    EVENT_TYPES,
    FIRST_DAY,
    LAST_DAY,
    MONEY,
    REQUIRED,
    SCHEMAS,
    SUPPORTED_DAYS,
    TRANSACTION_KINDS,
    TRANSACTION_STATUSES,
    TS,
)


class LoadError(Exception):
    """A whole file cannot be loaded; str(e) is one clear sentence naming the file and the problem."""


BAD_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(),
    "row_number": pl.Int64(),
    "rule": pl.String(),
    "raw": pl.String(),
}


@dataclass
class Checked:
    """The outcome of checking one batch: rows to store, rows to quarantine, notes for the user."""

    good: pl.DataFrame
    bad: pl.DataFrame
    warnings: list[str] = field(default_factory=list)


_TIMESTAMPS = frozenset({"signup_at", "ts", "started_at", "ended_at"})
_MONEY = frozenset({"amount", "mrr"})
_ENUMS: dict[tuple[str, str], tuple[str, ...]] = {
    ("events", "event_type"): EVENT_TYPES,
    ("events", "device_type"): DEVICE_TYPES,
    ("transactions", "kind"): TRANSACTION_KINDS,
    ("transactions", "status"): TRANSACTION_STATUSES,
}
_COUNTRY_COLUMNS = frozenset({"country", "country_code"})
_TIMEZONES = sorted(zoneinfo.available_timezones())
_CHECKED = _TIMESTAMPS | _MONEY | _COUNTRY_COLUMNS | {
    "email", "timezone", "currency", "marketing_opt_in", "properties", *(n for _, n in _ENUMS)
}
# (format, has an offset). Order matters: a column is parsed with the first format that fits
# its first value, and formats without fractions or offsets take polars' fast path (measured
# ~5x faster), so they come first. "Z" is matched literally since chrono's %z rejects it.
_TIMESTAMP_FORMATS = tuple(
    (f"%Y-%m-%d{sep}{clock}{zone}", zone == "%z")
    for clock in ("%H:%M:%S", "%H:%M:%S%.f", "%H:%M")
    for sep in ("T", " ")
    for zone in ("Z", "", "%z")
) + (("%Y-%m-%d", False),)
_ISO_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}([T ])\d{2}:\d{2}:\d{2}(?:\.(\d{1,9}))?(Z|[+-]\d{2}(?::?\d{2})?)?")
_TRUE = tuple(word for word, value in BOOLEAN_WORDS.items() if value)
_FALSE = tuple(word for word, value in BOOLEAN_WORDS.items() if not value)

# Loose on purpose: it catches values that are plainly not addresses (no @, spaces, no
# domain dot) without pretending to implement RFC 5322.
_EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
# A fifth significant decimal place cannot be stored in Decimal(18, 4) without rounding money.
_TOO_PRECISE = r"^[+-]?\d*\.\d{4}0*[1-9]\d*$"
# The longest piece of an offending value quoted in a rule text; the raw row keeps all of it.
_QUOTE_CHARS = 40
_PREFIX = "__pulse_"


# Rows of a user `pulse user forget` erased; their raw row is not kept, being the erased data.
ERASED_RULE = "erased user"

# Which of a batch's user ids were erased (a boolean per id), or None when none ever were.
ErasedFilter = Callable[[pl.Series], pl.Series]


def require_columns(table: str, columns: list[str], source: str) -> None:
    """Fail the whole load when a column name repeats or a required column is absent: no
    row of such a source could be stored."""
    names = [c.strip().lower() for c in columns]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise LoadError(f"Cannot load {source}: the column {repeated[0]} appears more than once.")
    have = set(names)
    missing = [c for c in REQUIRED[table] if c not in have]
    if len(missing) == 1:
        raise LoadError(f"Cannot load {source} as {table}: the required column {missing[0]} is missing.")
    if missing:
        raise LoadError(
            f"Cannot load {source} as {table}: the required columns {', '.join(missing)} are missing."
        )


def check(table: str, raw: pl.DataFrame, source: str, first_row_number: int, currency: str, timezone: str = "UTC",
          erased: ErasedFilter | None = None) -> Checked:
    """Split a raw batch into typed good rows and quarantined bad rows.

    raw holds the batch as read: text columns (CSV, NDJSON) or typed ones (Parquet, SQL).
    first_row_number is the 1-based data row number of raw's first row, header excluded.
    currency is the reporting currency, used where a transaction's currency is empty;
    timezone the reporting timezone, in which every timestamp must also be a supported day.
    erased, when given, says which user ids were erased: their rows are quarantined.
    Each bad row carries the first rule it breaks, in the table's column order.
    """
    reporting_currency = currency.strip().upper()
    if not re.fullmatch(r"[A-Z]{3}", reporting_currency):
        raise ValueError(f"the reporting currency {currency!r} is not a 3-letter ISO 4217 code")
    require_columns(table, raw.columns, source)
    raw, unreadable = _decoded(raw)
    names = [c.strip().lower() for c in raw.columns]

    schema = SCHEMAS[table]
    frame = raw.rename(dict(zip(raw.columns, names)))
    extra = [n for n in names if n not in schema]
    warnings = []
    if extra and table != "events":
        warnings.append(f"{source}: unknown columns ignored: {', '.join(extra)}")
        unreadable = {n: mask for n, mask in unreadable.items() if n in schema}

    typed = _typed(table, frame, reporting_currency)
    if table == "events" and "properties" in frame.columns:
        properties = _json_objects(typed.get_column(f"{_PREFIX}properties"))
        typed = typed.with_columns(properties.alias("properties"))
    typed = typed.with_columns(mask.alias(f"{_PREFIX}bytes_{n}") for n, mask in unreadable.items())
    is_erased = erased(typed.get_column("user_id")) if erased else None
    if is_erased is not None:
        typed = typed.with_columns(is_erased.alias(f"{_PREFIX}erased"))
    rules = _first_broken_rule(table, frame.columns, list(unreadable), _supported_instants(timezone), is_erased is not None)
    rule = typed.select(rules).to_series()
    is_good = rule.is_null()
    good = typed.select(list(schema)).filter(is_good)
    if extra and table == "events":
        good = _fold_into_properties(good, frame.select(extra).filter(is_good))
    return Checked(good=good, bad=_quarantined(raw, rule, source, first_row_number), warnings=warnings)


def _decoded(raw: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, pl.Series]]:
    """raw with binary columns (Parquet writers and databases may hold text that way) as
    text, and per such column, by its normalised name, which rows are not UTF-8.

    Those values are kept with their bad bytes escaped (\\xff), so the quarantine shows them.
    """
    unreadable = {}
    columns = []
    for name, dtype in raw.schema.items():
        if dtype != pl.Binary:
            continue
        values = raw.get_column(name)
        text = _duckdb_column(values, "try(decode(t))")
        bad = text.is_null() & values.is_not_null()
        if bad.any():
            escaped = pl.Series([v.decode("utf-8", "backslashreplace") for v in values.filter(bad)], dtype=pl.String)
            text = text.scatter(bad.arg_true(), escaped)
            unreadable[name.strip().lower()] = bad
        columns.append(text.rename(name))
    return raw.with_columns(columns), unreadable


def _supported_instants(timezone: str) -> tuple[datetime, datetime]:
    """The first instant and the instant after the last that are supported days both in
    UTC and in the reporting timezone: a timestamp outside would have no local day every
    date type holds, or push a period past the end of the calendar."""
    first = datetime.combine(FIRST_DAY, datetime.min.time())
    after = datetime.combine(LAST_DAY + timedelta(days=1), datetime.min.time())
    return (max(first, local_midnight_utc(FIRST_DAY, timezone)),
            min(after, local_midnight_utc(LAST_DAY + timedelta(days=1), timezone)))


def _quarantined(raw: pl.DataFrame, rule: pl.Series, source: str, first_row_number: int) -> pl.DataFrame:
    """The rows that broke a rule: where they are in their source, which rule, and their raw text."""
    is_bad = rule.is_not_null()
    row_number = pl.int_range(first_row_number, first_row_number + raw.height, dtype=pl.Int64, eager=True)
    bad = pl.DataFrame({
        "source": pl.Series([source] * int(is_bad.sum()), dtype=pl.String),
        "row_number": row_number.filter(is_bad),
        "rule": rule.filter(is_bad),
        "raw": raw.filter(is_bad).select(pl.struct(pl.all()).struct.json_encode()).to_series(),
    })
    return bad.with_columns(pl.when(pl.col("rule") != ERASED_RULE).then(pl.col("raw")).alias("raw"))


def _is_padded(name: str) -> pl.Expr:
    """Whether any value of a text column starts or ends with a space or a tab.

    Only keys and checked columns (codes, timestamps, amounts) are stripped, and only when
    this says so: free text is kept as given, and stripping measured as the largest single
    cost of the checks, twice the cost of this test.
    """
    column = pl.col(name).str
    return (column.starts_with(" ") | column.ends_with(" ") | column.starts_with("\t") | column.ends_with("\t")).any()


def _text(name: str, dtype: pl.DataType, strip: bool) -> pl.Expr:
    """A column as text, empty meaning missing, whatever type the source gave it."""
    column = pl.col(name)
    if _is_nested(dtype):
        # Wrapping the value in a one-field struct is the vectorised way to get its JSON text.
        text = pl.struct(column.alias("v")).struct.json_encode().str.slice(5).str.strip_suffix("}")
        text = pl.when(column.is_not_null()).then(text)
    elif dtype == pl.String:
        text = column
    else:
        text = column.cast(pl.String, strict=False)
    if strip:
        text = text.str.strip_chars()
    return pl.when(text.str.len_bytes() > 0).then(text)


def _is_nested(dtype: pl.DataType) -> bool:
    return isinstance(dtype, (pl.Struct, pl.List, pl.Array, pl.Map))


def _native_timestamp(name: str, dtype: pl.DataType) -> pl.Expr:
    """A typed datetime as naive UTC: tz-aware converted to UTC, naive taken as UTC already."""
    column = pl.col(name)
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        column = column.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return column.cast(TS)


def _parse_timestamps(text: pl.Series) -> pl.Series:
    """ISO 8601 text as naive UTC microseconds: offset → UTC, naive as UTC, a date as midnight.

    A file nearly always writes every timestamp the same way, so the first value decides
    how the whole column is parsed in one pass; only the rows that pass misses try every
    format. Parsing all formats for every row measured five times slower.
    """
    sample = text.drop_nulls().head(1)
    parsed = _parse_like(text, sample.item()) if sample.len() else None
    if parsed is None:
        formats = sorted(_TIMESTAMP_FORMATS, key=lambda f: _strptime(sample, *f).null_count() > 0)
        parsed = _strptime(text, *formats[0])
    pending = (text.is_not_null() & parsed.is_null()).arg_true()
    # ISO 8601 allows an hour-only offset ("+00", as PostgreSQL writes it); chrono's %z does not.
    retry = text.gather(pending).str.replace(r"(:\d{2}(?:\.\d+)?[+-]\d{2})$", "${1}:00")
    for fmt in _TIMESTAMP_FORMATS:
        if pending.len() == 0:
            break
        retried = _strptime(retry, *fmt)
        done = retried.is_not_null()
        parsed = parsed.scatter(pending.filter(done), retried.filter(done))
        pending, retry = pending.filter(~done), retry.filter(~done)
    # A leap second (23:59:60) parses as the next minute's first second; it is clamped to
    # the second before, so the instant keeps its day (and an event its order in a session).
    leap = text.str.slice(16, 3) == ":60"
    if leap.any():
        parsed = pl.select(pl.when(leap).then(parsed - timedelta(seconds=1)).otherwise(parsed)).to_series()
    return parsed


def _parse_like(text: pl.Series, sample: str) -> pl.Series | None:
    """Parse the values laid out exactly like `sample` (others come out null), or None when
    the sample is not an ISO 8601 date and time with a fraction or an offset.

    Polars parses "YYYY-MM-DD HH:MM:SS" on a fast path but any fraction or offset through
    chrono, measured ~5x slower. In values with the sample's length and zone, the fraction
    and offset sit at fixed places, so they are cut off and applied as numbers.
    """
    shape = _ISO_SHAPE.fullmatch(sample)
    if shape is None:
        return None
    separator, fraction, zone = shape.group(1), shape.group(2) or "", shape.group(3) or ""
    if not fraction and zone in ("", "Z"):
        return None  # a plain format is on polars' fast path already
    alike = (text.str.len_bytes() == len(sample)) & text.str.ends_with(zone)
    clock = text.str.slice(0, 19).str.to_datetime(f"%Y-%m-%d{separator}%H:%M:%S", time_unit="us", strict=False)
    if fraction:
        alike &= text.str.contains(rf"^.{{19}}\.\d{{{len(fraction)}}}")
        digits = text.str.slice(20, min(len(fraction), 6)).str.to_integer(strict=False)
        clock += (digits * 10 ** (6 - min(len(fraction), 6))).cast(pl.Duration("us"))
    if zone not in ("", "Z"):
        hours, minutes = int(zone[1:3]), int(zone[-2:]) if len(zone) > 3 else 0
        if hours > 23 or minutes > 59:
            return None
        clock -= (-1 if zone[0] == "-" else 1) * timedelta(hours=hours, minutes=minutes)
    return pl.DataFrame({"alike": alike, "clock": clock}).select(pl.when("alike").then("clock")).to_series()


def _strptime(text: pl.Series, fmt: str, has_offset: bool) -> pl.Series:
    parsed = text.str.to_datetime(fmt, time_unit="us", strict=False, cache=False)
    if has_offset:
        parsed = parsed.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
    return parsed


def _money(name: str, dtype: pl.DataType) -> pl.Expr:
    """An exact decimal: text goes straight to Decimal, never through a float."""
    if dtype == pl.String:
        return pl.col(name).str.to_decimal(scale=MONEY.scale).cast(MONEY, strict=False)
    return pl.col(name).cast(MONEY, strict=False)


def _boolean(name: str, dtype: pl.DataType) -> pl.Expr:
    """One of pulse.schema.BOOLEAN_WORDS in any case; missing means false (the data contract: default false)."""
    if dtype == pl.Boolean:
        return pl.col(name).fill_null(False)
    text = pl.col(name).str.to_lowercase()
    return (
        pl.when(text.is_null()).then(False)
        .when(text.is_in(_TRUE)).then(True)
        .when(text.is_in(_FALSE)).then(False)
    )


def _is_native(name: str, dtype: pl.DataType) -> bool:
    """Whether a typed source column converts directly rather than through its text."""
    if name in _TIMESTAMPS:
        return isinstance(dtype, pl.Datetime) or dtype == pl.Date
    if name in _MONEY:
        return dtype.is_numeric()
    return name == "marketing_opt_in" and dtype == pl.Boolean


def _typed(table: str, frame: pl.DataFrame, currency: str) -> pl.DataFrame:
    """Every schema column typed, next to the normalised text it came from (named with _PREFIX).

    The text is kept so the rules can tell "missing" (no text) from "unparseable" (text, no value).
    """
    schema = SCHEMAS[table]
    present = {n: t for n, t in frame.schema.items() if n in schema}
    # A float amount is approximate already (0.1 + 0.2 is 0.30000000000000004): rounding it
    # to the store's places is the faithful conversion, not a reason to quarantine it.
    frame = frame.with_columns(pl.col(n).round(MONEY.scale) for n, t in present.items() if n in _MONEY and t.is_float())
    native = [n for n, t in present.items() if _is_native(n, t)]
    checked = set(REQUIRED[table]) | _CHECKED
    maybe_padded = [_is_padded(n).alias(n) for n, t in present.items() if n in checked and t == pl.String]
    padded = frame.select(maybe_padded).row(0, named=True) if maybe_padded else {}
    texts = frame.select(
        *native,
        *[_text(n, t, padded.get(n, False)).alias(f"{_PREFIX}{n}") for n, t in present.items()],
        *[pl.lit(None, pl.String).alias(f"{_PREFIX}{n}") for n in schema if n not in present],
    )

    values = []
    for name, dtype in schema.items():
        text = texts.get_column(f"{_PREFIX}{name}")
        if name in native:
            source, source_type = name, present[name]
        else:
            source, source_type = text.name, pl.String()
        if name in _TIMESTAMPS:
            if name in native:
                value = _native_timestamp(source, source_type)
            else:
                value = pl.lit(_parse_timestamps(text))
        elif name in _MONEY:
            value = _money(source, source_type)
        elif name == "marketing_opt_in":
            value = _boolean(source, source_type)
        elif (table, name) in _ENUMS:
            value = _lowered(text, _ENUMS[(table, name)])
            if name == "status":
                value = value.fill_null("succeeded")
        elif name in _COUNTRY_COLUMNS:
            value = pl.col(text.name).str.to_uppercase()
        elif name == "currency":
            value = pl.col(text.name).str.to_uppercase().fill_null(currency)
        else:
            value = pl.col(text.name)
        # Not strict: a typed value no column of the store can hold (a Parquet date in year
        # 300000, an integer amount beyond DECIMAL(18, 4)) is empty, and its rule says why.
        values.append(value.cast(dtype, strict=False).alias(name))
    return texts.select(*values, pl.selectors.starts_with(_PREFIX))


def _lowered(text: pl.Series, allowed: tuple[str, ...]) -> pl.Expr:
    """A vocabulary column in lower case, skipping the copy when every value is already a
    known one, as it nearly always is (lower-casing two event columns measured a tenth of
    all the checks; testing membership costs a third of that)."""
    column = pl.col(text.name)
    if (text.is_in(allowed) | text.is_null()).all():
        return column
    return column.str.to_lowercase()


@functools.cache
def _duckdb() -> duckdb.DuckDBPyConnection:
    """One in-memory DuckDB for JSON checks; callers take a cursor, which is safe per thread."""
    return duckdb.connect()


def _json_objects(texts: pl.Series) -> pl.Series:
    """Each text that is a JSON object, else null.

    DuckDB decides: polars' JSON path functions measured ~13x slower (1.6 s against 0.12 s
    per million rows here), and the store reads properties with DuckDB's JSON functions, so
    what DuckDB accepts is exactly what is worth storing.
    """
    is_object = _duckdb_column(texts, "starts_with(t, '{') AND json_valid(t)")
    return texts.to_frame().select(pl.when(is_object).then(pl.col(texts.name))).to_series()


def _duckdb_column(values: pl.Series, expression: str) -> pl.Series:
    """A SQL expression over `t`, evaluated by DuckDB for each value."""
    cursor = _duckdb().cursor()
    try:
        cursor.register("batch", values.rename("t").to_frame())
        return cursor.sql(f"SELECT {expression} AS t FROM batch").pl().to_series().rename(values.name)
    finally:
        cursor.close()


def _first_broken_rule(table: str, present: list[str], unreadable: list[str], supported: tuple[datetime, datetime],
                      erased: bool) -> pl.Expr:
    """The text of the first rule a row breaks, in the table's column order; null for a good row.

    An erased user's row breaks "erased user" before anything else, so none of its values
    is kept (other rules keep the raw row). A column that is not UTF-8 text breaks that
    rule before its others; an extra events column (folded into properties) after all.
    """
    required = REQUIRED[table]
    checks: list[tuple[pl.Expr, pl.Expr | str]] = []
    if erased:
        checks.append((pl.col(f"{_PREFIX}erased"), ERASED_RULE))
    for name in SCHEMAS[table]:
        text = pl.col(f"{_PREFIX}{name}")
        value = pl.col(name)
        if name in unreadable:
            checks.append((pl.col(f"{_PREFIX}bytes_{name}"), f"{name} is not UTF-8 text"))
        if name in required:
            checks.append((text.is_null(), f"missing {name}"))
        if name not in present:
            if (table, name) == ("events", "event_name"):
                checks.append((pl.col("event_type") == "feature_use", "feature_use needs event_name"))
            continue
        parsed = text.is_not_null() & value.is_null()
        if name in _TIMESTAMPS:
            checks.append((parsed, f"bad timestamp in {name}"))
            checks.append(((value < supported[0]) | (value >= supported[1]), f"{name} is outside {SUPPORTED_DAYS}"))
        elif name in _MONEY:
            checks.append((parsed, f"bad {name}"))
            checks.append((text.str.contains(_TOO_PRECISE), f"{name} has more than 4 decimal places"))
            checks.append((value < 0, f"{name} must be >= 0"))
        elif name == "marketing_opt_in":
            checks.append((value.is_null(), f"bad boolean in {name}"))
        elif (table, name) in _ENUMS:
            allowed = _ENUMS[(table, name)]
            quoted = pl.format(f"unknown {name} '{{}}'", text.str.slice(0, _QUOTE_CHARS))
            checks.append((value.is_not_null() & ~value.is_in(allowed), quoted))
        elif name in _COUNTRY_COLUMNS:
            checks.append((~value.str.contains(r"^[A-Z]{2}$"), "bad country code"))
        elif name == "currency":
            checks.append((~value.str.contains(r"^[A-Z]{3}$"), "bad currency code"))
        elif name == "timezone":
            checks.append((~value.is_in(_TIMEZONES), "bad timezone"))
        elif name == "email":
            checks.append((~value.str.contains(_EMAIL), "email does not look like an address"))
        elif name == "properties":
            checks.append((parsed, "properties must be a JSON object"))
        if (table, name) == ("events", "event_name"):
            needs_name = (pl.col("event_type") == "feature_use") & value.is_null()
            checks.append((needs_name, "feature_use needs event_name"))
        if (table, name) == ("subscriptions", "ended_at"):
            checks.append((value <= pl.col("started_at"), "ended_at must be after started_at"))

    extra = [name for name in unreadable if name not in SCHEMAS[table]]
    checks += [(pl.col(f"{_PREFIX}bytes_{name}"), f"{name} is not UTF-8 text") for name in extra]
    # A null condition (a comparison with a missing value) counts as not broken.
    rule = pl.when(checks[0][0]).then(_as_expr(checks[0][1]))
    for condition, text in checks[1:]:
        rule = rule.when(condition).then(_as_expr(text))
    return rule.otherwise(pl.lit(None, pl.String))


def _as_expr(rule: pl.Expr | str) -> pl.Expr:
    return pl.lit(rule, pl.String) if isinstance(rule, str) else rule


def _fold_into_properties(good: pl.DataFrame, extra: pl.DataFrame) -> pl.DataFrame:
    """Merge non-empty extra column values into each event's properties object.

    Keys already in properties win over a same-named column, since properties is the
    explicit place for them. Only rows with at least one non-empty extra value are touched.
    """
    has_extra = pl.any_horizontal(_text(n, t, True).is_not_null() for n, t in extra.schema.items())
    touched = extra.select(has_extra).to_series().arg_true()
    if touched.len() == 0:
        return good
    merged = []
    # DuckDB rewrites each object as strict JSON first: it accepts a little more (a trailing
    # comma) than Python's parser does.
    compact = _duckdb_column(good.get_column("properties").gather(touched), "CAST(json(t) AS VARCHAR)")
    for properties, extras in zip(compact.to_list(), extra[touched].to_dicts()):
        values = {k: v.strip() if isinstance(v, str) else jsonable(v) for k, v in extras.items()}
        obj = {k: v for k, v in values.items() if v is not None and v != ""}
        obj.update(json.loads(properties) if properties else {})
        merged.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
    properties = good.get_column("properties").clone().scatter(touched, merged)
    return good.with_columns(properties)


def as_text(value: Any) -> str | None:
    """A value a reader could not hand over typed, as text: bytes decoded (bad bytes
    escaped), nested values as JSON, anything else as Python writes it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).decode("utf-8", "backslashreplace")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":"))
    if isinstance(value, Decimal) and value.is_finite():
        return format(value, "f")  # 10 rather than 1E+1, which is no amount
    return str(value)


def jsonable(value: Any) -> Any:
    """A value as JSON can hold it: keys as text, bytes decoded (bad bytes escaped), a NaN or
    an infinity (which JSON has no word for) as null, dates and decimals as their text."""
    if isinstance(value, dict):
        return {_json_key(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return as_text(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _json_key(key: Any) -> str:
    plain = jsonable(key)
    return plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False, separators=(",", ":"))
