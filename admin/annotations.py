"""Annotations: a note on a date — a release, a price change, an outage — that every time chart
marks in the period holding it.

Any member of staff allowed to annotate may add, edit and delete any note: notes are a shared
record of what happened, not anyone's private property. The owner stays who wrote the note
first; who changed it later is in the audit log, where every change is written
(annotation.add, annotation.update, annotation.delete) with the note as it then read.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

import polars as pl
from sqlalchemy import select

from admin.db import AdminDB, utc_text
from admin.models import Annotation, AuditEntry
from pulse.query import QueryError, parse_date

MAX_NOTE = 500  # characters: a line on a chart's hover, not a report

COLUMNS = [("id", pl.Int64), ("day", pl.Date), ("note", pl.String), ("owner", pl.String), ("updated_utc", pl.String)]


class AnnotationError(Exception):
    """One sentence about a note the user can act on."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _checked(day: date | str, note: str) -> tuple[date, str]:
    """The day (a date, or its YYYY-MM-DD text) and the note without surrounding blanks, or
    AnnotationError saying what is wrong with them."""
    try:
        day = parse_date(day)
    except QueryError as exc:
        raise AnnotationError(str(exc)) from None
    note = note.strip()
    if not note:
        raise AnnotationError("Write a note: what happened on that day.")
    if len(note) > MAX_NOTE:
        raise AnnotationError(f"A note is at most {MAX_NOTE} characters; this one has {len(note)}.")
    return day, note


class Annotations:
    def __init__(self, db: AdminDB):
        self.db = db

    def add(self, day: date | str, note: str, by: str, address: str = "") -> int:
        """A new note on `day`; its id."""
        day, note = _checked(day, note)
        with self.db.session() as session:
            annotation = Annotation(day=day, note=note, owner=by)
            session.add(annotation)
            session.flush()
            session.add(AuditEntry(actor=by, action="annotation.add", detail=f"{annotation.id} {day}: {note}",
                                   address=address))
            return annotation.id

    def update(self, annotation_id: int, day: date | str, note: str, by: str, address: str = "") -> None:
        """Move the note to `day` and give it the text `note`."""
        day, note = _checked(day, note)
        with self.db.session() as session:
            annotation = self._get(session, annotation_id)
            annotation.day, annotation.note, annotation.updated_at = day, note, _now()
            session.add(AuditEntry(actor=by, action="annotation.update", detail=f"{annotation_id} {day}: {note}",
                                   address=address))

    def delete(self, annotation_id: int, by: str, address: str = "") -> None:
        with self.db.session() as session:
            annotation = self._get(session, annotation_id)
            session.delete(annotation)
            session.add(AuditEntry(actor=by, action="annotation.delete",
                                   detail=f"{annotation_id} {annotation.day}: {annotation.note}", address=address))

    def listing(self, start: date | None = None, end: date | None = None) -> pl.DataFrame:
        """The notes on days from `start` to `end` (both inclusive, either open), by day and
        then in the order they were written. Columns: id, day, note, owner, updated_utc."""
        query = select(Annotation).order_by(Annotation.day, Annotation.id)
        if start is not None:
            query = query.where(Annotation.day >= start)
        if end is not None:
            query = query.where(Annotation.day <= end)
        with self.db.session() as session:
            rows = [(a.id, a.day, a.note, a.owner, utc_text(a.updated_at)) for a in session.scalars(query)]
        return pl.DataFrame(rows, schema=COLUMNS, orient="row")

    @staticmethod
    def _get(session, annotation_id: int) -> Annotation:
        annotation = session.get(Annotation, annotation_id)
        if annotation is None:
            raise AnnotationError(f"There is no note {annotation_id}; someone may have deleted it.")
        return annotation
