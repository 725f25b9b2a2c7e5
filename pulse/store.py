"""The analytics store: one DuckDB file, published atomically.

Readers attach the published file read-only inside a private in-memory DuckDB, so they
never take a lock and never see a load in progress. (Opening the file path directly would
hand back DuckDB's cached instance of the file as it was before the last publish.)

A writer takes an exclusive lock next to the file, copies the published file, loads into
the copy, rebuilds the derived tables, checkpoints and `os.replace`s the copy into place.
A load that fails or is killed leaves the published file untouched; its copy is deleted
(or, after a SIGKILL, swept up by the next command that writes). An erasure publishes a
fresh file written table by table, so no erased value survives in the copy's free pages.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
import re
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import polars as pl

from pulse.measures import BITMAP_MACROS, local_day, local_hour
from pulse.schema import DEVICE_TYPES, EVENT_TYPES, KEYS, SCHEMAS, TRANSACTION_KINDS, TRANSACTION_STATUSES
from pulse import derived
from pulse.settings import Settings, parse_alert_rules

SCHEMA_VERSION = 1
# The shape of the derived tables (pulse.derived); a store whose tables have another is
# rebuilt by its next load or `pulse rebuild` (2: people keeps each user's first and last day;
# 3: user_days keeps each user's next active day; 4: feature_days; 5: day_users).
DERIVED_VERSION = 5
# DuckDB memory for one load (staging, sorting, sessions); beyond it, it spills to disk.
LOAD_MEMORY_LIMIT = "2GB"  # with the sessionising buckets (about 1 GB) a load stays under 4 GB

_ENUMS = {
    "event_type": EVENT_TYPES,
    "device_type": DEVICE_TYPES,
    "txn_kind": TRANSACTION_KINDS,
    "txn_status": TRANSACTION_STATUSES,
}

_DDL = """
CREATE TABLE users (
    user_id VARCHAR NOT NULL, email VARCHAR, name VARCHAR, signup_at TIMESTAMP NOT NULL,
    country VARCHAR, timezone VARCHAR, auth_provider VARCHAR, plan VARCHAR,
    marketing_opt_in BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE events (
    event_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL,
    event_type event_type NOT NULL, event_name VARCHAR, page_path VARCHAR, session_id VARCHAR,
    device_type device_type, browser VARCHAR, os VARCHAR, country_code VARCHAR, referrer VARCHAR,
    properties JSON,
    day DATE NOT NULL, hour TINYINT NOT NULL
);
CREATE TABLE transactions (
    transaction_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, ts TIMESTAMP NOT NULL,
    kind txn_kind NOT NULL, status txn_status NOT NULL, amount DECIMAL(18,4) NOT NULL,
    currency VARCHAR NOT NULL, product_id VARCHAR, product_name VARCHAR, category VARCHAR,
    provider VARCHAR, payment_method VARCHAR, plan VARCHAR, refund_of VARCHAR,
    day DATE NOT NULL
);
CREATE TABLE subscriptions (
    subscription_id VARCHAR NOT NULL, user_id VARCHAR NOT NULL, plan VARCHAR NOT NULL,
    mrr DECIMAL(18,4) NOT NULL, started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP,
    cancel_reason VARCHAR
);
CREATE TABLE quarantine (
    load_id VARCHAR NOT NULL, table_name VARCHAR NOT NULL, source VARCHAR NOT NULL,
    row_number BIGINT, rule VARCHAR NOT NULL, raw VARCHAR, quarantined_at TIMESTAMP NOT NULL
);
CREATE TABLE meta (key VARCHAR NOT NULL, value VARCHAR);
"""
# Users `pulse user forget` erased, by a salted hash of their id (the id itself is gone), so
# a later load of their rows can set them aside. Created on open for stores older than it.
_ERASED_DDL = "CREATE TABLE IF NOT EXISTS erased_users (id_hash VARCHAR NOT NULL, erased_at TIMESTAMP NOT NULL)"
# Whitespace the loaders strip from column names and keys (Python's str.strip, polars' strip_chars).
_WHITESPACE = " \t\n\r\x0b\x0c"
# Each quarantined raw row (JSON of the values as read) as (rid, column name, value), both
# normalised as the loaders read them: the name stripped and lower-cased, the value stripped.
_QUARANTINE_CELLS = f"""
SELECT q.rowid AS rid, lower(trim(j.key, '{_WHITESPACE}')) AS name, trim(j.value ->> '$', '{_WHITESPACE}') AS value
FROM quarantine q, json_each(CASE WHEN json_valid(q.raw) AND starts_with(q.raw, '{{') THEN q.raw END) j
"""
# The quarantined rows of a user (rowids): the id in any spelling of the user_id column, or
# one of $emails (lower case) in the email column. Bind user_quarantine's parameters.
USER_QUARANTINE = f"""
SELECT rid FROM ({_QUARANTINE_CELLS})
WHERE (name = 'user_id' AND value = $user_id) OR (name = 'email' AND list_contains($emails, lower(value)))
"""


def user_quarantine(con: duckdb.DuckDBPyConnection, user_id: str) -> dict[str, Any]:
    """The parameters of USER_QUARANTINE for a user: the id, and every email the store knows
    for them (theirs in users, and any in a quarantined row with their id, which the users
    table may never have got)."""
    emails = con.execute(
        f"""SELECT lower(trim(email, '{_WHITESPACE}')) FROM users WHERE user_id = $user_id AND email IS NOT NULL
            UNION SELECT lower(value) FROM ({_QUARANTINE_CELLS})
            WHERE name = 'email' AND value IS NOT NULL
              AND rid IN (SELECT rid FROM ({_QUARANTINE_CELLS}) WHERE name = 'user_id' AND value = $user_id)""",
        {"user_id": user_id},
    ).fetchall()
    return {"user_id": user_id, "emails": sorted(e for (e,) in emails)}

# Columns the store computes from ts in the reporting timezone.
_LOCAL_COLUMNS = {
    "events": {"day": local_day("ts"), "hour": local_hour("ts")},
    "transactions": {"day": local_day("ts")},
}
_TIME_COLUMN = {"events": "ts", "transactions": "ts", "subscriptions": "started_at", "users": "signup_at"}


class StoreError(Exception):
    """The store cannot do what was asked; the text is one sentence for the user."""


@dataclass
class TableReport:
    table: str
    stored: int = 0
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0


@dataclass
class StoreInfo:
    """What the app shows about the store's freshness."""

    version: int
    timezone: str
    currency: str
    session_timeout: int
    last_load: datetime | None
    first_day: Any
    last_day: Any
    rows: dict[str, int]
    derived_current: bool = True  # False: the derived tables predate this Pulse (`pulse rebuild`)

    def today(self) -> date:
        """Today in the reporting timezone."""
        return datetime.now(ZoneInfo(self.timezone)).date()

    def last_complete_day(self, today: date | None = None) -> date | None:
        """The last local day whose data is complete: the day before the last load (it was still
        running when the data was taken), the data's last day when it ends earlier, and never
        `today` (default: the real one) or later. None when the store holds no activity."""
        if self.last_day is None:
            return None
        today = today or self.today()
        loaded = self.last_load
        load_day = (loaded.replace(tzinfo=loaded.tzinfo or timezone.utc).astimezone(ZoneInfo(self.timezone)).date()
                    if loaded else today)
        return min(load_day - timedelta(days=1), self.last_day, today - timedelta(days=1))


def _bind(sql: str, params: list | dict | None) -> list | dict | None:
    """Named parameters the statement uses, so metrics can compose fragments and pass one
    dict (DuckDB rejects names a statement does not mention)."""
    if not isinstance(params, dict):
        return params
    used = set(re.findall(r"\$([A-Za-z_][A-Za-z0-9_]*)", sql))
    return {k: v for k, v in params.items() if k in used}


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_FICLONE = 0x40049409  # Linux's ioctl for a copy-on-write clone (Btrfs, XFS with reflink, bcachefs)


def clone_file(source: Path, target: Path) -> str:
    """Copy `source` to a new file `target` as cheaply as the file system allows; returns how.

    A reflink clone shares the blocks until the load writes to them, so publishing a small
    load into a big store costs what the load changed, not the store's size. Where there
    are no reflinks (ext4, tmpfs) copy_file_range copies inside the kernel (on NFS 4.2 and
    some others on the server), and only where that too is refused a plain copy.
    """
    with open(source, "rb") as src, open(target, "wb") as dst:
        try:
            fcntl.ioctl(dst.fileno(), _FICLONE, src.fileno())
            return "reflink"
        except OSError:
            pass
        size, done = os.fstat(src.fileno()).st_size, 0
        try:
            while done < size:
                copied = os.copy_file_range(src.fileno(), dst.fileno(), size - done, done, done)
                if copied == 0:
                    break
                done += copied
            if done == size:
                return "copy_file_range"
        except OSError:
            pass
        src.seek(0)
        dst.seek(0)
        dst.truncate()
        shutil.copyfileobj(src, dst, 16 * 2**20)
        return "copy"


def _fresh_path(work: Path) -> Path:
    return work.with_name(work.name + ".fresh")


def _fresh_copy(work: Path) -> Path:
    """A new file holding `work`'s tables, written table by table, and `work` deleted.

    DuckDB reuses a deleted row's pages but does not wipe them, so after an erasure the
    copy still holds the erased values in free space; a new file holds only live rows.
    """
    fresh = _fresh_path(work)
    con = duckdb.connect()
    try:
        con.execute("ATTACH ? AS old (READ_ONLY)", [str(work)])
        con.execute("ATTACH ? AS fresh", [str(fresh)])
        con.execute("COPY FROM DATABASE old TO fresh")
        con.execute("DETACH fresh")
    finally:
        con.close()
    work.unlink()
    return fresh


def _json_object(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _changed(value: Any, change: Callable[[Any], Any]) -> Any:
    if isinstance(value, dict):
        return {k: _changed(v, change) for k, v in value.items()}
    if isinstance(value, list):
        return [_changed(v, change) for v in value]
    return change(value)


class Store:
    """A handle on the store file; cheap to create, safe to share between threads."""

    def __init__(self, path: Path | str, timezone: str = "UTC", currency: str = "USD", session_timeout: int = 30,
                 api_limits: tuple[tuple[str, int], ...] = Settings.api_limits,
                 query_seconds: int | None = None, query_memory_mb: int | None = None,
                 alert_rules: tuple[tuple[str, float | None], ...] = (), alert_p_value: float = Settings.alert_p_value,
                 alert_revenue_minimum: float = Settings.alert_revenue_minimum):
        self.path = Path(path).resolve()
        # The settings that say how to read the store; metrics take their defaults from them.
        self.timezone = timezone
        self.currency = currency
        self.session_timeout = session_timeout
        self.api_limits = api_limits
        self.alert_rules = alert_rules or parse_alert_rules("")
        self.alert_p_value = alert_p_value
        self.alert_revenue_minimum = alert_revenue_minimum
        # Limits for a shared server (the web app): each read is stopped after query_seconds,
        # and all reads together may hold query_memory_mb. None: no limit (the command line).
        self.query_seconds = query_seconds
        self.query_memory_mb = query_memory_mb
        self._reader: tuple[str, duckdb.DuckDBPyConnection] | None = None
        self._derived_current: tuple[str, bool] | None = None
        self._reader_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, limited: bool = False) -> Store:
        """The store the settings name; `limited` (the web app) applies their query limits."""
        limits = (settings.query_seconds, settings.query_memory_mb) if limited else (None, None)
        if isinstance(settings.store, str):  # chdb:// or clickhouse://
            from pulse.clickhouse import ClickHouseStore  # only here: it builds on this module

            cls = ClickHouseStore  # type: ignore[assignment]
        return cls(settings.store, settings.timezone, settings.currency, settings.session_timeout, settings.api_limits,
                   *limits, alert_rules=settings.alert_rules, alert_p_value=settings.alert_p_value,
                   alert_revenue_minimum=settings.alert_revenue_minimum)

    @property
    def label(self) -> str:
        """The store as Pulse names it to people."""
        return str(self.path)

    # -- reading ---------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.path.exists()

    def require(self) -> None:
        """Raise the one sentence for a store that has not been created yet."""
        if not self.exists():
            raise StoreError(f"There is no store at {self.path} yet: run `pulse demo` or `pulse load` first.")

    def version(self) -> str:
        """Changes whenever a load is published; a cache key, not a count."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return "missing"
        return f"{st.st_ino}:{st.st_mtime_ns}:{st.st_size}"

    def _connection(self) -> duckdb.DuckDBPyConnection:
        version = self.version()
        with self._reader_lock:
            if self._reader is None or self._reader[0] != version:
                if version == "missing":
                    self.require()
                con = duckdb.connect()
                try:
                    if self.query_memory_mb:
                        con.execute(f"SET memory_limit = '{int(self.query_memory_mb)}MB'")
                    for name, (arguments, body) in BITMAP_MACROS.items():  # in memory: the store is read-only
                        con.execute(f"CREATE MACRO {name}({arguments}) AS {body}")
                    con.execute("ATTACH ? AS store (READ_ONLY)", [str(self.path)])
                    con.execute("USE store")
                    con.execute("SELECT value FROM meta WHERE key = 'schema_version'")
                except duckdb.Error as exc:
                    con.close()
                    raise self._damaged(exc) from None
                # Older connections stay open for queries already running in other threads.
                self._reader = (version, con)
            return self._reader[1]

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the published version, consistent for the whole block."""
        cur = self._connection().cursor()
        timer = threading.Timer(self.query_seconds, cur.interrupt) if self.query_seconds else None
        try:
            cur.execute("SET search_path = 'store.main,memory.main'")  # the store's tables, then the macros
            if timer:
                timer.start()
            yield cur
        except duckdb.InterruptException:
            raise StoreError(f"This view took longer than {self.query_seconds} s to compute and was stopped, so the "
                             "server stays free for everyone: choose a shorter range or a coarser interval.") from None
        except duckdb.OutOfMemoryException:
            raise StoreError(f"This view needed more than the {self.query_memory_mb} MB of memory the app allows and was "
                             "stopped: choose a shorter range or a coarser interval.") from None
        finally:
            if timer:
                timer.cancel()
            cur.close()

    def _damaged(self, exc: duckdb.Error, copy: Path | None = None) -> StoreError:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if copy is not None:
            reason = reason.replace(str(copy), str(self.path))  # the user knows the store, not its private copy
        return StoreError(f"The store at {self.path} cannot be opened: it is damaged or not a Pulse store ({reason}).")

    def fetch(self, sql: str, params: list | dict | None = None) -> pl.DataFrame:
        with self.read() as con:
            return con.sql(sql, params=_bind(sql, params)).pl()

    @contextmanager
    def batches(self, sql: str, params: list | dict | None, batch_rows: int,
                memory_mb: int) -> Iterator[Any]:
        """A statement's result as an Arrow record batch reader, for results too big to hold:
        read on a connection of its own with `memory_mb` of memory, its sorts spilling to a
        temporary folder removed afterwards."""
        reader = Store(self.path, self.timezone, self.currency, self.session_timeout, self.api_limits,
                       self.query_seconds, min(memory_mb, self.query_memory_mb or memory_mb))
        with tempfile.TemporaryDirectory(prefix="pulse-spill-") as spill, reader.read() as con:
            con.execute("SET temp_directory = '{}'".format(spill.replace("'", "''")))
            yield con.sql(sql, params=_bind(sql, params)).to_arrow_reader(batch_rows)

    def scalar(self, sql: str, params: list | dict | None = None) -> Any:
        with self.read() as con:
            row = con.execute(sql, _bind(sql, params)).fetchone()
        return None if row is None else row[0]

    def columns(self, tables: list[str]) -> pl.DataFrame:
        """The store's columns of `tables`, in that order: table, column, type."""
        return self.fetch(
            "SELECT table_name AS table, column_name AS column, data_type AS type FROM duckdb_columns() "
            "WHERE database_name = 'store' AND schema_name = 'main' AND list_contains($tables, table_name) "
            "ORDER BY list_position($tables, table_name), column_index", {"tables": tables})

    def derived_current(self) -> bool:
        """Whether the derived tables have this Pulse's shape (DERIVED_VERSION). A store built
        by an older Pulse is read the slower way the older tables allow until its next load or
        `pulse rebuild` brings them up to date."""
        version = self.version()
        if self._derived_current is None or self._derived_current[0] != version:
            kept = self.scalar("SELECT value FROM meta WHERE key = 'derived_version'")
            self._derived_current = (version, kept == str(DERIVED_VERSION))
        return self._derived_current[1]

    def info(self) -> StoreInfo:
        with self.read() as con:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            rows = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in SCHEMAS}
            first_day, last_day = con.execute("SELECT min(day), max(day) FROM user_days").fetchone()
        return self._info(meta, rows, first_day, last_day)

    def _info(self, meta: dict[str, str], rows: dict[str, int], first_day: Any, last_day: Any) -> StoreInfo:
        loaded = meta.get("published_at")
        return StoreInfo(
            version=int(meta.get("version", 0)),
            timezone=meta.get("timezone", self.timezone),
            currency=meta.get("currency", self.currency),
            session_timeout=int(meta.get("session_timeout", self.session_timeout)),
            last_load=datetime.fromisoformat(loaded) if loaded else None,
            first_day=first_day,
            last_day=last_day,
            rows=rows,
            derived_current=meta.get("derived_version", "1") == str(DERIVED_VERSION),
        )

    # -- the load log ------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        """Kept beside the store, so failed loads are recorded without touching the store."""
        return self.path.with_name(self.path.name + ".loads.jsonl")

    @contextmanager
    def _log_lock(self) -> Iterator[None]:
        """Appends wait while an erasure rewrites the log, so no entry is lost in between."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path.with_name(self.log_path.name + ".lock"), "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def log(self, entry: dict[str, Any]) -> None:
        with self._log_lock(), open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")

    def log_lines(self) -> list[tuple[int, dict[str, Any] | None]]:
        """(line number, entry) for every line of the log that is not blank, oldest first; the
        entry is None for a line that cannot be read (a log cut short by a full disk, or
        edited by hand), which is never fatal."""
        if not self.log_path.exists():
            return []
        with open(self.log_path, encoding="utf-8", errors="replace") as fh:
            return [(number, _json_object(line)) for number, line in enumerate(fh, start=1) if line.strip()]

    def read_load_log(self) -> tuple[list[dict[str, Any]], int]:
        """The log's readable entries, oldest first, and how many lines could not be read."""
        lines = self.log_lines()
        entries = [entry for _, entry in lines if entry is not None]
        return entries, len(lines) - len(entries)

    def load_log(self) -> list[dict[str, Any]]:
        return self.read_load_log()[0]

    def rewrite_log(self, change: Callable[[Any], Any]) -> None:
        """Replace every value of every entry by change(value), atomically (for an erasure).

        A line that cannot be read is rewritten as a JSON string, so change sees it too.
        """
        if not self.log_path.exists():
            return
        with self._log_lock():
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()
            entries = []
            for line in filter(str.strip, lines):
                entry = _json_object(line)
                entries.append(line if entry is None else entry)
            work = self.log_path.with_name(f"{self.log_path.name}.next-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            with open(work, "w", encoding="utf-8") as fh:
                fh.writelines(json.dumps(_changed(entry, change), default=str) + "\n" for entry in entries)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(work, self.log_path)

    # -- writing -----------------------------------------------------------------------------

    @property
    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @property
    def _spill_path(self) -> Path:
        return self.path.with_name(self.path.name + ".tmp")

    def _sweep_leftovers(self) -> None:
        """Delete what killed writers left beside the store: only ever under the lock, when
        no writer can be using them."""
        for name in (self.path.name, self.log_path.name):  # an erasure rewrites the log under the lock too
            for stale in self.path.parent.glob(name + ".next-*"):
                stale.unlink(missing_ok=True)
        shutil.rmtree(self._spill_path, ignore_errors=True)

    def sweep(self) -> None:
        """Sweep leftovers of killed loads now, unless a writer is at work (then it is its job)."""
        if not self.path.parent.is_dir():
            return
        with open(self._lock_path, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return
            try:
                self._sweep_leftovers()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @contextmanager
    def writer(self, source: str) -> Iterator[Writer]:
        """Load into a private copy and publish it at the end of the block, or not at all."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self._sweep_leftovers()
                work = self.path.with_name(f"{self.path.name}.next-{os.getpid()}-{uuid.uuid4().hex[:8]}")
                fresh = not self.path.exists()
                if not fresh:
                    clone_file(self.path, work)
                con = self._open_copy(work, fresh)
                writer = Writer(self, con, source)
                try:
                    if fresh:
                        writer.create_schema()
                    else:
                        writer.check_compatible()
                    yield writer
                    changed = writer.finish()
                    con.close()
                    published = _fresh_copy(work) if writer.rewrites else work
                    if changed or fresh:
                        with open(published, "rb+") as fh:
                            os.fsync(fh.fileno())
                        os.replace(published, self.path)
                        _fsync_dir(self.path.parent)
                    else:
                        published.unlink()
                except BaseException:
                    con.close()
                    for leftover in (work, _fresh_path(work)):
                        leftover.unlink(missing_ok=True)
                        leftover.with_name(leftover.name + ".wal").unlink(missing_ok=True)
                    raise
            finally:
                shutil.rmtree(self._spill_path, ignore_errors=True)  # staged rows and spilled blocks
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _open_copy(self, work: Path, fresh: bool) -> duckdb.DuckDBPyConnection:
        con = None
        try:
            con = duckdb.connect(str(work))
            if not fresh:
                con.execute("SELECT key, value FROM meta").fetchall()
        except duckdb.Error as exc:
            if con is not None:
                con.close()
            work.unlink(missing_ok=True)
            raise self._damaged(exc, work) from None
        # A load larger than memory spills to disk beside the store instead of growing.
        con.execute(f"SET memory_limit = '{LOAD_MEMORY_LIMIT}'")
        con.execute("SET enable_progress_bar = false")  # the command draws its own
        con.execute("SET temp_directory = ?", [str(self._spill_path)])
        return con


class Writer:
    """Stages batches, merges them by key, and rebuilds derived tables. Used via Store.writer."""

    def __init__(self, store: Store, con: duckdb.DuckDBPyConnection, source: str):
        self.store = store
        self.con = con
        self.source = source
        self.load_id = uuid.uuid4().hex
        self.started = datetime.now(timezone.utc)
        self.reports: dict[str, TableReport] = {}
        self._staged: dict[str, list[Path]] = {}  # each table's staged batches, as Parquet files
        self._seq = 0
        self._force_rebuild = False
        self._resort = False
        self._changed = False
        # Set by an erasure: publish a fresh file rather than the copy (see _fresh_copy).
        self.rewrites = False

    def create_schema(self) -> None:
        for name, values in _ENUMS.items():
            self.con.execute(f"CREATE TYPE {name} AS ENUM ({', '.join(repr(v) for v in values)})")
        self.con.execute(_DDL)
        self.con.execute(_ERASED_DDL)
        self.con.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ["schema_version", str(SCHEMA_VERSION)],
                ["derived_version", str(DERIVED_VERSION)],
                ["version", "0"],
                ["timezone", self.store.timezone],
                ["currency", self.store.currency],
                ["session_timeout", str(self.store.session_timeout)],
            ],
        )
        self._force_rebuild = True

    def check_compatible(self) -> None:
        meta = dict(self.con.execute("SELECT key, value FROM meta").fetchall())
        if meta.get("schema_version") != str(SCHEMA_VERSION):
            raise StoreError(f"The store at {self.store.path} was written by another version of Pulse (schema {meta.get('schema_version')}).")
        settings_now = {"timezone": self.store.timezone, "currency": self.store.currency,
                        "session_timeout": str(self.store.session_timeout), "derived_version": str(DERIVED_VERSION)}
        for key, value in settings_now.items():
            if meta.get(key) != str(value):
                # The derived tables depend on these settings (and on their own shape): rebuild them.
                self.con.execute("DELETE FROM meta WHERE key = ?", [key])
                self.con.execute("INSERT INTO meta VALUES (?, ?)", [key, str(value)])
                self._force_rebuild = True
        if self._force_rebuild:
            self._recompute_local_columns()
        self.con.execute(_ERASED_DDL)

    def _recompute_local_columns(self) -> None:
        for table, columns in _LOCAL_COLUMNS.items():
            assignments = ", ".join(f"{name} = {sql}" for name, sql in columns.items())
            self.con.execute(f"UPDATE {table} SET {assignments}", {"tz": self.store.timezone})

    def rebuild(self) -> None:
        """Recompute the derived tables even when no rows change (after a settings change), and
        put the input tables back in time order (late loads append their rows at the end)."""
        self._force_rebuild = True
        self._resort = True

    def stage(self, table: str, frame: pl.DataFrame) -> None:
        """Queue typed rows (pulse.schema) for merging; later rows win over earlier ones.

        Each batch is written to a Parquet file beside the store's spill files rather than
        into a DuckDB table: a big load's staged rows then take no memory (a seven-million-
        event load spent 18 s inserting into a temporary table that spilled), and the merge
        reads them once, in parallel.
        """
        if frame.height == 0:
            return
        frame = frame.select(list(SCHEMAS[table])).with_columns(
            pl.int_range(self._seq, self._seq + frame.height, dtype=pl.Int64).alias("_seq")
        )
        self._seq += frame.height
        files = self._staged.setdefault(table, [])
        folder = self.store._spill_path / f"stage-{self.load_id}"
        folder.mkdir(parents=True, exist_ok=True)
        files.append(folder / f"{table}-{len(files):06d}.parquet")
        frame.write_parquet(files[-1], compression="lz4", statistics=False)

    def quarantine(self, table: str, bad: pl.DataFrame) -> None:
        """Keep rows that broke a rule, with where they came from and why.

        A row already quarantined (same table, source, row number, rule and raw row: the
        same file loaded again) is counted but not kept twice.
        """
        if bad.height == 0:
            return
        self.report(table).quarantined += bad.height
        self.con.register("bad_rows", bad.select("source", "row_number", "rule", "raw"))
        added = self.con.execute(
            """
            INSERT INTO quarantine SELECT ?, ?, source, row_number, rule, raw, now()::TIMESTAMP FROM bad_rows b
            WHERE NOT EXISTS (SELECT 1 FROM quarantine q WHERE q.table_name = ? AND q.source = b.source
                              AND q.row_number IS NOT DISTINCT FROM b.row_number AND q.rule = b.rule
                              AND q.raw IS NOT DISTINCT FROM b.raw)
            """,
            [self.load_id, table, table],
        ).fetchall()[0][0]
        self.con.unregister("bad_rows")
        self._changed = self._changed or added > 0

    def report(self, table: str) -> TableReport:
        return self.reports.setdefault(table, TableReport(table))

    def user_hash(self, user_id: str) -> str:
        """A user's id as erasures record it: salted with this store's own salt, so the hash
        recognises the id on a later load but is no use against another store's."""
        return hashlib.sha256((self._erasure_salt() + user_id).encode()).hexdigest()

    def _erasure_salt(self) -> str:
        # fetchall throughout: DuckDB refuses to register a frame while a result is unfinished.
        salt = self.con.execute("SELECT value FROM meta WHERE key = 'erasure_salt'").fetchall()
        if not salt:
            salt = [(uuid.uuid4().hex,)]
            self.con.execute("INSERT INTO meta VALUES ('erasure_salt', ?)", [salt[0][0]])
        return salt[0][0]

    def erased_filter(self) -> Callable[[pl.Series], pl.Series] | None:
        """Which of a batch's user ids were erased (for loaders.validate.check); None when no
        user ever was, so an ordinary load pays nothing."""
        if not self.con.execute("SELECT count(*) FROM erased_users").fetchall()[0][0]:
            return None
        salt = self._erasure_salt()

        def erased(user_ids: pl.Series) -> pl.Series:
            self.con.register("batch_ids", user_ids.rename("user_id").to_frame())
            found = self.con.execute(
                "SELECT DISTINCT user_id FROM batch_ids WHERE sha256(? || user_id) IN (SELECT id_hash FROM erased_users)",
                [salt],
            ).fetchall()
            self.con.unregister("batch_ids")
            return user_ids.is_in([row[0] for row in found]).fill_null(False)

        return erased

    def erase_user(self, user_id: str) -> dict[str, int]:
        """Erase one user from every input table and the quarantine, and record the erasure;
        returns rows removed per table (nothing is recorded when there was nothing).

        Quarantined rows go by the id in any spelling of its column and by every email the
        store knows for the user. The derived tables are rebuilt and the store rewritten.
        """
        matching = user_quarantine(self.con, user_id)
        removed = {}
        for table in SCHEMAS:
            removed[table] = self.con.execute(f"DELETE FROM {table} WHERE user_id = ?", [user_id]).fetchall()[0][0]
        removed["quarantine"] = self.con.execute(
            f"DELETE FROM quarantine WHERE rowid IN (SELECT rid FROM ({USER_QUARANTINE}))", matching
        ).fetchall()[0][0]
        if any(removed.values()):
            self.con.execute("INSERT INTO erased_users VALUES (?, now()::TIMESTAMP)", [self.user_hash(user_id)])
            self._changed = True
            self._force_rebuild = True
            self.rewrites = True
        return removed

    def _merge(self, table: str) -> None:
        con, report = self.con, self.report(table)
        key = ", ".join(KEYS[table])
        cols = list(SCHEMAS[table])
        files = ", ".join("'" + str(path).replace("'", "''") + "'" for path in self._staged[table])
        staged_rows = f"read_parquet([{files}])"
        staged, unique = con.execute(f"SELECT count(*), count(DISTINCT ({key})) FROM {staged_rows}").fetchone()
        join = " AND ".join(f"t.{k} = l.{k}" for k in KEYS[table])
        same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM l.{c}" for c in cols)
        empty_target = con.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
        # The window that keeps the last copy of each key is the costliest step of a big
        # load; most loads have no repeated keys and skip it.
        dedupe = f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _seq DESC) = 1" if unique < staged else ""
        # The staged rows as they are, a view reading their files where used, never copied; with
        # repeated keys, the last copy of each.
        is_view = not dedupe
        con.execute(f"CREATE TEMP {'VIEW' if is_view else 'TABLE'} latest AS "
                    f"SELECT * EXCLUDE (_seq) FROM {staged_rows} {dedupe}")
        if table == "events":
            # An event never changes: the first stored copy is kept. Only the stored events'
            # key is read (their other columns stay on disk), in a join DuckDB builds on the
            # new rows' side: an EXISTS built its hash table on every stored event.
            matched = 0 if empty_target else con.execute(
                f"SELECT count(*) FROM latest l JOIN {table} t ON {join}").fetchall()[0][0]
            report.duplicates += staged - unique + matched
        else:
            matched, identical = (0, 0) if empty_target else con.execute(
                f"SELECT count(*), count(*) FILTER (WHERE {same}) FROM latest l JOIN {table} t ON {join}"
            ).fetchone()
            if matched:
                # A changed row may move to another user: both users' people rows change.
                con.execute(f"INSERT INTO touched_users SELECT t.user_id FROM {table} t JOIN latest l ON {join} "
                            f"WHERE NOT ({same})")
                con.execute(f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM latest l WHERE {join} AND NOT ({same}))")
            report.duplicates += staged - unique + identical
            report.updated += matched - identical
        if matched:  # what is stored already (identical, or an event) is not stored again: the rest, copied
            keys = ", ".join(f"l.{k}" for k in KEYS[table])
            con.execute(f"CREATE TEMP TABLE stored_keys AS SELECT {keys} FROM latest l JOIN {table} t ON {join}")
            con.execute(f"CREATE TEMP TABLE kept AS SELECT * FROM latest l WHERE NOT EXISTS "
                        f"(SELECT 1 FROM stored_keys t WHERE {join})")
            con.execute("DROP TABLE stored_keys")
            con.execute(f"DROP {'VIEW' if is_view else 'TABLE'} latest")
            con.execute("ALTER TABLE kept RENAME TO latest")
            is_view = False
        inserted = con.execute("SELECT count(*) FROM latest").fetchone()[0]
        report.stored += inserted - (0 if table == "events" else matched - identical)
        if inserted:
            self._changed = True
            extra = _LOCAL_COLUMNS.get(table, {})
            select = ", ".join(cols + [f"{sql} AS {name}" for name, sql in extra.items()])
            time_col = _TIME_COLUMN[table]
            params = {"tz": self.store.timezone} if extra else None
            # The table stays in time order, so DuckDB's zonemaps skip what a date range does not
            # need: new rows go after the old ones, and rows older than the newest stored one
            # are merged with the stored rows from that instant on (the tail), not the whole table.
            first_new = con.execute(f"SELECT min({time_col}) FROM latest").fetchone()[0]
            tail = f"(SELECT * FROM {table} WHERE {time_col} >= $first_new)"
            if con.execute(f"SELECT EXISTS {tail}", {"first_new": first_new}).fetchone()[0]:
                con.execute(f"CREATE TEMP TABLE tail AS SELECT * FROM {table} WHERE {time_col} >= $first_new",
                            {"first_new": first_new})
                con.execute(f"DELETE FROM {table} WHERE {time_col} >= $first_new", {"first_new": first_new})
                con.execute(f"INSERT INTO {table} SELECT * FROM (SELECT * FROM tail UNION ALL "
                            f"SELECT {select} FROM latest) ORDER BY {time_col}", params)
                con.execute("DROP TABLE tail")
            else:
                con.execute(f"INSERT INTO {table} SELECT {select} FROM latest ORDER BY {time_col}", params)
            if not self._force_rebuild:  # a full rebuild needs no list of what was touched
                con.execute("INSERT INTO touched_users SELECT DISTINCT user_id FROM latest")
                if table == "events":
                    con.execute(f"INSERT INTO new_events SELECT user_id, {local_day('ts')}, ts FROM latest",
                                {"tz": self.store.timezone})
        con.execute(f"DROP {'VIEW' if is_view else 'TABLE'} latest")

    def finish(self) -> bool:
        """Merge everything staged, bring the derived tables up to date (only what the load
        touched, unless everything must be rebuilt), bump the version. True if anything changed."""
        self.con.execute("CREATE OR REPLACE TEMP TABLE touched_users (user_id VARCHAR)")
        self.con.execute("CREATE OR REPLACE TEMP TABLE new_events (user_id VARCHAR, day DATE, ts TIMESTAMP)")
        for table in SCHEMAS:
            if table in self._staged:
                self._merge(table)
        if not (self._changed or self._force_rebuild):
            return False
        for table, column in _TIME_COLUMN.items() if self._resort else ():
            self.con.execute(f"CREATE OR REPLACE TABLE {table} AS SELECT * FROM {table} ORDER BY {column}")
        if self._force_rebuild:
            derived.build(self.con, self.store.session_timeout, self.store.timezone)
        else:
            derived.update(self.con, self.store.session_timeout, self.store.timezone)
        self.con.execute("UPDATE meta SET value = (value::INTEGER + 1)::VARCHAR WHERE key = 'version'")
        self.con.execute("DELETE FROM meta WHERE key = 'published_at'")
        self.con.execute("INSERT INTO meta VALUES ('published_at', ?)", [datetime.now(timezone.utc).isoformat()])
        self.con.execute("CHECKPOINT")
        return True

