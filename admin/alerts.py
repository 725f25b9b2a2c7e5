"""Alert subscriptions, the history of checks, and the mail that tells staff.

A check is one rule evaluated for one day (the `alerts` metric's row), kept once per (rule,
day): evaluating a day again replaces its figures. A firing is mailed once per rule per day
to everyone subscribed to the rule; when a rule that fired on the last day checked before
does not fire, a "resolved" mail goes once. The mail is claimed in the check's row before it
is sent (a conditional UPDATE), so two schedulers never mail the same thing twice; a send that
fails gives the claim back, so the next evaluation tries again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import polars as pl
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from admin.db import AdminDB, utc_text
from admin.email import EmailError, deliver, notice
from admin.models import AlertCheck, AlertSubscription, AuditEntry
from pulse.settings import ALERT_RULES, Settings

COLUMNS = ("rule", "fired", "value", "baseline", "threshold", "p_value", "explanation", "top_contributors")


class AlertError(Exception):
    """One sentence about a subscription the user can act on."""


def title(rule: str) -> str:
    """A rule's name as people say it: "Error spike"."""
    return rule.replace("_", " ").capitalize()


@dataclass(frozen=True)
class Mailed:
    rule: str
    kind: str  # "fired" or "resolved"
    to: tuple[str, ...]
    error: str = ""


class Alerts:
    def __init__(self, db: AdminDB):
        self.db = db

    # -- subscriptions ---------------------------------------------------------------------

    def subscribe(self, rule: str, email: str, by: str, address: str = "") -> None:
        if rule not in ALERT_RULES:
            raise AlertError(f"There is no alert rule {rule!r}; the rules are: {', '.join(sorted(ALERT_RULES))}.")
        if "@" not in email:
            raise AlertError(f"{email!r} is not an email address to send alerts to.")
        try:
            with self.db.session() as session:
                session.add(AlertSubscription(rule=rule, email=email.strip().lower()))
                session.add(AuditEntry(actor=by, action="alert.subscribe", detail=f"{rule} {email}", address=address))
        except IntegrityError:
            pass  # already subscribed: nothing changes

    def unsubscribe(self, rule: str, email: str, by: str, address: str = "") -> None:
        with self.db.session() as session:
            gone = session.execute(delete(AlertSubscription).where(
                AlertSubscription.rule == rule, AlertSubscription.email == email.strip().lower())).rowcount
            if gone:
                session.add(AuditEntry(actor=by, action="alert.unsubscribe", detail=f"{rule} {email}", address=address))

    def subscribed(self, email: str) -> set[str]:
        """The rules `email` is subscribed to."""
        with self.db.session() as session:
            return set(session.scalars(select(AlertSubscription.rule).where(
                AlertSubscription.email == email.strip().lower())))

    def subscribers(self, rule: str) -> list[str]:
        with self.db.session() as session:
            return sorted(session.scalars(select(AlertSubscription.email).where(AlertSubscription.rule == rule)))

    # -- the history -----------------------------------------------------------------------

    def record(self, day: date, checks: pl.DataFrame) -> None:
        """Keep the day's checks (the alerts metric's frame), replacing that day's earlier figures."""
        now = datetime.now(timezone.utc)
        with self.db.session() as session:
            for row in checks.iter_rows(named=True):
                values = {name: row[name] for name in COLUMNS if name != "rule"} | {"checked_at": now}
                changed = session.execute(update(AlertCheck).where(AlertCheck.rule == row["rule"], AlertCheck.day == day)
                                          .values(**values)).rowcount
                if not changed:
                    session.add(AlertCheck(rule=row["rule"], day=day, mailed="", **values))

    def history(self, fired_only: bool = True, limit: int = 200) -> pl.DataFrame:
        """Past checks, newest day first (only firings unless `fired_only` is False)."""
        query = select(AlertCheck).order_by(AlertCheck.day.desc(), AlertCheck.rule).limit(limit)
        if fired_only:
            query = query.where(AlertCheck.fired.is_(True))
        with self.db.session() as session:
            rows = [(c.day, c.rule, c.fired, c.value, c.baseline, c.threshold, c.p_value, c.explanation,
                     c.top_contributors, c.mailed, utc_text(c.checked_at)) for c in session.scalars(query)]
        return pl.DataFrame(rows, orient="row", schema=[
            ("day", pl.Date), ("rule", pl.String), ("fired", pl.Boolean), ("value", pl.Float64),
            ("baseline", pl.Float64), ("threshold", pl.Float64), ("p_value", pl.Float64), ("explanation", pl.String),
            ("top_contributors", pl.String), ("mailed", pl.String), ("checked_utc", pl.String)])

    def last_checked(self, day: date) -> datetime | None:
        """When the rules were last checked for `day` (for the daily run of the scheduler)."""
        with self.db.session() as session:
            last = session.scalars(select(func.max(AlertCheck.checked_at)).where(AlertCheck.day == day)).first()
        return last.replace(tzinfo=last.tzinfo or timezone.utc) if last else None

    def _fired_before(self, session, rule: str, day: date) -> bool:
        last = session.scalars(select(AlertCheck.fired).where(AlertCheck.rule == rule, AlertCheck.day < day)
                               .order_by(AlertCheck.day.desc()).limit(1)).first()
        return bool(last)

    # -- mail ------------------------------------------------------------------------------

    def notify(self, day: date, checks: pl.DataFrame, settings: Settings) -> list[Mailed]:
        """Record the day's checks and mail each rule's subscribers what is new: a firing once
        per rule and day, and a resolution once when the rule fired on the last day checked
        before. What was mailed (or why it was not)."""
        self.record(day, checks)
        out = []
        for row in checks.iter_rows(named=True):
            rule = row["rule"]
            with self.db.session() as session:
                kind = "fired" if row["fired"] else "resolved" if self._fired_before(session, rule, day) else None
            to = self.subscribers(rule) if kind else []
            if not to or not self._claim(rule, day, kind):
                continue
            try:
                deliver(settings, _message(settings, rule, day, kind, row, to))
            except EmailError as exc:
                self._release(rule, day)
                out.append(Mailed(rule, kind, tuple(to), str(exc)))
                continue
            out.append(Mailed(rule, kind, tuple(to)))
        return out

    def _claim(self, rule: str, day: date, kind: str) -> bool:
        with self.db.session() as session:
            return session.execute(update(AlertCheck).where(
                AlertCheck.rule == rule, AlertCheck.day == day, AlertCheck.mailed != kind).values(mailed=kind)).rowcount == 1

    def _release(self, rule: str, day: date) -> None:
        with self.db.session() as session:
            session.execute(update(AlertCheck).where(AlertCheck.rule == rule, AlertCheck.day == day).values(mailed=""))


def _message(settings: Settings, rule: str, day: date, kind: str, row: dict[str, Any], to: Iterable[str]):
    link = f"{settings.public_url}/?end={day}"
    if kind == "fired":
        subject = f"Alert: {title(rule)} on {day}"
        lines = [row["explanation"]]
        if row["top_contributors"]:
            lines.append(f"What drove it: {row['top_contributors']}.")
    else:
        subject = f"Resolved: {title(rule)} on {day}"
        lines = [f"{title(rule)} no longer fires on {day}.", row["explanation"]]
    lines += ["", f"See the Overview: {link}", "",
              "You get this because you subscribed to this alert on the Overview; unsubscribe there."]
    return notice(settings, list(to), subject, "\n".join(lines) + "\n")
