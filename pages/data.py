"""Data: how fresh the store is, every load in the load log, and the rows loads set aside (the quarantine)."""

import streamlit as st

from metrics import registry
from ui import cache
from ui import components as ui
from ui import format as fmt
from ui.filters import current_query
from ui.freshness import ago

PAGE_SIZE = 50
ALL = "All"

q = current_query()
info = cache.info()
st.title("Data")
st.caption("What the store holds, every load, and the rows loads set aside. The date range and filters do not apply "
           "here; times are UTC.")

with ui.shows_errors():
    st.subheader("Store")
    span = f"{info.first_day} to {info.last_day}" if info.first_day else "no day yet (no events)"
    loaded = f"{ago(info.last_load)}, at {fmt.moment(info.last_load)}" if info.last_load else "never"
    st.markdown(f"**Data** from {span}, days in {info.timezone}  \n**Last load** {loaded}  \n"
                f"**Money** in {info.currency}: revenue counts only transactions in this currency")
    ui.table(cache.metric("table_rows", q), "table_rows", key="table-rows")
    ui.caption("table_rows")

    st.subheader("Loads")
    # Not cached: a failed load is logged without publishing the store, so the store's
    # version (the cache key) would not change and the failure would stay hidden.
    log = registry.run("load_log", cache.store(), q)
    if log.is_empty():
        st.info("Nothing has been loaded yet: `pulse demo` or `pulse load` writes the first entry.", icon=":material/info:")
    else:
        ui.table(log, "load_log", key="load-log")
    ui.caption("load_log", "Times in UTC.")

    st.subheader("Quarantine")
    summary = cache.metric("quarantine_summary", q)
    if summary.is_empty():
        st.success("The quarantine is empty: every row loaded so far kept the data contract.", icon=":material/check_circle:")
        st.stop()
    ui.table(summary, "quarantine_summary", key="summary")
    ui.caption("quarantine_summary")

    tables = cache.metric("quarantine_facets", q, facet="table_name")["value"].to_list()
    rules = cache.metric("quarantine_facets", q, facet="rule")["value"].to_list()
    load_ids = cache.metric("quarantine_facets", q, facet="load_id")["value"].to_list()
    # A load is named by when it started and what it read; one missing from the log, by its id.
    known = {r["load_id"]: f"{fmt.moment(r['started'])} · {r['source']}" for r in log.iter_rows(named=True)}
    load_names = {ALL: ALL} | {load_id: known.get(load_id, f"load {load_id}") for load_id in load_ids}
    cols = st.columns([1, 2, 2])
    table = cols[0].selectbox("Table", [ALL, *tables], key="quarantine-table")
    rule = cols[1].selectbox("Rule", [ALL, *rules], key="quarantine-rule")
    load_id = cols[2].selectbox("Load", list(load_names), format_func=load_names.get, key="quarantine-load")
    choices = {"table_name": None if table == ALL else table, "rule": None if rule == ALL else rule,
               "load_id": None if load_id == ALL else load_id}
    page_key = f"quarantine-page-{table}-{rule}-{load_id}"
    page = st.session_state.get(page_key, 0)
    rows = cache.metric("quarantine_rows", q, **choices, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    if rows.is_empty():
        st.info("No quarantined row matches these choices.", icon=":material/info:")
        st.stop()
    # One table (and selection) per page of rows and store version: a selection made on a
    # fuller page, or before an erasure removed rows, must not point past the rows shown.
    picked = ui.table(rows, "quarantine_rows", key=f"{page_key}-{page}-{cache.store().version()}", selectable=True)
    ui.pager(page_key, more=rows.height == PAGE_SIZE, note=f"Page {page + 1} · {PAGE_SIZE} rows a page · oldest first",
             back="Previous", forward="Next")
    ui.download_every_row("quarantine_rows", q.with_options(**{k: v for k, v in choices.items() if v is not None}),
                          "quarantine", "Download every matching row", key="quarantine-all")
    ui.caption("quarantine_rows")

    st.markdown("**Raw row**")
    st.caption("The row as its file or database gave it: the selected row, or the first until you select one.")
    # The raw text is untrusted input: shown as JSON, never as markdown or HTML.
    st.json(rows["raw"][picked.selection.rows[0] if picked.selection.rows else 0], expanded=True)
