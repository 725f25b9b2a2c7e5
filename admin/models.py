"""Tables of the admin database (SQLAlchemy 2.0 declarative models).

The analytics store holds what users did; this database holds what staff do: their
accounts, sessions and sign-in attempts, and the audit log; later issues add email
templates and logs and export schedules, each with its own migration under
admin/migrations/versions.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import Boolean, Date, DateTime, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(timezone.utc)


class AuditEntry(Base):
    """One thing a member of staff did that changes data or reaches users."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now, index=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(100), default="")  # where the request came from


class StaffAccount(Base):
    """A member of staff who may sign in: their role and the slice of users they may see."""

    __tablename__ = "staff_accounts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    # argon2id, as argon2-cffi encodes it (parameters and salt included); never the password.
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    # The data scope: comma-separated countries and plans; empty means every one.
    countries: Mapped[str] = mapped_column(String(200), default="")
    plans: Mapped[str] = mapped_column(String(200), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class SignInAttempt(Base):
    """One try at signing in, kept to lock an account after repeated failures."""

    __tablename__ = "sign_in_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class StaffSession(Base):
    """A signed-in browser. Only a hash of its token is kept: the token lives in the cookie."""

    __tablename__ = "staff_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    email: Mapped[str] = mapped_column(String(320), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class EmailTemplate(Base):
    """A message staff send to users: Jinja2 (sandboxed) subject, plain-text and HTML bodies."""

    __tablename__ = "email_templates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    subject: Mapped[str] = mapped_column(String(500))
    text_body: Mapped[str] = mapped_column(Text, default="")  # empty: made from the HTML body
    html_body: Mapped[str] = mapped_column(Text, default="")  # empty: plain text only
    updated_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Segment(Base):
    """A saved set of recipients: the segment_users options, as JSON text."""

    __tablename__ = "segments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    definition: Mapped[str] = mapped_column(Text)
    updated_by: Mapped[str] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Suppression(Base):
    """An address that gets no marketing mail: the user unsubscribed, or an admin said so."""

    __tablename__ = "suppressions"

    email: Mapped[str] = mapped_column(String(320), primary_key=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    added_by: Mapped[str] = mapped_column(String(320))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Campaign(Base):
    """One send of a template to a set of recipients. The template is copied in, so a later
    edit of it changes nothing already sent or queued."""

    __tablename__ = "campaigns"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # chosen by the sender: a rerun finds it
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    created_by: Mapped[str] = mapped_column(String(320))
    template: Mapped[str] = mapped_column(String(200))
    subject: Mapped[str] = mapped_column(String(500))
    kind: Mapped[str] = mapped_column(String(20))  # marketing | transactional | test
    reason: Mapped[str] = mapped_column(Text, default="")  # why a transactional email may ignore consent
    segment: Mapped[str] = mapped_column(Text, default="")  # the recipients, in words


class OutboxMessage(Base):
    """One recipient of a campaign, rendered: queued → sending → sent | failed | skipped."""

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("campaign_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    user_id: Mapped[str] = mapped_column(String(200), index=True)
    email: Mapped[str] = mapped_column(String(320), default="")
    name: Mapped[str] = mapped_column(String(500), default="")
    status: Mapped[str] = mapped_column(String(10), index=True)
    reason: Mapped[str] = mapped_column(Text, default="")  # why skipped, or the SMTP server's reply
    subject: Mapped[str] = mapped_column(String(1000), default="")
    text_body: Mapped[str] = mapped_column(Text, default="")
    html_body: Mapped[str] = mapped_column(Text, default="")
    message_id: Mapped[str] = mapped_column(String(300), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    permanent: Mapped[bool] = mapped_column(Boolean, default=False)  # refused for good (5xx): never retried
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(200), default="")  # host:pid of the worker sending it
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class Schedule(Base):
    """A metric exported on a cron schedule to folders and email addresses."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    owner: Mapped[str] = mapped_column(String(320))  # whose data scope applies, and who hears of failures
    metric: Mapped[str] = mapped_column(String(100))
    interval: Mapped[str] = mapped_column(String(10))
    options: Mapped[str] = mapped_column(Text, default="{}")  # the metric's options and filters, as JSON
    range: Mapped[str] = mapped_column(String(40))  # yesterday, last_7_days, last_full_week, …
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    format: Mapped[str] = mapped_column(String(10))  # csv | csv.gz | parquet
    destinations: Mapped[str] = mapped_column(Text)  # JSON list of {"folder", "pattern"} or {"email": [..]}
    catch_up: Mapped[str] = mapped_column(String(10), default="latest")  # latest | all | none
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    # Occurrences after this instant are still to be run (the creation time, then the latest claimed).
    checked_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class ScheduleRun(Base):
    """One occurrence of a schedule: claimed once (the unique pair), run, retried, logged."""

    __tablename__ = "schedule_runs"
    __table_args__ = (UniqueConstraint("schedule_id", "occurrence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    schedule_id: Mapped[int] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), index=True)
    occurrence: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the scheduled instant (UTC)
    status: Mapped[str] = mapped_column(String(10))  # running | retrying | done | failed
    range_start: Mapped[date] = mapped_column(Date)
    range_end: Mapped[date] = mapped_column(Date)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    claimed_by: Mapped[str] = mapped_column(String(200), default="")
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bytes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    delivered: Mapped[str] = mapped_column(Text, default="")  # where the file went, one per line
    error: Mapped[str] = mapped_column(Text, default="")


class SavedView(Base):
    """A page with its filters and choices (or an Explore question), saved by name."""

    __tablename__ = "saved_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(320), index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)  # with every member of staff, else the owner's alone
    page: Mapped[str] = mapped_column(String(100))  # the page's file name in pages/ ("" is the Overview)
    state: Mapped[str] = mapped_column(Text, default="{}")  # the page's URL parameters, as JSON
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    last_opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SavedQuery(Base):
    """A SQL query kept by name for the SQL page."""

    __tablename__ = "saved_queries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200))
    sql: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(320), index=True)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    saved_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class QueryRun(Base):
    """One SQL query a member of staff ran: their history."""

    __tablename__ = "query_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(320), index=True)
    sql: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    error: Mapped[str] = mapped_column(Text, default="")


class Goal(Base):
    """A target for a headline number by a date (reach at least `target` by `due`)."""

    __tablename__ = "goals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    measure: Mapped[str] = mapped_column(String(50))  # a name from metrics.goals.MEASURES
    target: Mapped[float] = mapped_column(Float)
    due: Mapped[date] = mapped_column(Date)
    note: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class Annotation(Base):
    """A note on a date — a release, a price change, an outage — drawn on every time chart."""

    __tablename__ = "annotations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    note: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class AlertSubscription(Base):
    """A member of staff who wants an email when an alert rule fires and when it resolves."""

    __tablename__ = "alert_subscriptions"
    __table_args__ = (UniqueConstraint("rule", "email", name="uq_alert_subscription"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(50))
    email: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)


class AlertCheck(Base):
    """One rule evaluated for one day: the history of firings, and what mail went out for it."""

    __tablename__ = "alert_checks"
    __table_args__ = (UniqueConstraint("rule", "day", name="uq_alert_check"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rule: Mapped[str] = mapped_column(String(50))
    day: Mapped[date] = mapped_column(Date, index=True)
    fired: Mapped[bool] = mapped_column(Boolean)
    value: Mapped[float | None] = mapped_column(Float, nullable=True)
    baseline: Mapped[float | None] = mapped_column(Float, nullable=True)
    threshold: Mapped[float | None] = mapped_column(Float, nullable=True)
    p_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    explanation: Mapped[str] = mapped_column(Text, default="")
    top_contributors: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    mailed: Mapped[str] = mapped_column(String(20), default="")  # "", "fired" or "resolved": the mail sent for this day
