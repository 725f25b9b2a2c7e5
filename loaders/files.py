"""Reads CSV, Parquet and NDJSON files as a stream of raw batches for `loaders.validate.check`.

Readers only read: they hand over text (CSV, NDJSON) or the file's own types (Parquet) so
that every rule is applied in one place. Memory stays bounded by the batch size, so a file
larger than memory loads. Anything that makes a whole file unreadable is a LoadError with
one sentence naming the file; rows that break a rule are validation's business.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from pulse.schema import REQUIRED, SCHEMAS
from loaders.validate import LoadError, require_columns

FORMATS = ("csv", "parquet", "ndjson")

_EXTENSIONS = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".ndjson": "ndjson",
    ".jsonl": "ndjson",
}
_SNIFF_BYTES = 64 * 1024
_COUNT_CHUNK = 1024 * 1024


def detect_format(path: Path, override: str | None) -> str:
    """The file's format: the override if given, else from the extension."""
    if override is not None:
        fmt = override.strip().lower()
        if fmt not in FORMATS:
            raise LoadError(f"Cannot load {path}: unknown format {override!r} (use csv, parquet or ndjson).")
        return fmt
    fmt = _EXTENSIONS.get(path.suffix.lower())
    if fmt is None:
        raise LoadError(
            f"Cannot load {path}: its name does not tell the format "
            f"(use {', '.join(_EXTENSIONS)}, or name the format)."
        )
    return fmt


def read_batches(
    path: Path, table: str, fmt: str | None = None, batch_rows: int = 200_000
) -> Iterator[tuple[pl.DataFrame, int]]:
    """Yield (raw batch, 1-based data row number of its first row) until the file is read.

    CSV columns are all text (nothing inferred) so validation sees exactly what was written;
    NDJSON keeps the table's columns as text and nested values as JSON text; Parquet keeps
    its own types. Checks happen as the iterator starts, before the first batch.
    """
    path = Path(path)
    fmt = detect_format(path, fmt)
    _require_non_empty(path)
    if fmt == "csv":
        yield from _csv_batches(path, table, batch_rows)
    elif fmt == "parquet":
        yield from _parquet_batches(path, table, batch_rows)
    else:
        yield from _ndjson_batches(path, table, batch_rows)


def file_rows(path: Path, fmt: str) -> int | None:
    """A cheap estimate of the data rows, for a progress bar; None when it cannot be had.

    Parquet knows its row count; for text formats newlines are counted (a quoted line break
    in a CSV or a blank NDJSON line makes the estimate slightly high, which a progress bar
    tolerates).
    """
    try:
        if fmt == "parquet":
            return pq.ParquetFile(path).metadata.num_rows
        lines = 0
        last = b"\n"
        with open(path, "rb") as f:
            while chunk := f.read(_COUNT_CHUNK):
                lines += chunk.count(b"\n")
                last = chunk[-1:]
    except (OSError, pa.ArrowException):
        return None
    if last != b"\n":
        lines += 1
    return max(lines - 1, 0) if fmt == "csv" else lines


def _require_non_empty(path: Path) -> None:
    if not path.exists():
        raise LoadError(f"Cannot load {path}: the file does not exist.")
    if not path.is_file():
        raise LoadError(f"Cannot load {path}: it is not a file.")
    with open(path, "rb") as f:
        while chunk := f.read(_SNIFF_BYTES):
            if chunk.strip():
                return
    raise LoadError(f"Cannot load {path}: the file is empty.")


def _require_text(path: Path, fmt_name: str) -> None:
    """Reject binary files (an image or a Parquet file named .csv) before a parser misreads them."""
    with open(path, "rb") as f:
        head = f.read(_SNIFF_BYTES)
    try:
        # An incremental decoder tolerates a character cut in half at the end of the sample.
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
        is_text = b"\x00" not in head
    except UnicodeDecodeError:
        is_text = False
    if not is_text:
        raise LoadError(f"Cannot load {path}: it is not a UTF-8 text file, so it cannot be {fmt_name}.")


def _csv_batches(path: Path, table: str, batch_rows: int) -> Iterator[tuple[pl.DataFrame, int]]:
    _require_text(path, "CSV")
    try:
        header = pl.read_csv(path, n_rows=0, infer_schema=False).columns
    except pl.exceptions.PolarsError as e:
        raise LoadError(f"Cannot load {path}: it is not readable CSV ({_first_line(e)}).") from e
    require_columns(table, header, str(path))
    # Empty cells stay "" rather than null so a quarantined row's raw text is what was written.
    reader = pl.scan_csv(path, infer_schema=False, empty_string_is_null=False)
    first = 1
    try:
        for batch in reader.collect_batches(chunk_size=batch_rows):
            yield batch, first
            first += batch.height
    except pl.exceptions.PolarsError as e:
        _raise_bad_csv_row(path, len(header))
        raise LoadError(f"Cannot load {path}: it is not valid CSV ({_first_line(e)}).") from e


