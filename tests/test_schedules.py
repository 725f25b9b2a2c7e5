"""Scheduled exports in the admin database: ranges, cron occurrences across daylight-saving
changes, due and not due, catch-up after a gap, retries and the owner's email — with time
given, never waited for."""

from __future__ import annotations

import threading
from datetime import date, datetime, timezone
from pathlib import Path

import pytest
from smtp_server import Inbox, start

from admin.db import AdminDB
from admin.schedules import Runner, ScheduleError, Schedules, occurrences, resolve_range
from admin.staff import StaffAccounts
from pulse.settings import Settings

UTC = timezone.utc


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(("name", "day", "expected"), [
    ("yesterday", "2027-03-03", ("2027-03-02", "2027-03-02")),
    ("last_7_days", "2027-03-03", ("2027-02-24", "2027-03-02")),
    ("last_30_days", "2027-03-03", ("2027-02-01", "2027-03-02")),
    ("last_14_days", "2027-03-03", ("2027-02-17", "2027-03-02")),
    ("last_full_week", "2027-03-03", ("2027-02-22", "2027-02-28")),  # the 3rd is a Wednesday
    ("last_full_week", "2027-03-01", ("2027-02-22", "2027-02-28")),  # on a Monday: the week just ended
    ("last_full_month", "2027-03-03", ("2027-02-01", "2027-02-28")),
    ("last_full_month", "2027-01-15", ("2026-12-01", "2026-12-31")),
    ("month_to_date", "2027-03-03", ("2027-03-01", "2027-03-02")),
    ("month_to_date", "2027-03-01", ("2027-02-01", "2027-02-28")),  # on the 1st: the month just ended
    ("year_to_date", "2027-03-03", ("2027-01-01", "2027-03-02")),
    ("year_to_date", "2027-01-01", ("2026-01-01", "2026-12-31")),
])
def test_a_range_is_whole_days_before_the_runs_local_date(name, day, expected):
    assert resolve_range(name, date.fromisoformat(day)) == tuple(date.fromisoformat(d) for d in expected)


def test_a_weekly_schedule_keeps_its_local_time_across_both_berlin_changes():
    mondays = occurrences("0 7 * * 1", "Europe/Berlin", at("2027-03-15 00:00"), at("2027-04-06 00:00"))
    assert mondays == [at("2027-03-15 06:00"), at("2027-03-22 06:00"), at("2027-03-29 05:00"), at("2027-04-05 05:00")]
    autumn = occurrences("0 7 * * 1", "Europe/Berlin", at("2027-10-18 00:00"), at("2027-11-09 00:00"))
    assert autumn == [at("2027-10-18 05:00"), at("2027-10-25 05:00"), at("2027-11-01 06:00"), at("2027-11-08 06:00")]


def test_a_time_the_clocks_skip_runs_after_the_gap_and_a_time_they_repeat_runs_once():
    # 02:30 does not exist on 2027-03-28 in Berlin: it runs at 03:30 CEST (01:30 UTC).
    spring = occurrences("30 2 * * *", "Europe/Berlin", at("2027-03-26 12:00"), at("2027-03-29 12:00"))
    assert spring == [at("2027-03-27 01:30"), at("2027-03-28 01:30"), at("2027-03-29 00:30")]
    # 02:30 happens twice on 2027-10-31: it runs at the first (CEST, 00:30 UTC) only.
    autumn = occurrences("30 2 * * *", "Europe/Berlin", at("2027-10-29 12:00"), at("2027-11-01 12:00"))
    assert autumn == [at("2027-10-30 00:30"), at("2027-10-31 00:30"), at("2027-11-01 01:30")]


@pytest.fixture
def db(tmp_path):
    database = AdminDB(f"sqlite:///{tmp_path / 'admin.db'}")
    StaffAccounts(database).add("fin@example.com", "analyst", "correct horse battery", by="test")
    yield database
    database.engine.dispose()


def written(job, path: Path) -> int:
    """The run's file: what it exported, as one line (the metric export is tested on its own)."""
    path.write_text(f"{job.metric},{job.start},{job.end}\n")
    return 1


def add(db, tmp_path, cron="0 7 * * *", catch_up="latest", created="2027-01-04 00:00", **more):
    (tmp_path / "out").mkdir(exist_ok=True)
    Schedules(db).add(more.pop("name", "daily"), "fin@example.com", "kpis", "day", {}, more.pop("range", "yesterday"),
                      cron, "Europe/Berlin", "csv", [{"folder": str(tmp_path / "out")}], catch_up, by="fin@example.com",
                      now=at(created))


def runner(db, tmp_path, export=written, **settings) -> Runner:
    return Runner(db, Settings(store=tmp_path / "pulse.duckdb", **settings), export)


