"""Annotations: notes on dates kept in the admin database (SQLite and PostgreSQL), audited,
refused with one sentence; drawn on every time chart in the period holding their day; and
`pulse annotate` through Click's CliRunner."""

from __future__ import annotations

import re
from datetime import date

import polars as pl
import pytest
from click.testing import CliRunner
from polars.testing import assert_frame_equal
from sqlalchemy import select

from admin.annotations import AnnotationError, Annotations
from admin.db import AdminDB
from admin.models import AuditEntry
from cli.main import main
from ui import charts


@pytest.fixture
def url(admin_url):
    return admin_url

@pytest.fixture
def notes(url):
    db = AdminDB(url)
    yield Annotations(db)
    db.engine.dispose()


def audit(notes: Annotations) -> list[tuple[str, str, str, str]]:
    with notes.db.session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id))
        return [(e.actor, e.action, e.detail, e.address) for e in entries]


def listed(notes: Annotations, start: date | None = None, end: date | None = None) -> list[tuple]:
    return notes.listing(start, end).select("id", "day", "note", "owner").rows()


# -- the admin database ----------------------------------------------------------------------------

def test_add_update_delete_persist_and_are_audited(notes):
    first = notes.add(date(2026, 10, 3), "Outage: payments down 2 h", by="ana@example.com", address="10.0.0.7")
    second = notes.add("2026-10-01", "  Release 2.4  ", by="ops")  # a date as text; blanks around the note go
    assert (first, second) == (1, 2)
    assert listed(notes) == [(2, date(2026, 10, 1), "Release 2.4", "ops"),  # by day, not by when written
                             (1, date(2026, 10, 3), "Outage: payments down 2 h", "ana@example.com")]
    frame = notes.listing()
    assert frame.schema == pl.Schema({"id": pl.Int64, "day": pl.Date, "note": pl.String, "owner": pl.String,
                                      "updated_utc": pl.String})
    assert all(len(t) == 19 for t in frame["updated_utc"])  # 2026-11-29 13:58:38

    notes.update(1, date(2026, 10, 2), "Outage: payments down 3 h", by="bo@example.com", address="10.0.0.8")
    # The owner stays who wrote it; who changed it is in the audit log.
    assert listed(notes) == [(2, date(2026, 10, 1), "Release 2.4", "ops"),
                             (1, date(2026, 10, 2), "Outage: payments down 3 h", "ana@example.com")]
    assert listed(notes, start=date(2026, 10, 2)) == [(1, date(2026, 10, 2), "Outage: payments down 3 h", "ana@example.com")]
    assert listed(notes, end=date(2026, 10, 1)) == [(2, date(2026, 10, 1), "Release 2.4", "ops")]
    assert listed(notes, date(2026, 10, 1), date(2026, 10, 2)) == listed(notes)

    notes.delete(2, by="ops")
    assert listed(notes) == [(1, date(2026, 10, 2), "Outage: payments down 3 h", "ana@example.com")]
    assert audit(notes) == [
        ("ana@example.com", "annotation.add", "1 2026-10-03: Outage: payments down 2 h", "10.0.0.7"),
        ("ops", "annotation.add", "2 2026-10-01: Release 2.4", ""),
        ("bo@example.com", "annotation.update", "1 2026-10-02: Outage: payments down 3 h", "10.0.0.8"),
        ("ops", "annotation.delete", "2 2026-10-01: Release 2.4", ""),
    ]


@pytest.mark.parametrize("day, note, message", [
    (date(2026, 10, 1), "", "Write a note: what happened on that day."),
    (date(2026, 10, 1), " \n ", "Write a note: what happened on that day."),
    (date(2026, 10, 1), "x" * 501, "A note is at most 500 characters; this one has 501."),
    ("2026-13-01", "Release", "The date '2026-13-01' is not a date; use YYYY-MM-DD, e.g. 2024-03-01."),
    (date(1969, 12, 31), "Release", "The date 1969-12-31 is outside the days Pulse supports, 1970-01-01 to 2199-12-31."),
])
def test_a_bad_note_is_one_sentence_and_nothing_is_written(notes, day, note, message):
    with pytest.raises(AnnotationError) as refused:
        notes.add(day, note, by="ops")
    assert str(refused.value) == message
    notes.add(date(2026, 10, 1), "x" * 500, by="ops")  # exactly the most is fine
    with pytest.raises(AnnotationError) as refused:
        notes.update(1, day, note, by="ops")
    assert str(refused.value) == message
    assert listed(notes) == [(1, date(2026, 10, 1), "x" * 500, "ops")]
    assert [action for _, action, _, _ in audit(notes)] == ["annotation.add"]


