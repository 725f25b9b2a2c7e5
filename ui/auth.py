"""Who this run of the app is for, and what they may see and do.

The sign-in itself happens in the web server's routes (admin/web.py); here every run checks
the same signed session cookie (or the proxy's header, or Streamlit's OIDC user), finds the
staff account, and stops the page with one sentence when there is none. The member of staff
is kept in the session for the rest of the run: the navigation, the data scope, masking and
downloads all ask `staff()`.
"""

from __future__ import annotations

import polars as pl

import streamlit as st

from admin.roles import PAGES, may, may_open
from admin.staff import Staff, StaffAccounts
from admin.web import SESSION_COOKIE, SIGN_IN_PATH, SIGN_OUT_PATH, Access
from ui import cache
from ui import format as fmt

# sign_in = "none": one local user who may do everything, on a server only this machine reaches.
LOCAL = Staff("local", "admin", (), ())
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@st.cache_resource
def access() -> Access:
    return Access(cache.settings())


def _client() -> str | None:
    """The browser's address, or None without a browser (the app run by its tests)."""
    address = st.context.ip_address
    return address if isinstance(address, str) else None


def _address() -> str:
    return _client() or ""


def _refuse(title: str, text: str, sign_in: bool = False) -> None:
    st.title(title)
    st.error(text, icon=":material/lock:")
    target, label = (SIGN_IN_PATH, "Sign in") if sign_in else ("/", "Go to Pulse's first page")
    st.html(f'<a href="{target}" target="_self" style="font-size:16px">{label}</a>')
    st.stop()


def _no_account(who: str, how: str) -> None:
    """Refuse (and log) an identity the proxy or the identity provider vouched for that no
    enabled staff account matches."""
    access().accounts.db.audit(who, "sign_in.refused", f"{how}: no staff account", _address())
    _refuse("No access", "Your sign-in does not match a Pulse staff account; ask an admin to add you.")


def sign_in() -> Staff:
    """The member of staff this run is for; otherwise the page says why and stops."""
    settings = cache.settings()
    mode = settings.sign_in
    if mode == "none":
        # Listening on localhost alone, or (a server reachable from elsewhere) this client is local;
        # no client at all is the app under test.
        listening, client = st.get_option("server.address") or "", _client()
        if listening not in LOOPBACK and client not in (None, *LOOPBACK):
            _refuse("Sign-in is off", "Pulse runs without sign-in (sign_in = \"none\") only when it listens on "
                    "localhost alone; set server.address to 127.0.0.1 or choose a sign-in mode in the settings.")
        staff = LOCAL
    elif mode == "accounts":
        staff = access().staff(st.context.cookies.get(SESSION_COOKIE))
        if staff is None:
            _refuse("Signed out", "Your session has ended, or you have not signed in yet.", sign_in=True)
    elif mode == "proxy":
        email = st.context.headers.get(settings.proxy_header)
        staff = access().accounts.by_email(email) if email else None
        if staff is None:
            _no_account(email or "(no header)", "proxy")
    else:  # oidc
        if not st.user.is_logged_in:
            st.title("Pulse")
            st.button("Sign in", on_click=st.login, type="primary")
            st.stop()
        email = str(st.user.get("email", ""))
        staff = access().accounts.by_email(email)
        if staff is None:
            _no_account(email, "oidc")
    if mode in ("proxy", "oidc") and st.session_state.get("vouched") != staff.email:
        # The proxy or the identity provider signed them in; the log has it once per browser session.
        access().accounts.db.audit(staff.email, "sign_in", mode, _address())
        st.session_state["vouched"] = staff.email
    st.session_state["staff"] = staff
    return staff


def staff() -> Staff:
    """The member of staff of this run (app.py signed them in before any page ran)."""
    return st.session_state.get("staff", LOCAL)


def may_see(page: str) -> bool:
    """Whether the signed-in role may open the page (pages outside the permission table are open)."""
    return page not in PAGES or may_open(staff().role, page)


def allowed(action: str) -> bool:
    return may(staff().role, action)


def record(action: str, detail: str = "") -> None:
    """Write what the signed-in member of staff just did to the audit log."""
    access().accounts.db.audit(staff().email, action, detail, _address())


def staff_accounts() -> StaffAccounts:
    """The staff accounts, for the Staff page (admins only: the page is theirs alone)."""
    return access().accounts


def acting() -> dict[str, str]:
    """Who is making a change from this run, and from where, as StaffAccounts' changes take them."""
    return {"by": staff().email, "address": _address()}


def audit_log(limit: int, actor: str | None, action: str | None, since) -> pl.DataFrame:
    """The audit log for the Audit page (admins only: the page is theirs alone)."""
    return access().accounts.db.audit_log(limit, actor, action, since)


def refuse_page(page: str, title: str) -> None:
    """Stop a page reached by URL that the role may not open."""
    if not may_see(page):
        _refuse(title, f"Your role ({staff().role}) may not open {title}; ask an admin if you need it.")


def _sign_out_of_the_provider() -> None:
    record("sign_out", "oidc")
    st.session_state.pop("vouched", None)
    st.logout()


def signed_in_bar() -> None:
    """Who is signed in, and sign-out one click away (not shown without sign-in)."""
    mode = cache.settings().sign_in
    if mode == "none":
        st.sidebar.caption("Sign-in is off: anyone who can reach this machine's localhost port sees everything.")
        return
    who = staff()
    with st.sidebar.container(horizontal=True, vertical_alignment="center"):
        st.caption(f"{fmt.text(who.email)} · {who.role}")
        if mode == "oidc":
            st.button("Sign out", on_click=_sign_out_of_the_provider, key="sign-out")
        else:
            st.html(f'<a href="{SIGN_OUT_PATH}" target="_self" style="font-size:14px">Sign out</a>')
