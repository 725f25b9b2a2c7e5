"""`pulse annotate`: notes on dates that every time chart marks, from the command line.

`pulse annotate DATE NOTE` is what a release script runs, so adding is the group's default:
a first word that is not one of its commands is the date of a new note (`pulse annotate add
DATE NOTE` says the same). Changes are audited under `--by` from "command line".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click
from rich.table import Table

from cli.main import CLI, USAGE_ERROR, Failure, PulseGroup, _admin_db, _by, _cell, admin_errors, main, out

if TYPE_CHECKING:
    from admin.annotations import Annotations


class AddByDefault(PulseGroup):
    """A group whose commands are words, and whose first argument, when it is no command, is
    the date of `add`."""

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands:
            args = ["add", *args]
        return super().resolve_command(ctx, args)


@contextmanager
def annotation_errors() -> Iterator[None]:
    """A note's mistakes (its date, an empty or too long text, an unknown number) are in what
    was typed: one sentence, exit 2."""
    from admin.annotations import AnnotationError

    with admin_errors():
        try:
            yield
        except AnnotationError as exc:
            raise Failure(str(exc), USAGE_ERROR) from None


def _annotations() -> Annotations:
    from admin.annotations import Annotations

    return Annotations(_admin_db())


@main.group(cls=AddByDefault)
def annotate() -> None:
    """Notes on dates (a release, a price change, an outage), marked on every time chart:
    `pulse annotate DATE NOTE`, `pulse annotate list`, `pulse annotate delete NUMBER`."""


@annotate.command("add")
@click.argument("day", metavar="DATE")
@click.argument("note")
@_by
def annotate_add(day: str, note: str, actor: str) -> None:
    """Add NOTE on DATE (YYYY-MM-DD, a day in the reporting timezone)."""
    with annotation_errors():
        number = _annotations().add(day, note, by=actor, address=CLI)
    out.print(f"Added note {number} on {day.strip()}.", markup=False)


@annotate.command("list")
@click.option("--start", help="Only notes on or after this day (YYYY-MM-DD).")
@click.option("--end", help="Only notes on or before this day (YYYY-MM-DD).")
def annotate_list(start: str | None, end: str | None) -> None:
    """List the notes by day, with their numbers."""
    from pulse.query import parse_date

    with annotation_errors():
        first = parse_date(start, "--start date") if start else None
        last = parse_date(end, "--end date") if end else None
        notes = _annotations().listing(first, last)
    if notes.is_empty():
        out.print("No notes." if start or end else "No notes yet: add one with `pulse annotate DATE NOTE`.",
                  markup=False)
        return
    grid = Table("no.", "date", "note", "added by", "changed (UTC)")
    for row in notes.iter_rows():
        grid.add_row(*(_cell(value) for value in row))
    out.print(grid)


@annotate.command("delete")
@click.argument("number", type=int)
@_by
def annotate_delete(number: int, actor: str) -> None:
    """Delete note NUMBER (see `pulse annotate list`)."""
    with annotation_errors():
        _annotations().delete(number, by=actor, address=CLI)
    out.print(f"Deleted note {number}.", markup=False)
