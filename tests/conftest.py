"""Shared fixtures: a real DuckDB store built from literal rows, and PostgreSQL detection."""

from __future__ import annotations

import re
import socket
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest

from pulse.schema import SCHEMAS
from pulse.query import Query, make_query
from pulse.store import Store

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def frame(table: str, rows: list[dict]) -> pl.DataFrame:
    """Typed rows for `table` from dicts that name only the columns a test cares about.

    Timestamps may be given as 'YYYY-MM-DD HH:MM[:SS]' text, amounts as text or numbers.
    """
    schema = SCHEMAS[table]
    columns = {}
    for name, dtype in schema.items():
        values = [row.get(name) for row in rows]
        if dtype == pl.Datetime("us"):
            values = [datetime.fromisoformat(v) if isinstance(v, str) else v for v in values]
        elif isinstance(dtype, pl.Decimal):
            values = [Decimal(str(v)) if v is not None else None for v in values]
        elif dtype == pl.Boolean:
            values = [bool(v) if v is not None else None for v in values]
        columns[name] = pl.Series(name, values, dtype=dtype)
    out = pl.DataFrame(columns)
    if table == "users":
        out = out.with_columns(pl.col("marketing_opt_in").fill_null(False))
    if table == "transactions":
        out = out.with_columns(pl.col("status").fill_null("succeeded"), pl.col("currency").fill_null("USD"))
    return out


# The metric suites: each runs on both engines, DuckDB and ClickHouse (chDB, in process),
# through the `engine` fixture, with the same literal rows and the same expected frames.
ENGINE_SUITES = {
    "test_activity_metrics", "test_retention_metrics", "test_revenue_metrics", "test_subscription_metrics",
    "test_user_metrics", "test_overview_metrics", "test_data_metrics", "test_alerts", "test_feed", "test_trend",
    "test_segments", "test_discovery", "test_goals", "test_incremental",
}
_CHDB_HOME: list[Path] = []  # this process's chDB directory (chdb_directory)


def pytest_generate_tests(metafunc):
    if "engine" in metafunc.fixturenames and metafunc.module.__name__.rsplit(".", 1)[-1] in ENGINE_SUITES:
        metafunc.parametrize("engine", ["duckdb", "chdb"], indirect=True, scope="module")


@pytest.fixture(scope="module")
def engine(request) -> str:
    """The store engine a metric suite's stores are built on: "duckdb", or "chdb" (ClickHouse)."""
    return getattr(request, "param", "duckdb")


def new_store(path: Path, engine: str = "duckdb", **settings) -> Store:
    """An empty store: a DuckDB file at `path`, or (engine "chdb") a ClickHouse database in this
    process's chDB directory named after it."""
    store = Store(path, **settings)
    if engine == "duckdb":
        return store
    from pulse.clickhouse import ClickHouseStore

    name = "t_" + re.sub(r"\W", "_", f"{path.parent.name}_{path.parent.parent.name}")[-80:]
    chdb = ClickHouseStore.chdb(_CHDB_HOME[0], name, like=store)
    chdb.drop()
    return chdb


def build_store(path: Path, timezone: str = "UTC", currency: str = "USD", session_timeout: int = 30,
                engine: str = "duckdb", **tables: list[dict]) -> Store:
    """A published store holding exactly the given literal rows (see new_store)."""
    store = new_store(path, engine, timezone=timezone, currency=currency, session_timeout=session_timeout)
    with store.writer("test fixture") as writer:
        for table, rows in tables.items():
            writer.stage(table, frame(table, rows))
    return store


@pytest.fixture
def make_store(tmp_path, engine):
    """make_store(events=[...], users=[...], timezone=...) -> Store in a fresh directory (on
    both engines in the metric suites)."""
    counter = iter(range(1000))

    def make(**kwargs) -> Store:
        return build_store(tmp_path / f"store{next(counter)}" / "pulse.duckdb", engine=engine, **kwargs)

    return make


def q(start: str, end: str, interval: str = "day", **options: str) -> Query:
    """A query as the command line would parse it."""
    return make_query(start, end, interval, {k: str(v) for k, v in options.items()})


def shown(markdown: str) -> str:
    """Markdown as the browser shows it: a link's text without its target, escapes resolved
    and the invisible joiners gone."""
    return re.sub(r"\\(.)", r"\1", re.sub(r"\]\([^)]*\)", "]", markdown)).replace("\u2060", "")


def open_page(store_path: Path, monkeypatch, page: str, env: dict[str, str] | None = None, **params: str):
    """An AppTest of the whole app (router, filter bar, link parameters) on `page` of the store
    at `store_path`, after one run, with these URL parameters and extra settings in `env`."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    monkeypatch.setenv("PULSE_STORE", str(store_path))
    monkeypatch.setenv("PULSE_CONFIG", str(store_path.parent / "none.toml"))
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=120)
    for key, value in params.items():
        at.query_params[key] = value
    if page != "overview":
        at.switch_page(f"pages/{page}.py")
    at.run()
    return at


def d(text: str) -> date:
    return date.fromisoformat(text)


def _postgres_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


POSTGRES_UP = _postgres_up()


def pytest_configure(config):
    config.addinivalue_line("markers", "postgres: needs the PostgreSQL server at 127.0.0.1:5432")
    config.addinivalue_line("markers", "e2e: drives the web app in a real headless Chromium")


def pytest_collection_modifyitems(config, items):
    import os

    if POSTGRES_UP:
        return
    if os.environ.get("CI"):
        # On CI the server is part of the machine: its absence is a failure, not a skip.
        raise pytest.UsageError("PostgreSQL is not reachable at 127.0.0.1:5432, and CI must run the PostgreSQL tests.")
    skip = pytest.mark.skip(reason="PostgreSQL is not reachable at 127.0.0.1:5432 (start it to run these tests)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _own_admin_db_and_an_open_app(tmp_path, monkeypatch):
    """No test touches the project's data/admin.db, and the app runs without sign-in unless a
    test signs in on purpose (fixtures of a wider scope set these themselves)."""
    monkeypatch.setenv("PULSE_ADMIN_DB", f"sqlite:///{tmp_path / 'admin.db'}")
    monkeypatch.setenv("PULSE_SIGN_IN", "none")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def admin_url(request, tmp_path):
    """The URL of an empty admin database: a SQLite file, then a schema of its own on the real
    PostgreSQL (dropped afterwards)."""
    import uuid

    from sqlalchemy import create_engine, text

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'admin-each.db'}"
        return
    schema = f"t_{uuid.uuid4().hex[:10]}"
    server = create_engine(POSTGRES_URL)
    with server.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    with server.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    server.dispose()


@pytest.fixture
def admin_db(admin_url):
    """That admin database, migrated."""
    from admin.db import AdminDB

    database = AdminDB(admin_url)
    yield database
    database.engine.dispose()


@pytest.fixture
def inbox():
    """A real SMTP server on loopback (aiosmtpd) and what it received."""
    from smtp_server import serving

    with serving() as box:
        yield box


@pytest.fixture(scope="session", autouse=True)
def chdb_directory(tmp_path_factory):
    """chDB's one directory for this test process: chDB opens one directory per process at a
    time, so every test that uses it shares the directory, each with databases of its own."""
    _CHDB_HOME[:] = [tmp_path_factory.mktemp("chdb")]
    return _CHDB_HOME[0]
