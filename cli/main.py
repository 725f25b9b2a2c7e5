"""The `pulse` command.

Every failure a user can cause is one line on stderr and a non-zero exit: 2 for a wrong
command line (unknown metric, option or date, or what click itself rejects), 1 for
anything that went wrong doing the work (an unreadable file, a database that is down).
Never a traceback for those; and an error nobody foresaw is one line too, naming the
command, with the traceback kept in a file the line names.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import traceback
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from admin.roles import ROLES
from pulse.schema import TABLES
from pulse.settings import ROOT, Settings, SettingsError, load_settings
from pulse.store import Store, StoreError

err = Console(stderr=True)
# Printed to a pipe or a file, tables keep every character of every cell instead of being
# cut to an 80-column terminal that is not there.
out = Console() if sys.stdout.isatty() else Console(width=100_000)

USAGE_ERROR = 2
WORK_ERROR = 1
DEMO_ADMIN = "admin@example.com"
CLI = "command line"  # the audit log's "from where" for what a command did


class Failure(click.ClickException):
    """One sentence for the user and an exit code."""

    def __init__(self, message: str, code: int = WORK_ERROR):
        super().__init__(message)
        self.exit_code = code

    def show(self, file=None) -> None:
        click.echo(f"pulse: {self.message}", err=True)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the errors a user can cause into one line and the right exit code."""
    from loaders.validate import LoadError
    from pulse.query import QueryError

    try:
        yield
    except QueryError as exc:
        raise Failure(str(exc), USAGE_ERROR) from None
    except (LoadError, StoreError, SettingsError, OSError) as exc:
        raise Failure(str(exc), WORK_ERROR) from None
    except KeyboardInterrupt:
        raise Failure("Interrupted; the store is as it was before this command.", 130) from None


@contextmanager
def admin_errors() -> Iterator[None]:
    """user_errors() for a command on the admin database, whose errors are one line and exit 1 too.
    Apart because the admin modules take a while to import, and most commands never need them."""
    from admin.db import AdminDatabaseError
    from admin.email import EmailError
    from admin.schedules import ScheduleError
    from admin.staff import StaffError

    with user_errors():
        try:
            yield
        except (AdminDatabaseError, StaffError, EmailError, ScheduleError) as exc:
            raise Failure(str(exc), WORK_ERROR) from None


@contextmanager
def _one_line_usage() -> Iterator[None]:
    """click's usage errors as one line, like every other error, instead of its usage block."""
    try:
        yield
    except click.exceptions.NoArgsIsHelpError:
        raise
    except click.UsageError as exc:
        message = " ".join(exc.format_message().split())
        if not message.endswith((".", "?", "!", ")")):
            message += "."
        hint = f" See `{exc.ctx.command_path} --help`." if exc.ctx is not None else ""
        raise Failure(message + hint, USAGE_ERROR) from None


def _unexpected(command: str, exc: BaseException) -> Failure:
    """The last net: an error no code path foresaw, as one line that names the command and
    where the full traceback was written (for a bug report)."""
    fd, log = tempfile.mkstemp(prefix="pulse-error-", suffix=".log")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(f"{command}\n\n{''.join(traceback.format_exception(exc))}")
    reason = (str(exc).strip().splitlines() or [""])[0]
    what = f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
    return Failure(f"`{command}` failed unexpectedly ({what}); the full traceback is in {log}.", WORK_ERROR)


class PulseGroup(click.Group):
    """A click group whose usage errors are one line and whose unexpected errors are caught
    at the top, so no command ever ends in a traceback."""

    group_class = type  # `pulse user` is one of these too

    def make_context(self, info_name: str | None, args: list[str], parent: click.Context | None = None,
                     **extra: Any) -> click.Context:
        with _one_line_usage():
            return super().make_context(info_name, args, parent, **extra)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        ctx.meta["pulse.command"] = f"{ctx.command_path} {name}"
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        with _one_line_usage():
            try:
                return super().invoke(ctx)
            except (click.ClickException, click.exceptions.Exit, click.Abort, KeyboardInterrupt, SystemExit):
                raise
            # BaseException: a Rust library's panic (polars, pyo3) is not an Exception.
            except BaseException as exc:
                raise _unexpected(ctx.meta.get("pulse.command", ctx.command_path), exc) from None


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise Failure(str(exc), USAGE_ERROR) from None


