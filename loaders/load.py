"""Loads: read batches, check them against DATA.md, stage, merge and publish in one go.

Every way data gets into the store (files, a SQL database, the demo) ends here, so they
all share the same guarantees: the published store changes only when the whole load
succeeds, rows that break a rule go to the quarantine, and each load is recorded in the
load log with what it stored — or why it failed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path

import polars as pl
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from loaders import files, sql
from loaders.validate import check
from pulse.store import Store, TableReport

Progress = Callable[[int, int | None], None]
# (table, frame, source name, first row number); row number None means the rows are
# already typed and trusted (the demo generator), so they skip the checks.
Batch = tuple[str, pl.DataFrame, str, int | None]


@dataclass
class LoadResult:
    load_id: str
    source: str
    reports: dict[str, TableReport]
    warnings: list[str] = field(default_factory=list)


def run_load(store: Store, source: str, batches: Iterable[Batch], progress: Progress | None = None,
             total: int | None = None, allow_erased: bool = False) -> LoadResult:
    """Stage every batch and publish once at the end; log the outcome either way.

    Rows of users `pulse user forget` erased are quarantined unless allow_erased says the
    person is welcome back.
    """
    started = datetime.now(timezone.utc)
    warnings: list[str] = []
    entry = {"source": source, "started": started.isoformat()}
    try:
        with store.writer(source) as writer:
            entry["load_id"] = writer.load_id
            erased = None if allow_erased else writer.erased_filter()
            done = 0
            for table, frame, name, first_row in batches:
                writer.report(table)
                if first_row is None:
                    writer.stage(table, frame)
                else:
                    checked = check(table, frame, name, first_row, store.currency, store.timezone, erased)
                    writer.stage(table, checked.good)
                    writer.quarantine(table, checked.bad)
                    warnings.extend(w for w in checked.warnings if w not in warnings)
                done += frame.height
                if progress:
                    progress(done, total)
        result = LoadResult(writer.load_id, source, writer.reports, warnings)
    except BaseException as exc:
        store.log(entry | {"finished": datetime.now(timezone.utc).isoformat(), "outcome": "failed",
                           "error": str(exc) or type(exc).__name__})
        raise
    store.log(entry | {
        "finished": datetime.now(timezone.utc).isoformat(),
        "outcome": "ok",
        "tables": {t: vars(r) for t, r in result.reports.items()},
        "warnings": warnings,
    })
    return result


def load_files(store: Store, table: str, paths: list[Path], fmt: str | None = None,
               progress: Progress | None = None, allow_erased: bool = False) -> LoadResult:
    """Load one table from one or more files (CSV, Parquet, NDJSON), all or nothing.

    Every file's format, and (as the load starts, so a failure is logged) its presence, is
    checked before the first is read. Quarantined rows name their file by its full path, so
    two files of one name stay apart.
    """
    counts = [files.file_rows(p, files.detect_format(p, fmt)) for p in paths]  # checks every format first
    total = None if None in counts else sum(counts)  # type: ignore[arg-type]

    def batches() -> Iterator[Batch]:
        for path in paths:
            files.require_file(path)
        for path in paths:
            for frame, first_row in files.read_batches(path, table, fmt):
                yield table, frame, str(path.resolve()), first_row

    source = f"{table} from {', '.join(str(p) for p in paths)}"
    return run_load(store, source, batches(), progress, total, allow_erased)


def load_sql(store: Store, url: str, table: str, source_table: str | None = None, query: str | None = None,
             progress: Progress | None = None, allow_erased: bool = False) -> LoadResult:
    """Load one table from any SQLAlchemy database, streamed in batches."""
    what = source_table or "a query"
    name = f"{_safe_url(url)}:{what}"

    def batches() -> Iterator[Batch]:
        for frame, first_row in sql.read_sql_batches(url, table, source_table=source_table, query=query):
            yield table, frame, name, first_row

    return run_load(store, f"{table} from {name}", batches(), progress, allow_erased=allow_erased)


def load_demo(store: Store, users: int, days: int, seed: int, end: date | None = None,
              progress: Progress | None = None) -> LoadResult:
    """Generate and load the demo business in one load."""
    from loaders import demo  # only here: every other load would pay for importing the generator

    total = demo.estimate_events(users, days)

    def batches() -> Iterator[Batch]:
        for table, frame in demo.generate(users, days, seed=seed, end=end):
            yield table, frame, "demo", None

    def events_progress(done: int, _total: int | None) -> None:
        if progress:
            progress(min(done, total), total)

    return run_load(store, f"demo (users={users}, days={days}, seed={seed})", batches(), events_progress, total)


def _safe_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        return "the database URL"

