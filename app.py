"""Pulse's web app: the router, the shared filter bar and the store's freshness.

`pulse run` (or `streamlit run app.py`) starts it. Every page reads the query the filter
bar built on this run; with no store yet, every page shows how to get data instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from pulse.settings import SettingsError
from ui import auth, cache, url
from ui import format as fmt
from ui.filters import filter_bar
from ui.freshness import freshness, no_data

st.set_page_config(page_title="Pulse", page_icon=":material/monitoring:", layout="wide")

try:
    cache.settings()
except SettingsError as exc:
    st.error(f"Pulse cannot start: {fmt.text(exc)}", icon=":material/error:")
    st.stop()

# (file in pages/, title, icon) by section; a page's name in the permission table is its file's.
PAGES = {
    "Product": [("overview", "Overview", "dashboard"), ("activity", "Activity", "query_stats"),
                ("retention", "Retention", "event_repeat")],
    "Money": [("purchases", "Purchases", "shopping_cart"), ("revenue", "Revenue", "payments")],
    "People": [("user", "User lookup", "person_search")],
    "Store": [("data", "Data", "database"), ("exports", "Exports", "schedule_send"),
              ("definitions", "Definitions", "menu_book")],
    "Admin": [("admin_email", "Email", "mail"), ("staff", "Staff", "badge"), ("audit", "Audit log", "policy")],
}

auth.sign_in()
asked = urlsplit(st.context.url or "").path.rstrip("/").rsplit("/", 1)[-1]
for name, title, _ in (page for pages in PAGES.values() for page in pages):
    if name == asked:
        auth.refuse_page(name, title)
first = next(name for pages in PAGES.values() for name, _, _ in pages if auth.may_see(name))
navigation = {
    section: [st.Page(f"pages/{name}.py", title=title, icon=f":material/{icon}:", default=name == first)
              for name, title, icon in pages if auth.may_see(name)]
    for section, pages in PAGES.items()
}
router = st.navigation({section: pages for section, pages in navigation.items() if pages})
st.logo("assets/logo.svg", size="large")
if not cache.store().exists():
    no_data()
    st.stop()
url.restore(router.url_path)
filter_bar()
freshness()
auth.signed_in_bar()
router.run()
