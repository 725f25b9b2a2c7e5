"""Signing in, roles, masking, data scopes and the proxy mode, in a real headless Chromium
against a real server (server.py: Streamlit behind the sign-in routes and gate)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_pages import CHROMIUM, ROOT, free_port, settle

from admin.db import AdminDB
from admin.staff import StaffAccounts
from cli.main import main as pulse
from loaders.load import load_demo
from pulse.store import Store

pytestmark = pytest.mark.e2e
PASSWORD = "correct horse battery"
STAFF = {"admin@example.com": ("admin", ()), "bill@example.com": ("billing", ()), "vic@example.com": ("viewer", ()),
         "de@example.com": ("analyst", ("DE",))}


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("sign_in")
    load_demo(Store(folder / "pulse.duckdb"), users=300, days=60, seed=4)
    accounts = StaffAccounts(AdminDB(f"sqlite:///{folder / 'admin.db'}"))
    for email, (role, countries) in STAFF.items():
        accounts.add(email, role, PASSWORD, by="test", countries=countries)
    accounts.db.engine.dispose()
    return folder


def start(folder: Path, mode: str, address: str = "127.0.0.1", port: int | None = None, extra: tuple[str, ...] = (),
          settings: dict[str, str] | None = None):
    port = port or free_port()
    env = os.environ | (settings or {}) | {"PULSE_STORE": str(folder / "pulse.duckdb"), "PULSE_ADMIN_DB": f"sqlite:///{folder / 'admin.db'}",
                        "PULSE_SIGN_IN": mode, "PULSE_SECRET_KEY": "test-secret", "PULSE_PROXY_ADDRESS": "127.0.0.1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "server.py"), "--server.port", str(port),
         "--server.address", address, "--server.headless", "true", "--browser.gatherUsageStats", "false", *extra],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).read() == b"ok":
                return proc, port
        except OSError:
            time.sleep(0.3)
    proc.kill()
    raise RuntimeError(f"the server did not start: {proc.stderr.read()[-2000:]}")


@pytest.fixture(scope="module")
def server(data):
    proc, port = start(data, "accounts")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM,
                              args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield b
        b.close()


def signed_in(browser, server, email: str, path: str = ""):
    page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
    page.goto(f"{server}/{path}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    settle(page)
    return page


def sidebar(page) -> str:
    """The sidebar's text as read (without the invisible joiners that keep emails from becoming links)."""
    return page.locator('[data-testid="stSidebar"]').inner_text().replace("\u2060", "")


def nav(page) -> list[str]:
    return [t.strip().splitlines()[-1] for t in page.locator('[data-testid="stSidebarNav"] a').all_inner_texts()]


@pytest.mark.parametrize("path", ["", "activity?range=90d", "user?user=u000001", "audit", "data"])
def test_signed_out_every_url_shows_only_the_sign_in_form(browser, server, path):
    page = browser.new_page()
    response = page.goto(f"{server}/{path}")
    assert response.status == 200 and page.url.startswith(f"{server}/signin?next=/")
    assert page.locator("h1").inner_text() == "Pulse"
    assert page.locator("form p").inner_text() == "Sign in with your staff account."
    assert page.locator('[data-testid="stApp"]').count() == 0
    page.close()


def test_a_wrong_password_is_refused_and_the_right_one_opens_the_page_asked_for(browser, server):
    page = browser.new_page()
    page.goto(f"{server}/activity?range=90d")
    page.fill("#email", "bill@example.com")
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert page.locator("[role=alert]").inner_text() == "Wrong email or password."
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    settle(page)
    # billing may not open Activity: signed in, and refused with one sentence.
    assert page.url == f"{server}/activity?range=90d"
    assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Activity"
    assert "Your role (billing) may not open Activity" in page.locator('[data-testid="stAlert"]').inner_text()
    page.close()


@pytest.mark.parametrize(("email", "pages"), [
    ("admin@example.com", ["Overview", "Activity", "Retention", "Purchases", "Revenue", "User lookup", "Explore",
                           "Views", "Annotations", "Data", "SQL", "Exports", "Definitions", "Email", "Staff", "Audit log"]),
    ("bill@example.com", ["Overview", "Purchases", "Revenue", "User lookup", "Views", "Annotations", "Definitions"]),
    ("vic@example.com", ["Overview", "Activity", "Retention", "Purchases", "Revenue", "Views", "Annotations",
                         "Definitions"]),
    ("de@example.com", ["Overview", "Activity", "Retention", "Purchases", "Revenue", "User lookup", "Explore", "Views",
                        "Annotations", "Data", "SQL", "Exports", "Definitions"]),
])
def test_each_role_sees_its_pages(browser, server, email, pages):
    page = signed_in(browser, server, email)
    assert nav(page) == pages
    assert f"{email} · {STAFF[email][0]}" in sidebar(page)
    page.context.close()


def test_a_viewer_sees_masked_emails_and_no_downloads(browser, server):
    page = signed_in(browser, server, "vic@example.com", "retention")
    grid = page.locator('[data-testid="stDataFrame"]').last
    grid.scroll_into_view_if_needed()
    page.wait_for_timeout(1000)
    cells = " ".join(page.locator('[data-testid="stDataFrame"] [role="gridcell"]').all_inner_texts())
    assert "•••@" in cells and "@hooli" not in cells.replace("•••@hooli", "")
    assert page.get_by_role("button", name="Download CSV").count() == 0
    page.context.close()


