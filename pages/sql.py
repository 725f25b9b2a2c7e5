"""SQL: ask the store anything, read-only — a sandboxed query, its first 10,000 rows, and its
whole result as CSV."""

import streamlit as st

from pulse.sandbox import DEFAULT_LIMIT, SandboxError
from ui import auth
from ui import components as ui
from ui import format as fmt
from ui import sql

EXAMPLE = ("SELECT date_trunc('week', day) AS week, count(DISTINCT user_id) AS active_users\n"
           "FROM user_days\nGROUP BY ALL\nORDER BY week DESC\nLIMIT 12")

st.title("SQL")
st.caption("One read-only query of the store in DuckDB's SQL. It cannot read or write files, change settings or "
           f"the data, and stops after {fmt.text(sql.cache.settings().query_seconds)} s. The first "
           f"{DEFAULT_LIMIT:,} rows show here; the download has every row. Every run is in the audit log.")
ui.notice()
saved = sql.queries().visible_to(auth.staff().email)
with st.container(horizontal=True, vertical_alignment="bottom"):
    names = {q["query"]: f"{q['name']} · {q['owner']}" for q in saved.iter_rows(named=True)}
    chosen = st.selectbox("Saved queries", list(names), index=None, format_func=names.get, key="sql_saved",
                          placeholder="Open a saved query")
    if chosen is not None and st.button("Open", key="sql_open"):
        st.session_state["sql_text"] = saved.filter(saved["query"] == chosen)["sql"][0]
        st.rerun()
text = st.text_area("Query", value=EXAMPLE, height=180, key="sql_text")
with st.container(horizontal=True, vertical_alignment="center"):
    ran = st.button("Run", type="primary", icon=":material/play_arrow:", key="sql_run")
    with st.popover("Save", icon=":material/bookmark_add:"):
        name = st.text_input("Name", key="sql_save_name")
        shared = st.checkbox("Share with all staff", key="sql_save_shared")
        if st.button("Save query", key="sql_save"):
            ui.attempt(f"Saved the query {name.strip()}.", sql.queries().save, name, text, shared)
    if chosen is not None:
        with st.popover("Delete", icon=":material/delete:"):
            st.write(f"Delete the saved query {fmt.text(names[chosen])}?")
            if st.button("Delete", key="sql_delete", type="primary"):
                ui.attempt("Deleted the saved query.", sql.delete, chosen)

if ran:
    try:
        st.session_state["sql_result"] = (text, *sql.run(text))
    except SandboxError as exc:
        st.session_state.pop("sql_result", None)
        ui.refused(exc)
if "sql_result" in st.session_state:  # the last result stays while the page is used
    query, frame, cut, took = st.session_state["sql_result"]
    st.caption(f"{frame.height:,} rows{' (the first; the query has more)' if cut else ''} in {took:.2f} s"
               + ("" if query == text else " — for the query before your edits") + ".")
    st.dataframe(frame, hide_index=True, width="stretch", placeholder=fmt.EMPTY)
    sql.download_every_row(query)

with st.expander("Tables and columns", icon=":material/table_view:"):
    columns = sql.schema()
    table = st.selectbox("Table", columns["table"].unique(maintain_order=True).to_list(), key="sql_schema_table")
    st.dataframe(columns.filter(columns["table"] == table).drop("table"), hide_index=True, width="stretch")
with st.expander("Your recent queries", icon=":material/history:"):
    history = sql.queries().history(auth.staff().email)
    if history.is_empty():
        st.caption("None yet.")
    else:
        st.dataframe(history, hide_index=True, width="stretch")
