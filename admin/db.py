"""The admin database: engine, sessions and schema migrations.

SQLite by default (`data/admin.db`), PostgreSQL (or anything SQLAlchemy reaches) by URL.
The schema is owned by Alembic migrations; `connect` brings a database up to the newest
one before handing out sessions, so a fresh deployment needs no separate step.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime, time, timezone
from pathlib import Path

import polars as pl
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from admin.models import AuditEntry

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class AdminDatabaseError(Exception):
    """The admin database cannot be reached or migrated; one sentence for the user."""


def _config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, pool_pre_ping=True)
    if engine.dialect.name == "sqlite":
        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection, _record) -> None:
            dbapi_connection.execute("PRAGMA foreign_keys = ON")  # off by default in SQLite
            # Readers and one writer at once (the web app, a sender, the scheduler), and a commit
            # that survives the process dying without waiting for the disk each time.
            dbapi_connection.execute("PRAGMA journal_mode = WAL")
            dbapi_connection.execute("PRAGMA synchronous = NORMAL")
            dbapi_connection.execute("PRAGMA busy_timeout = 10000")
    return engine


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    return ScriptDirectory.from_config(_config("sqlite://")).get_current_head()


def upgrade(url: str, revision: str = "head") -> None:
    try:
        command.upgrade(_config(url), revision)
    except SQLAlchemyError as exc:
        raise AdminDatabaseError(f"The admin database could not be migrated: {exc.__class__.__name__}: {exc.orig if hasattr(exc, 'orig') else exc}.") from None


def downgrade(url: str, revision: str) -> None:
    command.downgrade(_config(url), revision)


class AdminDB:
    """Sessions on an up-to-date admin database."""

    def __init__(self, url: str):
        self.url = url
        try:
            self.engine = make_engine(url)
        except (SQLAlchemyError, ValueError) as exc:
            raise AdminDatabaseError(f"The admin database URL is not a valid SQLAlchemy URL ({exc.__class__.__name__}); "
                                     "give one such as sqlite:///data/admin.db.") from None
        try:
            if current_revision(self.engine) != head_revision():
                upgrade(url)
        except SQLAlchemyError as exc:
            raise AdminDatabaseError(f"The admin database at {self.engine.url.render_as_string(hide_password=True)} cannot be reached: {exc.__class__.__name__}.") from None
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: committed when the block ends, rolled back if it raises."""
        with self._sessions.begin() as session:
            yield session

    def audit(self, actor: str, action: str, detail: str = "", address: str = "") -> None:
        with self.session() as session:
            session.add(AuditEntry(actor=actor, action=action, detail=detail, address=address))

    def delete_owned(self, model: type, row_id: int, who: str, may_delete_any: bool, action: str,
                     refusal: Exception, address: str = "") -> None:
        """Delete a row that has an owner and a name (a saved view, a saved query) when `who` owns
        it or may delete any, with its audit entry; else raise `refusal`."""
        with self.session() as session:
            row = session.get(model, row_id)
            if row is None or not (row.owner == who or may_delete_any):
                raise refusal
            session.delete(row)
            session.add(AuditEntry(actor=who, action=action, detail=f"{row_id} {row.name}", address=address))

    def audit_log(self, limit: int | None = 100, actor: str | None = None, action: str | None = None,
                  since: date | None = None) -> pl.DataFrame:
        """The audit log, newest first, as text columns time_utc, actor, action, detail and
        address: only `actor`'s entries, actions starting with `action`, from the UTC day `since`."""
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if actor:
            query = query.where(AuditEntry.actor == actor)
        if action:
            query = query.where(AuditEntry.action.startswith(action, autoescape=True))
        if since:
            query = query.where(AuditEntry.at >= datetime.combine(since, time(), timezone.utc))
        with self.session() as session:
            rows = [(utc_text(e.at), e.actor, e.action, e.detail, e.address) for e in session.scalars(query)]
        return pl.DataFrame(rows, schema=[(name, pl.String) for name in AUDIT_COLUMNS], orient="row")


AUDIT_COLUMNS = ("time_utc", "actor", "action", "detail", "address")


def utc_text(moment: datetime | None) -> str:
    """A stored instant as UTC text, empty for none (SQLite hands back naive datetimes for what
    was stored as UTC; PostgreSQL, its own zone's)."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
    return aware.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