def test_an_unknown_note_is_one_sentence(notes):
    for change in (lambda: notes.update(7, date(2026, 10, 1), "Release", by="ops"), lambda: notes.delete(7, by="ops")):
        with pytest.raises(AnnotationError) as refused:
            change()
        assert str(refused.value) == "There is no note 7; someone may have deleted it."
    assert audit(notes) == []


# -- on the charts ---------------------------------------------------------------------------------

NOTES = pl.DataFrame({"day": [date(2026, 9, 27), date(2026, 10, 1), date(2026, 10, 3), date(2026, 11, 30)],
                      "note": ["Price change", "Release 2.4", "Outage <b>2 h</b>", "After the range"]})


def test_a_day_maps_to_the_label_of_the_period_holding_it():
    # 2026-10-01 is a Thursday: its week began on Monday Sep 28, its month on Oct 1.
    # 2026-09-27 is a Sunday: the last day of the week of Sep 21.
    days = [date(2026, 9, 27), date(2026, 9, 28), date(2026, 9, 29), date(2026, 9, 30), date(2026, 10, 1),
            date(2026, 10, 2), date(2026, 10, 3)]
    weeks = [date(2026, 9, 21), date(2026, 9, 28)]
    months = [date(2026, 9, 1), date(2026, 10, 1)]

    assert_frame_equal(charts.notes_by_period(NOTES, days, "day"), pl.DataFrame({
        "when": ["2026-09-27", "2026-10-01", "2026-10-03"],
        "notes": ["2026-09-27: Price change", "2026-10-01: Release 2.4", "2026-10-03: Outage <b>2 h</b>"]}))
    assert_frame_equal(charts.notes_by_period(NOTES, weeks, "week"), pl.DataFrame({
        "when": ["Week of Sep 21", "Week of Sep 28"],
        "notes": ["2026-09-27: Price change", "2026-10-01: Release 2.4 · 2026-10-03: Outage <b>2 h</b>"]}))
    assert_frame_equal(charts.notes_by_period(NOTES, months, "month"), pl.DataFrame({
        "when": ["Sep 2026", "Oct 2026"],
        "notes": ["2026-09-27: Price change", "2026-10-01: Release 2.4 · 2026-10-03: Outage <b>2 h</b>"]}))
    # Only the periods drawn: the week of Sep 21 is not on this chart, nor is November.
    assert charts.notes_by_period(NOTES, [date(2026, 9, 28)], "week")["when"].to_list() == ["Week of Sep 28"]
    assert charts.notes_by_period(NOTES.clear(), weeks, "week").is_empty()


def _note_layers(spec: dict) -> list[dict]:
    return [layer for layer in spec.get("layer", []) if layer.get("mark", {}).get("color") == charts.NOTE_COLOUR]


def _rows(spec: dict, layer: dict) -> list[dict]:
    return spec["datasets"][layer["data"]["name"]]


WEEKS = pl.DataFrame({"period": [date(2026, 9, 28), date(2026, 10, 5)], "users": [3, 4]})


@pytest.mark.parametrize("kind", ["line", "bar"])
def test_a_time_chart_marks_the_periods_holding_notes(kind):
    spec = charts.time(WEEKS, "period", {"users": "Users"}, kind=kind, interval="week", notes=NOTES).to_dict()
    rule, marker = _note_layers(spec)
    assert (rule["mark"]["type"], rule["mark"]["strokeDash"]) == ("rule", [4, 3])
    assert (marker["mark"]["type"], marker["mark"]["shape"], marker["encoding"]["y"]) == ("point", "triangle-down",
                                                                                          {"value": 0})
    for layer in (rule, marker):
        assert layer["encoding"]["x"]["field"] == "when"
        assert layer["encoding"]["x"]["sort"] == ["Week of Sep 28", "Week of Oct 5"]  # the chart's own axis
        assert [t["field"] for t in layer["encoding"]["tooltip"]] == ["when", "notes"]
        # Sep 27 is in the week before the chart, Nov 30 after it: neither is drawn.
        assert _rows(spec, layer) == [{"when": "Week of Sep 28",
                                       "notes": "2026-10-01: Release 2.4 · 2026-10-03: Outage <b>2 h</b>"}]


