"""The Exports page (AppTest): "Schedule this" from a table, creating a schedule, running it
now, the run history with the file, pausing and deleting — against the admin database."""

from __future__ import annotations

import pytest
from conftest import build_store, open_page, shown

from admin.db import AdminDB
from admin.schedules import Schedules

USERS = [{"user_id": "u1", "email": "a@example.com", "signup_at": "2026-01-02 09:00", "country": "DE", "plan": "pro"},
         {"user_id": "u2", "email": "b@example.com", "signup_at": "2026-01-03 09:00", "country": "AT", "plan": "free"}]
EVENTS = [{"event_id": "e1", "user_id": "u1", "ts": "2026-01-02 10:00", "event_type": "page_view"},
          {"event_id": "e2", "user_id": "u2", "ts": "2026-01-03 11:00", "event_type": "page_view"}]


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "pulse.duckdb"
    build_store(path, users=USERS, events=EVENTS)
    (tmp_path / "out").mkdir()
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    return path, url, {"PULSE_ADMIN_DB": url}


def test_schedule_this_create_run_now_and_the_file_in_history(setup, monkeypatch, tmp_path):
    path, url, env = setup
    at = open_page(path, monkeypatch, "activity", env, range="custom", start="2026-01-01", end="2026-01-07")
    buttons = [b for b in at.button if b.label == "Schedule this"]
    assert buttons, "every metric table offers Schedule this"
    buttons[0].click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Exports"
    handed = [shown(i.value) for i in at.info if i.value.startswith("From the table")]
    assert handed and handed[0].startswith("From the table you scheduled: ")
    at.switch_page("pages/exports.py").run()  # AppTest forgets a page the app switched to on its next run

    name = [t for t in at.text_input if t.label == "Name"][0]
    name.input("Weekly activity")
    [t for t in at.text_input if t.label == "Folder"][0].input(str(tmp_path / "out"))
    at.button(key="FormSubmitter:schedule_new-Create").click().run()
    assert not at.exception, at.exception
    assert [shown(s.value) for s in at.success] == ["Created the schedule Weekly activity."], [e.value for e in at.error]
    db = AdminDB(url)
    assert Schedules(db).listing()["name"].to_list() == ["Weekly activity"]

    at.button(key="schedule_run").click().run()
    assert not at.exception, at.exception
    [note] = [shown(s.value) for s in at.success]
    assert note.startswith("Ran Weekly activity: ") and note.endswith(" rows delivered.")
    [written] = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    runs = Schedules(db).runs()
    assert runs.select("schedule", "outcome").rows() == [("Weekly activity", "done")]
    assert [b.label for b in at.get("download_button") if b.label.startswith("Download ")][-1] == f"Download {written.name}"

    at.button(key="schedule_pause").click().run()
    assert Schedules(db).listing()["state"].to_list() == ["paused"]
    at.button(key="schedule_delete").click().run()
    assert Schedules(db).listing().is_empty()
    db.engine.dispose()


def test_a_bad_cron_is_refused_with_one_sentence(setup, monkeypatch, tmp_path):
    path, url, env = setup
    at = open_page(path, monkeypatch, "exports", env)
    [t for t in at.text_input if t.label == "Name"][0].input("x")
    [s for s in at.selectbox if s.label == "When"][0].select("custom")
    [t for t in at.text_input if t.label.startswith("Custom cron")][0].input("every day")
    [t for t in at.text_input if t.label == "Folder"][0].input(str(tmp_path / "out"))
    at.button(key="FormSubmitter:schedule_new-Create").click().run()
    assert [shown(e.value) for e in at.error] == [
        "'every day' is not a cron expression of five fields (minute hour day month weekday), e.g. '0 7 * * 1' "
        "for Mondays at 07:00."]
