"""`pulse goal`: goals from the command line — set one, list them with their projection, delete one.

`--due` is the goal's date (`pulse goal add mrr 50000 --due 2027-03-31`); who sets it is
`--by` (default $USER), as in every command: recorded as its owner and in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from cli.main import CLI, USAGE_ERROR, Failure, _admin_db, _by, _cell, _settings, _store, admin_errors, main, out


@contextmanager
def goal_errors() -> Iterator[None]:
    """A goal the user got wrong (measure, target, date, id) is one sentence and exit 2; a database
    that cannot be reached is exit 1."""
    from admin.goals import GoalError

    with admin_errors():
        try:
            yield
        except GoalError as exc:
            raise Failure(str(exc), USAGE_ERROR) from None


def _goals():
    from admin.goals import Goals
    from metrics.goals import MEASURES

    return Goals(_admin_db(), MEASURES)


def _today() -> date:
    """Today in the reporting timezone: what "after today" means for a due date."""
    return datetime.now(ZoneInfo(_settings().timezone)).date()


def _figure(kind: str, value: float) -> str:
    return f"{value:,.2f}" if kind == "money" else f"{round(value):,}"


@main.group()
def goal() -> None:
    """Goals: reach at least a target for a headline number by a date."""


@goal.command("add")
@click.argument("measure")
@click.argument("target", type=float)
@click.option("--due", required=True, help="The date to reach it by, YYYY-MM-DD (after today).")
@click.option("--note", default="", help="Why this number.")
@_by
def goal_add(measure: str, target: float, due: str, note: str, actor: str) -> None:
    """Set a goal: MEASURE (mrr, paying_customers, active_users, net_revenue, new_users) at least TARGET."""
    from pulse.query import parse_date

    with goal_errors():
        goal_id = _goals().add(measure, target, parse_date(due, "date --due"), note, by=actor, address=CLI,
                               today=_today())
    out.print(f"Set goal {goal_id}: {measure} at least {target:g} by {due}.", markup=False)


@goal.command("list")
def goal_list() -> None:
    """Every goal with its current value, projection to its date (80 % interval) and status."""
    from metrics.goals import MEASURES, progress
    from pulse.query import Query

    with goal_errors():
        listed = _goals().all()
        if not listed:
            out.print("No goals yet: `pulse goal add MEASURE TARGET --due YYYY-MM-DD`.", markup=False)
            return
        store = _store()
        store.require()
        until = store.info().last_complete_day()
        if until is None:
            raise Failure("The store holds no complete day of activity yet, so there is nothing to measure goals on.")
        found = [(g, progress(store, Query(until, until), g, until)) for g in listed]
    grid = Table("id", "measure", "target", "by", "now", "projected (80 % interval)", "status", "owner", "note")
    for g, p in found:
        kind = MEASURES[g.measure].kind
        projected = "" if p.projection is None else (
            f"{_figure(kind, p.projection.point)} ({_figure(kind, p.projection.low)} – {_figure(kind, p.projection.high)})")
        grid.add_row(*(_cell(v) for v in (g.id, MEASURES[g.measure].label, _figure(kind, g.target), g.due.isoformat(),
                                          _figure(kind, p.current), projected, p.status or "no projection", g.owner,
                                          g.note)))
    out.print(grid)
    out.print(f"Data to {until}. Projections: a least-squares line over the last complete periods (up to 6).",
              markup=False)


@goal.command("delete")
@click.argument("goal_id", type=int, metavar="ID")
@_by
def goal_delete(goal_id: int, actor: str) -> None:
    """Delete goal ID (`pulse goal list` shows the ids)."""
    with goal_errors():
        _goals().delete(goal_id, by=actor, address=CLI)
    out.print(f"Deleted goal {goal_id}.", markup=False)
