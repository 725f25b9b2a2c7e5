"""Annotations on screen: the notes every time chart marks (ui.charts asks `every()`), and the
changes the Annotations page makes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import polars as pl

from admin.annotations import COLUMNS, AnnotationError, Annotations
from admin.db import AdminDatabaseError
from ui import auth, cache
from ui import components as ui


def annotations() -> Annotations:
    return Annotations(auth.access().accounts.db)


def _read() -> pl.DataFrame:
    """Every note; none when the admin database cannot be reached. Notes decorate charts: a
    chart of the store still draws while the admin database is down."""
    try:
        return annotations().listing()
    except AdminDatabaseError:
        return pl.DataFrame(schema=COLUMNS)


def every() -> pl.DataFrame:
    """Every note (id, day, note, owner, updated_utc), by day: cached for all sessions, and
    read again at once after a change made here."""
    return cache.annotations(_read)


def _change(message: str, action: Callable, *args: object) -> None:
    """Make a change as the signed-in member of staff (audited with who and from where); on
    success the charts' notes are read again, and the page reruns and says `message`."""
    try:
        action(*args, **auth.acting())
    except AnnotationError as exc:
        ui.refused(exc)
    else:
        cache.annotations.clear()
        ui.done(message)


def add(day: date, note: str) -> None:
    _change(f"Added the note on {day}.", annotations().add, day, note)


def update(annotation_id: int, day: date, note: str) -> None:
    _change(f"Saved note {annotation_id}.", annotations().update, annotation_id, day, note)


def delete(annotation_id: int) -> None:
    _change(f"Deleted note {annotation_id}.", annotations().delete, annotation_id)
