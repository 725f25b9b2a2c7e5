"""Explore: your own question over events or transactions — series, filters, a breakdown, a
formula — as a chart and a table, kept in the link and savable as a view."""

import streamlit as st

from ui import cache, charts, explore, url
from ui import components as ui
from ui import format as fmt
from ui.filters import current_query

q = current_query()
st.title("Explore")
st.caption("Count events or transactions your way: pick what to count and how, narrow it with a filter, split it by a "
           "field, combine series with a formula. The question lives in the link; save it with “Save this view”.")
with ui.shows_errors():
    keys = cache.metric("property_keys", q)
    values = cache.metric("field_values", q)
numeric = keys.filter(keys["type"] == "number")["key"].to_list()
fields = [explore.NONE, *values["field"].unique(maintain_order=True).to_list(),
          *(f"properties.{k}" for k in keys["key"].to_list())]

saved = explore.saved_series()
count = st.segmented_control("How many series", [1, 2, 3], default=len(saved), key="explore_count") or 1
columns = st.columns(count, border=True)
series = []
for index, column in enumerate(columns):
    with column:
        series.append(explore.series_editor(index, saved[index] if index < len(saved) else {}, numeric))
with st.container(horizontal=True, vertical_alignment="bottom"):
    chosen = url.get("breakdown", explore.NONE, fields, what="breakdown")
    breakdown = st.selectbox("Split by", fields, index=fields.index(chosen), key="explore_breakdown",
                             format_func=explore.field_words)
    top = st.number_input("Top values", min_value=1, max_value=100, value=int(url.get("top", "10") or 10),
                          key="explore_top")
    formula = st.text_input("Formula", value=url.get("formula", "") or "", key="explore_formula",
                            placeholder="e.g. B / A", disabled=count < 2)
    compare = st.toggle("Compare with the previous range", value=url.get("compare", "false") == "true",
                        key="explore_compare")
    kind = st.segmented_control("Show as", list(explore.CHARTS), format_func=explore.CHARTS.get,
                                default=url.get("chart", "line", list(explore.CHARTS)), key="explore_chart") or "line"
url.keep("chart", kind, "line")

options = explore.options(series, breakdown, top, formula, compare)
with ui.shows_errors():
    trend = cache.metric("trend", q, **options)
    if not ui.empty(trend, "matching rows in this range"):
        shaped, labels = explore.wide(trend, series)
        if kind == "number":  # each series' value in the range's last period
            ui.figure_cards(shaped.row(-1, named=True), labels)
            st.caption(f"In the last period shown: {fmt.text(shaped['period'][-1])}.")
        elif kind != "table":
            clicked = ui.chart(charts.time(shaped, "period", labels, kind="bar" if kind != "line" else "line",
                                           stacked=kind == "stacked", interval=q.interval, height=360,
                                           pick="explore_point"), key="explore_picked", selectable=True)
            explore.people_behind(q, options, ui.picked(clicked, "explore_point"), labels)
        ui.table(trend, "trend", q, key="explore_table", file_name="explore")
    ui.caption("trend")
