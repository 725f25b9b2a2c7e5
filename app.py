"""Pulse's web app: the router, the shared filter bar and the store's freshness.

`pulse run` (or `streamlit run app.py`) starts it. Every page reads the query the filter
bar built on this run; with no store yet, every page shows how to get data instead.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import streamlit as st

from pulse.settings import SettingsError
from ui import auth, cache, url, views
from ui import format as fmt
from ui.filters import filter_bar
from ui.freshness import freshness, no_data

st.set_page_config(page_title="Pulse", page_icon=":material/monitoring:", layout="wide")

try:
    cache.settings()
except SettingsError as exc:
    st.error(f"Pulse cannot start: {fmt.text(exc)}", icon=":material/error:")
    st.stop()

# (file in pages/, icon) by section; a page's name in the permission table is its file's,
# its title fmt.PAGE_TITLES's.
PAGES = {
    "Product": [("overview", "dashboard"), ("activity", "query_stats"), ("retention", "event_repeat")],
    "Money": [("purchases", "shopping_cart"), ("revenue", "payments")],
    "People": [("user", "person_search")],
    "Explore": [("explore", "explore"), ("views", "bookmarks"), ("annotations", "sticky_note_2")],
    "Store": [("data", "database"), ("sql", "terminal"), ("exports", "schedule_send"), ("definitions", "menu_book")],
    "Admin": [("admin_email", "mail"), ("staff", "badge"), ("audit", "policy")],
}

auth.sign_in()
asked = urlsplit(st.context.url or "").path.rstrip("/").rsplit("/", 1)[-1]
for name, _ in (page for pages in PAGES.values() for page in pages):
    if name == asked:
        auth.refuse_page(name, fmt.PAGE_TITLES[name])
first = next(name for pages in PAGES.values() for name, _ in pages if auth.may_see(name))
navigation = {
    section: [st.Page(f"pages/{name}.py", title=fmt.PAGE_TITLES[name], icon=f":material/{icon}:", default=name == first)
              for name, icon in pages if auth.may_see(name)]
    for section, pages in PAGES.items()
}
router = st.navigation({section: pages for section, pages in navigation.items() if pages}, expanded=True)
st.logo("assets/logo.svg", size="large")
if not cache.store().exists():
    no_data()
    st.stop()
views.open_requested()
url.restore(router.url_path)
filter_bar()
freshness()
views.save_control(router.url_path)
auth.signed_in_bar()
router.run()
