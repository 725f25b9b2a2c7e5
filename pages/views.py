"""Views: the pages and questions staff saved with their filters — yours and the shared ones."""

import streamlit as st

from ui import auth
from ui import components as ui
from ui import format as fmt
from ui import views

st.title("Views")
st.caption("Pages and Explore questions saved with their filters and choices. Yours and the ones shared with all "
           "staff; save one with “Save this view” in the sidebar of any page.")
ui.notice()
search = st.text_input("Search", placeholder="Part of a name or description", key="views_search")
listing = views.views().visible_to(auth.staff().email, search)
if listing.is_empty():
    st.info("No saved views yet." if not search else "No view matches.", icon=":material/bookmarks:")
    st.stop()
ui.table(listing, "saved_views", key="views_table", codes={"page": "page"},
         labels={"view": "View", "name": "Name", "shared": "Shared", "last_opened_utc": "Last opened (UTC)",
                 "created_utc": "Saved (UTC)"})
shown_as = {r["view"]: f"{r['name']} · {r['owner']}" for r in listing.iter_rows(named=True)}
picked = st.selectbox("View", list(shown_as), format_func=shown_as.get, key="views_pick")
with st.container(horizontal=True, vertical_alignment="center"):
    st.html(f'<a href="/?view={picked}" target="_self" style="font-size:16px">Open {fmt.text(shown_as[picked])}</a>')
    if st.button("Delete", icon=":material/delete:", key="views_delete"):
        ui.attempt("Deleted the view.", views.delete, picked)
