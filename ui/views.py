"""Saved views on screen: "Save this view" in the sidebar, opening `?view=ID`, and the
Views page's list."""

from __future__ import annotations

import streamlit as st

from admin.views import ViewError, Views
from ui import auth
from ui import format as fmt


def views() -> Views:
    return Views(auth.access().accounts.db)


def open_requested() -> None:
    """`?view=ID` in the link: put the view's page and parameters back (or say why not)."""
    wanted = st.query_params.get("view")
    if wanted is None:
        return
    try:
        page, state = views().open(int(wanted), auth.staff().email)
    except (ValueError, ViewError) as exc:
        del st.query_params["view"]
        st.warning(fmt.text(exc if isinstance(exc, ViewError) else f"The link's view {wanted!r} is not a view number."),
                   icon=":material/link_off:")
        return
    st.session_state.pop("url_memory", None)  # the view's parameters, not the ones remembered from before
    st.switch_page(f"pages/{page or 'overview'}.py", query_params=state)


def save_control(page: str) -> None:
    """The sidebar's "Save this view": this page with its URL parameters, by name."""
    # A form, so the name, description and sharing reach the server together with the click on Save.
    with st.sidebar.expander("Save this view", icon=":material/bookmark_add:"), \
            st.form("view_form", border=False, enter_to_submit=False):
        name = st.text_input("Name", placeholder="e.g. Weekly DE pro activity", key="view_name")
        description = st.text_area("Description", height=80, key="view_description")
        shared = st.checkbox("Share with all staff", key="view_shared")
        if st.form_submit_button("Save", type="primary", key="view_save"):
            state = {k: v for k, v in st.query_params.to_dict().items() if k != "view"}
            try:
                view_id = views().save(name, description, page, state, shared, **auth.acting())
            except ViewError as exc:
                st.error(fmt.text(exc), icon=":material/error:")
            else:
                st.success(f"Saved as view {view_id}: open it from Views, or share the link ?view={view_id}.",
                           icon=":material/bookmark_added:")


def delete(view_id: int, by: str, address: str) -> None:
    views().delete(view_id, by, may_delete_any=auth.staff().role == "admin", address=address)