def test_without_notes_in_range_a_chart_has_no_marks():
    for notes in (NOTES.clear(), NOTES.filter(pl.col("day") > date(2026, 10, 31))):
        bars = charts.time(WEEKS, "period", {"users": "Users"}, kind="bar", interval="week", notes=notes).to_dict()
        assert "layer" not in bars and bars["mark"]["type"] == "bar"
        line = charts.time(WEEKS, "period", {"users": "Users"}, interval="week", notes=notes).to_dict()
        assert [layer["mark"]["type"] for layer in line["layer"]] == ["line", "line", "point"]


def test_plan_mix_and_feature_adoption_mark_notes_too():
    mix = pl.DataFrame({"month": [date(2026, 9, 1), date(2026, 10, 1)], "plan": ["pro", "pro"],
                        "customers": [1, 2], "mrr": [10.0, 20.0]})
    spec = charts.plan_mix(mix, notes=NOTES).to_dict()
    assert [_rows(spec, layer) for layer in _note_layers(spec)] == [[
        {"when": "Sep 2026", "notes": "2026-09-27: Price change"},
        {"when": "Oct 2026", "notes": "2026-10-01: Release 2.4 · 2026-10-03: Outage <b>2 h</b>"}]] * 2

    adoption = pl.DataFrame({"period": [date(2026, 9, 21), date(2026, 9, 28)], "category": ["core", "core"],
                             "feature": ["export", "export"], "unique_users": [1, 2], "adoption_rate": [0.5, 1.0]})
    spec = charts.feature_adoption(adoption, "week", notes=NOTES).to_dict()
    assert [_rows(spec, layer) for layer in _note_layers(spec)] == [[
        {"when": "Week of Sep 21", "notes": "2026-09-27: Price change"},
        {"when": "Week of Sep 28", "notes": "2026-10-01: Release 2.4 · 2026-10-03: Outage <b>2 h</b>"}]] * 2


def test_charts_whose_periods_run_down_the_side_mark_their_rows(monkeypatch):
    """Cohort matrices and bars by month: a marker at the start of each row holding notes."""
    monkeypatch.setattr(charts.fmt, "currency", lambda: "USD")
    matrix = pl.DataFrame({"cohort": [date(2026, 9, 21), date(2026, 9, 28)], "period_offset": [0, 0],
                           "cohort_size": [4, 2], "retained": [4, 2], "rate": [1.0, 1.0]})
    spec = charts.retention_cohorts(matrix, "week", notes=NOTES).to_dict()
    (marker,) = _note_layers(spec)
    assert (marker["mark"]["shape"], marker["encoding"]["x"], marker["encoding"]["y"]["field"]) == (
        "triangle-right", {"value": -6}, "row")
    assert [(r["row"], r["notes"]) for r in _rows(spec, marker)] == [
        ("Week of Sep 21  ·  4 users", "2026-09-27: Price change"),
        ("Week of Sep 28  ·  2 users", "2026-10-01: Release 2.4 · 2026-10-03: Outage <b>2 h</b>")]

    months = pl.DataFrame({"value": ["2026-09-01", "2026-11-01"], "amount": [9.0, 5.0], "orders": [1, 1]})
    spec = charts.bars(months, "amount", "value", "Net spend", values="money", periods="month", notes=NOTES).to_dict()
    (marker,) = _note_layers(spec)
    assert [(r["value"], r["notes"]) for r in _rows(spec, marker)] == [
        ("Sep 2026", "2026-09-27: Price change"), ("Nov 2026", "2026-11-30: After the range")]


