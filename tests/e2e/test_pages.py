"""Every page in a real headless Chromium against a real `streamlit run` on demo data.

Screenshots land in tests/e2e/screenshots/ for a person to look at.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from loaders.load import load_demo
from pulse.store import Store

ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

# (url path, text the page must show)
PAGES = [
    ("", "Overview"),
    ("activity", "Activity"),
    ("retention", "Retention"),
    ("purchases", "Purchases"),
    ("revenue", "Revenue"),
    ("user?user={user}", "User"),
]

pytestmark = pytest.mark.e2e

if not os.path.exists(CHROMIUM):
    if os.environ.get("CI"):
        raise RuntimeError("Chromium is missing on CI: `make test` installs Debian's chromium package.")
    pytest.skip("Chromium is not installed (Debian package `chromium`): browser tests skipped", allow_module_level=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def store_path(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("e2e") / "pulse.duckdb"
    load_demo(Store(path), users=300, days=90, seed=3)
    return path


@pytest.fixture(scope="module")
def busiest_user(store_path) -> str:
    return Store(store_path).scalar("SELECT user_id FROM user_days GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")


@pytest.fixture(scope="module")
def server(store_path):
    port = free_port()
    env = os.environ | {"PULSE_STORE": str(store_path), "PULSE_ADMIN_DB": f"sqlite:///{store_path.parent / 'admin.db'}",
                        "PULSE_SIGN_IN": "none"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "server.py"), "--server.port", str(port),
         "--server.address", "127.0.0.1",
         "--server.headless", "true", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).read() == b"ok":
                break
        except OSError:
            time.sleep(0.3)
    else:
        proc.kill()
        raise RuntimeError(f"streamlit did not start: {proc.stderr.read()[-2000:]}")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"],
        )
        yield b
        b.close()


def settle(page) -> None:
    """Wait until Streamlit has run the script and drawn every element: no running
    indicator and no skeleton placeholders, twice in a row half a second apart."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=30_000)
    # Every page starts with a title: until it is there, the first run has not drawn anything.
    page.wait_for_selector('[data-testid="stMain"] h1', timeout=90_000)
    page.wait_for_timeout(1000)
    quiet = 0
    for _ in range(240):
        busy = page.locator('[data-testid="stStatusWidget"], [data-testid="stSkeleton"]').count()
        quiet = quiet + 1 if busy == 0 else 0
        if quiet == 2:
            break
        page.wait_for_timeout(500)
    page.wait_for_timeout(1000)


@pytest.mark.parametrize("path,title", PAGES, ids=[p.split("?")[0] or "overview" for p, _ in PAGES])
def test_page_renders_without_errors(server, browser, busiest_user, path, title):
    page = browser.new_page(viewport={"width": 1400, "height": 4000})
    page.goto(f"{server}/{path.format(user=busiest_user)}")
    settle(page)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{path.split('?')[0] or 'overview'}.png"))
    assert page.locator('[data-testid="stException"]').count() == 0
    assert page.locator('[data-testid="stAlertContentError"]').count() == 0
    assert page.get_by_role("heading", name=title).first.is_visible()
    assert page.locator('[data-testid="stVegaLiteChart"], [data-testid="stArrowVegaLiteChart"]').count() > 0
    page.close()


def test_the_filter_bar_lives_in_the_url(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/?range=custom&start=2020-01-01&end=2020-01-31&interval=week")
    settle(page)
    assert page.get_by_text("2020-01-01 – 2020-01-31").first.is_visible()
    page.goto(f"{server}/?range=custom&start=garbage&end=2020-01-31")
    settle(page)
    assert page.get_by_text("is not a date").first.is_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()


def test_the_view_follows_the_sidebar_to_every_page(server, browser, store_path):
    """Filters set on one page stay set on every page the sidebar opens, and in its URL."""
    country = Store(store_path).scalar("SELECT country FROM people GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{server}/?range=90d&interval=week&country={country}")
    settle(page)
    for title in ("Activity", "Retention", "Purchases", "Revenue", "User lookup", "Overview"):
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
        page.wait_for_timeout(500)
        settle(page)
        assert "range=90d" in page.url and "interval=week" in page.url and f"country={country}" in page.url, (title, page.url)
        boxes = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]')
        assert boxes.nth(0).locator("input").input_value() == "Last 90 days", title
        assert boxes.nth(1).locator("input").input_value() == country, title
        assert page.locator('[data-testid="stException"]').count() == 0, title
    page.close()


def test_hand_written_links_say_what_they_dropped(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(f"{server}/activity?start=2020-01-01&end=2020-01-31&country=ZZ&interval=fortnight")
    settle(page)
    assert page.get_by_text("2020-01-01 – 2020-01-31").first.is_visible()
    assert page.get_by_text("The link's country 'ZZ' matches no one in the store").first.is_visible()
    assert page.get_by_text("The link's interval 'fortnight' is unknown").first.is_visible()
    assert page.locator('[data-testid="stException"]').count() == 0
    # A page's own choice too: the page says which and shows its default.
    page.goto(f"{server}/retention?period=fortnight")
    settle(page)
    assert page.get_by_text("The link's period 'fortnight' is not one of: day, week, month; showing week.").first.is_visible()
    assert picked_segments(page)[1] == "Week"
    page.close()


def picked_segments(page) -> list[str]:
    """The labels of the segmented controls' chosen buttons, top to bottom."""
    return page.locator('[data-testid="stMain"] button[data-variant="segmented_control"][aria-checked="true"]').all_inner_texts()


def test_page_choices_live_in_the_url(server, browser):
    """A link opens a page on its own choices, a reload keeps them, and so does a round trip
    through the sidebar."""
    page = browser.new_page(viewport={"width": 1400, "height": 1200})
    page.goto(f"{server}/activity?funnel=/,/pricing,/signup&window=7&breakdown=country")
    settle(page)
    steps = page.locator('[data-testid="stMultiSelect"] .react-aria-ComboBox [data-tag]')
    assert [steps.nth(i).get_attribute("aria-label") for i in range(steps.count())] == ["/", "/pricing", "/signup"]
    assert page.locator('[data-testid="stNumberInput"] input').first.input_value() == "7"
    assert "Country" in picked_segments(page)
    page.goto(f"{server}/retention?mode=recurring&period=month&split=country")
    settle(page)
    assert picked_segments(page) == ["Any activity", "Month", "Country"]
    page.reload()
    settle(page)
    assert picked_segments(page) == ["Any activity", "Month", "Country"]
    for title in ("Activity", "Retention"):
        page.locator('[data-testid="stSidebarNav"] a', has_text=title).first.click()
        page.wait_for_timeout(500)
        settle(page)
    assert "mode=recurring" in page.url and "period=month" in page.url, page.url
    assert picked_segments(page) == ["Any activity", "Month", "Country"]
    assert page.locator('[data-testid="stException"]').count() == 0
    page.close()