def test_due_and_not_due(db, tmp_path):
    add(db, tmp_path)
    assert runner(db, tmp_path).run_due(at("2027-01-04 05:59")) == []  # 06:59 in Berlin
    [done] = runner(db, tmp_path).run_due(at("2027-01-04 06:00"))
    assert (done.status, done.occurrence) == ("done", at("2027-01-04 06:00"))
    assert (tmp_path / "out" / "daily" / "2027-01-04.csv").read_text() == "kpis,2027-01-03,2027-01-03\n"
    assert runner(db, tmp_path).run_due(at("2027-01-04 06:30")) == []  # already run
    log = Schedules(db).runs("daily")
    assert log.select("occurrence_utc", "range_start", "range_end", "rows", "bytes", "outcome").rows() == [
        ("2027-01-04 06:00:00", "2027-01-03", "2027-01-03", 1, 27, "done")]
    assert log["destinations"][0] == str((tmp_path / "out" / "daily" / "2027-01-04.csv").resolve())


@pytest.mark.parametrize(("catch_up", "runs"), [
    ("latest", ["2027-01-08 06:00:00"]),
    ("all", ["2027-01-08 06:00:00", "2027-01-07 06:00:00", "2027-01-06 06:00:00", "2027-01-05 06:00:00",
             "2027-01-04 06:00:00"]),
    ("none", []),
])
def test_after_downtime_the_catch_up_setting_decides(db, tmp_path, catch_up, runs):
    add(db, tmp_path, catch_up=catch_up)
    runner(db, tmp_path).run_due(at("2027-01-08 12:00"))  # five mornings missed
    assert Schedules(db).runs("daily")["occurrence_utc"].to_list() == runs
    # The next morning is on time whatever the setting.
    [next_day] = runner(db, tmp_path).run_due(at("2027-01-09 06:10"))
    assert next_day.occurrence == at("2027-01-09 06:00")


def test_two_schedulers_at_once_run_each_occurrence_once(db, tmp_path):
    add(db, tmp_path, catch_up="all")
    results = []
    threads = [threading.Thread(target=lambda: results.append(runner(db, tmp_path).run_due(at("2027-01-06 06:30"))))
               for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(o.occurrence for batch in results for o in batch) == [
        at("2027-01-04 06:00"), at("2027-01-05 06:00"), at("2027-01-06 06:00")]
    assert Schedules(db).runs("daily").height == 3


def test_a_failing_run_is_retried_with_backoff_then_failed_and_its_owner_told(db, tmp_path):
    box = Inbox()
    controller = start(box)
    attempts = []

    def broken(job, path):
        attempts.append(job.start)
        raise OSError("The share is not mounted")

    try:
        add(db, tmp_path)
        run = runner(db, tmp_path, broken, smtp_host="127.0.0.1", smtp_port=controller.port,
                     smtp_sender="pulse@example.com")
        assert [o.status for o in run.run_due(at("2027-01-04 06:00"))] == ["retrying"]
        assert run.run_due(at("2027-01-04 06:00:59")) == []  # the first retry waits a minute
        assert [o.status for o in run.run_due(at("2027-01-04 06:01"))] == ["retrying"]
        assert run.run_due(at("2027-01-04 06:05")) == []  # then five
        assert [o.status for o in run.run_due(at("2027-01-04 06:06"))] == ["retrying"]
        assert [o.status for o in run.run_due(at("2027-01-04 06:21"))] == ["failed"]  # then fifteen, and no more
        assert run.run_due(at("2027-01-05 05:00")) == []
    finally:
        controller.stop()
    assert attempts == [date(2027, 1, 3)] * 4  # every retry exports the same range
    log = Schedules(db).runs("daily")
    assert log.select("outcome", "attempts", "error").rows() == [("failed", 4, "The share is not mounted.")]
    assert [rcpt for _, rcpt in box.envelopes] == [["fin@example.com"]]
    assert box.messages[0]["Subject"] == "Scheduled export daily failed"
    assert "failed 4 times and will not be tried again:\n\nThe share is not mounted." in \
        box.messages[0].get_content().replace("\r\n", "\n")


@pytest.mark.parametrize(("change", "message"), [
    ({"cron": "every monday"}, "'every monday' is not a cron expression of five fields"),
    ({"cron": "0 25 * * *"}, r"'0 25 \* \* \*' is not a cron expression of five fields"),
    ({"range": "last_week"}, "Unknown range 'last_week'; use one of: yesterday"),
])
def test_a_bad_schedule_is_one_sentence(db, tmp_path, change, message):
    with pytest.raises(ScheduleError, match=message):
        add(db, tmp_path, **change)
    with pytest.raises(ScheduleError, match="Unknown timezone 'Mars/Olympus'"):
        Schedules(db).add("x", "fin@example.com", "kpis", "day", {}, "yesterday", "0 7 * * *", "Mars/Olympus", "csv",
                          [{"folder": str(tmp_path)}])
    with pytest.raises(ScheduleError, match="The folder .*nowhere does not exist"):
        Schedules(db).add("x", "fin@example.com", "kpis", "day", {}, "yesterday", "0 7 * * *", "UTC", "csv",
                          [{"folder": str(tmp_path / "nowhere")}])