def _store() -> Store:
    return Store.from_settings(_settings())


def _writing_store() -> Store:
    """The store for a command that writes it, with what killed loads left beside it swept."""
    store = _store()
    store.sweep()
    return store


def _admin_db():
    """The admin database of the settings, migrated to the newest schema."""
    from admin.db import AdminDB

    db = AdminDB(_settings().admin_db)
    click.get_current_context().call_on_close(db.engine.dispose)
    return db


def _staff_accounts():
    from admin.staff import StaffAccounts

    return StaffAccounts(_admin_db())


_by = click.option("--by", "actor", default=lambda: os.environ.get("USER", "unknown"), show_default="$USER",
                   help="Who is doing this (recorded in the audit log).")


def _options_words(options: tuple[str, ...]) -> str:
    return f" with {', '.join(options)}" if options else ""


def _audit_trail(actor: str):
    """A function that records one command-line action in the audit log. The admin database
    is opened before the work starts, so a command whose trail cannot be written fails
    before it has done anything (personal data leaves only with a record of who took it)."""
    with admin_errors():
        db = _admin_db()

    def record(action: str, detail: str) -> None:
        with admin_errors():
            db.audit(actor, action, detail, CLI)

    return record


def _check_writable(path: Path) -> None:
    """Refuse, before any work, a file that cannot be written, so no work is wasted."""
    if path.is_dir():
        raise Failure(f"Cannot write {path}: it is a folder.")
    if not path.parent.is_dir():
        raise Failure(f"Cannot write {path}: the folder {path.parent} does not exist.")
    if not os.access(path.parent, os.W_OK):
        raise Failure(f"Cannot write {path}: the folder {path.parent} is not writable.")


def _write(path: Path, content: str | Callable[[Path], Any]) -> Any:
    """Write the whole file or nothing: a reader never finds it half-written. `content` is
    the text, or a function that writes the file it is given (what it returns is returned)."""
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}.partial")
    try:
        if isinstance(content, str):
            partial.write_text(content, encoding="utf-8")
            result = None
        else:
            result = content(partial)
        os.replace(partial, path)
        return result
    finally:
        partial.unlink(missing_ok=True)


@contextmanager
def progress_bar(label: str) -> Iterator:
    """A progress bar on stderr (quiet when stderr is not a terminal, e.g. in CI logs)."""
    with Progress(
        TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=err, transient=True, disable=not err.is_terminal,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _report(result) -> None:
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}")
    table = Table("table", "stored", "updated", "duplicates", "quarantined", title=f"Load {result.load_id[:8]}")
    for r in result.reports.values():
        table.add_row(r.table, f"{r.stored:,}", f"{r.updated:,}", f"{r.duplicates:,}", f"{r.quarantined:,}")
    out.print(table)
    if any(r.quarantined for r in result.reports.values()):
        out.print("Rows that broke a rule are in the quarantine: `pulse quarantine` lists them.")


@click.group(cls=PulseGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 120})
@click.version_option(package_name="pulse", prog_name="pulse", message="%(prog)s %(version)s")
def main() -> None:
    """Pulse: users and money for the staff of a software business."""


@main.command()
@click.option("--users", default=2000, show_default=True, type=click.IntRange(1, 1_000_000), help="How many users sign up.")
# Ten years back from today stay well inside the days Pulse supports (the demo's rows skip the checks).
@click.option("--days", default=180, show_default=True, type=click.IntRange(1, 3650),
              help="How many days of history, ending today.")
@click.option("--seed", default=1, show_default=True, type=click.IntRange(0), help="Same seed, same data.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the store already exists.")
def demo(users: int, days: int, seed: int, if_empty: bool) -> None:
    """Generate and load a believable SaaS business."""
    from loaders.load import load_demo

    with user_errors():
        store = _writing_store()
    with admin_errors():
        accounts = _staff_accounts()  # before the long load: an unreachable admin database fails at once
    if if_empty and store.exists():
        out.print(f"The store {store.label} already exists; leaving it as it is.")
    else:
        with user_errors(), progress_bar("Generating demo data") as update:
            result = load_demo(store, users, days, seed, progress=update)
        _report(result)
    with admin_errors():
        _demo_template(accounts.db)
        _demo_admin(accounts)
        _demo_schedule(accounts.db, store)
        _demo_goal_and_notes(accounts.db, store)


