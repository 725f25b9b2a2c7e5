"""The Overview's live feed in Chromium: a load while the page is open shows up in the feed
without anyone touching the page."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from test_pages import settle
from test_sign_in import PASSWORD, browser, start  # noqa: F401  (the browser fixture)

from admin.db import AdminDB
from admin.staff import StaffAccounts
from loaders.load import load_demo
from pulse.store import Store

pytestmark = pytest.mark.e2e


def test_a_new_signup_appears_in_the_feed_on_its_own(browser, tmp_path):  # noqa: F811
    load_demo(Store(tmp_path / "pulse.duckdb"), users=200, days=30, seed=5)
    db = AdminDB(f"sqlite:///{tmp_path / 'admin.db'}")
    StaffAccounts(db).add("ana@example.com", "analyst", PASSWORD, by="test")
    db.engine.dispose()
    proc, port = start(tmp_path, "accounts", settings={"PULSE_FEED_SECONDS": "2"})
    try:
        page = browser.new_context(viewport={"width": 1440, "height": 2400}).new_page()
        page.goto(f"http://127.0.0.1:{port}/")
        page.fill("#email", "ana@example.com")
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        settle(page)
        main = page.locator('[data-testid="stMain"]')
        assert "Live feed" in main.inner_text() and "u_brand_new" not in main.inner_text()

        now = datetime.now(timezone.utc).replace(tzinfo=None) - timedelta(minutes=1)
        users = tmp_path / "new.csv"
        users.write_text(f"user_id,email,signup_at,plan\nu_brand_new,new@example.com,{now:%Y-%m-%d %H:%M:%S},free\n")
        pulse = str(Path(sys.executable).parent / "pulse")
        env = {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml"),
               "PATH": "/usr/bin:/bin"}
        subprocess.run([pulse, "load", "users", str(users)], env=env, check=True, capture_output=True)

        deadline = time.monotonic() + 30
        while "u_brand_new" not in main.inner_text():
            assert time.monotonic() < deadline, "the feed did not show the new signup"
            time.sleep(0.5)
        assert "Newest: Signup · u_brand_new" in main.inner_text().replace("\u2060", "")
        page.context.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
