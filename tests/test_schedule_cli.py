"""`pulse schedule` end to end on a real store: the file a run writes is `pulse export` of the
resolved range byte for byte, in a folder and as an email attachment received by a real
SMTP server; two schedulers at once; a run killed with SIGKILL mid-export."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import build_store
from smtp_server import Inbox, start

from admin.db import AdminDB
from admin.staff import StaffAccounts
from cli.main import main
from loaders.load import load_demo
from pulse.store import Store

PULSE = str(Path(sys.executable).parent / "pulse")
USERS = [{"user_id": "u1", "email": "=cmd@example.com", "signup_at": "2027-01-02 09:00", "country": "DE", "plan": "pro"},
         {"user_id": "u2", "email": "b@example.com", "signup_at": "2027-01-03 09:00", "country": "AT", "plan": "free"}]
EVENTS = [{"event_id": f"e{n}", "user_id": u, "ts": ts, "event_type": "page_view"}
          for n, (u, ts) in enumerate([("u1", "2027-01-02 10:00"), ("u2", "2027-01-03 11:00"), ("u1", "2027-01-04 12:00")])]


@pytest.fixture
def env(tmp_path):
    build_store(tmp_path / "pulse.duckdb", users=USERS, events=EVENTS)
    db = AdminDB(f"sqlite:///{tmp_path / 'admin.db'}")
    StaffAccounts(db).add("fin@example.com", "analyst", "correct horse battery", by="test")
    StaffAccounts(db).add("de@example.com", "analyst", "correct horse battery", by="test", countries=["DE"])
    db.engine.dispose()
    (tmp_path / "out").mkdir()
    return {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml"),
            "PULSE_ADMIN_DB": f"sqlite:///{tmp_path / 'admin.db'}", "USER": "fin@example.com",
            "PULSE_SMTP_HOST": "127.0.0.1", "PULSE_PUBLIC_URL": "https://pulse.example"}


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False, prog_name="pulse")


def test_a_run_writes_exactly_what_pulse_export_writes_for_the_resolved_range(env, tmp_path):
    added = run(env, "schedule", "add", "weekly", "--metric", "active_users", "--range", "last_full_week", "--cron",
                "0 7 * * 1", "--timezone", "Europe/Berlin", "--to-folder", str(tmp_path / "out"),
                "--option", "country=DE")
    assert (added.exit_code, added.stderr) == (0, "")
    assert added.stdout.startswith("Added the schedule weekly; next run ")

    due = run(env, "schedule", "run-due", "--now", "2027-01-11T06:00")  # Monday 07:00 in Berlin
    assert (due.exit_code, due.stdout) == (0, "weekly 2027-01-11 06:00:00 UTC: 7 rows\n")
    written = (tmp_path / "out" / "weekly" / "2027-01-11.csv").read_bytes()
    exported = run(env, "export", "active_users", "--start", "2027-01-04", "--end", "2027-01-10", "--option", "country=DE")
    assert written == exported.stdout.encode()
    assert run(env, "schedule", "run-due", "--now", "2027-01-11T06:30").stdout == "Nothing is due.\n"
    history = run(env, "schedule", "history").stdout
    assert "2027-01-04 – 2027-01-10" in history and "done" in history


def test_the_owners_data_scope_applies(env, tmp_path):
    run(env, "schedule", "add", "de", "--metric", "segment_users", "--range", "yesterday", "--cron", "0 7 * * *",
        "--timezone", "UTC", "--to-folder", str(tmp_path / "out"), "--owner", "de@example.com")
    run(env, "schedule", "run", "de", "--now", "2027-01-05T07:00")
    [written] = (tmp_path / "out" / "de").iterdir()
    lines = written.read_text().splitlines()
    assert [line.split(",")[0] for line in lines] == ["user_id", "u1"]  # u2 is in AT, outside the owner's scope
    assert lines[1].split(",")[1] == "'=cmd@example.com"  # a formula is written as text


def test_an_emailed_export_decodes_to_the_same_bytes(env, tmp_path):
    box = Inbox()
    controller = start(box)
    try:
        env = env | {"PULSE_SMTP_PORT": str(controller.port)}
        run(env, "schedule", "add", "mail", "--metric", "active_users", "--range", "last_7_days", "--cron", "0 7 * * *",
            "--timezone", "UTC", "--to-email", "cs@example.com")
        assert run(env, "schedule", "run-due", "--now", "2027-01-08T07:00").exit_code == 0
    finally:
        controller.stop()
    [message] = box.messages
    assert message["Subject"] == "mail: active_users 2027-01-01 – 2027-01-07"
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "mail_2027-01-01_2027-01-07.csv"
    exported = run(env, "export", "active_users", "--start", "2027-01-01", "--end", "2027-01-07")
    assert attachment.get_content().encode() == exported.stdout.encode()
    assert ("https://pulse.example/activity?range=custom&start=2027-01-01&end=2027-01-07&interval=day"
            in message.get_body(("plain",)).get_content())


@pytest.mark.parametrize(("args", "message"), [
    (["--cron", "0 7 * *"], "pulse: '0 7 * *' is not a cron expression of five fields"),
    (["--timezone", "Berlin"], "pulse: Unknown timezone 'Berlin'; give an IANA name such as Europe/Berlin.\n"),
    (["--metric", "revenu"], "pulse: Unknown metric 'revenu'. Did you mean revenue?\n"),
    (["--option", "colour=red"], "pulse: Unknown option 'colour' for active_users"),
    (["--range", "last_week"], "pulse: Unknown range 'last_week'"),
])
def test_a_bad_schedule_is_one_sentence_and_exit_code_2(env, tmp_path, args, message):
    base = {"--metric": "active_users", "--cron": "0 7 * * *", "--timezone": "UTC"}
    given = dict(zip(args[::2], args[1::2]))
    flat = [part for key, value in (base | given).items() for part in (key, value)]
    result = run(env, "schedule", "add", "x", *flat, "--to-folder", str(tmp_path / "out"))
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1


def test_two_run_due_processes_at_once_write_one_file_and_one_log_row_per_occurrence(env, tmp_path):
    run(env, "schedule", "add", "daily", "--metric", "active_users", "--range", "yesterday", "--cron", "0 7 * * *",
        "--timezone", "UTC", "--to-folder", str(tmp_path / "out"), "--catch-up", "all")
    # Created now: move its start back so three mornings are due.
    db = AdminDB(env["PULSE_ADMIN_DB"])
    with db.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE schedules SET checked_until = '2027-01-04 00:00:00.000000'")
    db.engine.dispose()
    procs = [subprocess.Popen([PULSE, "schedule", "run-due", "--now", "2027-01-06T07:30"], env=os.environ | env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in procs]
    lines = sorted(line for out, _ in outputs for line in out.splitlines() if line != "Nothing is due.")
    assert lines == ["daily 2027-01-04 07:00:00 UTC: 1 rows", "daily 2027-01-05 07:00:00 UTC: 1 rows",
                     "daily 2027-01-06 07:00:00 UTC: 1 rows"], outputs
    assert sorted(p.name for p in (tmp_path / "out" / "daily").iterdir()) == [
        "2027-01-04.csv", "2027-01-05.csv", "2027-01-06.csv"]
    assert run(env, "schedule", "history", "daily").stdout.count("│ done") == 3


def test_a_run_killed_mid_export_leaves_no_partial_file_and_the_retry_completes_it(tmp_path):
    load_demo(Store(tmp_path / "pulse.duckdb"), users=2000, days=180, seed=3)
    db = AdminDB(f"sqlite:///{tmp_path / 'admin.db'}")
    StaffAccounts(db).add("fin@example.com", "analyst", "correct horse battery", by="test")
    db.engine.dispose()
    (tmp_path / "out").mkdir()
    env = os.environ | {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml"),
                        "PULSE_ADMIN_DB": f"sqlite:///{tmp_path / 'admin.db'}", "USER": "fin@example.com"}
    subprocess.run([PULSE, "schedule", "add", "events", "--metric", "events_list", "--range", "last_full_month",
                    "--cron", "0 7 1 * *", "--timezone", "UTC", "--to-folder", str(tmp_path / "out")],
                   env=env, check=True, capture_output=True)
    runner = subprocess.Popen([PULSE, "schedule", "run", "events"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    staging = tmp_path / "staging"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and runner.poll() is None:
        if staging.is_dir() and any(p.stat().st_size > 0 for p in staging.iterdir()):
            break
        time.sleep(0.01)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    assert list((tmp_path / "out").rglob("*")) == []  # nothing half-written where readers look

    retried = subprocess.run([PULSE, "schedule", "run-due"], env=env, capture_output=True, text=True)
    assert retried.returncode == 0, retried.stderr
    [line] = retried.stdout.splitlines()
    assert line.startswith("events ") and line.endswith(" rows")
    [written] = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    log = subprocess.run([PULSE, "schedule", "history", "events"], env=env, capture_output=True, text=True).stdout
    start, end = log.split("│")[3].strip().split(" – ")
    exported = subprocess.run([PULSE, "export", "events_list", "--start", start, "--end", end, "--out",
                               str(tmp_path / "direct.csv")], env=env, capture_output=True)
    assert exported.returncode == 0
    assert written.read_bytes() == (tmp_path / "direct.csv").read_bytes()
