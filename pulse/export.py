"""CSV as exported by `pulse export`, the pages' download buttons and scheduled exports.

One function, so a table downloaded from a page is byte-for-byte the file the command
line writes: a header row, dates as YYYY-MM-DD, money with two decimals (metrics return
it as Decimal(18, 2)), other fractions rounded to 6 decimal places, empty for null.
"""

from __future__ import annotations

import polars as pl

FLOAT_DECIMALS = 6
# A spreadsheet runs a cell that begins with one of these as a formula (`=HYPERLINK(...)`,
# `+cmd|...`, `@SUM(...)`); a leading quote makes it text (OWASP, "CSV Injection").
FORMULA_START = r"^[=+\-@\t\r]"


def to_csv(frame: pl.DataFrame) -> str:
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    categorical = [name for name, dtype in frame.schema.items() if dtype in (pl.Categorical, pl.Enum) or isinstance(dtype, pl.Enum)]
    text = [name for name, dtype in frame.schema.items() if dtype == pl.String]
    rounded = frame.with_columns(
        [pl.col(name).round(FLOAT_DECIMALS) for name in floats] + [pl.col(name).cast(pl.String) for name in categorical]
    )
    # Only text: a number such as a negative amount is data, and stays a number.
    safe = rounded.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START)).then(pl.lit("'") + pl.col(name)).otherwise(pl.col(name)).alias(name)
        for name in text + categorical
    )
    return safe.write_csv(datetime_format="%Y-%m-%d %H:%M:%S", date_format="%Y-%m-%d")
