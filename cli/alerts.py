"""`pulse alerts`: check the alert rules for a day (exit 1 when any fires, for cron), mail
the subscribers with --notify, and manage subscriptions. `pulse scheduler` calls `due` every
round, which checks once a day at the alerts_at setting's local time."""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import click
from rich.table import Table

from cli.main import CLI, USAGE_ERROR, Failure, _admin_db, _by, _cell, _settings, _store, admin_errors, err, main, out, \
    user_errors


def evaluate(store, day: date | None = None, options: dict[str, str] | None = None):
    """(the day checked, the alerts frame) for `day` (default: the store's last complete day)."""
    from metrics import registry
    from pulse.query import make_query, parse_date

    given = dict(options or {})
    if day is None and "date" in given:  # --option date=D says the same as --date D
        day = parse_date(given["date"], "option date")
    checked = day or last_complete_day(store)
    given["date"] = checked.isoformat()
    return checked, registry.run("alerts", store, make_query(date.today(), date.today(), "day", given))


def notify(db, settings, day: date, checks) -> list:
    """Record the checks and mail the subscribers; what was mailed."""
    from admin.alerts import Alerts

    return Alerts(db).notify(day, checks, settings)


def due(db, store, settings, now: datetime | None = None) -> list | None:
    """Check the last complete day and notify, once a local day at or after alerts_at: what
    was mailed, or None when it is not time yet or that day was checked since alerts_at (a
    check by hand of another day does not count)."""
    from admin.alerts import Alerts

    zone = ZoneInfo(settings.timezone)
    now = (now or datetime.now(timezone.utc)).astimezone(zone)
    at = datetime.combine(now.date(), time.fromisoformat(settings.alerts_at), zone)
    if now < at:
        return None
    day = last_complete_day(store)
    last = Alerts(db).last_checked(day)
    if last is not None and last >= at:
        return None
    day, checks = evaluate(store, day)
    return notify(db, settings, day, checks)


def last_complete_day(store) -> date:
    """The day the alerts check when none is given (no rule is evaluated to find it)."""
    from metrics import registry
    from metrics.alerts import alert_day
    from pulse.query import make_query

    return alert_day(store, registry.get("alerts").typed(make_query(date.today(), date.today()), store))


def report_mail(mailed) -> None:
    for m in mailed:
        what = f"{m.kind} mail for {m.rule} to {', '.join(m.to)}"
        err.print(f"Not sent: {what}: {m.error}" if m.error else f"Sent the {what}.", markup=False)


@main.group(invoke_without_command=True)
@click.option("--date", "day_text", help="The day to check (YYYY-MM-DD; default the last complete day).")
@click.option("--option", "options", multiple=True, help="KEY=VALUE: a filter or an alerts option (repeatable).")
@click.option("--notify", "send", is_flag=True, help="Record the checks and mail the subscribers what is new.")
@click.pass_context
def alerts(ctx: click.Context, day_text: str | None, options: tuple[str, ...], send: bool) -> None:
    """Check the alert rules for a day; exit code 1 when any fires."""
    if ctx.invoked_subcommand:
        return
    from pulse.query import parse_date, parse_options

    with user_errors():
        day = parse_date(day_text, "--date") if day_text else None
        store = _store()
        store.require()
        checked, checks = evaluate(store, day, parse_options(options))
    grid = Table("rule", "fired", "value", "baseline", "threshold", "p", "why", "driven by", title=f"Alerts for {checked}")
    for r in checks.iter_rows(named=True):
        grid.add_row(*(_cell(v) for v in (r["rule"], "FIRED" if r["fired"] else "no", _figure(r["value"]),
                                          _figure(r["baseline"]), _figure(r["threshold"]),
                                          "" if r["p_value"] is None else f"{r['p_value']:.2g}", r["explanation"],
                                          r["top_contributors"])))
    out.print(grid)
    if send:
        with admin_errors():
            mailed = notify(_admin_db(), _settings(), checked, checks)
        report_mail(mailed)
        if any(m.error for m in mailed):
            raise Failure("Some alert mail was not sent; the next check tries again.")
    if checks["fired"].any():
        raise SystemExit(1)


def _figure(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1 else f"{value:,.2f}".removesuffix(".00")


@alerts.command("subscribe")
@click.argument("rule")
@click.argument("email")
@_by
def alerts_subscribe(rule: str, email: str, actor: str) -> None:
    """Mail EMAIL when RULE fires (and when it resolves)."""
    from admin.alerts import AlertError, Alerts

    with admin_errors():
        try:
            Alerts(_admin_db()).subscribe(rule, email, actor, CLI)
        except AlertError as exc:
            raise Failure(str(exc), USAGE_ERROR) from None
    out.print(f"{email} is subscribed to {rule}.", markup=False)


@alerts.command("unsubscribe")
@click.argument("rule")
@click.argument("email")
@_by
def alerts_unsubscribe(rule: str, email: str, actor: str) -> None:
    """Stop mailing EMAIL about RULE."""
    from admin.alerts import Alerts

    with admin_errors():
        Alerts(_admin_db()).unsubscribe(rule, email, actor, CLI)
    out.print(f"{email} is no longer subscribed to {rule}.", markup=False)


@alerts.command("history")
@click.option("--all", "every", is_flag=True, help="Every check, not only the firings.")
@click.option("--limit", default=30, show_default=True, type=click.IntRange(1))
def alerts_history(every: bool, limit: int) -> None:
    """Past checks recorded by --notify and the scheduler, newest first."""
    from admin.alerts import Alerts

    with admin_errors():
        past = Alerts(_admin_db()).history(fired_only=not every, limit=limit)
    if past.is_empty():
        out.print("No alert has fired in the recorded checks." if not every else "No check is recorded yet.")
        return
    grid = Table("day", "rule", "fired", "value", "baseline", "why", "driven by", "mailed")
    for r in past.iter_rows(named=True):
        grid.add_row(*(_cell(v) for v in (r["day"], r["rule"], "FIRED" if r["fired"] else "no", _figure(r["value"]),
                                          _figure(r["baseline"]), r["explanation"], r["top_contributors"], r["mailed"])))
    out.print(grid)