def _raise_bad_csv_row(path: Path, fields: int) -> None:
    """Name the first data row with more fields than the header, the usual reason polars stops.

    Only runs after a failure, so the slower csv module costs nothing on good files.
    """
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        rows = csv.reader(f)
        next(rows, None)
        for number, row in enumerate(rows, start=1):
            if len(row) > fields:
                raise LoadError(
                    f"Cannot load {path}: data row {number} has {len(row)} fields but the header has {fields}."
                )


def _parquet_batches(path: Path, table: str, batch_rows: int) -> Iterator[tuple[pl.DataFrame, int]]:
    try:
        parquet = pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise LoadError(f"Cannot load {path}: it is not a Parquet file.") from e
    require_columns(table, parquet.schema_arrow.names, str(path))
    first = 1
    try:
        for record_batch in parquet.iter_batches(batch_size=batch_rows):
            batch = pl.from_arrow(record_batch)
            yield batch, first
            first += batch.height
    except (pa.ArrowException, OSError) as e:
        raise LoadError(f"Cannot load {path}: the Parquet data is damaged ({_first_line(e)}).") from e


def _ndjson_batches(path: Path, table: str, batch_rows: int) -> Iterator[tuple[pl.DataFrame, int]]:
    """Line-chunked NDJSON: batch_rows non-blank lines at a time are parsed together by polars."""
    _require_text(path, "NDJSON")
    first = 1
    line_number = 0
    with open(path, "rb") as f:
        while True:
            chunk_start = line_number + 1
            lines = []
            rows = 0
            for line in f:
                line_number += 1
                if line_number == 1:
                    line = line.removeprefix(codecs.BOM_UTF8)
                lines.append(line)
                if line.strip():
                    rows += 1
                    if rows == batch_rows:
                        break
            if rows == 0:
                return
            batch = _parse_ndjson(path, table, lines, chunk_start, rows)
            if first == 1:
                require_columns(table, batch.columns, str(path))
            yield _with_required(table, batch), first
            first += rows


def _parse_ndjson(path: Path, table: str, lines: list[bytes], chunk_start: int, rows: int) -> pl.DataFrame:
    """Parse one chunk, reading the table's columns as text and extra keys with their JSON types.

    Text keeps a nested value as its JSON and an id that is sometimes a number as "123".
    A JSON number is a double to polars, so an amount keeps its digits up to 15 significant
    ones; an amount that needs more must be written as a string.
    """
    data = b"".join(lines)
    try:
        inferred = pl.scan_ndjson(io.BytesIO(data), infer_schema_length=None).collect_schema()
    except pl.exceptions.PolarsError:
        # Either a broken line, or one key holding values polars cannot unify (an object
        # here, a list there): the slow, exact look finds out which, for this chunk only.
        inferred = dict.fromkeys(_keys_or_raise(path, lines, chunk_start), pl.String())
    known = SCHEMAS[table]
    schema = {k: pl.String() if k.strip().lower() in known else t for k, t in inferred.items()}
    try:
        batch = pl.read_ndjson(io.BytesIO(data), schema=schema)
    except pl.exceptions.PolarsError as e:
        _keys_or_raise(path, lines, chunk_start)
        raise LoadError(f"Cannot load {path}: it is not valid NDJSON ({_first_line(e)}).") from e
    if batch.height != rows:
        _keys_or_raise(path, lines, chunk_start)
        raise LoadError(f"Cannot load {path}: lines {chunk_start} onwards do not read as one JSON object per line.")
    return batch


def _keys_or_raise(path: Path, lines: list[bytes], chunk_start: int) -> list[str]:
    """Every key of the chunk's objects in first-seen order, or a LoadError naming the first bad line."""
    keys: dict[str, None] = {}
    for number, line in enumerate(lines, start=chunk_start):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError:
            raise LoadError(f"Cannot load {path}: line {number} is not valid JSON.") from None
        if not isinstance(value, dict):
            raise LoadError(f"Cannot load {path}: line {number} is not a JSON object.")
        keys.update(dict.fromkeys(value))
    return list(keys)


def _with_required(table: str, batch: pl.DataFrame) -> pl.DataFrame:
    """A chunk where no line has a required key still goes through validation, as missing values."""
    have = {c.strip().lower() for c in batch.columns}
    absent = [c for c in REQUIRED[table] if c not in have]
    return batch.with_columns(pl.lit(None, pl.String).alias(c) for c in absent)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
