"""`pulse schedule` and `pulse scheduler`: scheduled exports from the command line.

`pulse schedule run-due` runs what is due once (for system cron and for tests, with --now to
travel in time); `pulse scheduler` does that every 30 seconds until stopped.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Iterator

import click
from rich.table import Table

from cli.main import CLI, USAGE_ERROR, Failure, _admin_db, _by, _cell, _settings, _store, admin_errors, err, main, out


@contextmanager
def schedule_errors(usage: bool = False) -> Iterator[None]:
    """A schedule's mistakes (cron, timezone, metric, option) as one sentence: exit 2 when
    they are in what was typed, else 1."""
    from admin.schedules import ScheduleError
    from pulse.query import QueryError

    with admin_errors():
        try:
            yield
        except (ScheduleError, QueryError) as exc:
            raise Failure(str(exc), USAGE_ERROR if usage else 1) from None


def _now(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Failure(f"--now {text!r} is not a timestamp such as 2027-03-29T07:00 (UTC unless it says +02:00).",
                      USAGE_ERROR) from None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _runner(db):
    from admin.schedules import Runner
    from metrics import jobs

    store = _store()
    store.require()
    return Runner(db, _settings(), lambda job, path: jobs.export(store, job, path), jobs.pages())


def _outcomes(outcomes) -> None:
    from admin.db import utc_text

    if not outcomes:
        out.print("Nothing is due.")
        return
    for o in outcomes:
        what = f"{o.rows:,} rows" if o.status == "done" else f"{o.status}: {o.error}"
        out.print(f"{o.schedule} {utc_text(o.occurrence)} UTC: {what}", markup=False)
    if any(o.status != "done" for o in outcomes):
        raise SystemExit(1)


@main.group()
def schedule() -> None:
    """Scheduled exports: a metric to a folder or by email on a cron schedule."""


@schedule.command("add")
@click.argument("name")
@click.option("--metric", required=True, help="The metric to export (see `pulse metrics`).")
@click.option("--range", "range_name", default="last_7_days", show_default=True,
              help="yesterday, last_7_days, last_30_days, last_N_days, last_full_week, last_full_month, month_to_date "
                   "or year_to_date: whole days before the run's local date.")
@click.option("--interval", default="day", show_default=True, help="day, week or month.")
@click.option("--option", "options", multiple=True, help="KEY=VALUE: a metric option or filter (repeatable).")
@click.option("--cron", required=True, help="Five fields, e.g. '0 7 * * 1' (Mondays 07:00).")
@click.option("--timezone", "tz", required=True, help="IANA name the cron and the range are read in, e.g. Europe/Berlin.")
@click.option("--to-folder", "folders", multiple=True, help="A folder (local or a mounted share) to write the file to.")
@click.option("--pattern", default=None, help="File name in the folder: {name}, {date}, {start}, {end}, {ext} "
                                              "(default {name}/{date}.{ext}).")
@click.option("--to-email", "emails", multiple=True, help="An address to mail the file to (repeatable).")
@click.option("--format", "fmt", default="csv", show_default=True, type=click.Choice(["csv", "csv.gz", "parquet"]))
@click.option("--catch-up", default="latest", show_default=True, type=click.Choice(["latest", "all", "none"]),
              help="After downtime: run the latest missed occurrence, all of them, or none.")
@click.option("--owner", help="The staff account whose data scope applies and who hears of failures (default: --by).")
@_by
def schedule_add(name, metric, range_name, interval, options, cron, tz, folders, pattern, emails, fmt, catch_up, owner,
                 actor) -> None:
    """Add schedule NAME."""
    from admin.schedules import Schedules
    from metrics import jobs
    from pulse.query import parse_options

    destinations = [{"folder": f, "pattern": pattern} for f in folders] + ([{"email": list(emails)}] if emails else [])
    with schedule_errors(usage=True):
        parsed = parse_options(options)
        jobs.check(metric, interval, parsed)
        Schedules(_admin_db()).add(name, owner or actor, metric, interval, parsed, range_name, cron, tz, fmt,
                                   destinations, catch_up, by=actor, address=CLI)
    with schedule_errors():
        listing = Schedules(_admin_db()).listing()
    upcoming = dict(zip(listing["name"], listing["next_run_utc"]))[name.strip()]
    out.print(f"Added the schedule {name.strip()}; next run {upcoming} UTC.", markup=False)


@schedule.command("list")
def schedule_list() -> None:
    """Every schedule with its next and last run."""
    from admin.schedules import Schedules

    with schedule_errors():
        listing = Schedules(_admin_db()).listing()
    if listing.is_empty():
        out.print("No schedules yet: `pulse schedule add NAME --metric M --cron EXPR --timezone TZ --to-folder DIR`.",
                  markup=False)
        return
    grid = Table("name", "metric", "range", "cron", "timezone", "to", "state", "next run (UTC)", "last run (UTC)",
                 "outcome")
    for row in listing.select("name", "metric", "range", "cron", "timezone", "destinations", "state", "next_run_utc",
                              "last_run_utc", "last_outcome").iter_rows():
        grid.add_row(*(_cell(v) for v in row))
    out.print(grid)


@schedule.command("show")
@click.argument("name")
def schedule_show(name: str) -> None:
    """One schedule's settings."""
    import json

    from admin.schedules import Schedules

    with schedule_errors():
        click.echo(json.dumps(Schedules(_admin_db()).get(name), indent=2))


