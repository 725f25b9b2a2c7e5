"""How a value reads on screen: column labels, money with its currency, percentages, counts,
durations and moments. Cards, tables and charts all format through here, so a figure reads
the same wherever it is shown.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import polars as pl

from ui import cache

SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}

LABELS = {
    "period": "Period", "date": "Date", "dau": "DAU", "wau": "WAU", "mau": "MAU", "arr": "ARR", "mrr": "MRR",
    "arpu": "ARPU", "ltv": "LTV", "nrr": "NRR", "grr": "GRR", "user_id": "User", "os": "OS",
    "avg_duration_s": "Avg. duration (s)", "median_duration_s": "Median duration (s)",
    "kpi": "Figure", "value": "Value", "previous": "Previous range", "change": "Change", "ts": "Time (UTC)",
}


ABBREVIATIONS = {"mrr": "MRR", "arr": "ARR", "arpu": "ARPU", "ltv": "LTV", "nrr": "NRR", "grr": "GRR", "api": "API", "id": "ID"}


def label(column: str) -> str:
    """A column's human name: known names, else its words capitalised, abbreviations upper-cased."""
    if column in LABELS:
        return LABELS[column]
    words = [ABBREVIATIONS.get(word, word) for word in column.split("_")]
    text = " ".join(words)
    return text[0].upper() + text[1:] if text else text


def currency() -> str:
    return cache.store().currency


def money(value: float | Decimal | None, code: str | None = None) -> str:
    if value is None:
        return "–"
    code = code or currency()
    text = f"{abs(float(value)):,.2f}"
    sign = "-" if float(value) < 0 else ""
    return f"{sign}{SYMBOLS[code]}{text}" if code in SYMBOLS else f"{sign}{text} {code}"


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value * 100:.{digits}f}%"


def number(value: float | int | Decimal | None) -> str:
    if value is None:
        return "–"
    return f"{int(value):,}" if float(value) == int(value) else f"{float(value):,.1f}"


def decimal(value: float | None, unit: str = "") -> str:
    """One decimal always (a score of 75.0, 4.0 days), with an optional unit after it."""
    return "–" if value is None else f"{value:,.1f}{unit}"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def moment(ts: datetime | None) -> str:
    return f"{ts:%Y-%m-%d %H:%M} UTC" if ts else "–"


def in_period(start: date, interval: str) -> str:
    """The period starting at `start` as words after a noun: 'on 2024-01-08', 'in January 2024'."""
    if interval == "week":
        return f"in the week of {start}"
    if interval == "month":
        return f"in {start:%B %Y}"
    return f"on {start}"


def plain(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as charts and tables take it: exact money (Decimal) as floats. Only the screen
    rounds this way; downloads keep the exact values."""
    return frame.with_columns(pl.col(c).cast(pl.Float64) for c, t in frame.schema.items() if isinstance(t, pl.Decimal))
