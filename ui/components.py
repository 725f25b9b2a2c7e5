"""What pages draw with: KPI cards, labelled tables with CSV download, captions, charts
(specs from ui.charts), the people behind a clicked number, a pager.

Pages stay short descriptions of the UI; how values read lives in ui.format, how charts
look in ui.charts.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import altair as alt
import polars as pl
import streamlit as st

from metrics import registry
from pulse.export import to_csv
from pulse.query import Query, QueryError
from pulse.store import StoreError
from ui import cache
from ui import format as fmt


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


FORMATS = {"money": fmt.money, "percent": fmt.pct, "durations": fmt.duration, "decimals": fmt.decimal}


def _figure(name: str, value: Any, kinds: dict[str, Collection[str]]) -> str:
    """A named figure as text: in the format of the kind that lists it, else as a count."""
    show = next((FORMATS[kind] for kind, names in kinds.items() if name in names), fmt.number)
    return show(value)


def figure_cards(
    row: dict[str, Any],
    labels: dict[str, str],
    money: Collection[str] = (),
    percent: Collection[str] = (),
    durations: Collection[str] = (),
    inverse: Collection[str] = (),
    help: dict[str, str] | None = None,
) -> None:
    """One card per labelled figure of a row (a metric's single row), in the labels' order."""
    kinds = {"money": money, "percent": percent, "durations": durations}
    cards([
        Card(text, _figure(name, row[name], kinds), help=(help or {}).get(name), inverse=name in inverse)
        for name, text in labels.items()
    ])


def kpi_cards(
    kpis: pl.DataFrame,
    labels: dict[str, str],
    money: Collection[str] = (),
    percent: Collection[str] = (),
    durations: Collection[str] = (),
    decimals: Collection[str] = (),
    inverse: Collection[str] = (),
) -> None:
    """One card per row of a (kpi, value, previous, change) frame: the figure, its change
    against the previous range, and the previous figure on hover."""
    kinds = {"money": money, "percent": percent, "durations": durations, "decimals": decimals}
    cards([
        Card(labels[row["kpi"]], _figure(row["kpi"], row["value"], kinds), row["change"],
             help=f"Previous range: {_figure(row['kpi'], row['previous'], kinds)}", inverse=row["kpi"] in inverse)
        for row in kpis.iter_rows(named=True)
    ])


def _money_format() -> str:
    code = fmt.currency()
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
            config[column] = st.column_config.NumberColumn(fmt.label(column), format=_money_format())
        elif column in percent_columns:
            config[column] = st.column_config.NumberColumn(fmt.label(column), format="percent")
        elif dtype.is_integer():
            config[column] = st.column_config.NumberColumn(fmt.label(column), format="localized")
        elif dtype == pl.Date:
            config[column] = st.column_config.DateColumn(fmt.label(column), format="YYYY-MM-DD")
        else:
            config[column] = st.column_config.Column(fmt.label(column))
    extra = {"on_select": "rerun", "selection_mode": "multi-row"} if selectable else {}
    event = st.dataframe(fmt.plain(frame), column_config=config, hide_index=True, width="stretch",
                         height=height or "auto", key=key, **extra)
    download(frame, name, q, key=f"dl-{key or name}")
    return event


def _download_button(label: str, data: bytes | str | Callable[[], bytes | str], name: str, q: Query | None,
                     key: str) -> None:
    suffix = f"_{q.start}_{q.end}" if q is not None else ""
    st.download_button(label, data, file_name=f"{name}{suffix}.csv", mime="text/csv", key=key, icon=":material/download:")


def download(frame: pl.DataFrame, name: str, q: Query | None = None, key: str | None = None) -> None:
    _download_button("Download CSV", to_csv(frame), name, q, key or f"dl-{name}")


def download_every_row(metric: str, q: Query, name: str, label: str, key: str) -> None:
    """The CSV of the metric's every row for `q`, as `pulse export` writes it. Computed on
    click rather than on every rerun, and not cached: it can be every row of the range."""
    _download_button(label, lambda: to_csv(registry.run(metric, cache.store(), q)), name, q, key)


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


def chart(spec: alt.Chart | alt.LayerChart, key: str | None = None, selectable: bool = False):
    """Draw an Altair chart full width; with `selectable`, return the user's selection."""
    if selectable:
        return st.altair_chart(spec, width="stretch", on_select="rerun", key=key)
    st.altair_chart(spec, width="stretch", key=key)
    return None


def chart_with_table(spec: alt.Chart | alt.LayerChart, frame: pl.DataFrame, name: str, q: Query, nothing: str,
                     folded: str | None = None, key: str | None = None, **columns: Sequence[str]) -> None:
    """A metric's chart with its table below (folded away under the label `folded`, when
    given), or one line saying there is no `nothing` in this range."""
    if empty(frame, nothing):
        return
    chart(spec)
    with st.expander(folded) if folded else st.container():
        table(frame, name, q, key=key, **columns)


def picked(event, name: str) -> dict | None:
    """The point the user clicked in a chart drawn with pick=name (the first, if several), or None."""
    points = event.selection.get(name) if event is not None else None
    return dict(points[0]) if points else None


def as_date(value) -> date:
    """A date from a chart selection: Vega-Lite hands temporal values back as epoch milliseconds."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc).date()
    return date.fromisoformat(str(value)[:10])


def users_behind(title: str, q: Query, period: date, kind: str, key: str) -> None:
    """The people behind a clicked number, with their CSV: the hand-off for emailing them."""
    people = cache.metric("active_user_list", q, period=period, kind=kind)
    st.markdown(f"**{title}** · {people.height:,} users")
    table(people, "active_user_list", q, key=key)


def pager(key: str, more: bool, note: str, back: str = "Previous page", forward: str = "Next page") -> None:
    """Back and forward buttons under a paged table; the page number (from 0) lives in
    st.session_state[key], where the page reads it before fetching its rows."""
    page = st.session_state.get(key, 0)
    left, middle, right = st.columns([1, 2, 1])
    if left.button(back, disabled=page == 0, icon=":material/chevron_left:", key=f"{key}-back"):
        st.session_state[key] = page - 1
        st.rerun()
    middle.caption(note)
    if right.button(forward, disabled=not more, icon=":material/chevron_right:", key=f"{key}-forward"):
        st.session_state[key] = page + 1
        st.rerun()
