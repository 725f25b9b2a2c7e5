"""The shared filter bar: date range with presets, interval, country / device / plan.

The bar lives in the sidebar as one form (one rerun per change of mind, not per widget)
and mirrors itself into the URL's query parameters, so a copied link reproduces the view.
Presets count back from the last day with data when the store ends before today, so a
store of last year's data does not open on an empty range.
"""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from pulse.periods import PRESETS, period_count, period_start, preset_range
from pulse.query import INTERVALS, Query, QueryError, make_query, parse_date
from ui import auth, cache, url
from ui import format as fmt

DEFAULT_PRESET = "30d"
INTERVAL_LABELS = {"day": "Day", "week": "Week", "month": "Month"}
FILTER_PARAMS = {"country": "Country", "device_type": "Device", "plan": "Plan"}
_ALL = "All"


def anchor_day() -> date:
    """Today, or the last day with data when the data ends earlier."""
    today = date.today()
    last = cache.info().last_day
    return min(today, last) if last else today


def _from_url(anchor: date) -> tuple[str, date, date, str, dict[str, str], list[str]]:
    """The view the URL asks for, with a note for each part of it that had to be dropped."""
    params, notes = st.query_params, []
    # A link with its own dates means them, range=custom or not.
    dated = "start" in params or "end" in params
    preset = params.get("range", "custom" if dated else DEFAULT_PRESET)
    if preset not in PRESETS:
        notes.append(f"The link's range {preset!r} is unknown; showing {PRESETS[DEFAULT_PRESET].lower()}.")
        preset = DEFAULT_PRESET
    start, end = preset_range(DEFAULT_PRESET if preset == "custom" else preset, anchor)
    if preset == "custom" or (dated and "range" not in params):
        preset = "custom"
        try:
            last = params.get("end") or anchor.isoformat()
            first = params.get("start") or (parse_date(last, "end date") - timedelta(days=29)).isoformat()
            custom = make_query(first, last, "month")  # the dates alone: any interval comes later
            start, end = custom.start, custom.end
        except QueryError as exc:
            notes.append(f"{exc} Showing {PRESETS[DEFAULT_PRESET].lower()}.")
            preset = DEFAULT_PRESET
    interval = params.get("interval", "day")
    if interval not in INTERVALS:
        notes.append(f"The link's interval {interval!r} is unknown; showing days.")
        interval = "day"
    filters = {}
    for name, label in FILTER_PARAMS.items():
        if params.get(name):
            try:
                make_query(start, end, interval, {name: params[name]})
                filters[name] = params[name]
            except QueryError as exc:
                notes.append(f"{exc} Showing every {label.lower()}.")
    return preset, start, end, interval, filters, notes


def _within_limits(start: date, end: date, interval: str, notes: list[str]) -> tuple[date, date, str]:
    """A range of more days than a chart draws (the settings' max_points) cut to the days with
    activity, and the interval coarsened until one chart draws at most max_points periods; a
    note for each change. A shorter range is left exactly as asked: it is cheap, and a link's
    week stays that week even when the data ends inside it."""
    info = cache.info()
    first, last = info.first_day, info.last_day
    most = cache.settings().max_points
    if (first and last and period_count(start, end, "day") > most and start <= last and end >= first
            and (start < first or end > last)):
        cut = max(start, first), min(end, last)
        notes.append(f"The data runs from {first} to {last}, so the range {start} – {end} is shown as "
                     f"{cut[0]} – {cut[1]}.")
        start, end = cut
    order = list(INTERVALS)
    count = period_count(start, end, interval)
    while count > most and interval != order[-1]:
        coarser = order[order.index(interval) + 1]
        notes.append(f"{count:,} {INTERVAL_LABELS[interval].lower()}s are more than the {most} points a chart draws; "
                     f"showing {INTERVAL_LABELS[coarser].lower()}s.")
        interval, count = coarser, period_count(start, end, coarser)
    if count > most:
        shorter = period_start(end, interval).replace(year=period_start(end, interval).year - most // 12)
        notes.append(f"{count:,} months are more than the {most} points a chart draws; "
                     f"showing the last {most // 12} years, from {shorter}.")
        start = shorter
    return start, end, interval


def filter_bar() -> Query:
    """Draw the bar in the sidebar and return the query it describes (app.py calls it
    only when the store exists)."""
    anchor = anchor_day()
    preset, start, end, interval, filters, notes = _from_url(anchor)
    staff = auth.staff()
    scope = {"country": staff.countries, "plan": staff.plans}
    # A data scope leaves only its own values to choose from.
    choices = {name: [v for v in values if not scope.get(name) or v in scope[name]]
               for name, values in cache.filter_choices().items()}
    for name, value in list(filters.items()):
        if value not in choices.get(name, []):
            notes.append(f"The link's {FILTER_PARAMS[name].lower()} {value!r} matches no one in the store; "
                         f"showing every {FILTER_PARAMS[name].lower()}.")
            del filters[name]
    start, end, interval = _within_limits(start, end, interval, notes)
    with st.sidebar.form("filters", border=False):
        chosen_preset = st.selectbox(
            "Date range", list(PRESETS), index=list(PRESETS).index(preset), format_func=PRESETS.get
        )
        dates = st.date_input("From – to", value=(start, end), format="YYYY-MM-DD")
        chosen_interval = st.segmented_control(
            "Interval", list(INTERVALS), default=interval, format_func=INTERVAL_LABELS.get
        ) or interval
        chosen = {}
        for name, label in FILTER_PARAMS.items():
            options = [_ALL] + sorted(choices.get(name, []))
            value = st.selectbox(label, options, index=options.index(filters.get(name, _ALL)))
            chosen[name] = "" if value == _ALL else value
        applied = st.form_submit_button("Apply", type="primary", width="stretch")
    if applied:
        # The page's own choices stay; the shared part of the view is replaced.
        new = {k: v for k, v in st.query_params.to_dict().items() if k not in url.SHARED}
        new.update({"range": chosen_preset, "interval": chosen_interval})
        picked = tuple(dates) if isinstance(dates, (tuple, list)) else (dates,)
        if chosen_preset == preset and len(picked) == 2 and picked != (start, end):
            new["range"] = "custom"  # the dates were edited by hand
        if new["range"] == "custom":
            first, last = (picked + picked)[:2]
            new.update(start=first.isoformat(), end=last.isoformat())
        new.update({k: v for k, v in chosen.items() if v})
        st.query_params.from_dict(new)
        st.rerun()
    if staff.countries or staff.plans:
        fixed = [f"{what} {', '.join(values)}" for what, values in (("countries", staff.countries), ("plans", staff.plans))
                 if values]
        st.sidebar.caption(fmt.text(f"Your data scope (fixed): {' · '.join(fixed)}. Every figure counts only these users."))
    for note in notes:
        st.sidebar.warning(fmt.text(note))
    query = make_query(start, end, interval, filters).scoped(staff.countries, staff.plans)
    st.session_state["query"] = query
    return query


def current_query() -> Query:
    """The query the filter bar built on this run (app.py draws the bar before any page)."""
    if "query" not in st.session_state:
        _through_the_router()
    return st.session_state["query"]


def _through_the_router() -> None:
    """Rerun via app.py when Streamlit ran a page file on its own.

    Until app.py's st.navigation has run once in the server process, Streamlit treats the
    `pages/` folder the legacy way and runs a deep-linked page directly, without the router
    or the filter bar. Clearing that legacy flag and rerunning makes app.py run and route to
    the same page, so a bookmarked link works on the first visit after a restart too.
    """
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()


def period_label(interval: str) -> str:
    return INTERVAL_LABELS[interval]

