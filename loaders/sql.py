"""Reads a table or a query from any SQLAlchemy database as raw batches for `loaders.validate.check`.

Rows are streamed with a server-side cursor, so a source table larger than memory loads.
Driver values are turned into plain ones that polars and the checks understand, and the
rules themselves are left to validation, exactly as for files.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from loaders.validate import LoadError, require_columns


def read_sql_batches(
    url: str,
    table: str,
    source_table: str | None = None,
    query: str | None = None,
    batch_rows: int = 50_000,
) -> Iterator[tuple[pl.DataFrame, int]]:
    """Yield (raw batch, 1-based row number of its first row) from a table or a query.

    Exactly one of source_table (a name, optionally schema.table, quoted as an identifier)
    or query (SQL text, run as given) is read. Columns are matched to `table` by name.
    """
    if (source_table is None) == (query is None):
        raise LoadError("Give exactly one of a source table or a query to read from the database.")
    parsed = _parse_url(url)
    where = parsed.render_as_string(hide_password=True)
    source = f"{where} ({f'table {source_table}' if source_table else 'query'})"
    try:
        engine = sa.create_engine(parsed)
    except (NoSuchModuleError, ImportError) as e:
        raise LoadError(f"Cannot read {where}: no database driver is installed for {parsed.drivername}.") from e
    try:
        try:
            connection = engine.connect()
        except DBAPIError as e:
            raise LoadError(f"Cannot connect to the database at {where}: {_reason(e)}.") from e
        with connection:
            yield from _stream(connection, table, source_table, query, batch_rows, source)
    finally:
        engine.dispose()


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except ArgumentError as e:
        # The text itself is not repeated: a malformed URL may still contain a password.
        raise LoadError(
            "Cannot read from the database: the URL is not a valid SQLAlchemy URL "
            "(for example postgresql+psycopg://user@host:5432/dbname)."
        ) from e


def _stream(
    connection: sa.Connection,
    table: str,
    source_table: str | None,
    query: str | None,
    batch_rows: int,
    source: str,
) -> Iterator[tuple[pl.DataFrame, int]]:
    if source_table is not None:
        schema, _, name = source_table.rpartition(".")
        if not sa.inspect(connection).has_table(name, schema=schema or None):
            raise LoadError(f"Cannot load {table} from {source}: the table does not exist.")
        statement = sa.select(sa.text("*")).select_from(sa.table(name, schema=schema or None))
    else:
        statement = sa.text(query)
    try:
        result = connection.execution_options(stream_results=True, yield_per=batch_rows).execute(statement)
        columns = list(result.keys())
        lowered = [c.strip().lower() for c in columns]
        repeated = sorted({c for c in lowered if lowered.count(c) > 1})
        if repeated:
            raise LoadError(f"Cannot load {table} from {source}: the column {repeated[0]} appears more than once.")
        require_columns(table, columns, source)
        first = 1
        for rows in result.partitions(batch_rows):
            batch = pl.DataFrame([_series(name, values) for name, values in zip(columns, zip(*rows))])
            yield batch, first
            first += batch.height
    except SQLAlchemyError as e:
        raise LoadError(f"Cannot load {table} from {source}: the database said: {_reason(e)}.") from e


def _series(name: str, values: Sequence[Any]) -> pl.Series:
    """One column of driver values as a polars Series.

    Only uuid and JSON (dict/list) values need Python per value; polars itself turns
    tz-aware datetimes into UTC instants, keeps Decimal exact and bool as bool, and makes a
    column of mixed types (SQLite allows them) text, which validation then parses.
    """
    kinds = {type(v) for v in values}
    if any(issubclass(k, (uuid.UUID, dict, list)) for k in kinds):
        values = [_plain(v) for v in values]
    series = pl.Series(name, values, strict=False)
    if isinstance(series.dtype, pl.Datetime) and series.dtype.time_zone not in (None, "UTC"):
        # The values are already UTC instants; the label still names the session's zone.
        series = series.dt.convert_time_zone("UTC")
    return series


def _plain(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return value


def _reason(error: SQLAlchemyError) -> str:
    """The driver's first line, which says what went wrong without SQLAlchemy's boilerplate."""
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(original).__name__
