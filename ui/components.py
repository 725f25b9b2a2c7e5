"""What pages draw with: KPI cards, labelled tables with CSV download, captions, charts
(specs from ui.charts), the people behind a clicked number, a pager, and the page's choices
read from its link.

Pages stay short descriptions of the UI; how values read lives in ui.format, how charts
look in ui.charts. A table shows a display copy of its frame (labels, units, codes in words,
"—" for an empty cell, user ids as links to the user page); its CSV is the frame itself.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import altair as alt
import polars as pl
import streamlit as st

from metrics import registry
from pulse.export import to_csv
from pulse.periods import period_end, period_start, previous_period
from pulse.query import Query, QueryError
from pulse.store import StoreError
from admin.email import EmailError
from admin.staff import StaffError
from admin.queries import QueryError as SavedQueryError
from admin.views import ViewError
from ui import auth, cache, docs, exports, url
from ui import format as fmt

CARD_WIDTH = 220  # cards wrap onto more rows on a narrow screen rather than cut their labels
USER_PAGE = "user"
LONG_TEXT = ("detail",)


@dataclass(frozen=True)
class Card:
    label: str
    value: str
    change: float | None = None
    help: str | None = None
    inverse: bool = False  # a rise is bad news (churn, failed payments)


def cards(items: Sequence[Card]) -> None:
    with st.container(horizontal=True, gap="small"):
        for card in items:
            delta = None if card.change is None else f"{card.change * 100:+.1f}% vs previous"
            colour = "off" if not card.change else "inverse" if card.inverse else "normal"
            st.metric(card.label, card.value, delta=delta, help=card.help, delta_color=colour, border=True,
                      width=CARD_WIDTH)


FORMATS = {"money": fmt.money, "percent": fmt.pct, "durations": fmt.duration, "decimals": fmt.decimal, "days": fmt.days}


def _figure(name: str, value: Any, kinds: dict[str, Collection[str]]) -> str:
    """A named figure as text: in the format of the kind that lists it, else as a count."""
    show = next((FORMATS[kind] for kind, names in kinds.items() if name in names), fmt.number)
    return show(value)


def _card_help(name: str, value: Any, *notes: str | None) -> str | None:
    """A card's tooltip: its notes, and why it shows "—" when it has no value."""
    why = f"{fmt.EMPTY} means {fmt.WHY_EMPTY.get(name, 'no value')}." if value is None else None
    return " ".join(filter(None, [*notes, why])) or None


