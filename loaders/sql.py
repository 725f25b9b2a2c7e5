"""Reads a table or a query from any SQLAlchemy database as raw batches for `loaders.validate.check`.

Rows are streamed with a server-side cursor, so a source table larger than memory loads.
Driver values are turned into plain ones that polars and the checks understand, and the
rules themselves are left to validation, exactly as for files.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

from loaders.validate import LoadError, as_text, require_columns

# Driver value types polars keeps as they are, with the polars type a column of them becomes.
# (A time of day or an interval is read as its text: polars cannot turn a duration into text.)
_NATIVE: dict[type, type[pl.DataType]] = {
    str: pl.String, bool: pl.Boolean, int: pl.Int64, float: pl.Float64, Decimal: pl.Decimal, datetime: pl.Datetime,
    date: pl.Date, bytes: pl.Binary,
}


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
    if parsed.get_backend_name() == "postgresql":
        sa.event.listen(engine, "connect", _text_when_unrepresentable)
    try:
        try:
            connection = engine.connect()
        except DBAPIError as e:
            raise LoadError(f"Cannot connect to the database at {where}: {_reason(e)}.") from e
        with connection:
            yield from _stream(connection, table, source_table, query, batch_rows, source)
    finally:
        engine.dispose()


@cache
def _lenient_loaders() -> dict[str, type]:
    """psycopg's date and timestamp loaders, returning the value's text where Python's types
    cannot hold it instead of raising."""
    from psycopg import DataError
    from psycopg.types import datetime as pg_datetime

    def lenient(base: type) -> type:
        def load(self: Any, data: Any) -> Any:
            try:
                return base.load(self, data)
            except (DataError, ValueError, OverflowError):
                return bytes(data).decode()

        return type(f"Lenient{base.__name__}", (base,), {"load": load})

    return {"date": lenient(pg_datetime.DateLoader), "timestamp": lenient(pg_datetime.TimestampLoader),
            "timestamptz": lenient(pg_datetime.TimestamptzLoader)}


def _text_when_unrepresentable(dbapi_connection: Any, _record: Any) -> None:
    """PostgreSQL holds dates and timestamps Python cannot ('infinity', year 10000 and on):
    with psycopg those arrive as their text instead of failing the whole read, and validation
    quarantines each as a bad timestamp."""
    adapters = getattr(dbapi_connection, "adapters", None)
    if adapters is None:  # not psycopg 3
        return
    for type_name, loader in _lenient_loaders().items():
        adapters.register_loader(type_name, loader)


def _parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as e:  # ValueError: a port that is not a number
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

    A column of one plain type keeps it: polars turns tz-aware datetimes into UTC instants,
    keeps Decimal exact and bool as bool. Anything else — a column that mixes types (SQLite
    allows it), a value no polars type holds (an integer beyond 64 bits), or a driver's own
    type (uuid, JSON, an IP address) — is read as text, which validation then parses.
    """
    kinds = {type(v) for v in values if v is not None}
    kind = next(iter(kinds)) if len(kinds) == 1 else None
    if kind in _NATIVE and (kind is not Decimal or _fits_decimal(values)):
        try:
            series = pl.Series(name, values, strict=False)
        except pl.exceptions.PolarsError:  # datetimes with and without a zone
            series = None
        # polars makes an int beyond 64 bits an Int128, or null: no column of the store holds it.
        if series is not None and series.dtype.base_type() == _NATIVE[kind]:
            if isinstance(series.dtype, pl.Datetime) and series.dtype.time_zone not in (None, "UTC"):
                # The values are already UTC instants; the label still names the session's zone.
                series = series.dt.convert_time_zone("UTC")
            return series
    return pl.Series(name, [as_text(v) for v in values], dtype=pl.String)


def _fits_decimal(values: Sequence[Decimal | None]) -> bool:
    """Whether one polars decimal type holds every value: finite, and the most integer digits
    plus the most fraction digits within 38 (polars panics on a NaN, or beyond)."""
    places = [v.as_tuple() for v in values if v is not None]
    if not all(isinstance(p.exponent, int) for p in places):  # NaN and infinities have a letter
        return False
    integer = max((len(p.digits) + p.exponent for p in places), default=0)
    fraction = max((-p.exponent for p in places), default=0)
    return max(integer, 0) + max(fraction, 0) <= 38


def _reason(error: SQLAlchemyError) -> str:
    """The driver's first line, which says what went wrong without SQLAlchemy's boilerplate."""
    original = getattr(error, "orig", None) or error
    lines = [line.strip() for line in str(original).strip().splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(original).__name__
