"""Pulse's web app: the router, the shared filter bar and the store's freshness.

`pulse run` (or `streamlit run app.py`) starts it. Every page reads the query the filter
bar built on this run; with no store yet, every page shows how to get data instead.
"""

from __future__ import annotations

import streamlit as st

from pulse.settings import SettingsError
from ui import cache
from ui.filters import filter_bar
from ui.freshness import freshness, no_data

st.set_page_config(page_title="Pulse", page_icon=":material/monitoring:", layout="wide")

try:
    cache.settings()
except SettingsError as exc:
    st.error(f"Pulse cannot start: {exc}", icon=":material/error:")
    st.stop()

PAGES = {
    "Dashboards": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
    ],
}

router = st.navigation(PAGES)
st.logo("assets/logo.svg", size="large")
if not cache.store().exists():
    no_data()
    st.stop()
filter_bar()
freshness()
router.run()
