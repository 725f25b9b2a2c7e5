"""Scheduled exports: a metric written on a cron schedule to folders and email addresses.

Occurrences come from the cron expression read in the schedule's timezone: each local
wall-clock time it names happens once, so the autumn change (02:30 twice) runs once and the
spring change (02:30 never) runs at the first instant after the gap (03:30). The range is
resolved from the occurrence's local date, so a late or retried run exports exactly what
the on-time run would have.

An occurrence is claimed by inserting its run row (schedule, occurrence) — unique, so two
schedulers never run it twice. After downtime a schedule's `catch_up` decides: `latest`
runs the most recent missed occurrence once, `all` runs each, `none` runs none (an
occurrence is missed when the scheduler comes more than MISSED_AFTER late). A failed run
is retried three times with backoff (1, 5, 15 minutes), then marked failed and its owner
emailed. A run whose worker died (SIGKILL, a crash) is taken back and retried.

The export is written in a staging folder and moved into the destination folder with one
rename (a reader never sees half a file); it is produced by the caller's `export` function,
since this floor cannot read the store: export(job, path) -> rows.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import polars as pl
from croniter import croniter
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError

from admin.db import AdminDB, utc_text
from admin.email import EmailError, deliver, notice
from admin.models import AuditEntry, Schedule, ScheduleRun, StaffAccount
from admin.workers import LIVE_WORKERS, abandoned, worker_id
from pulse.settings import Settings

RANGES = ("yesterday", "last_7_days", "last_30_days", "last_full_week", "last_full_month", "month_to_date",
          "year_to_date")  # and last_N_days
FORMATS = ("csv", "csv.gz", "parquet")
CATCH_UP = ("latest", "all", "none")
INTERVALS = ("day", "week", "month")
RETRIES = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15))  # after attempts 1, 2, 3
MISSED_AFTER = timedelta(hours=1)
LEASE = timedelta(hours=2)  # a run claimed longer ago than this, by a worker elsewhere, is taken back
DEFAULT_PATTERN = "{name}/{date}.{ext}"
_LAST_N = re.compile(r"^last_(\d{1,4})_days$")


class ScheduleError(Exception):
    """Something about a schedule the user can fix; one sentence."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- time ------------------------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    if name not in available_timezones():
        raise ScheduleError(f"Unknown timezone {name!r}; give an IANA name such as Europe/Berlin.")
    try:
        return ZoneInfo(name)
    except ZoneInfoNotFoundError:
        raise ScheduleError(f"Unknown timezone {name!r}; give an IANA name such as Europe/Berlin.") from None


def check_cron(expression: str) -> str:
    expression = " ".join(expression.split())
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ScheduleError(f"{expression!r} is not a cron expression of five fields (minute hour day month weekday), "
                            "e.g. '0 7 * * 1' for Mondays at 07:00.")
    return expression


def occurrences(cron: str, tz: str, after: datetime, until: datetime) -> list[datetime]:
    """The instants (UTC) in (after, until] the cron expression names in the timezone: local
    wall-clock times, each once; a time the spring change skips runs just after the gap."""
    local = zone(tz)
    start = after.astimezone(local).replace(tzinfo=None)
    found, it = [], croniter(cron, start)
    while True:
        wall = it.get_next(datetime)
        instant = wall.replace(tzinfo=local).astimezone(timezone.utc)  # fold=0: the first of an autumn pair
        if instant > until:
            return found
        if instant > after and (not found or instant > found[-1]):
            found.append(instant)


def next_occurrence(cron: str, tz: str, after: datetime) -> datetime:
    return occurrences(cron, tz, after, after + timedelta(days=400))[0]


def check_range(name: str) -> str:
    match = _LAST_N.match(name)
    if name in RANGES or (match and 1 <= int(match.group(1)) <= 3660):
        return name
    raise ScheduleError(f"Unknown range {name!r}; use one of: {', '.join(RANGES)}, or last_N_days (e.g. last_14_days).")