def _demo_goal_and_notes(db, store) -> None:
    """A goal (MRR half as much again in six months) and two notes on recent dates, so the
    demo's Overview shows a projection and its charts show marks."""
    from admin.annotations import Annotations
    from admin.goals import Goals
    from metrics.goals import MEASURES
    from metrics.overview import kpis
    from pulse.query import make_query

    goals, notes = Goals(db, MEASURES), Annotations(db)
    last = store.info().last_day
    if goals.all() or notes.listing().height or last is None:
        return
    mrr = next(float(r["value"]) for r in kpis(store, make_query(last, last)).iter_rows(named=True) if r["kpi"] == "mrr")
    goals.add("mrr", round(mrr * 1.5, -2) or 1000, last + timedelta(days=182), "Half as much again by summer",
              by="pulse demo", address=CLI)
    notes.add(last - timedelta(days=19), "Release 2.4: the new onboarding", by="pulse demo", address=CLI)
    notes.add(last - timedelta(days=9), "Price change: pro from 29 to 35 a month", by="pulse demo", address=CLI)


def _demo_schedule(db, store) -> None:
    """A first scheduled export (yesterday's KPIs into data/exports each morning), so the
    demo's Exports page shows one at work."""
    from admin.schedules import Schedules

    schedules = Schedules(db)
    if schedules.names() or not any(s.email == DEMO_ADMIN for s, _, _ in _staff_accounts().accounts()):
        return
    folder = Path(store.path).parent / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    schedules.add("Daily KPIs", DEMO_ADMIN, "kpis", "day", {}, "yesterday", "0 7 * * *", store.timezone, "csv",
                  [{"folder": str(folder)}], by="pulse demo", address=CLI)


def _demo_template(db) -> None:
    """A first email template, so the demo's Email page has something to preview."""
    from admin.email import Template, Templates

    templates = Templates(db)
    if templates.names():
        return
    templates.save(Template(
        "Welcome back",
        "{{ first_name | default('Hello') }}, here is what is new on your {{ plan | default('free') }} plan",
        "Hi {{ first_name | default('there') }},\n\nYou have been with us since {{ signup_date }}. This month we "
        "shipped faster exports and a new dashboard.\n\nThe team\n",
        "<html><body><p>Hi {{ first_name | default('there') }},</p><p>You have been with us since "
        "<b>{{ signup_date }}</b>. This month we shipped faster exports and a new dashboard.</p>"
        "<p>The team</p></body></html>"), by="pulse demo", address=CLI)


def _demo_admin(accounts) -> None:
    """The first admin, so a fresh install can be signed in to; its password is shown this once,
    and only its hash is kept."""
    if accounts.accounts():
        out.print(f"Staff accounts exist already; `pulse staff reset-password {DEMO_ADMIN}` sets a new password "
                  "for the demo admin.")
        return
    password = secrets.token_urlsafe(12)  # 16 characters
    accounts.add(DEMO_ADMIN, "admin", password, by="pulse demo", address=CLI)
    click.echo(f"Sign in as {DEMO_ADMIN} with password {password}")


@main.command()
@click.argument("table", type=click.Choice(TABLES))
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["csv", "parquet", "ndjson"]), help="Override the format the extension suggests.")
@click.option("--allow-erased", is_flag=True, help="Load rows of users `pulse user forget` erased (else they are quarantined).")
def load(table: str, files: tuple[Path, ...], fmt: str | None, allow_erased: bool) -> None:
    """Load TABLE from CSV, Parquet or NDJSON FILES (all or nothing)."""
    from loaders.load import load_files

    with user_errors(), progress_bar(f"Loading {table}") as update:
        result = load_files(_writing_store(), table, list(files), fmt, progress=update, allow_erased=allow_erased)
    _report(result)


