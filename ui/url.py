"""The view in the URL: the filter bar's range and filters and each page's own choices.

A link reproduces the view, and the view survives moving between pages: Streamlit clears
the URL's parameters when the sidebar switches pages, so each run remembers them in the
session (the shared ones for every page, the others for their page) and puts them back
when a page opens with none. A value the page cannot use is dropped with a warning that
names the parameter.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from ui import format as fmt

# Parameters every page shares (the filter bar's); all others belong to one page.
SHARED = ("range", "start", "end", "interval", "country", "device_type", "plan")
_MEMORY = "url_memory"
_SHARED_MEMORY = "*"  # not a page's url_path (the default page's is "")


def restore(page: str) -> None:
    """Put back the view the user had when this page opens with no parameters (after a
    click in the sidebar), and remember the URL of this run for the next page."""
    memory = st.session_state.setdefault(_MEMORY, {})
    params = st.query_params.to_dict()
    if not params:
        params = memory.get(_SHARED_MEMORY, {}) | memory.get(page, {})
        if params:
            st.query_params.from_dict(params)
    memory[_SHARED_MEMORY] = {k: v for k, v in params.items() if k in SHARED}
    memory[page] = {k: v for k, v in params.items() if k not in SHARED}
    st.session_state["url_page"] = page


def get(name: str, default: str | None, choices: Sequence[str] | None = None, what: str | None = None) -> str | None:
    """The page's choice `name` as the URL gives it, else `default`; a value outside
    `choices` is a warning and the default."""
    value = st.query_params.get(name)
    if value is None or value == "":
        return default
    if choices is not None and value not in choices:
        st.warning(f"The link's {what or name} {fmt.text(repr(value))} is not one of: {fmt.text(', '.join(choices))}; showing "
                   f"{default if default is not None else 'none'}.", icon=":material/link_off:")
        return default
    return value


def get_list(name: str, default: Sequence[str], choices: Sequence[str] | None = None,
             what: str | None = None) -> list[str]:
    """A comma-separated choice from the URL; items outside `choices` are dropped with a warning."""
    value = st.query_params.get(name)
    if not value:
        return list(default)
    items = [item for item in value.split(",") if item]
    unknown = [item for item in items if choices is not None and item not in choices]
    if unknown:
        st.warning(f"The link's {what or name} names {fmt.text(', '.join(repr(u) for u in unknown))}, which "
                   "this page does not have; left out.", icon=":material/link_off:")
    return [item for item in items if item not in unknown]


def keep(name: str, value: object, default: object = None) -> None:
    """Write the page's choice into the URL (and the session's memory of it), or take it out
    when it is the default, so links stay short."""
    if isinstance(value, (list, tuple)):
        text = ",".join(str(v) for v in value)
        default_text = ",".join(str(v) for v in default) if isinstance(default, (list, tuple)) else default
    elif isinstance(value, bool):
        text, default_text = str(value).lower(), str(default).lower() if default is not None else None
    else:
        text, default_text = (None if value is None else str(value)), (None if default is None else str(default))
    page = st.session_state.get("url_page", "")
    remembered = st.session_state.setdefault(_MEMORY, {}).setdefault(page, {})
    if text is None or text == "" or text == default_text:
        if name in st.query_params:
            del st.query_params[name]
        remembered.pop(name, None)
    else:
        st.query_params[name] = text
        remembered[name] = text