def resolve_range(name: str, day: date) -> tuple[date, date]:
    """The days a run on local date `day` exports: always whole days before `day`.
    month_to_date and year_to_date run to yesterday (on the 1st: the whole previous month)."""
    yesterday = day - timedelta(days=1)
    match = _LAST_N.match(name)
    if name == "yesterday":
        return yesterday, yesterday
    if name in ("last_7_days", "last_30_days") or match:
        n = 7 if name == "last_7_days" else 30 if name == "last_30_days" else int(match.group(1))
        return day - timedelta(days=n), yesterday
    if name == "last_full_week":
        monday = day - timedelta(days=day.weekday())
        return monday - timedelta(days=7), monday - timedelta(days=1)
    if name == "last_full_month":
        first = day.replace(day=1)
        last = first - timedelta(days=1)
        return last.replace(day=1), last
    if name == "month_to_date":
        return yesterday.replace(day=1), yesterday
    if name == "year_to_date":
        return yesterday.replace(month=1, day=1), yesterday
    raise ScheduleError(f"Unknown range {name!r}.")


# -- schedules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Job:
    """What one run exports, for the caller's export function."""

    schedule: str
    metric: str
    interval: str
    options: dict[str, str]
    start: date
    end: date
    format: str
    countries: tuple[str, ...]  # the owner's data scope
    plans: tuple[str, ...]


