"""Alert subscriptions and their mail (issue 15): kept in the admin database on SQLite and on
the real PostgreSQL, a firing mailed once per rule and day, a "resolved" mail once when it
stops, a mail server that is down tried again — all received by a real SMTP server on
loopback — and `pulse alerts` on a literal store."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import pytest
from conftest import build_store
from smtp_server import Inbox, free_port, start
from sqlalchemy import select

from admin.alerts import AlertError, Alerts
from admin.models import AuditEntry
from pulse.settings import Settings

DAY = date(2026, 3, 18)
SCHEMA = {"rule": pl.String, "fired": pl.Boolean, "value": pl.Float64, "baseline": pl.Float64,
          "threshold": pl.Float64, "p_value": pl.Float64, "explanation": pl.String, "top_contributors": pl.String}


def checks(error_spike: bool) -> pl.DataFrame:
    """An alerts frame with error_spike fired or not and activity_drop quiet."""
    rows = [("activity_drop", False, 10.0, 10.0, 7.0, 0.5, "10 users were active.", ""),
            ("error_spike", error_spike, 12.0 if error_spike else 1.0, 1.0, 3.0, 1e-9 if error_spike else 0.6,
             "12 error events on the day." if error_spike else "1 error event on the day.",
             "country=DE 91 %; device=mobile 91 %; plan=pro 55 %" if error_spike else "")]
    return pl.DataFrame(rows, orient="row", schema=SCHEMA)


def smtp(port: int) -> Settings:
    return Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_sender="Pulse <pulse@example.com>",
                    public_url="https://pulse.example.com")


def test_subscriptions_are_kept_and_audited(admin_db):
    alerts = Alerts(admin_db)
    alerts.subscribe("error_spike", "Ann@Example.com", by="ann@example.com", address="10.0.0.1")
    alerts.subscribe("error_spike", "ann@example.com", by="ann@example.com")  # twice: still once
    alerts.subscribe("churn_spike", "bob@example.com", by="bob@example.com")
    assert alerts.subscribed("ann@example.com") == {"error_spike"}
    assert alerts.subscribers("error_spike") == ["ann@example.com"]
    alerts.unsubscribe("error_spike", "ann@example.com", by="ann@example.com")
    assert alerts.subscribed("ann@example.com") == set()
    with pytest.raises(AlertError, match="There is no alert rule 'errors'"):
        alerts.subscribe("errors", "ann@example.com", by="ann@example.com")
    with admin_db.session() as session:
        trail = [(a.actor, a.action, a.detail, a.address) for a in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert trail == [("ann@example.com", "alert.subscribe", "error_spike Ann@Example.com", "10.0.0.1"),
                     ("bob@example.com", "alert.subscribe", "churn_spike bob@example.com", ""),
                     ("ann@example.com", "alert.unsubscribe", "error_spike ann@example.com", "")]


def test_a_firing_is_mailed_once_per_rule_and_day_and_its_end_once(admin_db, inbox):
    alerts, settings = Alerts(admin_db), smtp(inbox.port)
    alerts.subscribe("error_spike", "ann@example.com", by="ann@example.com")
    alerts.subscribe("error_spike", "bob@example.com", by="bob@example.com")

    sent = alerts.notify(DAY, checks(True), settings)
    assert [(m.rule, m.kind, m.to, m.error) for m in sent] == [
        ("error_spike", "fired", ("ann@example.com", "bob@example.com"), "")]
    assert alerts.notify(DAY, checks(True), settings) == []  # the same day again: nothing new
    (message,) = inbox.messages
    assert inbox.envelopes == [("pulse@example.com", ["ann@example.com", "bob@example.com"])]
    assert message["Subject"] == "Alert: Error spike on 2026-03-18"
    assert message.get_content().replace("\r\n", "\n") == (
        "12 error events on the day.\n"
        "What drove it: country=DE 91 %; device=mobile 91 %; plan=pro 55 %.\n\n"
        "See the Overview: https://pulse.example.com/?end=2026-03-18\n\n"
        "You get this because you subscribed to this alert on the Overview; unsubscribe there.\n")

    after = DAY + timedelta(days=1)
    sent = alerts.notify(after, checks(False), settings)
    assert [(m.rule, m.kind) for m in sent] == [("error_spike", "resolved")]
    assert alerts.notify(after, checks(False), settings) == []
    assert alerts.notify(after + timedelta(days=1), checks(False), settings) == []  # quiet the day before too
    assert [m["Subject"] for m in inbox.messages] == ["Alert: Error spike on 2026-03-18",
                                                      "Resolved: Error spike on 2026-03-19"]
    assert inbox.messages[1].get_content().replace("\r\n", "\n").startswith("Error spike no longer fires on 2026-03-19.\n")

    history = alerts.history()
    assert history.select("day", "rule", "value", "mailed").rows() == [(DAY, "error_spike", 12.0, "fired")]
    assert alerts.history(fired_only=False).height == 6  # 2 rules × 3 days


def test_a_mail_server_that_is_down_is_tried_again(admin_db):
    alerts = Alerts(admin_db)
    alerts.subscribe("error_spike", "ann@example.com", by="ann@example.com")
    port = free_port()
    (failed,) = alerts.notify(DAY, checks(True), smtp(port))
    assert failed.kind == "fired" and failed.error.startswith("The email was not sent:")
    box = Inbox()
    controller = start(box, port)
    try:
        (sent,) = alerts.notify(DAY, checks(True), smtp(port))
    finally:
        controller.stop()
    assert (sent.kind, sent.error) == ("fired", "")
    assert [m["Subject"] for m in box.messages] == ["Alert: Error spike on 2026-03-18"]


def test_nobody_subscribed_nothing_sent_but_the_checks_are_kept(admin_db, inbox):
    alerts = Alerts(admin_db)
    assert alerts.notify(DAY, checks(True), smtp(inbox.port)) == []
    assert inbox.messages == []
    assert alerts.history().height == 1
    assert alerts.last_checked(DAY) is not None and alerts.last_checked(DAY - timedelta(days=1)) is None


# -- `pulse alerts` -------------------------------------------------------------------------------

BEFORE = [DAY - timedelta(days=k) for k in range(1, 29)]
SPIKE = ([{"event_id": f"b{i}", "user_id": "c", "ts": f"{day} 10:00", "event_type": "error"} for i, day in enumerate(BEFORE)]
         + [{"event_id": f"d{i}", "user_id": "a", "ts": f"{DAY} 11:{i:02d}", "event_type": "error"} for i in range(12)])


def pulse(tmp_path: Path, *args: str, port: int = 25) -> subprocess.CompletedProcess:
    env = {**os.environ, "PULSE_STORE": str(tmp_path / "store" / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none"),
           "PULSE_SMTP_HOST": "127.0.0.1", "PULSE_SMTP_PORT": str(port), "PULSE_ALERT_RULES": "traffic_surge=off"}
    return subprocess.run([str(Path(sys.executable).parent / "pulse"), *args], env=env, capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parent.parent, timeout=120)


def test_the_command_exits_1_when_an_alert_fires_and_mails_with_notify(tmp_path, inbox):
    build_store(tmp_path / "store" / "pulse.duckdb", events=SPIKE)
    quiet = pulse(tmp_path, "alerts", "--date", str(DAY - timedelta(days=1)))
    assert quiet.returncode == 0, quiet.stderr
    assert "Alerts for 2026-03-17" in quiet.stdout

    assert pulse(tmp_path, "alerts", "subscribe", "error_spike", "ann@example.com").returncode == 0
    fired = pulse(tmp_path, "alerts", "--date", str(DAY), "--notify", port=inbox.port)
    assert fired.returncode == 1, fired.stderr
    assert "FIRED" in fired.stdout
    assert "Sent the fired mail for error_spike to ann@example.com." in fired.stderr
    assert [m["Subject"] for m in inbox.messages] == ["Alert: Error spike on 2026-03-18"]
    assert "12 error events on 2026-03-18" in inbox.messages[0].get_content()

    history = pulse(tmp_path, "alerts", "history")
    assert history.returncode == 0 and "error_spike" in history.stdout

    bad = pulse(tmp_path, "alerts", "--date", "2026-02-30")
    assert (bad.returncode, bad.stderr.strip()) == (2, "pulse: The --date '2026-02-30' is not a date; use YYYY-MM-DD, "
                                                       "e.g. 2024-03-01.")
    unknown = pulse(tmp_path, "alerts", "subscribe", "errors", "ann@example.com")
    assert unknown.returncode == 2 and "There is no alert rule 'errors'" in unknown.stderr


def test_the_scheduler_checks_once_a_day_at_the_set_local_time(tmp_path, admin_db, inbox):
    from datetime import datetime, timezone

    from cli.alerts import due

    store = build_store(tmp_path / "store" / "pulse.duckdb", events=SPIKE)
    Alerts(admin_db).subscribe("error_spike", "ann@example.com", by="ann@example.com")
    settings = Settings(timezone="Europe/Berlin", alerts_at="07:00", smtp_host="127.0.0.1", smtp_port=inbox.port)
    # 05:59 UTC is 06:59 in Berlin (winter time): not yet; 06:00 UTC is 07:00: checked and mailed; later that day: done.
    assert due(admin_db, store, settings, datetime(2026, 3, 19, 5, 59, tzinfo=timezone.utc)) is None
    mailed = due(admin_db, store, settings, datetime(2026, 3, 19, 6, 0, tzinfo=timezone.utc))
    assert [(m.rule, m.kind, m.to) for m in mailed] == [("error_spike", "fired", ("ann@example.com",))]
    assert due(admin_db, store, settings, datetime(2026, 3, 19, 18, 0, tzinfo=timezone.utc)) is None
    assert len(inbox.messages) == 1
