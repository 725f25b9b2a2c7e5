"""CSV as exported by `pulse export`, the pages' download buttons and scheduled exports.

One function, so a table downloaded from a page is byte-for-byte the file the command
line writes: a header row, dates as YYYY-MM-DD, money with two decimals (metrics return
it as Decimal(18, 2)), other fractions rounded to 6 decimal places, empty for null.
"""

from __future__ import annotations

import polars as pl

FLOAT_DECIMALS = 6


def to_csv(frame: pl.DataFrame) -> str:
    floats = [name for name, dtype in frame.schema.items() if dtype.is_float()]
    categorical = [name for name, dtype in frame.schema.items() if dtype in (pl.Categorical, pl.Enum) or isinstance(dtype, pl.Enum)]
    rounded = frame.with_columns(
        [pl.col(name).round(FLOAT_DECIMALS) for name in floats] + [pl.col(name).cast(pl.String) for name in categorical]
    )
    return rounded.write_csv(datetime_format="%Y-%m-%d %H:%M:%S", date_format="%Y-%m-%d")