def check_destinations(destinations: list[dict]) -> list[dict]:
    if not destinations:
        raise ScheduleError("Say where the file goes: a folder (--to-folder DIR), an email address (--to-email ADDR), "
                            "or both.")
    out = []
    for destination in destinations:
        if "folder" in destination:
            folder = Path(destination["folder"]).expanduser()
            if not folder.is_dir():
                raise ScheduleError(f"The folder {folder} does not exist; create it (or mount the share) first.")
            pattern = destination.get("pattern") or DEFAULT_PATTERN
            if ".." in Path(pattern).parts or Path(pattern).is_absolute():
                raise ScheduleError(f"The file name pattern {pattern!r} must stay inside the folder.")
            try:
                _file_name(pattern, "x", date(2000, 1, 1), date(2000, 1, 1), date(2000, 1, 1), "csv")
            except (KeyError, IndexError, ValueError):
                raise ScheduleError(f"The file name pattern {pattern!r} may use only {{name}}, {{date}}, {{start}}, "
                                    "{end} and {ext}.") from None
            out.append({"folder": str(folder.resolve()), "pattern": pattern})
        else:
            addresses = [a.strip() for a in destination.get("email", []) if a.strip()]
            bad = [a for a in addresses if not re.match(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", a)]
            if bad or not addresses:
                raise ScheduleError(f"{(bad or [''])[0]!r} is not an email address.")
            out.append({"email": addresses})
    return out


def _file_name(pattern: str, name: str, run_day: date, start: date, end: date, ext: str) -> str:
    safe = re.sub(r"[^\w.-]+", "_", name).strip("._") or "export"
    return pattern.format(name=safe, date=run_day.isoformat(), start=start.isoformat(), end=end.isoformat(), ext=ext)


class Schedules:
    """Schedules and their runs in the admin database."""

    def __init__(self, db: AdminDB):
        self.db = db

    def add(self, name: str, owner: str, metric: str, interval: str, options: dict[str, str], range_name: str,
            cron: str, tz: str, fmt: str, destinations: list[dict], catch_up: str = "latest", by: str = "",
            address: str = "", now: datetime | None = None) -> None:
        """A new schedule (its metric and options checked by the caller, who can read metrics)."""
        name = name.strip()
        if not name:
            raise ScheduleError("Give the schedule a name.")
        if interval not in INTERVALS:
            raise ScheduleError(f"Unknown interval {interval!r}; use day, week or month.")
        if fmt not in FORMATS:
            raise ScheduleError(f"Unknown format {fmt!r}; use one of: {', '.join(FORMATS)}.")
        if catch_up not in CATCH_UP:
            raise ScheduleError(f"Unknown catch-up {catch_up!r}; use latest, all or none.")
        cron, _ = check_cron(cron), zone(tz)
        check_range(range_name)
        destinations = check_destinations(destinations)
        with self.db.session() as session:
            if session.scalar(select(Schedule).where(Schedule.name == name)) is not None:
                raise ScheduleError(f"There is already a schedule {name!r}; pick another name.")
            if session.scalar(select(StaffAccount).where(StaffAccount.email == owner)) is None and owner != "local":
                raise ScheduleError(f"The owner {owner!r} is not a staff account; their data scope decides what "
                                    "the schedule exports.")
            session.add(Schedule(name=name, owner=owner, metric=metric, interval=interval,
                                 options=json.dumps(options, sort_keys=True), range=range_name, cron=cron, timezone=tz,
                                 format=fmt, destinations=json.dumps(destinations), catch_up=catch_up, paused=False,
                                 checked_until=now or _now(), created_by=by or owner))
            session.add(AuditEntry(actor=by or owner, action="schedule.add",
                                   detail=f"{name}: {metric} {range_name} at '{cron}' {tz}", address=address))

    def update(self, name: str, by: str, address: str = "", **changes: Any) -> None:
        """Change a schedule's settings (any of add's but its name and owner); its runs and
        its place in time stay."""
        current = self.get(name)
        merged = current | changes
        check_cron(merged["cron"]), zone(merged["timezone"]), check_range(merged["range"])
        if merged["format"] not in FORMATS or merged["catch_up"] not in CATCH_UP or merged["interval"] not in INTERVALS:
            raise ScheduleError("The format, catch-up or interval is not one Pulse knows.")
        destinations = check_destinations(merged["destinations"])
        with self.db.session() as session:
            row = self._get(session, name)
            row.metric, row.interval, row.options = merged["metric"], merged["interval"], json.dumps(merged["options"],
                                                                                                       sort_keys=True)
            row.range, row.cron, row.timezone = merged["range"], check_cron(merged["cron"]), merged["timezone"]
            row.format, row.catch_up, row.destinations = merged["format"], merged["catch_up"], json.dumps(destinations)
            changed = ", ".join(sorted(k for k in changes if changes[k] != current.get(k))) or "nothing"
            session.add(AuditEntry(actor=by, action="schedule.edit", detail=f"{name}: {changed}", address=address))

    def _get(self, session, name: str) -> Schedule:
        row = session.scalar(select(Schedule).where(Schedule.name == name))
        if row is None:
            raise ScheduleError(f"There is no schedule {name!r}; `pulse schedule list` shows them.")
        return row

    def get(self, name: str) -> dict[str, Any]:
        with self.db.session() as session:
            return _as_dict(self._get(session, name))

    def names(self) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(Schedule.name).order_by(Schedule.name)))

    def set_paused(self, name: str, paused: bool, by: str, address: str = "", now: datetime | None = None) -> None:
        """Pause, or resume: a resumed schedule runs from now on (what it missed while paused is skipped)."""
        with self.db.session() as session:
            row = self._get(session, name)
            if row.paused and not paused:
                row.checked_until = now or _now()
            row.paused = paused
            session.add(AuditEntry(actor=by, action="schedule.pause" if paused else "schedule.resume", detail=name,
                                   address=address))

    def delete(self, name: str, by: str, address: str = "") -> None:
        with self.db.session() as session:
            row = self._get(session, name)
            session.execute(ScheduleRun.__table__.delete().where(ScheduleRun.schedule_id == row.id))
            session.delete(row)
            session.add(AuditEntry(actor=by, action="schedule.delete", detail=name, address=address))

    def listing(self, now: datetime | None = None) -> pl.DataFrame:
        """Every schedule with its next run and its last run's outcome."""
        now = now or _now()
        # Each schedule's latest run, in one query rather than one per schedule.
        ranked = select(ScheduleRun.schedule_id, ScheduleRun.occurrence, ScheduleRun.status, func.row_number().over(
            partition_by=ScheduleRun.schedule_id, order_by=(ScheduleRun.occurrence.desc(), ScheduleRun.id.desc()),
        ).label("n")).subquery()
        with self.db.session() as session:
            latest = {sid: (occurrence, status) for sid, occurrence, status in session.execute(
                select(ranked.c.schedule_id, ranked.c.occurrence, ranked.c.status).where(ranked.c.n == 1))}
            rows = []
            for s in session.scalars(select(Schedule).order_by(Schedule.name)):
                occurrence, status = latest.get(s.id, (None, ""))
                upcoming = "" if s.paused else utc_text(next_occurrence(s.cron, s.timezone, max(now, _aware(s.checked_until))))
                rows.append((s.name, s.metric, s.range, s.cron, s.timezone, s.format, _where(s), s.owner,
                             "paused" if s.paused else "active", upcoming, utc_text(occurrence), status))
        columns = ("name", "metric", "range", "cron", "timezone", "format", "destinations", "owner", "state",
                   "next_run_utc", "last_run_utc", "last_outcome")
        return pl.DataFrame(rows, schema=[(c, pl.String) for c in columns], orient="row")

    def delivered_file(self, run_id: int) -> Path | None:
        """The file a run wrote to a folder, when it is still there."""
        with self.db.session() as session:
            run = session.get(ScheduleRun, run_id)
            paths = [Path(line) for line in (run.delivered if run else "").splitlines() if line.startswith("/")]
        return next((p for p in paths if p.is_file()), None)

    def runs(self, name: str | None = None, limit: int = 200) -> pl.DataFrame:
        """The run log, newest first."""
        query = (select(ScheduleRun, Schedule.name).join(Schedule, Schedule.id == ScheduleRun.schedule_id)
                 .order_by(ScheduleRun.occurrence.desc(), ScheduleRun.id.desc()).limit(limit))
        if name:
            query = query.where(Schedule.name == name)
        with self.db.session() as session:
            rows = [(r.id, n, utc_text(r.occurrence), r.range_start.isoformat(), r.range_end.isoformat(), utc_text(r.started_at),
                     utc_text(r.finished_at), r.rows, r.bytes, r.delivered, r.status, r.attempts, r.error)
                    for r, n in session.execute(query)]
        schema = [("run", pl.Int64), ("schedule", pl.String), ("occurrence_utc", pl.String), ("range_start", pl.String),
                  ("range_end", pl.String), ("started_utc", pl.String), ("finished_utc", pl.String), ("rows", pl.Int64),
                  ("bytes", pl.Int64), ("destinations", pl.String), ("outcome", pl.String), ("attempts", pl.Int64),
                  ("error", pl.String)]
        return pl.DataFrame(rows, schema=schema, orient="row")


