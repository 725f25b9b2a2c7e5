"""Pulse's web app: the router, the shared filter bar and the store's freshness.

`pulse run` (or `streamlit run app.py`) starts it. Every page reads the query the filter
bar built on this run; with no store yet, every page shows how to get data instead.
"""

from __future__ import annotations

import streamlit as st

from pulse.settings import SettingsError
from ui import cache, url
from ui import format as fmt
from ui.filters import filter_bar
from ui.freshness import freshness, no_data

st.set_page_config(page_title="Pulse", page_icon=":material/monitoring:", layout="wide")

try:
    cache.settings()
except SettingsError as exc:
    st.error(f"Pulse cannot start: {fmt.text(exc)}", icon=":material/error:")
    st.stop()

PAGES = {
    "Product": [
        st.Page("pages/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("pages/activity.py", title="Activity", icon=":material/query_stats:"),
        st.Page("pages/retention.py", title="Retention", icon=":material/event_repeat:"),
    ],
    "Money": [
        st.Page("pages/purchases.py", title="Purchases", icon=":material/shopping_cart:"),
        st.Page("pages/revenue.py", title="Revenue", icon=":material/payments:"),
    ],
    "People": [
        st.Page("pages/user.py", title="User lookup", icon=":material/person_search:"),
    ],
    "Store": [
        st.Page("pages/data.py", title="Data", icon=":material/database:"),
        st.Page("pages/definitions.py", title="Definitions", icon=":material/menu_book:"),
    ],
}

router = st.navigation(PAGES)
st.logo("assets/logo.svg", size="large")
if not cache.store().exists():
    no_data()
    st.stop()
url.restore(router.url_path)
filter_bar()
freshness()
router.run()
