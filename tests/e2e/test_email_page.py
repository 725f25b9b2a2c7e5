"""The Email page end to end in Chromium, signed in as an admin, against a real SMTP server on
loopback: a segment, the preview, a test to oneself, the send, the history, and the email
in the user's timeline."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest
from test_pages import settle
from test_sign_in import PASSWORD, browser, start  # noqa: F401  (the browser fixture)

from admin.db import AdminDB
from admin.email import Campaigns, Template, Templates
from admin.staff import StaffAccounts
from loaders.load import load_demo
from pulse.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from smtp_server import serving  # noqa: E402

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def inbox():
    with serving() as box:
        yield box


@pytest.fixture(scope="module")
def server(tmp_path_factory, inbox):
    folder = tmp_path_factory.mktemp("email")
    load_demo(Store(folder / "pulse.duckdb"), users=300, days=60, seed=4)
    db = AdminDB(f"sqlite:///{folder / 'admin.db'}")
    StaffAccounts(db).add("admin@example.com", "admin", PASSWORD, by="test")
    Templates(db).save(Template("Monthly news", "What is new for {{ plan }} users, {{ first_name | default('friend') }}",
                                "Hi {{ first_name | default('there') }},\nhere is what is new.\n",
                                "<p>Hi <b>{{ first_name | default('there') }}</b>, here is what is new.</p>"), by="test")
    db.engine.dispose()
    proc, port = start(folder, "accounts", settings={"PULSE_SMTP_HOST": "127.0.0.1", "PULSE_SMTP_PORT": str(inbox.port)})
    yield f"http://127.0.0.1:{port}", folder
    proc.terminate()
    proc.wait(timeout=10)


def pick(page, label: str, option: str) -> None:
    page.locator('[data-testid="stMain"] [data-testid="stSelectbox"]').filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()
    settle(page)


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_segment_preview_test_send_send_history_and_timeline(browser, server, inbox):  # noqa: F811
    url, folder = server
    page = browser.new_context(viewport={"width": 1440, "height": 2400}).new_page()
    page.goto(f"{url}/admin_email")
    page.fill("#email", "admin@example.com")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    settle(page)
    assert page.locator('[data-testid="stMain"] h1').first.inner_text() == "Email"

    pick(page, "Plan", "pro")
    cards = page.locator('[data-testid="stMetric"]').all_inner_texts()
    to_send = int(cards[0].splitlines()[-1].replace(",", ""))
    assert cards[0].startswith("Will receive it") and to_send > 0
    main = page.locator('[data-testid="stMain"]')
    text = main.inner_text()
    assert "What is new for pro users, " in text, text[text.find("Preview"):][:400]

    page.get_by_role("button", name="Send a test to me").click()
    wait_for(lambda: len(inbox.messages) == 1)
    assert inbox.envelopes[0][1] == ["admin@example.com"]
    assert inbox.messages[0]["Subject"].startswith("[Test] What is new for pro users, ")
    settle(page)
    assert "Sent a test to admin" in main.inner_text()

    page.get_by_text("I checked the preview").click()
    settle(page)
    page.get_by_role("button", name=f"Send to {to_send:,}").click()
    wait_for(lambda: len(inbox.messages) == 1 + to_send)
    time.sleep(0.5)
    assert len(inbox.messages) == 1 + to_send

    page.get_by_role("tab", name="History").click()
    settle(page)
    assert f"(finished): {to_send:,} sent, 0 failed, 0 to go" in main.inner_text()

    db = AdminDB(f"sqlite:///{folder / 'admin.db'}")
    campaign = Campaigns(db).history()
    first = Campaigns(db).recipients(campaign["campaign"][0], "sent")["user_id"][0]
    db.engine.dispose()
    assert campaign.select("kind", "sent").rows()[0] == ("marketing", to_send)

    page.goto(f"{url}/user?user={first}")
    settle(page)
    assert "Emails sent" in main.inner_text()  # the timeline's kinds; its rows are drawn on a canvas
    page.locator('[data-testid="stDataFrame"]').last.scroll_into_view_if_needed()
    page.screenshot(path=str(folder / "timeline.png"), full_page=True)
    page.close()


def test_the_unsubscribe_link_works_without_signing_in_and_a_forged_one_does_not(server):
    import urllib.error
    import urllib.request
    from urllib.parse import quote

    from admin.email import Suppressions
    from admin.web import sign

    url, folder = server
    token = quote(sign("ann@example.com", b"test-secret"))
    page = urllib.request.urlopen(f"{url}/unsubscribe?t={token}").read().decode()
    assert "Stop marketing email to <b>ann@example.com</b>?" in page
    done = urllib.request.urlopen(urllib.request.Request(f"{url}/unsubscribe?t={token}", data=b"List-Unsubscribe=One-Click",
                                                         method="POST")).read().decode()
    assert "ann@example.com gets no more marketing email from us." in done
    forged = quote(sign("bob@example.com", b"another key"))
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(urllib.request.Request(f"{url}/unsubscribe?t={forged}", data=b"", method="POST"))
    assert refused.value.code == 400
    db = AdminDB(f"sqlite:///{folder / 'admin.db'}")
    assert Suppressions(db).listing().select("email", "reason", "added_by").rows() == [
        ("ann@example.com", "unsubscribed by link", "ann@example.com")]
    db.engine.dispose()
