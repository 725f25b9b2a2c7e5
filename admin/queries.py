"""The SQL page's memory: saved queries (private or shared) and each person's history.
Every run is also in the audit log."""

from __future__ import annotations

import polars as pl
from sqlalchemy import or_, select

from admin.db import AdminDB, utc_text
from admin.models import AuditEntry, QueryRun, SavedQuery

HISTORY = 50  # runs kept on show per person


class QueryError(Exception):
    """One sentence about a saved query."""


class Queries:
    def __init__(self, db: AdminDB):
        self.db = db

    def record(self, owner: str, sql: str, rows: int | None, seconds: float | None, error: str = "",
               address: str = "") -> None:
        """A run in the person's history and in the audit log."""
        with self.db.session() as session:
            session.add(QueryRun(owner=owner, sql=sql, rows=rows, seconds=seconds, error=error))
            outcome = f"refused: {error}" if error else f"{rows:,} rows in {seconds:.2f} s"
            session.add(AuditEntry(actor=owner, action="sql.run", detail=f"{sql[:200]} ({outcome})", address=address))

    def history(self, owner: str, limit: int = HISTORY) -> pl.DataFrame:
        with self.db.session() as session:
            rows = [(utc_text(r.at), r.sql, r.rows, r.seconds, r.error) for r in session.scalars(
                select(QueryRun).where(QueryRun.owner == owner).order_by(QueryRun.id.desc()).limit(limit))]
        return pl.DataFrame(rows, schema=[("ran_utc", pl.String), ("sql", pl.String), ("rows", pl.Int64),
                                          ("seconds", pl.Float64), ("error", pl.String)], orient="row")

    def save(self, name: str, sql: str, shared: bool, by: str, address: str = "") -> int:
        if not name.strip():
            raise QueryError("Give the query a name.")
        if not sql.strip():
            raise QueryError("There is no SQL to save.")
        with self.db.session() as session:
            saved = SavedQuery(name=name.strip(), sql=sql, owner=by, shared=shared)
            session.add(saved)
            session.flush()
            session.add(AuditEntry(actor=by, action="sql.save", detail=f"{saved.id} {name.strip()}", address=address))
            return saved.id

    def visible_to(self, who: str) -> pl.DataFrame:
        with self.db.session() as session:
            rows = [(q.id, q.name, q.sql, q.owner, "shared" if q.shared else "private", utc_text(q.saved_at))
                    for q in session.scalars(select(SavedQuery).where(
                        or_(SavedQuery.owner == who, SavedQuery.shared.is_(True))).order_by(SavedQuery.name))]
        return pl.DataFrame(rows, schema=[("query", pl.Int64), ("name", pl.String), ("sql", pl.String),
                                          ("owner", pl.String), ("shared", pl.String), ("saved_utc", pl.String)],
                            orient="row")

    def delete(self, query_id: int, who: str, may_delete_any: bool = False, address: str = "") -> None:
        self.db.delete_owned(SavedQuery, query_id, who, may_delete_any, "sql.delete",
                             QueryError("Only its owner (or an admin) may delete a saved query."), address)
