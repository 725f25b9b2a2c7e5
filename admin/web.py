"""The web server's side of signing in: the sign-in page, sign-out, the signed session
cookie, and the gate every request passes before it reaches Streamlit.

Streamlit serves the app over one websocket and cannot set an HttpOnly cookie itself, so
signing in happens here, in plain HTTP routes mounted beside it (st.App): a POSTed form
checks the password (StaffAccounts.sign_in) and sets `pulse_session`, the session token
signed with HMAC-SHA256, HttpOnly and SameSite=Lax. The gate redirects any page request
without a live session to the sign-in page and refuses the websocket, downloads and
uploads; the app checks the same cookie again on every run (ui/auth.py). In proxy mode the
gate drops the trusted header from any address but the proxy's.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import secrets
from datetime import timedelta
from http.cookies import SimpleCookie
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from admin.db import AdminDB
from admin.staff import Staff, StaffAccounts, StaffError
from pulse.settings import Settings

SESSION_COOKIE = "pulse_session"
CSRF_COOKIE = "pulse_csrf"
SIGN_IN_PATH = "/signin"
SIGN_OUT_PATH = "/signout"
UNSUBSCRIBE_PATH = "/unsubscribe"  # reached by users, not staff: outside the gate
# Requests that carry data or run the app; everything else the browser fetches is the
# public Streamlit frontend (scripts, styles, fonts) and the health checks.
_GATED_PREFIXES = ("/_stcore/stream", "/media", "/_stcore/upload_file", "/_stcore/media")


def secret_key(settings: Settings) -> bytes:
    """The settings' secret_key, else a random one kept (owner-readable only) next to the store."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.folder / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip().encode()


def sign(token: str, key: bytes) -> str:
    return f"{token}.{hmac.new(key, token.encode(), hashlib.sha256).hexdigest()}"


def unsign(value: str | None, key: bytes) -> str | None:
    """The token of a cookie value whose signature is right, else None."""
    token, _, signature = (value or "").rpartition(".")
    expected = hmac.new(key, token.encode(), hashlib.sha256).hexdigest()
    return token if token and hmac.compare_digest(signature, expected) else None


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only, never another site."""
    parts = urlsplit(target or "/")
    if parts.scheme or parts.netloc or not parts.path.startswith("/") or parts.path.startswith("//"):
        return "/"
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Access:
    """Who a request is, for the routes, the gate and the app: one per server."""

    def __init__(self, settings: Settings, db: AdminDB | None = None):
        self.settings = settings
        self.accounts = StaffAccounts(db or AdminDB(settings.admin_db))
        self.key = secret_key(settings)
        self.idle = timedelta(hours=settings.idle_hours)

    def staff(self, cookie_value: str | None) -> Staff | None:
        token = unsign(cookie_value, self.key)
        return self.accounts.current(token, self.idle) if token else None


def _cookies(headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
    jar = SimpleCookie()
    for name, value in headers:
        if name == b"cookie":
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # noqa: BLE001 - a malformed cookie header is no cookie
                continue
    return {name: morsel.value for name, morsel in jar.items()}


class SignInGate:
    """ASGI middleware in front of Streamlit (see the module's docstring)."""

    def __init__(self, app, access: Access):
        self.app = app
        self.access = access

    async def __call__(self, scope, receive, send):
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        settings = self.access.settings
        if settings.sign_in == "proxy":
            client = (scope.get("client") or ("", 0))[0]
            if client != settings.proxy_address:
                header = settings.proxy_header.lower().encode()
                scope = dict(scope, headers=[(k, v) for k, v in scope["headers"] if k != header])
        elif settings.sign_in == "accounts" and self._gated(scope):
            cookie = _cookies(scope["headers"]).get(SESSION_COOKIE)
            if await run_in_threadpool(self.access.staff, cookie) is None:
                return await self._refuse(scope, receive, send)
        return await self.app(scope, receive, send)

    @staticmethod
    def _gated(scope) -> bool:
        path = scope["path"]
        if path.startswith((SIGN_IN_PATH, SIGN_OUT_PATH, UNSUBSCRIBE_PATH)):
            return False
        if scope["type"] == "websocket" or path.startswith(_GATED_PREFIXES):
            return True
        accept = dict(scope["headers"]).get(b"accept", b"")
        return scope.get("method") == "GET" and b"text/html" in accept  # a page the browser navigates to

    @staticmethod
    async def _refuse(scope, receive, send):
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 4401})
        target = scope["path"] + (f"?{scope['query_string'].decode()}" if scope.get("query_string") else "")
        accept = dict(scope["headers"]).get(b"accept", b"")
        response = (RedirectResponse(f"{SIGN_IN_PATH}?next={quote(target)}", status_code=303) if b"text/html" in accept
                    else Response("Sign in first.", status_code=401))
        return await response(scope, receive, send)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in · Pulse</title>