@main.command("load-sql")
@click.option("--url", required=True, help="A SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db.")
@click.option("--table", "table", required=True, type=click.Choice(TABLES), help="The Pulse table to load.")
@click.option("--source-table", help="The table (or schema.table) to read.")
@click.option("--query", help="A SELECT to read instead of a table.")
@click.option("--allow-erased", is_flag=True, help="Load rows of users `pulse user forget` erased (else they are quarantined).")
def load_sql(url: str, table: str, source_table: str | None, query: str | None, allow_erased: bool) -> None:
    """Load a table from any SQL database SQLAlchemy can reach."""
    from loaders.load import load_sql as run

    if bool(source_table) == bool(query):
        raise Failure("Give exactly one of --source-table or --query.", USAGE_ERROR)
    with user_errors(), progress_bar(f"Loading {table}") as update:
        result = run(_writing_store(), url, table, source_table=source_table, query=query, progress=update,
                     allow_erased=allow_erased)
    _report(result)


@main.command()
def metrics() -> None:
    """List every metric, page by page, with its columns and options."""
    from metrics.registry import all_metrics

    area = None
    for m in all_metrics():
        if m.area != area:
            area = m.area
            out.print(f"\n[bold underline]{area.capitalize()} page[/]", soft_wrap=True)
        internal = "  [dim](internal: feeds the page's controls)[/]" if m.internal else ""
        out.print(f"[bold]{m.name}[/]  {m.summary}{internal}", soft_wrap=True)
        out.print(f"  columns: {', '.join(m.columns)}", soft_wrap=True)
        options = [f"{o.name} ({o.describe()}, {o.default_text()})" for o in m.options]
        out.print(f"  options: {'; '.join(options + ['country', 'device_type', 'plan'])}", soft_wrap=True)


@main.command()
@click.argument("name")
@click.argument("view_name", required=False, metavar="[VIEW]")
@click.option("--start", help="First day, YYYY-MM-DD (default: 29 days before --end).")
@click.option("--end", help="Last day, YYYY-MM-DD (default: today).")
@click.option("--interval", default="day", show_default=True, help="day, week or month.")
@click.option("--option", "options", multiple=True, help="KEY=VALUE, repeatable (filters: country, device_type, plan).")
@click.option("--out", "out_path", default="-", show_default=True, help="File to write, or - for stdout.")
@_by
def export(name: str, view_name: str | None, start: str | None, end: str | None, interval: str,
           options: tuple[str, ...], out_path: str, actor: str) -> None:
    """Write metric NAME as CSV — or, as `pulse export view VIEW`, a saved Explore view's
    question over its range (recorded in the audit log)."""
    from metrics import registry
    from metrics.files import write_export
    from pulse.query import make_query, parse_date, parse_options

    if out_path != "-":
        _check_writable(Path(out_path))
    if name == "view":
        name, first, last, interval, given = _saved_view(view_name)
    with user_errors():
        metric = registry.get(name)
        if view_name is None:
            last = parse_date(end, "end date") if end else date.today()
            first = parse_date(start, "start date") if start else last - timedelta(days=29)
            given = parse_options(options)
        q = metric.typed(make_query(first, last, interval, given))
        store = _store()
        store.require()
        record = _audit_trail(actor)

        def written(path: Path) -> int:
            """Write the CSV to `path`, then record it: no file is published without its record."""
            rows, _ = write_export(store, metric, q, path, "csv")
            record("export", f"{name} {q.start}..{q.end} by {q.interval}{_options_words(options)}: "
                             f"{rows:,} rows to {'stdout' if out_path == '-' else out_path}")
            return rows

        if out_path == "-":
            # Through a file rather than memory: a list of every event can be gigabytes.
            with tempfile.TemporaryDirectory(prefix="pulse-export-") as folder:
                staged = Path(folder) / "export.csv"
                written(staged)
                with open(staged, encoding="utf-8", newline="") as fh:
                    shutil.copyfileobj(fh, sys.stdout)
        else:
            rows = _write(Path(out_path), written)
            err.print(f"Wrote {rows:,} rows to {out_path}.")


# A saved Explore view's URL parameters that are the trend's options (the rest are the
# filter bar's range and filters, or how the page draws it).
_VIEW_OPTIONS = ("series", "breakdown", "top", "formula", "compare")


