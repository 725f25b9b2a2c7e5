"""Audit log: who signed in, failed to, was locked out, downloaded, exported, erased or changed staff, and from where."""

from datetime import date, timedelta

import streamlit as st

from ui import auth
from ui import components as ui

LIMIT = 1000

st.title("Audit log")
st.caption("Every sign-in and sign-out, failed sign-in and lockout, CSV download and export, personal-data export and "
           "erasure, and staff change, newest first. Times in UTC. The app only ever adds to it.")
with st.container(horizontal=True):
    actor = st.text_input("Who", placeholder="An email, exactly", key="audit_actor")
    action = st.text_input("Action", placeholder="Starts with, e.g. sign_in or staff.", key="audit_action")
    since = st.date_input("Since", value=date.today() - timedelta(days=30), key="audit_since")
entries = auth.audit_log(LIMIT, actor.strip() or None, action.strip() or None, since)
if entries.is_empty():
    st.info("No audit entries match.", icon=":material/info:")
else:
    ui.table(entries, "audit_log", key="audit", file_name=f"audit_log_since_{since}")
    st.caption(f"The newest {LIMIT:,} entries at most; narrow the filters, or run `pulse audit --csv` for every one.")
