"""Goals: a target for a headline number by a date, kept in the admin database.

A goal reads "reach at least `target` by `due`". Goals belong to the business, not to
whoever set them: anyone whose role may set goals may change or delete any of them, and
every change is in the audit log (goal.add, goal.update, goal.delete).

The measures a goal may name are the caller's (metrics.goals.MEASURES), since this floor
cannot read the store; they are handed to Goals when it is made.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import date

from sqlalchemy import select

from admin.db import AdminDB
from admin.models import AuditEntry, Goal


class GoalError(Exception):
    """Something about a goal the user can fix; one sentence."""


def _describe(goal: Goal) -> str:
    return f"{goal.id} {goal.measure} at least {goal.target:g} by {goal.due.isoformat()}"


class Goals:
    def __init__(self, db: AdminDB, measures: Collection[str]):
        self.db = db
        self.measures = tuple(measures)

    def _measure(self, measure: str) -> str:
        if measure not in self.measures:
            raise GoalError(f"Unknown measure {measure!r}; choose one of: {', '.join(self.measures)}.")
        return measure

    @staticmethod
    def _target(target: float | None) -> float:
        if target is None or not math.isfinite(target) or target <= 0:
            raise GoalError("The target must be a number above 0.")
        return float(target)

    @staticmethod
    def _due(due: date, today: date | None) -> date:
        today = today or date.today()
        if due <= today:
            raise GoalError(f"The due date must be after today ({today.isoformat()}).")
        return due

    def add(self, measure: str, target: float | None, due: date, note: str, by: str, address: str = "",
            today: date | None = None) -> int:
        """A new goal; its id. `today` is the reporting timezone's (the machine's when not given)."""
        goal = Goal(measure=self._measure(measure), target=self._target(target), due=self._due(due, today),
                    note=note.strip(), owner=by)
        with self.db.session() as session:
            session.add(goal)
            session.flush()
            session.add(AuditEntry(actor=by, action="goal.add", detail=_describe(goal), address=address))
            return goal.id

    def all(self) -> list[Goal]:
        """Every goal, soonest due first."""
        with self.db.session() as session:
            return list(session.scalars(select(Goal).order_by(Goal.due, Goal.id)))

    def get(self, goal_id: int) -> Goal:
        with self.db.session() as session:
            goal = session.get(Goal, goal_id)
            if goal is None:
                raise GoalError(f"There is no goal {goal_id}.")
            return goal

    def update(self, goal_id: int, by: str, address: str = "", target: float | None = None, due: date | None = None,
               note: str | None = None, today: date | None = None) -> None:
        """Change what is given: the target, the due date (after today) or the note. The measure
        stays: a goal for another number is a new goal."""
        with self.db.session() as session:
            goal = session.get(Goal, goal_id)
            if goal is None:
                raise GoalError(f"There is no goal {goal_id}.")
            if target is not None:
                goal.target = self._target(target)
            if due is not None:
                goal.due = self._due(due, today)
            if note is not None:
                goal.note = note.strip()
            session.add(AuditEntry(actor=by, action="goal.update", detail=_describe(goal), address=address))

    def delete(self, goal_id: int, by: str, address: str = "") -> None:
        with self.db.session() as session:
            goal = session.get(Goal, goal_id)
            if goal is None:
                raise GoalError(f"There is no goal {goal_id}.")
            session.delete(goal)
            session.add(AuditEntry(actor=by, action="goal.delete", detail=_describe(goal), address=address))
