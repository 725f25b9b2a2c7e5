"""The Exports page in Chromium, signed in as an analyst: schedule a table from its page, run
it now, and find the file in the run history."""

from __future__ import annotations

import pytest
from test_pages import settle
from test_sign_in import PASSWORD, browser, start  # noqa: F401  (the browser fixture)

from admin.db import AdminDB
from admin.schedules import Schedules
from admin.staff import StaffAccounts
from loaders.load import load_demo
from pulse.store import Store

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    load_demo(Store(folder / "pulse.duckdb"), users=300, days=60, seed=4)
    db = AdminDB(f"sqlite:///{folder / 'admin.db'}")
    StaffAccounts(db).add("ana@example.com", "analyst", PASSWORD, by="test")
    db.engine.dispose()
    (folder / "out").mkdir()
    proc, port = start(folder, "accounts")
    yield f"http://127.0.0.1:{port}", folder
    proc.terminate()
    proc.wait(timeout=10)


def test_schedule_a_table_run_it_now_and_find_the_file(browser, server):  # noqa: F811
    url, folder = server
    page = browser.new_context(viewport={"width": 1440, "height": 2200}).new_page()
    page.goto(f"{url}/retention")
    page.fill("#email", "ana@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    settle(page)
    page.get_by_role("button", name="Schedule this").first.click()
    settle(page)
    main = page.locator('[data-testid="stMain"]')
    assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Exports"
    assert "From the table you scheduled: " in main.inner_text()

    main.get_by_label("Name", exact=True).fill("Retention for the team")
    main.get_by_label("Folder", exact=True).fill(str(folder / "out"))
    page.get_by_role("button", name="Create").click()
    settle(page)
    assert "Created the schedule Retention for the team." in main.inner_text()

    page.get_by_role("tab", name="Change a schedule").click()
    page.get_by_role("button", name="Run now").click()
    settle(page)
    text = main.inner_text()
    assert "Ran Retention for the team: " in text and " rows delivered." in text
    [written] = [p for p in (folder / "out").rglob("*") if p.is_file()]

    page.get_by_role("tab", name="Run history").click()
    settle(page)
    assert page.get_by_role("button", name=f"Download {written.name}").is_visible()
    db = AdminDB(f"sqlite:///{folder / 'admin.db'}")
    assert Schedules(db).runs().select("schedule", "outcome").rows() == [("Retention for the team", "done")]
    db.engine.dispose()
    page.close()