@schedule.command("pause")
@click.argument("name")
@_by
def schedule_pause(name: str, actor: str) -> None:
    """Stop running NAME until it is resumed."""
    from admin.schedules import Schedules

    with schedule_errors():
        Schedules(_admin_db()).set_paused(name, True, by=actor, address=CLI)
    out.print(f"Paused {name}.", markup=False)


@schedule.command("resume")
@click.argument("name")
@_by
def schedule_resume(name: str, actor: str) -> None:
    """Run NAME again from now on (what it missed while paused is skipped)."""
    from admin.schedules import Schedules

    with schedule_errors():
        Schedules(_admin_db()).set_paused(name, False, by=actor, address=CLI)
    out.print(f"Resumed {name}.", markup=False)


@schedule.command("delete")
@click.argument("name")
@_by
def schedule_delete(name: str, actor: str) -> None:
    """Delete NAME and its run log (files already written stay)."""
    from admin.schedules import Schedules

    with schedule_errors():
        Schedules(_admin_db()).delete(name, by=actor, address=CLI)
    out.print(f"Deleted {name}.", markup=False)


@schedule.command("run")
@click.argument("name")
@click.option("--now", "now_text", help="Pretend it is this instant (ISO 8601; UTC unless it says otherwise).")
@_by
def schedule_run(name: str, now_text: str | None, actor: str) -> None:
    """Run NAME once now, whatever its cron says."""
    now = _now(now_text)
    with schedule_errors():
        db = _admin_db()
        outcome = _runner(db).run_now(name, now, by=actor, address=CLI)
    _outcomes([outcome])


@schedule.command("run-due")
@click.option("--now", "now_text", help="Pretend it is this instant (ISO 8601; UTC unless it says otherwise).")
def schedule_run_due(now_text: str | None) -> None:
    """Run every occurrence that is due, and the retries that are (for system cron)."""
    now = _now(now_text)
    with schedule_errors():
        outcomes = _runner(_admin_db()).run_due(now)
    _outcomes(outcomes)


@schedule.command("history")
@click.argument("name", required=False)
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
def schedule_history(name: str | None, limit: int) -> None:
    """The run log, newest first (of NAME, or of every schedule)."""
    from admin.schedules import Schedules

    with schedule_errors():
        runs = Schedules(_admin_db()).runs(name, limit)
    if runs.is_empty():
        out.print("No runs yet.")
        return
    grid = Table("schedule", "occurrence (UTC)", "range", "finished (UTC)", "rows", "bytes", "to", "outcome", "error")
    for r in runs.iter_rows(named=True):
        grid.add_row(*(_cell(v) for v in (r["schedule"], r["occurrence_utc"], f"{r['range_start']} – {r['range_end']}",
                                          r["finished_utc"], "" if r["rows"] is None else f"{r['rows']:,}",
                                          "" if r["bytes"] is None else f"{r['bytes']:,}", r["destinations"],
                                          r["outcome"], r["error"])))
    out.print(grid)


@main.command()
@click.option("--every", default=30, show_default=True, type=click.IntRange(1, 3600), help="Seconds between checks.")
def scheduler(every: int) -> None:
    """Run scheduled exports as they come due, and check the alerts once a day at the
    alerts_at setting's local time (mailing their subscribers), until stopped (Ctrl-C)."""
    from cli.alerts import due, report_mail

    settings = _settings()
    with schedule_errors():
        db = _admin_db()
        runner = _runner(db)
    err.print(f"Running scheduled exports every {every} s and the alerts daily at {settings.alerts_at} "
              f"({settings.timezone}); Ctrl-C stops.")
    try:
        while True:
            with schedule_errors():
                for o in runner.run_due():
                    err.print(f"{o.schedule}: {o.status}" + (f" ({o.rows:,} rows)" if o.rows is not None else
                                                             f": {o.error}"), markup=False)
            try:
                with schedule_errors():
                    mailed = due(db, _store(), settings)
            except Failure as exc:  # no data yet, a store being replaced: try again next round
                err.print(f"The alerts were not checked: {exc}", markup=False)
                mailed = None
            if mailed is not None:
                err.print(f"Checked the alerts ({len(mailed)} mail).")
                report_mail(mailed)
            time.sleep(every)
    except KeyboardInterrupt:
        err.print("Stopped.")
