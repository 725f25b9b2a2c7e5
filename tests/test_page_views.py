"""Saved views (AppTest): save a page with its filters from the sidebar, find it on the Views
page, open it by `?view=ID`, and what an unknown or someone else's private view gets."""

from __future__ import annotations

import pytest
from conftest import build_store, open_page, shown

from admin.db import AdminDB
from admin.views import Views

USERS = [{"user_id": "u1", "email": "a@example.com", "signup_at": "2026-01-02 09:00", "country": "DE", "plan": "pro"}]
EVENTS = [{"event_id": "e1", "user_id": "u1", "ts": "2026-01-02 10:00", "event_type": "page_view"}]


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "pulse.duckdb"
    build_store(path, users=USERS, events=EVENTS)
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    db = AdminDB(url)
    yield path, db, {"PULSE_ADMIN_DB": url}
    db.engine.dispose()


def test_save_a_page_with_its_filters_list_it_and_open_it(setup, monkeypatch):
    path, db, env = setup
    # Saving from the sidebar is driven in Chromium (tests/e2e/test_views.py): AppTest does not
    # rerun the router's own widgets. Here the view is saved as the sidebar saves it.
    Views(db).save("DE in January", "", "activity",
                   {"range": "custom", "start": "2026-01-01", "end": "2026-01-31", "country": "DE"}, True, by="local")
    listing = Views(db).visible_to("someone@example.com")  # shared: every member of staff sees it
    assert listing.select("view", "name", "page", "owner", "shared").rows() == [
        (1, "DE in January", "activity", "local", "shared")]

    views_page = open_page(path, monkeypatch, "views", env)
    assert not views_page.exception
    assert "DE in January" in views_page.dataframe[0].value["name"].to_list()

    opened = open_page(path, monkeypatch, "overview", env, view="1")
    assert not opened.exception, opened.exception
    assert opened.title[0].value == "Activity"
    assert {k: opened.query_params[k] for k in ("range", "start", "end", "country")} == {
        "range": "custom", "start": "2026-01-01", "end": "2026-01-31", "country": "DE"}
    assert Views(db).visible_to("local")["last_opened_utc"][0] != ""


def test_a_private_view_of_someone_else_or_a_bad_number_is_a_warning(setup, monkeypatch):
    path, db, env = setup
    Views(db).save("mine", "", "revenue", {"range": "90d"}, shared=False, by="ana@example.com")
    for wanted, message in (("1", "There is no view 1 you may open; the Views page lists yours and the shared ones."),
                            ("x", "The link's view 'x' is not a view number.")):
        at = open_page(path, monkeypatch, "overview", env, view=wanted)
        assert not at.exception
        assert at.title[0].value == "Overview"
        assert [shown(w.value) for w in at.warning] == [message]


def test_a_saved_explore_view_exports_its_question(setup, tmp_path):
    from click.testing import CliRunner

    from cli.main import main

    path, db, env = setup
    series = '[{"source":"events","event":"page_view","math":"unique_users"}]'
    Views(db).save("Page viewers", "", "explore",
                   {"range": "custom", "start": "2026-01-01", "end": "2026-01-03", "series": series, "chart": "bar"},
                   True, by="ana@example.com")
    Views(db).save("Activity", "", "activity", {"range": "90d"}, True, by="ana@example.com")
    env = env | {"PULSE_STORE": str(path), "PULSE_CONFIG": str(tmp_path / "none.toml")}
    exported = CliRunner().invoke(main, ["export", "view", "Page viewers"], env=env, catch_exceptions=False)
    assert (exported.exit_code, exported.stdout) == (0, (
        "period,series,breakdown_value,value,previous_value\n"
        "2026-01-01,A,,0.0,\n"
        "2026-01-02,A,,1.0,\n"  # u1's page view on the 2nd
        "2026-01-03,A,,0.0,\n"))
    refused = CliRunner().invoke(main, ["export", "view", "Activity"], env=env, catch_exceptions=False)
    assert (refused.exit_code, refused.stderr) == (1, (
        "pulse: The view 'Activity' is of the activity page, whose tables are several metrics; export one of them "
        "with pulse export METRIC, or save an Explore question.\n"))
