"""CSV as exported by `pulse export`, the pages' download buttons and scheduled exports.

One implementation, so a table downloaded from a page is byte-for-byte the file the command
line writes, whether the table arrives whole or in batches: a header row, dates as
YYYY-MM-DD, money with two decimals (metrics return it as Decimal(18, 2)), other fractions
rounded to 6 decimal places, empty for null.
"""

from __future__ import annotations

import io
from collections.abc import Iterable
from typing import BinaryIO

import polars as pl

FLOAT_DECIMALS = 6
# A spreadsheet runs a cell that begins with one of these as a formula (`=HYPERLINK(...)`,
# `+cmd|...`, `@SUM(...)`); a leading quote makes it text (OWASP, "CSV Injection").
FORMULA_START = r"^[=+\-@\t\r]"
DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"


def _cells(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as its CSV cells will read: fractions rounded, categories as text, formulas
    neutralised. Row by row, so a batch of a table gives the cells of those rows."""
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    categorical = [name for name, dtype in frame.schema.items() if dtype in (pl.Categorical, pl.Enum) or isinstance(dtype, pl.Enum)]
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    rounded = frame.with_columns(
        [pl.col(name).round(FLOAT_DECIMALS) for name in floats] + [pl.col(name).cast(pl.String) for name in categorical]
    )
    # Only text: a number such as a negative amount is data, and stays a number.
    return rounded.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name in text + categorical
    )


def write_csv(frames: Iterable[pl.DataFrame], out: BinaryIO) -> int:
    """Write a table given as consecutive frames (at least one; an empty one still gives the
    header) to `out` as UTF-8 CSV, the header once; returns the number of rows."""
    rows, header = 0, True
    for frame in frames:
        _cells(frame).write_csv(out, include_header=header, datetime_format=DATETIME_FORMAT, date_format=DATE_FORMAT)
        rows += frame.height
        header = False
    if header:
        raise ValueError("write_csv needs at least one frame, for the header")
    return rows


def to_csv(frame: pl.DataFrame) -> str:
    buffer = io.BytesIO()
    write_csv([frame], buffer)
    return buffer.getvalue().decode("utf-8")