<style>
body {{ font-family: "Source Sans 3", "Source Sans Pro", system-ui, sans-serif; background: #f7f7f8; margin: 0;
       display: flex; min-height: 100vh; align-items: center; justify-content: center; color: #262730; }}
form {{ background: white; border: 1px solid #e6e6ea; border-radius: 12px; padding: 32px 36px; width: 340px; }}
h1 {{ font-size: 28px; margin: 0 0 4px; }} p {{ margin: 0 0 20px; color: #6b6c75; }}
label {{ display: block; font-size: 14px; margin: 14px 0 6px; }}
input {{ width: 100%; box-sizing: border-box; padding: 10px 12px; font-size: 16px; border: 1px solid #d0d0d6;
        border-radius: 8px; }}
button {{ margin-top: 22px; width: 100%; padding: 11px; font-size: 16px; border: 0; border-radius: 8px;
         background: #d6336c; color: white; cursor: pointer; }}
.error {{ background: #fdecea; color: #8a1c14; border-radius: 8px; padding: 10px 12px; margin: 0 0 8px; }}
.note {{ background: #eef4fb; color: #1d4f91; border-radius: 8px; padding: 10px 12px; margin: 0 0 8px; }}
</style></head>
<body><form method="post" action="{action}">
<h1>Pulse</h1><p>Sign in with your staff account.</p>
{message}
<input type="hidden" name="csrf" value="{csrf}">
<label for="email">Email</label><input id="email" name="email" type="email" autocomplete="username" required
 value="{email}" autofocus>
<label for="password">Password</label><input id="password" name="password" type="password"
 autocomplete="current-password" required>
<button type="submit">Sign in</button>
</form></body></html>"""


def _page(request: Request, message: str = "", kind: str = "error", email: str = "", status: int = 200) -> Response:
    csrf = secrets.token_urlsafe(16)
    action = f"{SIGN_IN_PATH}?next={quote(safe_next(request.query_params.get('next')))}"
    box = f'<div class="{kind}" role="alert">{html.escape(message)}</div>' if message else ""
    response = HTMLResponse(_PAGE.format(action=html.escape(action), message=box, csrf=csrf, email=html.escape(email)),
                            status_code=status, headers={"Cache-Control": "no-store"})
    response.set_cookie(CSRF_COOKIE, csrf, httponly=True, samesite="strict", path=SIGN_IN_PATH,
                        secure=request.url.scheme == "https")
    return response


def routes(access: Access) -> list[Route]:
    """The sign-in page (GET shows it, POST checks the password) and sign-out."""

    async def sign_in(request: Request) -> Response:
        if request.method == "GET":
            note = "You are signed out." if request.query_params.get("out") else ""
            return _page(request, note, kind="note")
        form = await request.form()
        email, password = str(form.get("email", "")), str(form.get("password", ""))
        sent, expected = str(form.get("csrf", "")), request.cookies.get(CSRF_COOKIE, "")
        if not expected or not hmac.compare_digest(sent, expected):
            return _page(request, "The form expired; please sign in again.", email=email, status=400)
        address = request.client.host if request.client else ""
        try:
            token = await run_in_threadpool(access.accounts.sign_in, email, password, address)
        except StaffError as exc:
            return _page(request, str(exc), email=email, status=401)
        response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        response.set_cookie(SESSION_COOKIE, sign(token, access.key), httponly=True, samesite="lax", path="/",
                            secure=request.url.scheme == "https")
        response.delete_cookie(CSRF_COOKIE, path=SIGN_IN_PATH)
        return response

    async def sign_out(request: Request) -> Response:
        token = unsign(request.cookies.get(SESSION_COOKIE), access.key)
        if token:
            address = request.client.host if request.client else ""
            await run_in_threadpool(access.accounts.sign_out, token, address)
        response = RedirectResponse(f"{SIGN_IN_PATH}?out=1", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def unsubscribe(request: Request) -> Response:
        """A user's own way off marketing mail: the link in every marketing email (GET shows a
        button, so link scanners unsubscribe nobody) and RFC 8058's one-click POST."""
        from admin.email import Suppressions

        address = unsign(request.query_params.get("t"), access.key)
        if not address:
            return HTMLResponse(_NOTICE.format(text="This unsubscribe link is not valid. Use the link of the email "
                                                    "itself, whole."), status_code=400)
        if request.method == "GET":
            form = (f'<form method="post"><p>Stop marketing email to <b>{html.escape(address)}</b>?</p>'
                    '<button type="submit">Unsubscribe</button></form>')
            return HTMLResponse(_NOTICE.format(text=form), headers={"Cache-Control": "no-store"})
        client = request.client.host if request.client else ""
        await run_in_threadpool(Suppressions(access.accounts.db).add, address, "unsubscribed by link", address, client)
        return HTMLResponse(_NOTICE.format(text=f"{html.escape(address)} gets no more marketing email from us."))

    return [Route(SIGN_IN_PATH, sign_in, methods=["GET", "POST"]), Route(SIGN_OUT_PATH, sign_out, methods=["GET"]),
            Route(UNSUBSCRIBE_PATH, unsubscribe, methods=["GET", "POST"])]


_NOTICE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Unsubscribe</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>
body {{ font-family: system-ui, sans-serif; display: flex; min-height: 90vh; align-items: center;
       justify-content: center; color: #262730; }} div {{ max-width: 420px; font-size: 17px; }}
button {{ padding: 10px 18px; font-size: 16px; border: 0; border-radius: 8px; background: #d6336c; color: white; }}
</style></head><body><div>{text}</div></body></html>"""
