"""The Annotations page (AppTest): add a note, see it listed and marked on the Overview's time
charts; edit and delete one; a note the admin refuses is one sentence on the page."""

from __future__ import annotations

import json
from datetime import date

import pyarrow as pa
import pytest
from conftest import build_store, open_page, shown
from sqlalchemy import select

from admin.annotations import Annotations
from admin.db import AdminDB
from admin.models import AuditEntry
from ui.charts import NOTE_COLOUR

USERS = [{"user_id": "u1", "email": "a@example.com", "signup_at": "2026-01-02 09:00", "country": "DE", "plan": "pro"}]
EVENTS = [{"event_id": "e1", "user_id": "u1", "ts": "2026-01-02 10:00", "event_type": "page_view"},
          {"event_id": "e2", "user_id": "u1", "ts": "2026-01-05 10:00", "event_type": "page_view"}]


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "pulse.duckdb"
    build_store(path, users=USERS, events=EVENTS)
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    db = AdminDB(url)
    yield path, Annotations(db), {"PULSE_ADMIN_DB": url}
    db.engine.dispose()


def rows(notes: Annotations) -> list[tuple]:
    return notes.listing().select("id", "day", "note", "owner").rows()


def trail(notes: Annotations) -> list[tuple[str, str, str]]:
    with notes.db.session() as session:
        return [(e.actor, e.action, e.detail) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def marked(at) -> list[list[dict]]:
    """The rows of each chart's note rule (the marker above it draws the same rows)."""
    found = []
    for chart in at.get("vega_lite_chart"):
        spec = json.loads(chart.proto.spec)
        datasets = {d.name: pa.ipc.open_stream(d.data.data).read_all().to_pylist() for d in chart.proto.datasets}
        found += [datasets[layer["data"]["name"]] for layer in spec.get("layer", [])
                  if layer["mark"].get("color") == NOTE_COLOUR and layer["mark"]["type"] == "rule"]
    return found


def test_a_note_added_on_the_page_is_listed_and_marked_on_the_time_charts(setup, monkeypatch):
    path, notes, env = setup
    at = open_page(path, monkeypatch, "annotations", env)
    assert not at.exception, at.exception
    assert at.title[0].value == "Annotations"
    assert [i.value for i in at.info] == ["No notes yet. Add the first above."]

    at.date_input(key="annotation_day").set_value(date(2026, 1, 5))
    at.text_input(key="annotation_note").input("  ")
    at.button(key="annotation_add").click().run()
    assert [shown(e.value) for e in at.error] == ["Write a note: what happened on that day."]
    assert rows(notes) == []

    at.date_input(key="annotation_day").set_value(date(2026, 1, 5))
    at.text_input(key="annotation_note").input("Release 2.4 **bold** <b>html</b>")
    at.button(key="annotation_add").click().run()
    assert not at.exception, at.exception
    assert [shown(s.value) for s in at.success] == ["Added the note on 2026-01-05."]
    assert rows(notes) == [(1, date(2026, 1, 5), "Release 2.4 **bold** <b>html</b>", "local")]
    assert trail(notes) == [("local", "annotation.add", "1 2026-01-05: Release 2.4 **bold** <b>html</b>")]
    listed = at.dataframe[0].value
    assert listed["note"].tolist() == ["Release 2.4 **bold** <b>html</b>"]
    assert listed["owner"].tolist() == ["local"]

    # The Overview's charts (by day, 2026-01-01 to 2026-01-07) mark the day; the tooltip's text is the note as typed.
    overview = open_page(path, monkeypatch, "overview", env, range="custom", start="2026-01-01", end="2026-01-07")
    assert not overview.exception, overview.exception
    charts = marked(overview)
    assert len(overview.get("vega_lite_chart")) == 3  # active and new users per day; DAU, WAU and MAU
    assert charts == [[{"when": "2026-01-05", "notes": "2026-01-05: Release 2.4 **bold** <b>html</b>"}]] * 3
    # A range without the day has no marks.
    before = open_page(path, monkeypatch, "overview", env, range="custom", start="2025-12-01", end="2026-01-04")
    assert not before.exception, before.exception
    assert marked(before) == []


def test_edit_and_delete_a_note(setup, monkeypatch):
    path, notes, env = setup
    notes.add(date(2026, 1, 2), "Price change", by="ana@example.com")
    notes.add(date(2026, 1, 5), "Outage", by="ana@example.com")
    at = open_page(path, monkeypatch, "annotations", env)
    assert not at.exception, at.exception
    assert at.dataframe[0].value["note"].tolist() == ["Price change", "Outage"]
    assert at.selectbox(key="annotation_pick").options == ["2026-01-02 · Price change", "2026-01-05 · Outage"]

    at.selectbox(key="annotation_pick").select(2).run()
    at.text_input(key="annotation_note_2").input("")
    at.button(key="annotation_save_2").click().run()
    assert [shown(e.value) for e in at.error] == ["Write a note: what happened on that day."]
    assert rows(notes)[1] == (2, date(2026, 1, 5), "Outage", "ana@example.com")

    at.date_input(key="annotation_day_2").set_value(date(2026, 1, 6))
    at.text_input(key="annotation_note_2").input("Outage: payments down 2 h")
    at.button(key="annotation_save_2").click().run()
    assert not at.exception, at.exception
    assert [shown(s.value) for s in at.success] == ["Saved note 2."]
    assert rows(notes) == [(1, date(2026, 1, 2), "Price change", "ana@example.com"),
                           (2, date(2026, 1, 6), "Outage: payments down 2 h", "ana@example.com")]
    assert at.dataframe[0].value["note"].tolist() == ["Price change", "Outage: payments down 2 h"]

    at.selectbox(key="annotation_pick").select(1).run()
    at.button(key="annotation_delete").click().run()
    assert not at.exception, at.exception
    assert [shown(s.value) for s in at.success] == ["Deleted note 1."]
    assert rows(notes) == [(2, date(2026, 1, 6), "Outage: payments down 2 h", "ana@example.com")]
    assert trail(notes)[2:] == [("local", "annotation.update", "2 2026-01-06: Outage: payments down 2 h"),
                                ("local", "annotation.delete", "1 2026-01-02: Price change")]