def test_by_default_a_chart_marks_the_admin_databases_notes(tmp_path, monkeypatch):
    import streamlit as st

    db = AdminDB(f"sqlite:///{tmp_path / 'admin.db'}")  # the settings' admin database (conftest)
    Annotations(db).add(date(2026, 10, 6), "Release 2.5", by="ops")
    st.cache_resource.clear()
    st.cache_data.clear()
    spec = charts.time(WEEKS, "period", {"users": "Users"}, interval="week").to_dict()
    assert [_rows(spec, layer) for layer in _note_layers(spec)] == [[
        {"when": "Week of Oct 5", "notes": "2026-10-06: Release 2.5"}]] * 2
    st.cache_resource.clear()
    st.cache_data.clear()
    db.engine.dispose()


# -- pulse annotate --------------------------------------------------------------------------------

def timeless(line: str) -> str:
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "TIME", line)


def run(url, tmp_path, *args):
    env = {"PULSE_ADMIN_DB": url, "PULSE_STORE": str(tmp_path / "pulse.duckdb"),
           "PULSE_CONFIG": str(tmp_path / "none.toml"), "USER": "release-bot"}
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False, prog_name="pulse")


def test_pulse_annotate_adds_lists_and_deletes(url, tmp_path):
    added = run(url, tmp_path, "annotate", "2026-10-01", "Release 2.4")
    assert (added.exit_code, added.stdout, added.stderr) == (0, "Added note 1 on 2026-10-01.\n", "")
    assert run(url, tmp_path, "annotate", "add", "2026-10-03", "Outage [b]2 h[/b]", "--by", "ana").exit_code == 0

    table = run(url, tmp_path, "annotate", "list")
    assert table.exit_code == 0
    lines = table.stdout.splitlines()
    assert lines[1] == "┃ no. ┃ date       ┃ note              ┃ added by    ┃ changed (UTC)       ┃"
    assert [timeless(line) for line in lines[3:5]] == [  # the note is text, never rich markup
        "│ 1   │ 2026-10-01 │ Release 2.4       │ release-bot │ TIME │",
        "│ 2   │ 2026-10-03 │ Outage [b]2 h[/b] │ ana         │ TIME │"]
    later = run(url, tmp_path, "annotate", "list", "--start", "2026-10-02")
    assert [timeless(line) for line in later.stdout.splitlines()[3:-1]] == [
        "│ 2   │ 2026-10-03 │ Outage [b]2 h[/b] │ ana      │ TIME │"]
    assert run(url, tmp_path, "annotate", "list", "--end", "2026-09-30").stdout == "No notes.\n"

    deleted = run(url, tmp_path, "annotate", "delete", "1")
    assert (deleted.exit_code, deleted.stdout) == (0, "Deleted note 1.\n")
    db = AdminDB(url)
    notes = Annotations(db)
    assert listed(notes) == [(2, date(2026, 10, 3), "Outage [b]2 h[/b]", "ana")]
    assert audit(notes) == [
        ("release-bot", "annotation.add", "1 2026-10-01: Release 2.4", "command line"),
        ("ana", "annotation.add", "2 2026-10-03: Outage [b]2 h[/b]", "command line"),
        ("release-bot", "annotation.delete", "1 2026-10-01: Release 2.4", "command line"),
    ]
    db.engine.dispose()


@pytest.mark.parametrize("args, message", [
    (("2026-13-01", "Release"), "The date '2026-13-01' is not a date; use YYYY-MM-DD, e.g. 2024-03-01."),
    (("yesterday", "Release"), "The date 'yesterday' is not a date; use YYYY-MM-DD, e.g. 2024-03-01."),
    (("2026-10-01", " "), "Write a note: what happened on that day."),
    (("delete", "7"), "There is no note 7; someone may have deleted it."),
    (("delete", "seven"), "Invalid value for 'NUMBER': 'seven' is not a valid integer. See `pulse annotate delete --help`."),
    (("list", "--start", "Oct 1"), "The --start date 'Oct 1' is not a date; use YYYY-MM-DD, e.g. 2024-03-01."),
])
def test_a_wrong_command_line_is_one_sentence_and_exit_2(url, tmp_path, args, message):
    result = run(url, tmp_path, "annotate", *args)
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", f"pulse: {message}\n")


def test_no_notes_yet_says_how_to_add_one(url, tmp_path):
    assert run(url, tmp_path, "annotate", "list").stdout == "No notes yet: add one with `pulse annotate DATE NOTE`.\n"