def _as_dict(s: Schedule) -> dict[str, Any]:
    return {"name": s.name, "owner": s.owner, "metric": s.metric, "interval": s.interval, "options": json.loads(s.options),
            "range": s.range, "cron": s.cron, "timezone": s.timezone, "format": s.format,
            "destinations": json.loads(s.destinations), "catch_up": s.catch_up, "paused": s.paused}


def _where(s: Schedule) -> str:
    parts = []
    for d in json.loads(s.destinations):
        parts.append(str(Path(d["folder"]) / d["pattern"]) if "folder" in d else ", ".join(d["email"]))
    return "; ".join(parts)


# -- running -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    schedule: str
    occurrence: datetime
    status: str  # done | retrying | failed
    rows: int | None
    error: str


Export = Callable[[Job, Path], int]


class Runner:
    """Runs what is due: claims occurrences, exports, delivers, logs, retries."""

    def __init__(self, db: AdminDB, settings: Settings, export: Export, pages: dict[str, str] | None = None):
        """export(job, path) -> rows writes the file; pages names the app page of each metric
        (for the link in an emailed export)."""
        self.db, self.settings, self.export, self.pages = db, settings, export, pages or {}
        self.worker = worker_id()
        self.staging = settings.folder / "staging"

    def run_due(self, now: datetime | None = None) -> list[Outcome]:
        now = now or _now()
        LIVE_WORKERS.add(self.worker)
        try:
            claimed = self._claim_retries(now) + self._claim_occurrences(now)
            return [self._run(run_id, now) for run_id in claimed]
        finally:
            LIVE_WORKERS.discard(self.worker)

    def run_now(self, name: str, now: datetime | None = None, by: str = "", address: str = "") -> Outcome:
        """Run a schedule at once, as if an occurrence were due now (not counted against its cron)."""
        now = (now or _now()).replace(microsecond=0)
        with self.db.session() as session:
            schedule = Schedules(self.db)._get(session, name)
            session.add(AuditEntry(actor=by or schedule.owner, action="schedule.run_now", detail=name, address=address))
        LIVE_WORKERS.add(self.worker)
        try:
            run_id = self._insert(schedule.id, now, schedule.range, schedule.timezone, now)
            if run_id is None:
                raise ScheduleError(f"{name} is running for {utc_text(now)} already.")
            return self._run(run_id, now)
        finally:
            LIVE_WORKERS.discard(self.worker)

    def _insert(self, schedule_id: int, occurrence: datetime, range_name: str, tz: str, now: datetime) -> int | None:
        start, end = resolve_range(range_name, occurrence.astimezone(zone(tz)).date())
        try:
            with self.db.session() as session:
                run = ScheduleRun(schedule_id=schedule_id, occurrence=occurrence, status="running", range_start=start,
                                  range_end=end, attempts=1, claimed_by=self.worker, started_at=now, delivered="", error="")
                session.add(run)
                session.flush()
                return run.id
        except IntegrityError:
            return None  # another scheduler has it

    def _claim_occurrences(self, now: datetime) -> list[int]:
        claimed = []
        with self.db.session() as session:
            schedules = session.scalars(select(Schedule).where(Schedule.paused.is_(False)).order_by(Schedule.id)).all()
        for s in schedules:
            due = occurrences(s.cron, s.timezone, _aware(s.checked_until), now)
            if not due:
                continue
            on_time = [o for o in due if now - o <= MISSED_AFTER]
            missed = [o for o in due if now - o > MISSED_AFTER]
            chosen = on_time + (missed if s.catch_up == "all" else missed[-1:] if s.catch_up == "latest" and not on_time
                                else [])
            for occurrence in sorted(chosen):
                run_id = self._insert(s.id, occurrence, s.range, s.timezone, now)
                if run_id is not None:
                    claimed.append(run_id)
            with self.db.session() as session:
                session.execute(update(Schedule).where(Schedule.id == s.id, Schedule.checked_until < due[-1])
                                .values(checked_until=due[-1]).execution_options(synchronize_session=False))
        return claimed

    def _claim_retries(self, now: datetime) -> list[int]:
        """Runs waiting for their retry, and runs whose worker died, claimed by this worker."""
        with self.db.session() as session:
            candidates = session.scalars(select(ScheduleRun).where(or_(
                ScheduleRun.status == "retrying", ScheduleRun.status == "running"))).all()
        claimed = []
        for run in candidates:
            if run.status == "retrying" and _aware(run.next_attempt_at) > now:
                continue
            if run.status == "running" and not abandoned(run.claimed_by, _aware(run.started_at), now, LEASE):
                continue
            with self.db.session() as session:
                taken = session.execute(
                    update(ScheduleRun).where(ScheduleRun.id == run.id, ScheduleRun.status == run.status,
                                              ScheduleRun.claimed_by == run.claimed_by)
                    .values(status="running", claimed_by=self.worker, started_at=now,
                            attempts=ScheduleRun.attempts + (1 if run.status == "retrying" else 0))
                    .execution_options(synchronize_session=False)).rowcount
            if taken:
                claimed.append(run.id)
        return claimed

    def _run(self, run_id: int, now: datetime) -> Outcome:
        with self.db.session() as session:
            run = session.get(ScheduleRun, run_id)
            s = session.get(Schedule, run.schedule_id)
            owner = session.scalar(select(StaffAccount).where(StaffAccount.email == s.owner))
            job = Job(s.name, s.metric, s.interval, json.loads(s.options), run.range_start, run.range_end, s.format,
                      tuple(c for c in (owner.countries if owner else "").split(",") if c),
                      tuple(p for p in (owner.plans if owner else "").split(",") if p))
            occurrence, attempts, schedule = _aware(run.occurrence), run.attempts, _as_dict(s)
        staged = self.staging / f"run-{run_id}.{job.format}"
        try:
            self.staging.mkdir(parents=True, exist_ok=True)
            rows = self.export(job, staged)
            delivered = self._deliver(schedule, job, occurrence, staged, rows)
            size = staged.stat().st_size
        except Exception as exc:  # noqa: BLE001 - any failure is logged, retried, and at last reported
            error = _sentence(exc)
            failed = attempts > len(RETRIES)
            with self.db.session() as session:
                session.execute(update(ScheduleRun).where(ScheduleRun.id == run_id).values(
                    status="failed" if failed else "retrying", error=error, finished_at=_now(),
                    next_attempt_at=None if failed else now + RETRIES[attempts - 1]))
                session.add(AuditEntry(actor=schedule["owner"], action="schedule.run",
                                       detail=f"{job.schedule} {utc_text(occurrence)}: attempt {attempts} failed: {error}"))
            if failed:
                self._tell_owner(schedule, occurrence, error)
            return Outcome(job.schedule, occurrence, "failed" if failed else "retrying", None, error)
        finally:
            staged.unlink(missing_ok=True)
        with self.db.session() as session:
            session.execute(update(ScheduleRun).where(ScheduleRun.id == run_id).values(
                status="done", rows=rows, bytes=size, delivered="\n".join(delivered), finished_at=_now(), error=""))
            session.add(AuditEntry(actor=schedule["owner"], action="schedule.run",
                                   detail=f"{job.schedule} {utc_text(occurrence)}: {job.metric} {job.start}..{job.end}, "
                                          f"{rows:,} rows to {'; '.join(delivered)}"))
        return Outcome(job.schedule, occurrence, "done", rows, "")

    def _deliver(self, schedule: dict, job: Job, occurrence: datetime, staged: Path, rows: int) -> list[str]:
        run_day = occurrence.astimezone(zone(schedule["timezone"])).date()
        done = []
        for destination in schedule["destinations"]:
            if "folder" in destination:
                target = Path(destination["folder"]) / _file_name(destination["pattern"], job.schedule, run_day,
                                                                   job.start, job.end, job.format)
                target.parent.mkdir(parents=True, exist_ok=True)
                _place(staged, target)
                done.append(str(target))
            else:
                self._mail(destination["email"], job, staged, rows, run_day)
                done.append(", ".join(destination["email"]))
        return done

    def _mail(self, to: list[str], job: Job, staged: Path, rows: int, run_day: date) -> None:
        link = f"{self.settings.public_url}/{self.pages.get(job.metric, '')}?" + urlencode(
            {"range": "custom", "start": job.start.isoformat(), "end": job.end.isoformat(), "interval": job.interval,
             **{k: v for k, v in job.options.items() if k in ("country", "device_type", "plan")}})
        msg = notice(self.settings, to, f"{job.schedule}: {job.metric} {_span(job.start, job.end)}",
                     f"{job.schedule}: {job.metric} for {_span(job.start, job.end)} — {rows:,} rows, attached.\n\n"
                     f"See it in Pulse: {link}\n")
        data, file_name = staged.read_bytes(), _file_name("{name}_{start}_{end}.{ext}", job.schedule, run_day, job.start,
                                                           job.end, job.format)
        if job.format == "csv" and len(data) > self.settings.export_gzip_mb * 1024 * 1024:
            data, file_name = gzip.compress(data, mtime=0), file_name + ".gz"
        kind = {"csv": ("text", "csv"), "csv.gz": ("application", "gzip"), "parquet": ("application", "vnd.apache.parquet")}
        main, sub = kind["csv.gz" if file_name.endswith(".gz") else job.format]
        msg.add_attachment(data, maintype=main, subtype=sub, filename=file_name)
        deliver(self.settings, msg)

    def _tell_owner(self, schedule: dict, occurrence: datetime, error: str) -> None:
        if "@" not in schedule["owner"]:
            return
        msg = notice(self.settings, [schedule["owner"]], f"Scheduled export {schedule['name']} failed",
                     f"The scheduled export {schedule['name']} due {utc_text(occurrence)} UTC failed "
                     f"{len(RETRIES) + 1} times and will not be tried again:\n\n{error}\n\n"
                     f"Run it again from the Exports page ({self.settings.public_url}/exports) once the cause is fixed.\n")
        try:
            deliver(self.settings, msg)
        except EmailError:
            pass  # the run log and the audit log say it failed; a mail server that is down cannot say more


def _place(staged: Path, target: Path) -> None:
    """Put the finished file at `target` in one step: a rename when both are on one file
    system, else a copy to a hidden name beside the target and a rename."""
    try:
        os.link(staged, target.with_name(f".{target.name}.pulse-new"))
        os.replace(target.with_name(f".{target.name}.pulse-new"), target)
        return
    except OSError:
        target.with_name(f".{target.name}.pulse-new").unlink(missing_ok=True)
    partial = target.with_name(f".{target.name}.pulse-partial")
    try:
        shutil.copyfile(staged, partial)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)


def _span(start: date, end: date) -> str:
    return str(start) if start == end else f"{start} – {end}"


def _sentence(exc: Exception) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    return text if text.endswith((".", "!", "?")) else text + "."