def _saved_view(view_name: str | None) -> tuple[str, date, date, str, dict[str, str]]:
    """(metric, first day, last day, interval, options) of the saved view `view_name`."""
    from admin.views import ViewError, Views
    from pulse.periods import PRESETS, preset_range
    from pulse.query import parse_date

    if not view_name:
        raise Failure("Say which view: pulse export view NAME (the Views page lists them).", USAGE_ERROR)
    with admin_errors():
        try:
            page, state = Views(_admin_db()).by_name(view_name)
        except ViewError as exc:
            raise Failure(str(exc)) from None
    if page != "explore":
        raise Failure(f"The view {view_name!r} is of the {page or 'overview'} page, whose tables are several metrics; "
                      "export one of them with pulse export METRIC, or save an Explore question.")
    preset = state.get("range", "custom" if "start" in state else "30d")
    with user_errors():
        if preset == "custom":
            first, last = parse_date(state.get("start"), "view's start date"), parse_date(state.get("end"), "view's end date")
        elif preset in PRESETS:
            first, last = preset_range(preset, date.today())
        else:
            raise Failure(f"The view {view_name!r} has an unknown range {preset!r}.")
    given = {k: v for k, v in state.items() if k in _VIEW_OPTIONS or k in ("country", "device_type", "plan")}
    return "trend", first, last, state.get("interval", "day"), given


@main.command()
@click.option("--table", type=click.Choice(TABLES), help="Only rows meant for this table.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1))
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Write all matching rows as CSV instead.")
def quarantine(table: str | None, limit: int, csv_path: Path | None) -> None:
    """List the rows loads set aside, with the rule each broke."""
    from pulse.export import to_csv

    if csv_path:
        _check_writable(csv_path)
    with user_errors():
        store = _store()
        where = "WHERE table_name = $table" if table else ""
        rows = store.fetch(
            f"SELECT table_name, source, row_number, rule, raw, quarantined_at FROM quarantine {where} "
            "ORDER BY quarantined_at, source, row_number",
            {"table": table} if table else None,
        )
    if csv_path:
        with user_errors():
            _write(csv_path, to_csv(rows))
        err.print(f"Wrote {rows.height:,} quarantined rows to {csv_path}.")
        return
    if rows.height == 0:
        out.print("The quarantine is empty.")
        return
    grid = Table("table", "source", "row", "rule", "raw row")
    for r in rows.head(limit).iter_rows(named=True):
        grid.add_row(r["table_name"], r["source"], str(r["row_number"]), r["rule"], r["raw"])
    out.print(grid)
    if rows.height > limit:
        out.print(f"… and {rows.height - limit:,} more (use --limit or --csv).")


@main.command()
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1))
def loads(limit: int) -> None:
    """Show the load log: loads, erasures and rebuilds, newest last."""
    store = _store()
    entries, unreadable = store.read_load_log()
    grid = Table("started", "source", "outcome", "details")
    for entry in entries[-limit:]:
        details = entry.get("error") or "; ".join(
            f"{t}: {r['stored']} stored, {r['updated']} updated, {r['duplicates']} dup, {r['quarantined']} quarantined"
            for t, r in entry.get("tables", {}).items()
        ) or json.dumps({k: v for k, v in entry.items() if k not in ("started", "source", "outcome", "finished")})
        # str(): a hand-edited line may hold any JSON, and a table cell must be text.
        grid.add_row(*(str(value) for value in (str(entry.get("started", ""))[:19], entry.get("source", ""),
                                                 entry.get("outcome", ""), details)))
    out.print(grid)
    if unreadable:
        click.echo(f"{unreadable:,} line{'s' if unreadable > 1 else ''} of the load log could not be read and "
                   f"{'were' if unreadable > 1 else 'was'} skipped ({store.log_path}).", err=True)


@main.command()
def rebuild() -> None:
    """Recompute local days and derived tables for new settings."""
    with user_errors():
        store = _writing_store()
        store.require()
        with store.writer("rebuild") as writer:
            writer.rebuild()
        store.log({"source": "rebuild", "outcome": "ok", "timezone": store.timezone, "session_timeout": store.session_timeout})
    out.print(f"Rebuilt {store.label} for timezone {store.timezone}, session timeout {store.session_timeout} min.")


