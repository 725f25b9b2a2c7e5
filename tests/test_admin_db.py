"""The admin database: migrations up and down, sessions, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid

import pytest
from conftest import POSTGRES_URL
from sqlalchemy import create_engine, inspect, text

from admin.db import AdminDatabaseError, AdminDB, current_revision, downgrade, head_revision, make_engine


def check_round_trip(url: str) -> None:
    db = AdminDB(url)
    assert current_revision(db.engine) == head_revision() == "0007"
    assert {"audit_log", "staff_accounts", "email_templates", "segments", "suppressions", "campaigns", "outbox", "schedules", "schedule_runs", "saved_views", "saved_queries", "query_runs"} <= set(
        inspect(db.engine).get_table_names())
    db.audit("ada@example.com", "user.forget", "u42")
    db.audit("bob@example.com", "export.run", "kpis")
    assert db.audit_log().select("actor", "action", "detail").rows() == [
        ("bob@example.com", "export.run", "kpis"),
        ("ada@example.com", "user.forget", "u42"),
    ]
    db.engine.dispose()
    downgrade(url, "base")
    engine = make_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    assert current_revision(engine) is None
    engine.dispose()


def test_sqlite_migrates_up_and_down(tmp_path):
    check_round_trip(f"sqlite:///{tmp_path / 'admin.db'}")


def test_a_failed_unit_of_work_is_rolled_back(tmp_path):
    db = AdminDB(f"sqlite:///{tmp_path / 'admin.db'}")
    with pytest.raises(RuntimeError):
        with db.session() as session:
            session.execute(text("INSERT INTO audit_log (at, actor, action, detail) VALUES (CURRENT_TIMESTAMP, 'a', 'b', '')"))
            raise RuntimeError("boom")
    assert db.audit_log().is_empty()


def test_an_unreachable_database_is_one_sentence():
    with pytest.raises(AdminDatabaseError, match="cannot be reached"):
        AdminDB("postgresql+psycopg://nobody@127.0.0.1:1/none")


@pytest.mark.postgres
def test_postgresql_migrates_up_and_down():
    name = f"pulse_admin_{uuid.uuid4().hex[:8]}"
    server = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with server.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        check_round_trip(POSTGRES_URL.rsplit("/", 1)[0] + f"/{name}")
    finally:
        with server.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        server.dispose()


def test_a_saved_view_or_query_is_deleted_by_its_owner_or_an_admin_only(tmp_path):
    from admin.queries import Queries, QueryError
    from admin.views import ViewError, Views

    db = AdminDB(f"sqlite:///{tmp_path / 'owned.db'}")
    views, queries = Views(db), Queries(db)
    view = views.save("Weekly", "", "activity", {}, True, by="ann@example.com")
    query = queries.save("Top users", "SELECT 1", True, by="ann@example.com")
    with pytest.raises(ViewError, match="Only its owner"):
        views.delete(view, "bob@example.com")
    with pytest.raises(QueryError, match="Only its owner"):
        queries.delete(query, "bob@example.com")
    views.delete(view, "bob@example.com", may_delete_any=True, address="10.0.0.2")
    queries.delete(query, "ann@example.com")
    assert views.visible_to("ann@example.com").is_empty() and queries.visible_to("ann@example.com").is_empty()
    assert [(a, d, x) for a, d, x in db.audit_log(10).select("action", "detail", "address").rows()
            if a.endswith(".delete")] == [("sql.delete", f"{query} Top users", ""), ("view.delete", f"{view} Weekly", "10.0.0.2")]
