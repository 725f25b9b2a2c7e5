"""Annotations: notes on dates — a release, a price change, an outage — that every time chart marks."""

import streamlit as st

from admin.annotations import MAX_NOTE
from pulse.schema import FIRST_DAY, LAST_DAY
from ui import annotations, auth
from ui import components as ui

st.title("Annotations")
st.caption("Notes on dates: a release, a price change, an outage. Every time chart marks the period holding a note "
           "with a dashed line; hover the marker on top of it to read the note. A release script can add one "
           "from the command line: pulse annotate DATE NOTE.")
ui.notice()
editor = auth.allowed("annotate")
if editor:
    with st.form("annotation_new", border=False, clear_on_submit=True):
        with st.container(horizontal=True, vertical_alignment="bottom"):
            day = st.date_input("Date", min_value=FIRST_DAY, max_value=LAST_DAY, format="YYYY-MM-DD", width=160,
                                key="annotation_day")
            note = st.text_input("Note", max_chars=MAX_NOTE, placeholder="e.g. Release 2.4: the new onboarding",
                                 key="annotation_note")
        if st.form_submit_button("Add", type="primary", icon=":material/add:", key="annotation_add"):
            annotations.add(day, note)

listing = annotations.annotations().listing()
if listing.is_empty():
    st.info("No notes yet." + (" Add the first above." if editor else ""), icon=":material/sticky_note_2:")
    st.stop()
ui.table(listing, "annotations", key="annotations_table",
         labels={"id": "No.", "day": "Date", "note": "Note", "owner": "Added by", "updated_utc": "Changed (UTC)"})

if editor:
    st.subheader("Change a note")
    rows = {r["id"]: r for r in listing.iter_rows(named=True)}
    shown_as = {number: f"{r['day']} · {r['note']}" for number, r in rows.items()}
    picked = st.selectbox("Note", list(shown_as), format_func=shown_as.get, key="annotation_pick")
    with st.form(f"annotation_edit_{picked}", border=False):
        with st.container(horizontal=True, vertical_alignment="bottom"):
            day_edit = st.date_input("Date", value=rows[picked]["day"], min_value=FIRST_DAY, max_value=LAST_DAY,
                                     format="YYYY-MM-DD", width=160, key=f"annotation_day_{picked}")
            note_edit = st.text_input("Note", value=rows[picked]["note"], max_chars=MAX_NOTE,
                                      key=f"annotation_note_{picked}")
        if st.form_submit_button("Save", icon=":material/save:", key=f"annotation_save_{picked}"):
            annotations.update(picked, day_edit, note_edit)
    if st.button("Delete this note", icon=":material/delete:", key="annotation_delete"):
        annotations.delete(picked)
