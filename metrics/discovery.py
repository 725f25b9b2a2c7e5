"""Property and field discovery: what the trend builder offers to count, filter and break
down by (the keys of the events' properties, the common values of each field).

Plain metrics over the range of q, after the filter bar and the data scope; the page caches
them per store version like every metric. On a range of more than SAMPLE_ROWS events they read
a sample of about SAMPLE_ROWS of them, so both stay fast at any size: the counts are those of
the sample, scaled to the range's events and rounded. The sample is drawn from each event's
time to the microsecond by integer arithmetic (SAMPLE_BUCKET), so every engine the store's SQL
runs on (DuckDB, ClickHouse) keeps the same events and gives the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from metrics.base import event_scope
from metrics.registry import metric
from metrics.trend import EVENT_FIELDS, USER_FIELDS
from pulse.query import Query

SAMPLE_ROWS = 100_000
TOP_VALUES = 10
FIELD_VALUES = 20
# json_type names of numbers and booleans; anything else a key holds is text.
NUMBER_TYPES = ("BIGINT", "UBIGINT", "DOUBLE")
# An event's sample bucket: its time in microseconds, multiplied modulo the prime 2^31 − 1 by
# MINSTD's multiplier, a number in [0, 2^31 − 1) spread evenly over the buckets however coarse
# the times are (whole seconds, milliseconds). Every product stays below 2^63, and the time is
# the same number on every engine, so DuckDB and ClickHouse put an event in the same bucket.
BUCKETS = 2_147_483_647
SAMPLE_BUCKET = f"(abs(epoch_us(e.ts)) % {BUCKETS}) * 48271 % {BUCKETS}"


@dataclass(frozen=True)
class Sample:
    """The events of the range after filters, or a sample of them: `sql` selects the columns
    asked for, and each event read stands for BUCKETS / `kept` events of the range (one when
    `kept` is all the buckets)."""

    sql: str
    params: dict
    kept: int

    def scaled(self, column: str) -> pl.Expr:
        """A count of sampled events as a count of the range's events, rounded (halves up) in
        whole numbers, so no engine's float rounding enters; a count of every event is itself."""
        return ((2 * pl.col(column) * BUCKETS + self.kept) // (2 * self.kept)).alias(column)


def sampled_events(store, q: Query, columns: str) -> Sample:
    """`columns` of the events of the range after filters: all of them, or when the range holds
    more than SAMPLE_ROWS, those whose SAMPLE_BUCKET is below the range's share of BUCKETS
    (about SAMPLE_ROWS events, the same ones on every engine)."""
    params = {"start": q.range_start, "end": q.range_end}
    total = store.scalar("SELECT count(*) FROM events WHERE day BETWEEN $start AND $end", params)
    kept = BUCKETS if total <= SAMPLE_ROWS else max(1, BUCKETS * SAMPLE_ROWS // total)
    sample = "" if kept == BUCKETS else f"AND {SAMPLE_BUCKET} < {kept}"
    scope, scope_params = event_scope(q, "e")
    sql = f"""
    SELECT {columns} FROM events e
    WHERE e.day BETWEEN $start AND $end {sample} AND {scope}
    """
    return Sample(sql, {**params, **scope_params}, kept)


@metric("property_keys", ["key", "type", "events", "top_values"], area="activity", internal=True)
def property_keys(store, q: Query) -> pl.DataFrame:
    """The keys of the events' properties in the range: their type, how many events carry them and their most common values.

    type is number, text or bool when every value of the key is one, else mixed (JSON null
    values are left out); events counts the events carrying the key; top_values is a JSON list
    of the 10 most common values as text, most common first, ties by value. Read from a sample
    of about 100,000 events of the range (counts scaled to the range). Rows by events, most
    first, then key.
    """
    sample = sampled_events(store, q, "e.properties")
    out = store.fetch(
        f"""
        WITH pairs AS (
            SELECT j.key, json_type(j.value) AS kind, j.value ->> '$' AS value
            FROM ({sample.sql}) s, json_each(s.properties) j
            WHERE s.properties IS NOT NULL AND json_type(j.value) <> 'NULL'
        ),
        keys AS (
            SELECT key, count(*) AS events,
                   CASE WHEN bool_and(kind IN {NUMBER_TYPES}) THEN 'number'
                        WHEN bool_and(kind = 'BOOLEAN') THEN 'bool'
                        WHEN bool_and(kind = 'VARCHAR') THEN 'text' ELSE 'mixed' END AS type
            FROM pairs GROUP BY key
        ),
        ranked AS (
            SELECT key, value, row_number() OVER (PARTITION BY key ORDER BY count(*) DESC, value) AS n
            FROM pairs GROUP BY key, value
        ),
        tops AS (SELECT key, to_json(list(value ORDER BY n))::VARCHAR AS top_values FROM ranked WHERE n <= {TOP_VALUES} GROUP BY key)
        SELECT k.key, k.type, k.events, t.top_values
        FROM keys k JOIN tops t USING (key)
        ORDER BY events DESC, key
        """,
        sample.params,
    )
    return out.cast({"key": pl.String, "type": pl.String, "events": pl.Int64, "top_values": pl.String}).with_columns(
        sample.scaled("events"))


@metric("field_values", ["field", "value", "events"], area="activity", internal=True)
def field_values(store, q: Query) -> pl.DataFrame:
    """The 20 most common values of each event field and user field a trend can filter or break down by, with their events in the range.

    A user field's value counts the events of users with that value. Rows without a value
    are left out. Read from the same sample as property_keys (counts scaled to the range).
    Rows by field (event fields first, in the trend's order), then events, most first, then value.
    """
    sample = sampled_events(store, q, ", ".join(["e.user_id", *(f"e.{name}" for name in EVENT_FIELDS)]))
    columns = {**{name: f.sql for name, f in EVENT_FIELDS.items()}, **{name: f.sql for name, f in USER_FIELDS.items()}}
    sets = ", ".join(f"({expr})" for expr in columns.values())
    choose = " ".join(f"WHEN grouping({expr}) = 0 THEN {i}" for i, expr in enumerate(columns.values()))
    values = " ".join(f"WHEN grouping({expr}) = 0 THEN CAST({expr} AS VARCHAR)" for expr in columns.values())
    out = store.fetch(
        f"""
        WITH counted AS (
            SELECT CASE {choose} END AS field_no, CASE {values} END AS value, count(*) AS events
            FROM ({sample.sql}) e LEFT JOIN people p ON p.user_id = e.user_id
            GROUP BY GROUPING SETS ({sets})
        )
        SELECT field_no, value, events FROM counted
        WHERE value IS NOT NULL
        QUALIFY row_number() OVER (PARTITION BY field_no ORDER BY events DESC, value) <= {FIELD_VALUES}
        ORDER BY field_no, events DESC, value
        """,
        sample.params,
    )
    names = list(columns)
    return out.select(
        pl.col("field_no").map_elements(lambda i: names[i], return_dtype=pl.String).alias("field"),
        pl.col("value").cast(pl.String),
        pl.col("events").cast(pl.Int64),
    ).with_columns(sample.scaled("events"))
