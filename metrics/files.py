"""A metric's table written to a file: CSV, gzipped CSV or Parquet, with no row cap.

The CSV is byte for byte what `pulse export` and the pages' downloads write
(pulse.export). A metric that declares its `rows` statement (a list that can run to
millions of rows) is streamed from the store in record batches, and its sort spills to
disk, so memory stays bounded whatever the row count; any other metric's table is small
and is built whole by its function.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

import polars as pl
import pyarrow.parquet as pq

from metrics.registry import Metric
from pulse import export
from pulse.query import Query
from pulse.store import Store

FORMATS = ("csv", "csv.gz", "parquet")
# Rows per batch read from the store: a few tens of MB of a wide list at a time.
BATCH_ROWS = 100_000
# DuckDB's memory for one streamed statement; its sort spills to disk beyond it.
STREAM_MEMORY_MB = 400
# gzip(1)'s own default level: most of level 9's saving in a fraction of its time.
GZIP_LEVEL = 6


def write_export(store: Store, metric: Metric, q: Query, path: Path | str, fmt: str,
                 batch_rows: int = BATCH_ROWS) -> tuple[int, int]:
    """Write `metric`'s table for `q` to `path` as `fmt` (csv, csv.gz or parquet); returns
    (rows, bytes written). The caller names the file (and renames it into place)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    path = Path(path)
    if fmt == "parquet":
        rows = _write_parquet(_frames(store, metric, q, batch_rows), path)
    else:
        with _sink(path, fmt) as out:
            if metric.rows:
                rows = export.write_csv(_frames(store, metric, q, batch_rows), out)
            else:
                frame = metric.func(store, q)
                out.write(export.to_csv(frame).encode("utf-8"))
                rows = frame.height
    return rows, path.stat().st_size


@contextmanager
def _sink(path: Path, fmt: str) -> Iterator[BinaryIO]:
    with open(path, "wb") as fh:
        if fmt == "csv.gz":
            # No file name and time 0 in the header: the same table always gives the same bytes.
            with gzip.GzipFile(filename="", mode="wb", fileobj=fh, compresslevel=GZIP_LEVEL, mtime=0) as gz:
                yield gz
        else:
            yield fh


def _frames(store: Store, metric: Metric, q: Query, batch_rows: int) -> Iterator[pl.DataFrame]:
    """The metric's table as consecutive frames: streamed from its rows statement in batches
    of at most `batch_rows` (at least one frame, so an empty table keeps its columns), or
    its function's whole frame."""
    if metric.rows is None:
        yield metric.func(store, q)
        return
    sql, params = metric.rows(store, q)
    with store.batches(sql, params, batch_rows, STREAM_MEMORY_MB) as batches:
        empty = True
        for batch in batches:
            empty = False
            yield _declared(metric, pl.from_arrow(batch))
        if empty:
            yield _declared(metric, pl.from_arrow(batches.schema.empty_table()))


def _declared(metric: Metric, frame: pl.DataFrame) -> pl.DataFrame:
    if tuple(frame.columns) != metric.columns:
        raise AssertionError(f"{metric.name}'s rows have columns {frame.columns}, declared {list(metric.columns)}")
    return frame


def _write_parquet(frames: Iterable[pl.DataFrame], path: Path) -> int:
    rows, writer = 0, None
    try:
        for frame in frames:
            table = frame.to_arrow()
            if writer is None:
                writer = pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
            rows += frame.height
    finally:
        if writer is not None:
            writer.close()
    return rows