def figure_cards(
    row: dict[str, Any],
    labels: dict[str, str],
    money: Collection[str] = (),
    percent: Collection[str] = (),
    durations: Collection[str] = (),
    inverse: Collection[str] = (),
    help: dict[str, str] | None = None,
    days: Collection[str] = (),
) -> None:
    """One card per labelled figure of a row (a metric's single row), in the labels' order."""
    kinds = {"money": money, "percent": percent, "durations": durations, "days": days}
    cards([
        Card(text, _figure(name, row[name], kinds), help=_card_help(name, row[name], (help or {}).get(name)),
             inverse=name in inverse)
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
    notes: dict[str, str] | None = None,
) -> None:
    """One card per row of a (kpi, value, previous, change) frame: the figure, its change
    against the previous range, and (on hover) what it is and the previous figure."""
    kinds = {"money": money, "percent": percent, "durations": durations, "decimals": decimals}
    cards([
        Card(labels[row["kpi"]], _figure(row["kpi"], row["value"], kinds), row["change"],
             help=_card_help(row["kpi"], row["value"], (notes or {}).get(row["kpi"]),
                             f"Previous range: {_figure(row['kpi'], row['previous'], kinds)}."),
             inverse=row["kpi"] in inverse)
        for row in kpis.iter_rows(named=True)
    ])


def _money_format() -> str:
    code = fmt.currency()
    return {"USD": "dollar", "EUR": "euro"}.get(code, f"%,.2f {code}")


def _date_kind(column: str, q: Query | None) -> str:
    if column == "month":
        return "month"
    if column in ("period", "cohort") and q is not None:
        return q.interval
    return "day"


def _user_link(user_id: str | None) -> str | None:
    """The user page's link for a user, keeping the view's range and filters."""
    if user_id is None:
        return None
    shared = {k: v for k, v in st.query_params.to_dict().items() if k in url.SHARED}
    return f"{USER_PAGE}?{urlencode({'user': user_id} | shared)}"


def _help(column: str, frame: pl.DataFrame, empty: dict[str, str]) -> str | None:
    """A header's tooltip: what the column counts, and why a cell of it can show "—"."""
    parts = [fmt.HELP[column]] if column in fmt.HELP else []
    if frame[column].null_count():
        parts.append(f"{fmt.EMPTY} means {empty.get(column) or fmt.WHY_EMPTY.get(column, 'no value')}.")
    return " ".join(parts) or None


def _display(
    frame: pl.DataFrame,
    q: Query | None,
    money: Collection[str],
    percent: Collection[str],
    labels: dict[str, str],
    hide: Collection[str],
    codes: dict[str, str],
    dates: dict[str, str],
    empty: dict[str, str],
    marked: tuple[str, date, str, str] | None,
) -> tuple[pl.DataFrame, dict[str, Any], list[str]]:
    """The frame as the table shows it, its column configuration and the columns shown.

    A breakdown's `dimension` column (the same value in every row) is left out and names the
    `value` column instead. Nulls stay nulls: st.dataframe shows them as "—".
    """
    hidden = set(hide)
    codes, labels = dict(codes), dict(labels)
    if "dimension" in frame.columns:
        hidden.add("dimension")
        dimension = frame["dimension"][0] if frame.height else None
        if dimension is not None:
            labels.setdefault("value", fmt.label(dimension))
            if dimension in fmt.CODES:
                codes.setdefault("value", dimension)
    for column in frame.columns:
        if column in fmt.CODES:
            codes.setdefault(column, column)
    shown, config = fmt.plain(frame), {}
    for column, dtype in shown.schema.items():
        if column in hidden:
            continue
        header, tip = labels.get(column) or fmt.label(column), _help(column, frame, empty)
        expr = None
        if marked is not None and column == marked[0]:
            kind = dates.get(column) or _date_kind(column, q)
            texts = [fmt.period(v, kind) + (marked[2] if period_end(v, kind) >= marked[1] else "") for v in frame[column]]
            expr = pl.Series(column, texts, dtype=pl.String)
            tip = " ".join(filter(None, [tip, marked[3]]))
            config[column] = st.column_config.TextColumn(header, help=tip)
        elif column == "user_id":
            expr = pl.col(column).map_elements(_user_link, return_dtype=pl.String)
            config[column] = st.column_config.LinkColumn(header, help=tip or "Opens the user's page.",
                                                         display_text=rf"^{USER_PAGE}\?user=([^&]*)")
        elif column in codes:
            expr = pl.col(column).replace_strict(fmt.CODES[codes[column]], default=pl.col(column).cast(pl.String),
                                                 return_dtype=pl.String)
            config[column] = st.column_config.TextColumn(header, help=tip)
        elif column in fmt.DURATIONS:
            expr = pl.col(column).map_elements(fmt.duration, return_dtype=pl.String)
            config[column] = st.column_config.TextColumn(header, help=tip, alignment="right")
        elif column in money:
            config[column] = st.column_config.NumberColumn(header, help=tip, format=_money_format())
        elif column in percent:
            expr = pl.col(column) * 100  # st.dataframe's own percent format has no fixed decimals
            config[column] = st.column_config.NumberColumn(header, help=tip, format="%.1f%%")
        elif dtype.is_integer():
            config[column] = st.column_config.NumberColumn(header, help=tip, format="localized")
        elif dtype.is_float():
            config[column] = st.column_config.NumberColumn(header, help=tip, format="%,.1f")
        elif dtype == pl.Date or (column in dates and dtype == pl.String):
            if dtype == pl.String:  # periods some metrics name by their first day as text
                expr = pl.col(column).str.to_date(strict=False)
            kind = dates.get(column) or _date_kind(column, q)
            config[column] = st.column_config.DateColumn(header, help=tip, format=fmt.DATE_FORMATS[kind])
        elif isinstance(dtype, pl.Datetime):
            config[column] = st.column_config.DatetimeColumn(header, help=tip, format="YYYY-MM-DD HH:mm:ss")
        else:
            # Long text takes a share of a narrow table's width, not all of it.
            config[column] = st.column_config.TextColumn(header, help=tip, width="medium" if column in LONG_TEXT else None)
        if expr is not None:
            shown = shown.with_columns(expr.alias(column) if isinstance(expr, pl.Expr) else expr)
    return shown, config, [c for c in frame.columns if c not in hidden]


def table(
    frame: pl.DataFrame,
    name: str,
    q: Query | None = None,
    money_columns: Sequence[str] = (),
    percent_columns: Sequence[str] = (),
    height: int | None = None,
    key: str | None = None,
    selectable: bool = False,
    labels: dict[str, str] | None = None,
    hide: Collection[str] = (),
    codes: dict[str, str] | None = None,
    dates: dict[str, str] | None = None,
    empty: dict[str, str] | None = None,
    marked: tuple[str, date, str, str] | None = None,
    file_name: str | None = None,
):
    """A table with human headers, units and formats, and its CSV download.

    labels: headers where format.label's are not right here; hide: columns not shown; codes:
    columns whose values are codes of a kind in format.CODES; dates: the kind (day, week,
    month) of date columns whose name does not say it; empty: why a column's cell can be
    empty, where format.WHY_EMPTY does not say it right; marked: (column, cutoff, suffix, help)
    adds the suffix to the periods of that column that end on or after the cutoff. The download is the exact
    CSV `pulse export` writes for the same frame.
    """
    if not auth.allowed("see_personal"):
        frame = fmt.masked(frame)
    shown, config, order = _display(frame, q, money_columns, percent_columns, labels or {}, hide, codes or {},
                                    dates or {}, empty or {}, marked)
    extra = {"on_select": "rerun", "selection_mode": "multi-row"} if selectable else {}
    event = st.dataframe(shown, column_config=config, column_order=order, hide_index=True, width="stretch",
                         height=height or "auto", key=key, placeholder=fmt.EMPTY, **extra)
    download(frame, name, q, key=f"dl-{key or name}", file_name=file_name)
    return event


def kpi_table(
    kpis: pl.DataFrame,
    labels: dict[str, str],
    name: str,
    q: Query,
    money: Collection[str] = (),
    durations: Collection[str] = (),
    decimals: Collection[str] = (),
    percent: Collection[str] = (),
) -> None:
    """A (kpi, value, previous, change) frame as the cards read: figures in words and units."""
    kinds = {"money": money, "percent": percent, "durations": durations, "decimals": decimals}
    rows = list(kpis.iter_rows(named=True))
    shown = pl.DataFrame({
        "kpi": [labels[r["kpi"]] for r in rows],
        "value": [_figure(r["kpi"], r["value"], kinds) for r in rows],
        "previous": [_figure(r["kpi"], r["previous"], kinds) for r in rows],
        "change": [None if r["change"] is None else f"{r['change'] * 100:+.1f}%" for r in rows],
    }, schema={"kpi": pl.String, "value": pl.String, "previous": pl.String, "change": pl.String})
    why = f"{fmt.EMPTY} means {fmt.WHY_EMPTY['change']}." if kpis["change"].null_count() else None
    config = {
        "kpi": st.column_config.TextColumn(fmt.label("kpi")),
        "value": st.column_config.TextColumn(fmt.label("value"), alignment="right"),
        "previous": st.column_config.TextColumn(fmt.label("previous"), alignment="right"),
        "change": st.column_config.TextColumn(fmt.label("change"), alignment="right", help=why),
    }
    st.dataframe(shown, column_config=config, hide_index=True, width="stretch", placeholder=fmt.EMPTY)
    download(kpis, name, q, key=f"dl-{name}")


def _download_button(label: str, data: bytes | str | Callable[[], bytes | str], file_name: str, key: str) -> None:
    """A CSV download, for the roles that may take data out; each one is written to the audit log."""
    if not auth.allowed("download_csv"):
        return
    st.download_button(label, data, file_name=f"{file_name}.csv", mime="text/csv", key=key, icon=":material/download:",
                       on_click=auth.record, args=("download", f"{file_name}.csv"))


def _file_name(name: str, q: Query | None) -> str:
    return f"{name}_{q.start}_{q.end}" if q is not None else name


def download(frame: pl.DataFrame, name: str, q: Query | None = None, key: str | None = None,
             file_name: str | None = None) -> None:
    """The frame's CSV, named after the metric and range unless `file_name` says what it lists;
    beside it, "Schedule this" for a metric's table."""
    with st.container(horizontal=True):
        _download_button("Download CSV", to_csv(frame), file_name or _file_name(name, q), key or f"dl-{name}")
        exports.schedule_this(name, q, key or f"dl-{name}")


def download_every_row(metric: str, q: Query, name: str, label: str, key: str) -> None:
    """The CSV of the metric's every row for `q`, as `pulse export` writes it. Computed on
    click rather than on every rerun, and not cached: it can be every row of the range."""
    _download_button(label, lambda: to_csv(registry.run(metric, cache.store(), q)), _file_name(name, q), key)


def caption(metric_name: str, note: str | None = None, text: str | None = None) -> None:
    """The metric's one-sentence definition under its chart, from the registry (or `text`
    where the page words it better), a note after it, and a link to its full definition."""
    st.caption(" ".join(filter(None, [text or registry.get(metric_name).summary, note, docs.link(metric_name)])))


@contextmanager
def shows_errors() -> Iterator[None]:
    """Errors a user can cause become one sentence on the page, not a traceback."""
    try:
        yield
    except (QueryError, StoreError) as exc:
        st.error(fmt.text(exc), icon=":material/error:")


def empty(frame: pl.DataFrame, what: str, count: str | None = None) -> bool:
    """True (and says so on the page) when there is nothing to draw: no rows, or (with
    `count`) nothing counted in that column."""
    if frame.height == 0 or (count is not None and not frame[count].sum()):
        st.info(f"No {what} in this range.", icon=":material/info:")
        return True
    return False


def incomplete_from(window_days: int = 0) -> date:
    """The first local day whose data is not complete: the day of the last load (it was still
    running when the data was taken), or the day after the data's last day when the data ends
    earlier; never later than today. A period that ends on or after it is incomplete.

    With `window_days`, that many days earlier: a cohort whose members are each followed for
    that many days is incomplete until its last member's window has passed."""
    info = cache.info()
    last = info.last_complete_day()
    return (info.today() if last is None else last + timedelta(days=1)) - timedelta(days=window_days)


def at_least_months(q: Query, months: int) -> Query:
    """The query, reaching back to the first day of the `months`-th month to its end when its
    range covers fewer calendar months than that."""
    first = period_start(q.end, "month")
    for _ in range(months - 1):
        first = previous_period(first, "month")
    return replace(q, start=first) if first < period_start(q.start, "month") else q


def range_used(q: Query, what: str = "Charts") -> str | None:
    """'Charts by week: 2026-09-28 – 2026-11-01, whole weeks (…)' when the interval widens
    the range, else None."""
    widened = fmt.widened(q.start, q.end, q.range_start, q.range_end, q.interval)
    return f"{what} by {q.interval}: {widened}." if widened else None


def url_number(name: str, default: int, low: int, high: int, what: str | None = None) -> int:
    """A whole-number choice from the link (?name=14), else `default`; a value that is not a
    number from `low` to `high` is a warning naming the parameter, and the default."""
    value = st.query_params.get(name)
    if value is None or value == "":
        return default
    if value.isdigit() and low <= int(value) <= high:
        return int(value)
    st.warning(f"The link's {what or name} {fmt.text(repr(value))} is not a whole number from {low} to {high}; showing {default}.",
               icon=":material/link_off:")
    return default


def side_by_side(*widths: int | str) -> list:
    """Containers in a row, each `width` wide (pixels, or "stretch"), that wrap onto rows of
    their own when the page is too narrow for them, where st.columns would squeeze their
    tables and cards until they cut their labels."""
    row = st.container(horizontal=True, gap="medium")
    return [row.container(width=width) for width in widths]


def chart(spec: alt.Chart | alt.LayerChart, key: str | None = None, selectable: bool = False):
    """Draw an Altair chart full width; with `selectable`, return the user's selection."""
    if selectable:
        return st.altair_chart(spec, width="stretch", on_select="rerun", key=key)
    st.altair_chart(spec, width="stretch", key=key)
    return None


def chart_with_table(spec: alt.Chart | alt.LayerChart, frame: pl.DataFrame, name: str, q: Query, nothing: str,
                     folded: str | None = None, key: str | None = None, **columns: Any) -> None:
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
        return datetime.fromtimestamp(value / 1000, tz=UTC).date()
    return date.fromisoformat(str(value)[:10])


def users_behind(title: str, q: Query, period: date, kind: str, key: str) -> None:
    """The people behind a clicked number, each linked to their user page, with their CSV
    (named after what it lists): the hand-off for emailing them."""
    people = cache.metric("active_user_list", q, period=period, kind=kind)
    st.markdown(f"**{title}** · {fmt.plural(people.height, 'user')}")
    when = {"day": f"{period}", "week": f"week_of_{period}", "month": f"{period:%Y-%m}"}[q.interval]
    table(people, "active_user_list", q, key=key, file_name=f"{kind}_users_{when}")
    email_these(people["user_id"].to_list(), key=f"email-{key}")


def email_these(user_ids: list[str], key: str, label: str = "Email these users") -> None:
    """Hand users over to the Email page (for roles that may send email)."""
    if user_ids and auth.allowed("send_email") and st.button(label, icon=":material/mail:", key=key):
        st.session_state["email_users"] = user_ids
        st.session_state["email_source"] = "User ids"
        st.session_state.pop("email_ids_text", None)
        st.switch_page("pages/admin_email.py")


def pager(key: str, more: bool, note: str, back: str = "Previous page", forward: str = "Next page") -> None:
    """Back and forward buttons under a paged table; the page number (from 0) lives in
    st.session_state[key], where the page reads it before fetching its rows."""
    page = st.session_state.get(key, 0)
    row = st.container(horizontal=True, vertical_alignment="center", gap="medium")
    if row.button(back, disabled=page == 0, icon=":material/chevron_left:", key=f"{key}-back"):
        st.session_state[key] = page - 1
        st.rerun()
    row.caption(note, width="content")
    if row.button(forward, disabled=not more, icon=":material/chevron_right:", key=f"{key}-forward"):
        st.session_state[key] = page + 1
        st.rerun()


NOTICE = "change_notice"


def notice() -> None:
    """What the last change on this page did, said once above it."""
    if NOTICE in st.session_state:
        st.success(st.session_state.pop(NOTICE), icon=":material/check_circle:")


def done(message: str) -> None:
    """Rerun the page (so every table shows the change) and say `message` at its top."""
    st.session_state[NOTICE] = message
    st.rerun()


def refused(exc: Exception) -> None:
    st.error(fmt.text(exc), icon=":material/error:")


def attempt(message: str, action: Callable, *args: Any, **kwargs: Any) -> None:
    """Make a change as the signed-in member of staff (who and from where go to the audit
    log): on success the page reruns and says `message`; otherwise it says why, here."""
    try:
        action(*args, **kwargs, **auth.acting())
    except (StaffError, EmailError, ViewError, SavedQueryError) as exc:
        refused(exc)
    else:
        done(message)


def live_feed(q: Query) -> None:
    """The Overview's live feed: redrawn on its own every `feed_seconds` without rerunning the
    page, so a new load shows up in it."""
    st.fragment(_feed_body, run_every=cache.settings().feed_seconds)(q)


def _feed_body(q: Query) -> None:
    feed = cache.metric("live_feed", q)
    if empty(feed, "signups, payments, refunds, cancellations or errors yet"):
        return
    table(feed, "live_feed", q, key="live_feed", money_columns=("amount",), codes={"kind": "kind"},
          labels={"ts": "When (UTC)", "kind": "What"},
          empty={"amount": "no money: a signup or an error", "email": "not given"})
    newest = feed.row(0, named=True)
    st.caption(f"Newest: {fmt.code('kind', newest['kind'])} · {fmt.text(newest['user_id'])} at {newest['ts']:%Y-%m-%d %H:%M} "
               f"UTC. Checked every {cache.settings().feed_seconds} s, last at {datetime.now(UTC):%H:%M:%S} UTC.")
