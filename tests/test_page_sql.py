"""The SQL page (AppTest): a query's rows, a refusal in one sentence, the history and the audit log."""

from __future__ import annotations

import pytest
from conftest import build_store, open_page, shown

from admin.db import AdminDB
from admin.queries import Queries


@pytest.fixture
def setup(tmp_path):
    path = tmp_path / "pulse.duckdb"
    build_store(path, users=[{"user_id": "u1", "signup_at": "2026-01-02 09:00", "country": "DE"},
                             {"user_id": "u2", "signup_at": "2026-01-03 09:00", "country": "AT"}])
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    db = AdminDB(url)
    yield path, db, {"PULSE_ADMIN_DB": url}
    db.engine.dispose()


def test_a_query_shows_its_rows_and_a_write_is_refused_both_recorded(setup, monkeypatch):
    path, db, env = setup
    at = open_page(path, monkeypatch, "sql", env)
    assert not at.exception, at.exception
    at.text_area(key="sql_text").input("SELECT user_id, country FROM users ORDER BY user_id")
    at.button(key="sql_run").click().run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value.values.tolist() == [["u1", "DE"], ["u2", "AT"]]

    at.text_area(key="sql_text").input("DELETE FROM users")
    at.button(key="sql_run").click().run()
    assert [shown(e.value) for e in at.error] == ["Pulse's SQL is read-only and cannot run DELETE."]
    history = Queries(db).history("local")
    assert history.select("sql", "rows", "error").rows() == [
        ("DELETE FROM users", None, "Pulse's SQL is read-only and cannot run DELETE."),
        ("SELECT user_id, country FROM users ORDER BY user_id", 2, "")]
    assert [a for a in db.audit_log(action="sql")["action"]] == ["sql.run", "sql.run"]