def test_a_scoped_analyst_sees_the_overview_of_their_country(browser, server, data):
    page = signed_in(browser, server, "de@example.com", "?range=custom&start=2026-01-01&end=2026-12-31")
    cards = dict(zip(page.locator('[data-testid="stMetricLabel"]').all_inner_texts(),
                     page.locator('[data-testid="stMetricValue"]').all_inner_texts()))
    env = {"PULSE_STORE": str(data / "pulse.duckdb"), "PULSE_CONFIG": str(data / "none.toml")}
    result = CliRunner().invoke(pulse, ["export", "kpis", "--start", "2026-01-01", "--end", "2026-12-31",
                                        "--option", "country=DE"], env=env)
    kpis = {line.split(",")[0]: line.split(",")[1] for line in result.stdout.splitlines()[1:]}
    assert cards["Active users"] == f"{int(float(kpis['active_users'])):,}"
    assert cards["Total users"] == f"{int(float(kpis['total_users'])):,}"
    assert cards["Net revenue"] == f"${float(kpis['net_revenue']):,.2f}"
    assert cards["MRR (at end)"] == f"${float(kpis['mrr']):,.2f}"
    assert "Your data scope (fixed): countries DE" in sidebar(page)
    page.context.close()


def test_sign_out_is_one_click_and_ends_the_session(browser, server, data):
    page = signed_in(browser, server, "admin@example.com", "audit")
    assert "sign_in" in page.locator('[data-testid="stMain"]').inner_text() or page.locator(
        '[data-testid="stDataFrame"]').count() == 1
    page.get_by_text("Sign out", exact=True).click()
    page.wait_for_url(f"{server}/signin?out=1")
    assert page.locator("[role=alert]").inner_text() == "You are signed out."
    page.goto(f"{server}/")
    assert page.url.startswith(f"{server}/signin?next=/")
    actions = AdminDB(f"sqlite:///{data / 'admin.db'}").audit_log(actor="admin@example.com")["action"].to_list()
    assert actions[:2] == ["sign_out", "sign_in"]
    page.context.close()


def _outside_address() -> str | None:
    """An address of this machine that is not loopback, for a request from 'another' address."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            address = s.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


def test_the_proxy_header_counts_only_from_the_proxy(browser, data):
    outside = _outside_address()
    if outside is None:
        pytest.skip("this machine has no address but loopback")
    proc, port = start(data, "proxy", address="0.0.0.0")
    try:
        context = browser.new_context(extra_http_headers={"X-Forwarded-Email": "bill@example.com"})
        page = context.new_page()
        page.goto(f"http://127.0.0.1:{port}/")  # from the proxy's address: the header is believed
        settle(page)
        assert "bill@example.com · billing" in sidebar(page)
        page.goto(f"http://{outside}:{port}/")  # from anywhere else: the header is dropped
        settle(page)
        assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "No access"
        context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    entries = AdminDB(f"sqlite:///{data / 'admin.db'}").audit_log(action="sign_in.refused")
    assert entries.select("actor", "detail", "address").row(0) == ("(no header)", "proxy: no staff account", outside)


@pytest.fixture(scope="module")
def identity_provider(tmp_path_factory):
    """A real OpenID Connect provider on loopback (oidc-provider-mock: discovery, authorize
    form, token endpoint, signed ID tokens) knowing a staff member and a stranger."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-W", "ignore", "-m", "oidc_provider_mock", "--port", str(port),
         "--user-claims", json.dumps({"sub": "ada", "email": "Admin@Example.com"}),
         "--user-claims", json.dumps({"sub": "eve", "email": "eve@elsewhere.example"})],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    issuer = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{issuer}/.well-known/openid-configuration", timeout=1)
            break
        except OSError:
            time.sleep(0.2)
    yield issuer
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def oidc_server(data, identity_provider, tmp_path_factory):
    port = free_port()
    secrets = tmp_path_factory.mktemp("oidc") / "secrets.toml"
    secrets.write_text(
        "[auth]\n"
        f'redirect_uri = "http://127.0.0.1:{port}/oauth2callback"\n'
        'cookie_secret = "a test cookie secret, not a real one"\n'
        'client_id = "pulse"\nclient_secret = "pulse-test-secret"\n'
        f'server_metadata_url = "{identity_provider}/.well-known/openid-configuration"\n')
    proc, port = start(data, "oidc", port=port, extra=("--secrets.files", str(secrets)))
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def through_the_provider(browser, server, subject: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(server + "/")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/oauth2/authorize**", timeout=30_000)
    page.fill("input[name=sub]", subject)
    page.get_by_role("button", name="Authorize").click()
    page.wait_for_url(f"{server}/**", timeout=30_000)
    settle(page)
    return page


def test_oidc_signs_in_a_staff_member_and_refuses_and_logs_a_stranger(browser, oidc_server, data):
    page = through_the_provider(browser, oidc_server, "ada")
    assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Overview"
    sidebar = page.locator('[data-testid="stSidebar"]').inner_text().replace("\u2060", "")
    assert "admin@example.com · admin" in sidebar
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="End session").click()  # the provider's own sign-out, then back to Pulse
    page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
    page.close()

    page = through_the_provider(browser, oidc_server, "eve")
    assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "No access"
    assert "does not match a Pulse staff account" in page.locator('[data-testid="stAlert"]').inner_text()
    page.close()

    db = AdminDB(f"sqlite:///{data / 'admin.db'}")
    log = db.audit_log(None, action="sign_")
    db.engine.dispose()
    assert [row[1:4] for row in log.rows() if row[3] in ("oidc", "oidc: no staff account")] == [
        ("eve@elsewhere.example", "sign_in.refused", "oidc: no staff account"),
        ("admin@example.com", "sign_out", "oidc"),
        ("admin@example.com", "sign_in", "oidc"),
    ]
