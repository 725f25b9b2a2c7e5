"""The data itself: what the store holds, every load in the load log, and the quarantine (the Data page).

These metrics describe the store as a whole, so they ignore the date range and the
country/device/plan filters. The quarantine is not narrowed by the range either: a row's
quarantined_at is when a load set it aside, not a day of the data, and a load of old data
today would otherwise vanish from a range that ends before today. Times are UTC.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import polars as pl

from metrics.registry import Option, metric
from pulse.query import Query
from pulse.schema import TABLES

TS = pl.Datetime("us")
# The long raw text and the load's id last, so the columns that say what went wrong stay in view.
QUARANTINE_COLUMNS = ("table_name", "source", "row_number", "rule", "quarantined_at", "raw", "load_id")
QUARANTINE_FACETS = ("table_name", "rule", "load_id")
# When and whether first: the columns a reader scans, then the counts, then the rest.
LOG_SCHEMA = {
    "started": TS, "outcome": pl.String, "source": pl.String, "stored": pl.Int64, "updated": pl.Int64,
    "duplicates": pl.Int64, "quarantined": pl.Int64, "warnings": pl.String, "error": pl.String, "finished": TS,
    "load_id": pl.String,
}
COUNTS = ("stored", "updated", "duplicates", "quarantined")


@metric("table_rows", [*TABLES, "quarantine"], area="data")
def table_rows(store, q: Query) -> pl.DataFrame:
    """Rows stored in each input table and in the quarantine, in one row (the whole store, whatever the range or filters)."""
    counts = ", ".join(f"(SELECT count(*) FROM {table}) AS {table}" for table in (*TABLES, "quarantine"))
    out = store.fetch(f"SELECT {counts}")
    return out.cast({name: pl.Int64 for name in out.columns})


def _utc(text: str | None) -> datetime | None:
    """A logged ISO timestamp as naive UTC, the way the store keeps time."""
    return datetime.fromisoformat(text).astimezone(timezone.utc).replace(tzinfo=None) if text else None


def _log_row(entry: dict[str, Any]) -> dict[str, Any]:
    tables = entry.get("tables", {}).values()
    # `pulse rebuild` logs outcome "ok" like a load; its source is what tells it apart.
    outcome = "rebuild" if entry.get("source") == "rebuild" else entry.get("outcome")
    return {
        "started": _utc(entry.get("started")),
        "outcome": outcome,
        "source": entry.get("source", ""),
        **{count: sum(report[count] for report in tables) for count in COUNTS},
        "warnings": "; ".join(entry.get("warnings", [])),
        "error": entry.get("error", ""),
        "finished": _utc(entry.get("finished")),
        "load_id": entry.get("load_id", ""),
    }


def _unreadable_row(line_number: int) -> dict[str, Any]:
    return {"outcome": "unreadable", "source": f"line {line_number} of the load log", **{count: 0 for count in COUNTS},
            "warnings": "", "error": "The line is not a JSON object; nothing more is known of this entry.", "load_id": ""}


@metric("load_log", list(LOG_SCHEMA), area="data")
def load_log(store, q: Query) -> pl.DataFrame:
    """Every load, erasure and rebuild in the load log, newest first (the whole log, whatever the range or filters).

    outcome is ok, failed, erased or rebuild; the counts are summed over the tables a load
    touched; text a log entry does not have is empty. A line that cannot be read (a log cut
    short by a full disk, say) is a row of its own with outcome unreadable, so it neither
    hides the rest nor goes unnoticed.
    """
    rows = [_unreadable_row(number) if entry is None else _log_row(entry) for number, entry in store.log_lines()]
    # The log is appended in time order, and a rebuild logs no time: the file's order is the truth.
    return pl.DataFrame(rows[::-1], schema=LOG_SCHEMA)


@metric("quarantine_summary", ["table_name", "rule", "rows"], area="data")
def quarantine_summary(store, q: Query) -> pl.DataFrame:
    """Quarantined rows per table and broken rule, the most frequent rule of each table first (the whole quarantine).

    Ignores the date range and the filters. Ties by rule.
    """
    out = store.fetch(
        "SELECT table_name, rule, count(*) AS rows FROM quarantine GROUP BY table_name, rule ORDER BY table_name, rows DESC, rule"
    )
    return out.cast({"rows": pl.Int64})


@metric(
    "quarantine_facets",
    ["value", "rows"],
    options=(Option("facet", "choice", "table_name", "the column whose values to list", QUARANTINE_FACETS),),
    area="data",
)
def quarantine_facets(store, q: Query) -> pl.DataFrame:
    """The values one column of the quarantine takes, each with its number of rows (the whole quarantine).

    What the quarantine browser offers to filter by. Rows by value; loads newest first.
    """
    facet = q.opt("facet")
    order = "max(quarantined_at) DESC, value" if facet == "load_id" else "value"
    out = store.fetch(f"SELECT {facet} AS value, count(*) AS rows FROM quarantine GROUP BY {facet} ORDER BY {order}")
    return out.cast({"rows": pl.Int64})


@metric(
    "quarantine_rows",
    list(QUARANTINE_COLUMNS),
    options=(
        Option("table_name", "choice", None, "only rows meant for this table", TABLES),
        Option("rule", "str", None, "only rows that broke exactly this rule"),
        Option("load_id", "str", None, "only rows set aside by this load"),
        Option("limit", "int", 0, "rows per page (0: all)", minimum=0, maximum=1_000_000),
        Option("offset", "int", 0, "rows to skip (paging)", minimum=0, maximum=1_000_000_000),
    ),
    area="data",
)
def quarantine_rows(store, q: Query) -> pl.DataFrame:
    """The rows loads set aside, with the rule each broke and its raw text, oldest first, narrowed and paged.

    Ignores the date range and the filters. Ordered by quarantined_at, source and row_number;
    ties (one file name loaded twice in one load) by the raw text, so paging is stable.
    """
    values = {name: q.opt(name) for name in ("table_name", "rule", "load_id")}
    conditions = [f"{name} = ${name}" for name, value in values.items() if value is not None] or ["TRUE"]
    limit, offset = int(q.opt("limit")), int(q.opt("offset"))
    out = store.fetch(
        f"""
        SELECT {', '.join(QUARANTINE_COLUMNS)} FROM quarantine
        WHERE {' AND '.join(conditions)}
        ORDER BY quarantined_at, source, row_number, raw
        {f"LIMIT {limit}" if limit else ""} OFFSET {offset}
        """,
        {name: value for name, value in values.items() if value is not None},
    )
    return out.cast({"row_number": pl.Int64, "quarantined_at": TS})
