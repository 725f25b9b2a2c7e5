"""`pulse email` end to end: a real store, a real admin database, a real SMTP server on
loopback (aiosmtpd) — and a sender killed with SIGKILL in the middle of a campaign."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import build_store
from smtp_server import Inbox, free_port, start
from sqlalchemy import create_engine, text

from cli.main import main

ROOT = Path(__file__).resolve().parent.parent
USERS = [
    {"user_id": "u1", "email": "ann@example.com", "name": "Ann Öberg", "signup_at": "2026-01-05 09:00", "country": "DE",
     "plan": "pro", "marketing_opt_in": True},
    {"user_id": "u2", "email": "bob@example.com", "name": "Bob", "signup_at": "2026-01-06 09:00", "country": "DE",
     "plan": "pro", "marketing_opt_in": False},
    {"user_id": "u3", "email": None, "name": "Cy", "signup_at": "2026-01-07 09:00", "country": "DE", "plan": "pro",
     "marketing_opt_in": True},
    {"user_id": "u4", "email": "dee@example.com", "name": "Dee", "signup_at": "2026-01-08 09:00", "country": "US",
     "plan": "pro", "marketing_opt_in": True},
    {"user_id": "u5", "email": "eve@example.com", "name": "Eve", "signup_at": "2026-01-09 09:00", "country": "DE",
     "plan": "free", "marketing_opt_in": True},
]


@pytest.fixture
def env(tmp_path):
    build_store(tmp_path / "pulse.duckdb", users=USERS)
    (tmp_path / "hello.txt").write_text("Hallo {{ first_name }}, you are on {{ plan }}.\n")
    base = {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml"),
            "PULSE_ADMIN_DB": f"sqlite:///{tmp_path / 'admin.db'}", "PULSE_SECRET_KEY": "k", "USER": "ops",
            "PULSE_SMTP_HOST": "127.0.0.1", "PULSE_SMTP_SENDER": "Pulse <team@pulse.example>",
            "PULSE_PUBLIC_URL": "https://pulse.example"}
    assert run(base, "email", "template", "add", "hello", "--subject", "News for {{ name }}", "--text",
               str(tmp_path / "hello.txt")).stdout == "Added the template hello.\n"
    return base


def run(env, *args, input=None):
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False, prog_name="pulse")


def test_templates_are_listed_shown_edited_and_deleted(env, tmp_path):
    (tmp_path / "hello.html").write_text("<p>Hallo <b>{{ name }}</b></p>")
    assert run(env, "email", "template", "edit", "hello", "--html", str(tmp_path / "hello.html")).stdout == \
        "Saved the template hello.\n"
    shown = run(env, "email", "template", "show", "hello")
    assert shown.stdout == ("Subject: News for {{ name }}\n\n--- plain text ---\nHallo {{ first_name }}, you are on "
                            "{{ plan }}.\n\n\n--- HTML ---\n<p>Hallo <b>{{ name }}</b></p>\n")
    listed = run(env, "email", "template", "list").stdout.splitlines()
    assert listed[3].split("│")[1:4] == [" hello ", " News for {{ name }} ", " yes  "]
    broken = run(env, "email", "template", "add", "bad", "--subject", "Hi {{ name", "--text", str(tmp_path / "hello.txt"))
    assert (broken.exit_code, broken.stderr) == (
        1, "pulse: The subject has a mistake on line 1: unexpected end of template, expected 'end of print "
           "statement'..\n")
    assert run(env, "email", "template", "delete", "hello").stdout == "Deleted the template hello.\n"
    gone = run(env, "email", "template", "show", "hello")
    assert (gone.exit_code, gone.stderr) == (1, "pulse: There is no email template 'hello'.\n")


def test_a_dry_run_lists_who_would_get_it_and_who_is_skipped_and_sends_nothing(env, inbox):
    result = run(env | {"PULSE_SMTP_PORT": str(inbox.port)}, "email", "send", "--template", "hello",
                 "--where", "plan=pro", "--marketing", "--dry-run")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "2 recipients for hello (marketing) — plan=pro; skipped: 1 no marketing consent; 1 no email address.\n"
        "  u1 <ann@example.com>: News for Ann Öberg\n"
        "  u4 <dee@example.com>: News for Dee\n"
        "Dry run: nothing was sent.\n")
    assert inbox.messages == []
    assert run(env, "email", "status").stdout == "No campaigns yet.\n"


def test_marketing_reaches_only_consenting_users_and_the_campaign_is_on_record(env, inbox):
    env = env | {"PULSE_SMTP_PORT": str(inbox.port)}
    assert run(env, "email", "suppress", "dee@example.com").stdout == "dee@example.com is now on the suppression list.\n"
    result = run(env, "email", "send", "--template", "hello", "--where", "plan=pro", "--marketing", "--yes",
                 "--by", "cmo@example.com")
    assert (result.exit_code, result.stderr) == (0, "")
    campaign = result.stdout.splitlines()[-1].split()[1].rstrip(":")
    assert result.stdout.splitlines()[-1] == f"Campaign {campaign}: 1 sent, 0 failed, 3 skipped."
    assert [rcpt for _, rcpt in inbox.envelopes] == [["ann@example.com"]]
    assert inbox.messages[0]["Subject"] == "News for Ann Öberg"
    assert inbox.messages[0].get_content().replace("\r\n", "\n").startswith("Hallo Ann, you are on pro.\n\n--\nUnsubscribe: "
                                                                             "https://pulse.example/unsubscribe?t=")
    status = run(env, "email", "status", campaign)
    assert (status.exit_code, status.stdout) == (0, f"Campaign {campaign}: 1 sent, 0 failed, 3 skipped.\n")
    audit = [line.split("│")[2:5] for line in run(env, "audit", "--action", "email").stdout.splitlines()
             if line.startswith("│ ")]
    assert [[cell.strip() for cell in row] for row in audit] == [
        ["cmo@example.com", "email.send", f"campaign {campaign}: template hello, marketing, 1 queued, 3 skipped; "
                                          "recipients: plan=pro"],
        ["ops", "email.suppress", "dee@example.com: asked not to get marketing mail"],
        ["ops", "email.template.save", "hello"],
    ]


def test_a_server_that_is_down_leaves_every_row_failed_and_a_resume_sends_them(env, tmp_path):
    port = free_port()
    env = env | {"PULSE_SMTP_PORT": str(port)}
    (tmp_path / "ids.csv").write_text("user_id\nu1\nu2\nu5\n")
    result = run(env, "email", "send", "--template", "hello", "--users", str(tmp_path / "ids.csv"), "--transactional",
                 "--reason", "Planned downtime notice", "--yes")
    campaign = result.stdout.splitlines()[-1].split()[1].rstrip(":")
    assert (result.exit_code, result.stdout.splitlines()[-1]) == (1, f"Campaign {campaign}: 0 sent, 3 failed.")
    assert result.stderr == (f"pulse: 3 recipients failed; `pulse email status {campaign}` lists why, "
                             f"`pulse email resume {campaign}` tries them again.\n")
    status = run(env, "email", "status", campaign)
    assert status.exit_code == 1
    assert f"cannot reach the SMTP server 127.0.0.1:{port}: ConnectionRefusedError" in status.stdout

    box = Inbox()
    controller = start(box, port)
    try:
        resumed = run(env, "email", "resume", campaign)
    finally:
        controller.stop()
    assert (resumed.exit_code, resumed.stdout) == (0, f"Campaign {campaign}: 3 sent, 0 failed.\n")
    assert sorted(r for _, rcpt in box.envelopes for r in rcpt) == ["ann@example.com", "bob@example.com",
                                                                    "eve@example.com"]


@pytest.mark.parametrize(("args", "message"), [
    (["--where", "plan=pro"], "pulse: Say what kind of email this is: --marketing, or --transactional --reason TEXT.\n"),
    (["--marketing"], "pulse: Say who gets it: one of --segment NAME, --where KEY=VALUE,… or --users FILE.\n"),
    (["--where", "plan=pro", "--transactional"],
     "pulse: A transactional email goes to users without marketing consent; say why with --reason.\n"),
    (["--where", "plan", "--marketing"], "pulse: 'plan' is not KEY=VALUE; write e.g. --where plan=pro,country=DE.\n"),
    (["--segment", "nope", "--marketing"], "pulse: There is no saved segment 'nope'.\n"),
])
def test_a_send_that_cannot_be_done_is_one_sentence(env, args, message):
    result = run(env, "email", "send", "--template", "hello", *args)
    assert (result.exit_code != 0, result.stdout, result.stderr) == (True, "", message)


def test_a_sender_killed_mid_campaign_and_resumed_delivers_each_recipient_exactly_once(tmp_path):
    people = [{"user_id": f"u{n:03d}", "email": f"user{n:03d}@example.com", "name": f"User {n}",
               "signup_at": "2026-01-05 09:00", "plan": "pro", "marketing_opt_in": True} for n in range(500)]
    build_store(tmp_path / "pulse.duckdb", users=people)
    (tmp_path / "t.txt").write_text("Hello {{ name }}\n")
    box = Inbox()
    controller = start(box)
    env = os.environ | {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml"),
                        "PULSE_ADMIN_DB": f"sqlite:///{tmp_path / 'admin.db'}", "PULSE_SECRET_KEY": "k",
                        "PULSE_SMTP_HOST": "127.0.0.1", "PULSE_SMTP_PORT": str(controller.port)}
    pulse = [str(Path(sys.executable).parent / "pulse")]
    try:
        subprocess.run([*pulse, "email", "template", "add", "t", "--subject", "Hi", "--text", str(tmp_path / "t.txt")],
                       env=env, cwd=ROOT, check=True, capture_output=True)
        sender = subprocess.Popen([*pulse, "email", "send", "--template", "t", "--where", "plan=pro", "--marketing",
                                   "--yes"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 120
        while len(box.messages) < 150 and time.monotonic() < deadline and sender.poll() is None:
            time.sleep(0.005)
        sender.send_signal(signal.SIGKILL)
        sender.wait()
        before = len(box.messages)
        assert 150 <= before < 500, f"the sender was not killed mid-campaign ({before} messages)"

        engine = create_engine(f"sqlite:///{tmp_path / 'admin.db'}")
        with engine.connect() as conn:
            campaign = conn.execute(text("SELECT id FROM campaigns")).scalar_one()
        engine.dispose()
        resumed = subprocess.run([*pulse, "email", "resume", campaign], env=env, cwd=ROOT, capture_output=True, text=True)
    finally:
        controller.stop()
    assert resumed.returncode == 0, resumed.stderr
    assert resumed.stdout == f"Campaign {campaign}: 500 sent, 0 failed.\n"
    received = collections.Counter(r for _, rcpt in box.envelopes for r in rcpt)
    assert len(received) == 500 and set(received.values()) == {1}, (before, received.most_common(3))
