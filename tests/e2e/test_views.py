"""Saved views in Chromium: save a page with its filters from the sidebar, then, as another
member of staff in a new browser context, open it from the Views page."""

from __future__ import annotations

import pytest
from test_pages import settle
from test_sign_in import PASSWORD, browser, start  # noqa: F401  (the browser fixture)

from admin.db import AdminDB
from admin.staff import StaffAccounts
from loaders.load import load_demo
from pulse.store import Store

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("views")
    load_demo(Store(folder / "pulse.duckdb"), users=300, days=60, seed=4)
    db = AdminDB(f"sqlite:///{folder / 'admin.db'}")
    StaffAccounts(db).add("ana@example.com", "analyst", PASSWORD, by="test")
    StaffAccounts(db).add("vic@example.com", "viewer", PASSWORD, by="test")
    db.engine.dispose()
    proc, port = start(folder, "accounts")
    yield f"http://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(timeout=10)


def signed_in(browser, url, email, path):  # noqa: F811
    page = browser.new_context(viewport={"width": 1440, "height": 1400}).new_page()
    page.goto(f"{url}/{path}")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    settle(page)
    return page


def test_a_shared_view_saved_by_one_opens_for_another(browser, server):  # noqa: F811
    page = signed_in(browser, server, "ana@example.com", "activity?range=90d&country=DE")
    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Save this view").click()
    sidebar.get_by_label("Name", exact=True).fill("DE, last 90 days")
    sidebar.get_by_text("Share with all staff").click()
    sidebar.get_by_role("button", name="Save").click()
    settle(page)
    assert "Saved as view 1" in sidebar.inner_text()
    page.context.close()

    other = signed_in(browser, server, "vic@example.com", "views")
    assert "DE, last 90 days" in other.locator('[data-testid="stMain"]').inner_text()
    other.get_by_text("Open DE, last 90 days").click()
    settle(other)
    assert other.locator('[data-testid="stMain"] h1').first.inner_text() == "Activity"
    assert "range=90d" in other.url and "country=DE" in other.url
    other.context.close()


def test_a_two_series_trend_with_a_breakdown_saved_opened_elsewhere_and_downloaded(browser, server):  # noqa: F811
    page = signed_in(browser, server, "ana@example.com", "explore")
    main = page.locator('[data-testid="stMain"]')
    main.locator("[data-testid=stButtonGroup] button").filter(has_text="2").first.click()
    settle(page)
    main.locator('[data-testid="stSelectbox"]').filter(has_text="Split by").click()
    page.get_by_role("option", name="Device", exact=True).click()
    settle(page)
    assert "series=" in page.url and "breakdown=device_type" in page.url
    assert "B · Count (any event) · desktop" in main.inner_text() or "B · Count" in main.inner_text()

    sidebar = page.locator('[data-testid="stSidebar"]')
    sidebar.get_by_text("Save this view").click()
    sidebar.get_by_label("Name", exact=True).fill("Events by device")
    sidebar.get_by_text("Share with all staff").click()
    sidebar.get_by_role("button", name="Save").click()
    settle(page)
    assert "Saved as view" in sidebar.inner_text()
    page.context.close()

    other = signed_in(browser, server, "ana@example.com", "views")  # a new browser context: a new session
    other.get_by_placeholder("Part of a name or description").fill("by device")
    other.keyboard.press("Enter")
    settle(other)
    other.get_by_text("Open Events by device").click()
    settle(other)
    assert other.locator('[data-testid="stMain"] h1').first.inner_text() == "Explore"
    assert "breakdown=device_type" in other.url
    with other.expect_download() as caught:
        other.locator('[data-testid="stMain"]').get_by_role("button", name="Download CSV").last.click()
    text = caught.value.path().read_text()
    assert text.startswith("period,series,breakdown_value,value,previous_value\n")
    assert {line.split(",")[1] for line in text.splitlines()[1:]} == {"A", "B"}
    other.context.close()