@main.command(context_settings={"ignore_unknown_options": True})
@click.option("--port", default=8501, show_default=True, type=click.IntRange(1, 65535))
@click.argument("streamlit_args", nargs=-1, type=click.UNPROCESSED)
def run(port: int, streamlit_args: tuple[str, ...]) -> None:
    """Start the web app (with sign-in as the settings say; without it, on localhost only)."""
    settings = _settings()
    local = ["--server.address", "127.0.0.1"] if settings.sign_in == "none" else []
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "server.py"), "--server.port", str(port), *local,
               *streamlit_args]
    raise SystemExit(subprocess.call(command, cwd=ROOT, env=os.environ.copy()))


@main.group()
def user() -> None:
    """Personal data requests for one user."""


@user.command("export")
@click.argument("user_id")
@click.option("--out", "out_path", default="-", show_default=True)
@_by
def user_export(user_id: str, out_path: str, actor: str) -> None:
    """Write every stored row of USER_ID as one JSON document (recorded in the audit log)."""
    from pulse.privacy import export_user

    if out_path != "-":
        _check_writable(Path(out_path))
    record = _audit_trail(actor)
    with user_errors():
        document = json.dumps(export_user(_store(), user_id), indent=2, default=str)
    record("user.export", f"{user_id} to {'stdout' if out_path == '-' else out_path}")
    if out_path == "-":
        sys.stdout.write(document + "\n")
    else:
        with user_errors():
            _write(Path(out_path), document + "\n")
        err.print(f"Wrote the data of {user_id} to {out_path}.")


@user.command("forget")
@click.argument("user_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@_by
def user_forget(user_id: str, yes: bool, actor: str) -> None:
    """Erase USER_ID from every table of the store (recorded in the load log and the audit log,
    both by the id's hash only)."""
    from pulse.privacy import forget_user

    if not yes and not click.confirm(f"Erase every row of {user_id} from the store?", err=True):
        raise Failure("Nothing was erased.", WORK_ERROR)
    record = _audit_trail(actor)
    with user_errors():
        erasure = forget_user(_writing_store(), user_id, actor)
    counts = ", ".join(f"{n} {t}" for t, n in erasure.removed.items())
    record("user.forget", f"user {erasure.user_hash}: {counts}")
    out.print(f"Erased {user_id}: {counts}")


_countries = click.option("--country", "countries", multiple=True, help="Limit to users of this country (repeatable).")
_plans = click.option("--plan", "plans", multiple=True, help="Limit to users on this plan (repeatable).")
_password_stdin = click.option("--password-stdin", is_flag=True,
                               help="Read the password from the first line of standard input instead of asking.")


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    try:
        return click.prompt("Password", hide_input=True, confirmation_prompt=True, err=True)
    except click.Abort:  # end of input or Ctrl-C at the prompt
        raise Failure("No password was given; nothing was changed.") from None


def _cell(value: object) -> Text:
    """Text from the database as a table cell: never read as rich markup, and no control
    characters reach the terminal (a failed sign-in records whatever was typed as its actor)."""
    return Text("".join(ch if ch.isprintable() else "?" for ch in str(value)))


def _scope_words(countries: tuple[str, ...], plans: tuple[str, ...]) -> str:
    return f"countries: {', '.join(countries) or 'all'}; plans: {', '.join(plans) or 'all'}"


@main.group()
def staff() -> None:
    """Staff accounts: who may sign in to the web app, with which role and data scope."""


@staff.command("add")
@click.argument("email")
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the account may see and do.")
@_countries
@_plans
@_password_stdin
@_by
def staff_add(email: str, role: str, countries: tuple[str, ...], plans: tuple[str, ...], password_stdin: bool,
              actor: str) -> None:
    """Add a staff account (without --country or --plan it sees every user)."""
    with admin_errors():
        accounts = _staff_accounts()
    password = _password(password_stdin)
    with admin_errors():
        added = accounts.add(email, role, password, by=actor, countries=countries, plans=plans, address=CLI)
    out.print(f"Added {added.email} as {added.role} ({_scope_words(added.countries, added.plans)}).", markup=False)


@staff.command("list")
def staff_list() -> None:
    """List the staff accounts."""
    with admin_errors():
        roster = _staff_accounts().roster()
    if roster.is_empty():
        out.print("There are no staff accounts yet: add one with `pulse staff add EMAIL --role ROLE`.", markup=False)
        return
    grid = Table("email", "role", "countries", "plans", "disabled", "locked until (UTC)", "last sign-in (UTC)")
    for row in roster.iter_rows():
        grid.add_row(*(_cell(value) for value in row))
    out.print(grid)


@staff.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice(ROLES), metavar="ROLE")
@_by
def staff_set_role(email: str, role: str, actor: str) -> None:
    """Give EMAIL the role ROLE."""
    with admin_errors():
        _staff_accounts().set_role(email, role, by=actor, address=CLI)
    out.print(f"{email} now has the role {role}.", markup=False)


