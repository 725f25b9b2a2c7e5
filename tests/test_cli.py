"""The `pulse` command through Click's CliRunner: exact output and exit codes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import build_store

from cli.main import main

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"

EVENTS = [
    {"event_id": "e1", "user_id": "u1", "ts": "2024-01-01 10:00", "event_type": "login", "device_type": "mobile"},
    {"event_id": "e2", "user_id": "u2", "ts": "2024-01-01 11:00", "event_type": "login", "device_type": "desktop"},
    {"event_id": "e3", "user_id": "u1", "ts": "2024-01-03 10:00", "event_type": "page_view", "device_type": "mobile"},
]


@pytest.fixture
def env(tmp_path):
    return {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml")}


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_export_writes_exact_csv_to_stdout(env):
    build_store(Path(env["PULSE_STORE"]), events=EVENTS)
    result = run(env, "export", "active_users", "--start", "2024-01-01", "--end", "2024-01-03")
    assert result.exit_code == 0
    assert result.stdout == "period,active_users\n2024-01-01,2\n2024-01-02,0\n2024-01-03,1\n"


def test_export_with_interval_filter_and_out_file(env, tmp_path):
    build_store(Path(env["PULSE_STORE"]), events=EVENTS)
    target = tmp_path / "weekly.csv"
    result = run(env, "export", "active_users", "--start", "2024-01-03", "--end", "2024-01-10",
                 "--interval", "week", "--option", "device_type=mobile", "--out", str(target))
    assert result.exit_code == 0
    # Weeks start on Monday: Jan 1 and Jan 8, 2024; only u1 used a mobile.
    assert target.read_text() == "period,active_users\n2024-01-01,1\n2024-01-08,0\n"


@pytest.mark.parametrize(
    "args,message",
    [
        (["export", "active_user"], "pulse: Unknown metric 'active_user'. Did you mean active_users?\n"),
        (["export", "active_users", "--start", "2024-02-30"], "pulse: The start date '2024-02-30' is not a date; use YYYY-MM-DD, e.g. 2024-03-01.\n"),
        (["export", "active_users", "--start", "2024-01-05", "--end", "2024-01-01"], "pulse: The end date 2024-01-01 is before the start date 2024-01-05.\n"),
        (["export", "active_users", "--interval", "year"], "pulse: Unknown interval 'year'; use one of: day, week, month.\n"),
        (["export", "active_users", "--option", "colour=red"], "pulse: Unknown option 'colour' for active_users; its options are: country, device_type, event_type, plan.\n"),
        (["export", "active_users", "--option", "colour"], "pulse: The option 'colour' is not KEY=VALUE, e.g. --option country=DE.\n"),
    ],
)
def test_a_wrong_command_line_is_one_line_and_exit_2(env, args, message):
    build_store(Path(env["PULSE_STORE"]), events=EVENTS)
    result = run(env, *args)
    assert (result.exit_code, result.stderr, result.stdout) == (2, message, "")


def test_export_without_a_store_says_how_to_get_one(env):
    result = run(env, "export", "active_users", "--start", "2024-01-01", "--end", "2024-01-02")
    assert result.exit_code == 1
    assert result.stderr == f"pulse: There is no store at {env['PULSE_STORE']} yet: run `pulse demo` or `pulse load` first.\n"


def test_a_bad_setting_stops_the_command(env):
    result = run(env | {"PULSE_TIMEZONE": "Nowhere/City"}, "export", "active_users")
    assert result.exit_code == 2
    assert result.stderr.startswith("pulse: Setting timezone is 'Nowhere/City'")


def test_metrics_lists_every_metric_with_columns(env):
    result = run(env, "metrics")
    assert result.exit_code == 0
    assert "\nActivity page\n" in result.stdout
    assert "active_users  Distinct users with at least one event, per period.\n" in result.stdout
    assert "funnel_candidates  The event names and page paths seen in the range, which a funnel can take as steps, most frequent first (the top 200).  (internal: feeds the page's controls)\n" in result.stdout
    assert "  columns: kpi, value, previous, change" in result.stdout
    assert "  options: event_type (one of page_view|feature_use|api_call|login|logout|error|custom, no default); country; device_type; plan\n" \
        in result.stdout


def test_load_reports_stores_and_is_idempotent(env):
    first = run(env, "load", "events", str(SAMPLES / "events.csv"))
    assert first.exit_code == 0, first.stderr
    again = run(env, "load", "events", str(SAMPLES / "events.csv"))
    assert again.exit_code == 0
    log = [json.loads(line) for line in Path(env["PULSE_STORE"] + ".loads.jsonl").read_text().splitlines()]
    assert [entry["outcome"] for entry in log] == ["ok", "ok"]
    assert log[1]["tables"]["events"]["stored"] == 0
    assert log[1]["tables"]["events"]["duplicates"] == log[0]["tables"]["events"]["stored"] > 0


def test_an_unreadable_file_fails_the_load_and_changes_nothing(env, tmp_path):
    assert run(env, "load", "users", str(SAMPLES / "users.csv")).exit_code == 0
    before = Path(env["PULSE_STORE"]).read_bytes()
    bad = tmp_path / "events.csv"
    shutil.copy(ROOT / "assets" / "logo.svg", bad)
    result = run(env, "load", "events", str(bad))
    assert result.exit_code == 1
    assert result.stderr.startswith("pulse: ") and "events.csv" in result.stderr and result.stderr.count("\n") == 1
    assert Path(env["PULSE_STORE"]).read_bytes() == before
    log = [json.loads(line) for line in Path(env["PULSE_STORE"] + ".loads.jsonl").read_text().splitlines()]
    assert log[-1]["outcome"] == "failed" and "events.csv" in log[-1]["error"]


def test_quarantine_lists_and_exports_bad_rows(env, tmp_path):
    bad = tmp_path / "events.csv"
    bad.write_text("event_id,user_id,ts,event_type\n"
                   "a,u1,2024-01-01T10:00:00Z,login\n"
                   "b,u1,yesterday,login\n"
                   "c,u1,2024-01-01T10:00:00Z,click\n")
    result = run(env, "load", "events", str(bad))
    assert result.exit_code == 0
    assert "quarantine" in result.stdout
    out_csv = tmp_path / "q.csv"
    assert run(env, "quarantine", "--csv", str(out_csv)).exit_code == 0
    lines = out_csv.read_text().splitlines()
    assert lines[0] == "table_name,source,row_number,rule,raw,quarantined_at"
    source = str(bad.resolve())  # the quarantine keeps the file's full path
    assert [line.split(",")[:3] for line in lines[1:]] == [["events", source, "2"], ["events", source, "3"]]


def test_quarantine_printed_to_a_pipe_keeps_whole_rows(env, tmp_path):
    long_name = "a-very-long-custom-event-name-" * 4
    bad = tmp_path / "events.csv"
    bad.write_text(f"event_id,user_id,ts,event_type,event_name\nb,u1,yesterday,login,{long_name}\n")
    assert run(env, "load", "events", str(bad)).exit_code == 0
    listing = run(env, "quarantine").stdout
    assert long_name in listing
    assert "bad timestamp in ts" in listing


def test_version(env):
    from importlib.metadata import version

    assert run(env, "--version").stdout == f"pulse {version('pulse')}\n"


def test_user_export_and_forget(env):
    build_store(Path(env["PULSE_STORE"]), events=EVENTS, users=[{"user_id": "u1", "signup_at": "2024-01-01 09:00", "email": "a@example.com"}])
    exported = run(env, "user", "export", "u1")
    assert exported.exit_code == 0
    document = json.loads(exported.stdout)
    assert [e["event_id"] for e in document["tables"]["events"]] == ["e1", "e3"]
    assert document["tables"]["users"][0]["email"] == "a@example.com"
    forgotten = run(env, "user", "forget", "u1", "--yes", "--by", "dpo@example.com")
    assert forgotten.exit_code == 0
    missing = run(env, "user", "export", "u1")
    assert (missing.exit_code, missing.stderr) == (1, "pulse: There is no user 'u1' in the store: nothing to export.\n")
    log = [json.loads(line) for line in Path(env["PULSE_STORE"] + ".loads.jsonl").read_text().splitlines()]
    # The log keeps a hash of the id, never the id (tests/test_erasure.py has the details).
    assert (len(log[-1]["erased_user"]), log[-1]["actor"]) == (64, "dpo@example.com")
