"""What pages draw with: KPI cards, labelled tables with CSV download, charts, captions.

Pages stay short descriptions of the UI; the formatting rules (money with its currency,
rates as percentages, human column labels) live here once.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal

import altair as alt
import polars as pl
import streamlit as st

from metrics import registry
from pulse.export import to_csv
from pulse.query import Query, QueryError
from pulse.store import StoreError
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


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, secs = divmod(int(round(seconds)), 60)
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    change: float | None = None
    help: str | None = None
    inverse: bool = False  # a rise is bad news (churn, failed payments)


def cards(items: Sequence[Card], per_row: int = 4) -> None:
    for row_start in range(0, len(items), per_row):
        columns = st.columns(per_row)
        for column, card in zip(columns, items[row_start : row_start + per_row]):
            delta = None if card.change is None else f"{card.change * 100:+.1f}% vs previous"
            colour = "off" if not card.change else "inverse" if card.inverse else "normal"
            column.metric(card.label, card.value, delta=delta, help=card.help, delta_color=colour, border=True)


def _money_format() -> str:
    code = currency()
    return {"USD": "dollar", "EUR": "euro"}.get(code, f"%.2f {code}")


def table(
    frame: pl.DataFrame,
    name: str,
    q: Query | None = None,
    money_columns: Sequence[str] = (),
    percent_columns: Sequence[str] = (),
    height: int | None = None,
    key: str | None = None,
    selectable: bool = False,
):
    """A table with human headers, money and percentages formatted, and its CSV download.

    The download is the exact CSV `pulse export` writes for the same frame.
    """
    config = {}
    for column, dtype in frame.schema.items():
        if column in money_columns:
            config[column] = st.column_config.NumberColumn(label(column), format=_money_format())
        elif column in percent_columns:
            config[column] = st.column_config.NumberColumn(label(column), format="percent")
        elif dtype.is_integer():
            config[column] = st.column_config.NumberColumn(label(column), format="localized")
        elif dtype == pl.Date:
            config[column] = st.column_config.DateColumn(label(column), format="YYYY-MM-DD")
        else:
            config[column] = st.column_config.Column(label(column))
    shown = frame.with_columns([pl.col(c).cast(pl.Float64) for c, t in frame.schema.items() if isinstance(t, pl.Decimal)])
    extra = {"on_select": "rerun", "selection_mode": "multi-row"} if selectable else {}
    event = st.dataframe(shown, column_config=config, hide_index=True, width="stretch",
                         height=height or "auto", key=key, **extra)
    download(frame, name, q, key=f"dl-{key or name}")
    return event


def download(frame: pl.DataFrame, name: str, q: Query | None = None, key: str | None = None) -> None:
    suffix = f"_{q.start}_{q.end}" if q is not None else ""
    st.download_button(
        "Download CSV", to_csv(frame), file_name=f"{name}{suffix}.csv", mime="text/csv",
        key=key or f"dl-{name}", icon=":material/download:",
    )


def caption(metric_name: str, note: str | None = None) -> None:
    """The metric's one-sentence definition under its chart, from the registry."""
    text = registry.get(metric_name).summary
    st.caption(f"{text} {note}" if note else text)


@contextmanager
def shows_errors() -> Iterator[None]:
    """Errors a user can cause become one sentence on the page, not a traceback."""
    try:
        yield
    except (QueryError, StoreError) as exc:
        st.error(str(exc), icon=":material/error:")


def empty(frame: pl.DataFrame, what: str) -> bool:
    """True (and says so on the page) when there is nothing to draw."""
    if frame.height == 0:
        st.info(f"No {what} in this range.", icon=":material/info:")
        return True
    return False


def _axis_format(money_axis: bool) -> str:
    return "$,.0f" if money_axis and currency() == "USD" else ",.0f" if money_axis else ",~r"


def time_chart(
    frame: pl.DataFrame,
    x: str,
    series: dict[str, str],
    kind: str = "line",
    y_title: str = "",
    money_axis: bool = False,
    stacked: bool = False,
    selection: alt.Parameter | None = None,
    height: int = 280,
) -> alt.Chart:
    """Several columns of a frame over time, one colour each, with a legend of their labels."""
    long = frame.unpivot(index=x, on=list(series), variable_name="series", value_name="value").with_columns(
        pl.col("series").replace_strict(series), pl.col("value").cast(pl.Float64)
    )
    base = alt.Chart(long)
    mark = base.mark_line(point=True) if kind == "line" else base.mark_bar()
    y = alt.Y("value:Q", title=y_title, stack=True if stacked else None, axis=alt.Axis(format=_axis_format(money_axis)))
    chart = mark.encode(
        x=alt.X(f"{x}:T", title=None, axis=alt.Axis(format="%b %d")),
        y=y,
        color=alt.Color("series:N", title=None, sort=list(series.values()), legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip(f"{x}:T", title=label(x)), alt.Tooltip("series:N", title=""),
                 alt.Tooltip("value:Q", title=y_title or "Value", format=",.2f" if money_axis else ",")],
    ).properties(height=height)
    if selection is not None:
        chart = chart.add_params(selection)
    return chart


def chart(spec: alt.Chart | alt.LayerChart, key: str | None = None, selectable: bool = False):
    """Draw an Altair chart full width; with `selectable`, return the user's selection."""
    if selectable:
        return st.altair_chart(spec, width="stretch", on_select="rerun", key=key)
    st.altair_chart(spec, width="stretch", key=key)
    return None