@staff.command("set-scope")
@click.argument("email")
@_countries
@_plans
@_by
def staff_set_scope(email: str, countries: tuple[str, ...], plans: tuple[str, ...], actor: str) -> None:
    """Limit EMAIL to users of these countries and plans (neither: every user)."""
    with admin_errors():
        member = _staff_accounts().set_scope(email, countries, plans, by=actor, address=CLI)
    out.print(f"{member.email} now sees {_scope_words(member.countries, member.plans)}.", markup=False)


@staff.command("disable")
@click.argument("email")
@_by
def staff_disable(email: str, actor: str) -> None:
    """Refuse EMAIL's sign-ins and end its sessions."""
    with admin_errors():
        _staff_accounts().set_disabled(email, True, by=actor, address=CLI)
    out.print(f"Disabled {email}; its sessions have ended.", markup=False)


@staff.command("enable")
@click.argument("email")
@_by
def staff_enable(email: str, actor: str) -> None:
    """Let a disabled EMAIL sign in again."""
    with admin_errors():
        _staff_accounts().set_disabled(email, False, by=actor, address=CLI)
    out.print(f"Enabled {email}.", markup=False)


@staff.command("reset-password")
@click.argument("email")
@_password_stdin
@_by
def staff_reset_password(email: str, password_stdin: bool, actor: str) -> None:
    """Give EMAIL a new password (and lift a lock)."""
    with admin_errors():
        accounts = _staff_accounts()
    password = _password(password_stdin)
    with admin_errors():
        accounts.reset_password(email, password, by=actor, address=CLI)
    out.print(f"Set a new password for {email}.", markup=False)


@main.command()
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1), help="How many entries to print.")
@click.option("--actor", help="Only what this person did (their email, or the user name a command recorded).")
@click.option("--action", help="Only actions starting with this, e.g. staff. or sign_in.")
@click.option("--since", help="Only entries from this day on (YYYY-MM-DD, UTC).")
@click.option("--csv", "csv_path", type=click.Path(path_type=Path), help="Write every matching entry as CSV instead.")
def audit(limit: int, actor: str | None, action: str | None, since: str | None, csv_path: Path | None) -> None:
    """The audit log, newest first: who did what, when and from where."""
    from pulse.export import to_csv
    from pulse.query import parse_date

    if csv_path:
        _check_writable(csv_path)
    with admin_errors():
        first = parse_date(since, "--since date") if since else None
        entries = _admin_db().audit_log(None if csv_path else limit + 1, actor, action, first)
    if csv_path:
        with user_errors():
            _write(csv_path, to_csv(entries))
        click.echo(f"Wrote {entries.height:,} audit entries to {csv_path}.", err=True)
        return
    if entries.height == 0:
        out.print("No audit entries match.")
        return
    grid = Table("time (UTC)", "actor", "action", "detail", "address")
    for row in entries.head(limit).iter_rows():
        grid.add_row(*(_cell(value) for value in row))
    out.print(grid)
    if entries.height > limit:
        out.print("… and older entries (use --limit or --csv).")


# The email and schedule commands live in modules of their own; importing them adds them to `main`.
import cli.email  # noqa: E402,F401  (after main and its helpers exist)
import cli.goal  # noqa: E402,F401
import cli.schedule  # noqa: E402,F401
import cli.sql  # noqa: E402,F401
import cli.alerts  # noqa: E402,F401
import cli.annotate  # noqa: E402,F401

if __name__ == "__main__":
    main()
