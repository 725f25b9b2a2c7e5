"""The analytics store: one DuckDB file, published atomically.

Readers attach the published file read-only inside a private in-memory DuckDB, so they
never take a lock and never see a load in progress. (Opening the file path directly would
hand back DuckDB's cached instance of the file as it was before the last publish.)

A writer takes an exclusive lock next to the file, copies the published file, loads into
the copy, rebuilds the derived tables, checkpoints and `os.replace`s the copy into place.
A load that fails or is killed leaves the published file untouched; its copy is deleted
(or, after a SIGKILL, swept up by the next writer).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pulse.measures import local_day, local_hour
from pulse.schema import DEVICE_TYPES, EVENT_TYPES, KEYS, SCHEMAS, TRANSACTION_KINDS, TRANSACTION_STATUSES
from pulse import derived
from pulse.settings import Settings

SCHEMA_VERSION = 1
# DuckDB memory for one load (staging, sorting, sessions); beyond it, it spills to disk.
LOAD_MEMORY_LIMIT = "3GB"

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


class Store:
    """A handle on the store file; cheap to create, safe to share between threads."""

    def __init__(self, path: Path | str, timezone: str = "UTC", currency: str = "USD", session_timeout: int = 30,
                 api_limits: tuple[tuple[str, int], ...] = Settings.api_limits):
        self.path = Path(path).resolve()
        # The settings that say how to read the store; metrics take their defaults from them.
        self.timezone = timezone
        self.currency = currency
        self.session_timeout = session_timeout
        self.api_limits = api_limits
        self._reader: tuple[str, duckdb.DuckDBPyConnection] | None = None
        self._reader_lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(settings.store, settings.timezone, settings.currency, settings.session_timeout, settings.api_limits)

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
                con.execute("ATTACH ? AS store (READ_ONLY)", [str(self.path)])
                con.execute("USE store")
                # Older connections stay open for queries already running in other threads.
                self._reader = (version, con)
            return self._reader[1]

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor on the published version, consistent for the whole block."""
        cur = self._connection().cursor()
        try:
            cur.execute("USE store")
            yield cur
        finally:
            cur.close()

    def fetch(self, sql: str, params: list | dict | None = None) -> pl.DataFrame:
        with self.read() as con:
            return con.sql(sql, params=_bind(sql, params)).pl()

    def scalar(self, sql: str, params: list | dict | None = None) -> Any:
        with self.read() as con:
            row = con.execute(sql, _bind(sql, params)).fetchone()
        return None if row is None else row[0]

    def info(self) -> StoreInfo:
        with self.read() as con:
            meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
            rows = {t: con.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in SCHEMAS}
            first_day, last_day = con.execute("SELECT min(day), max(day) FROM user_days").fetchone()
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
        )

    # -- the load log ------------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        """Kept beside the store, so failed loads are recorded without touching the store."""
        return self.path.with_name(self.path.name + ".loads.jsonl")

    def log(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, default=str) + "\n")

    def load_log(self) -> list[dict[str, Any]]:
        if not self.log_path.exists():
            return []
        with open(self.log_path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    # -- writing -----------------------------------------------------------------------------

    @contextmanager
    def writer(self, source: str) -> Iterator[Writer]:
        """Load into a private copy and publish it at the end of the block, or not at all."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        with open(lock_path, "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                for stale in self.path.parent.glob(self.path.name + ".next-*"):
                    stale.unlink(missing_ok=True)
                work = self.path.with_name(f"{self.path.name}.next-{os.getpid()}-{uuid.uuid4().hex[:8]}")
                fresh = not self.path.exists()
                if not fresh:
                    shutil.copyfile(self.path, work)
                con = duckdb.connect(str(work))
                # A load larger than memory spills to disk beside the store instead of growing.
                con.execute(f"SET memory_limit = '{LOAD_MEMORY_LIMIT}'")
                con.execute("SET temp_directory = ?", [str(self.path.with_name(self.path.name + ".tmp"))])
                writer = Writer(self, con, source)
                try:
                    if fresh:
                        writer.create_schema()
                    else:
                        writer.check_compatible()
                    yield writer
                    changed = writer.finish()
                    con.close()
                    if changed or fresh:
                        with open(work, "rb+") as fh:
                            os.fsync(fh.fileno())
                        os.replace(work, self.path)
                        _fsync_dir(self.path.parent)
                    else:
                        work.unlink()
                except BaseException:
                    con.close()
                    work.unlink(missing_ok=True)
                    Path(str(work) + ".wal").unlink(missing_ok=True)
                    raise
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class Writer:
    """Stages batches, merges them by key, and rebuilds derived tables. Used via Store.writer."""

    def __init__(self, store: Store, con: duckdb.DuckDBPyConnection, source: str):
        self.store = store
        self.con = con
        self.source = source
        self.load_id = uuid.uuid4().hex
        self.started = datetime.now(timezone.utc)
        self.reports: dict[str, TableReport] = {}
        self._staged: set[str] = set()
        self._seq = 0
        self._force_rebuild = False
        self._changed = False

    def create_schema(self) -> None:
        for name, values in _ENUMS.items():
            self.con.execute(f"CREATE TYPE {name} AS ENUM ({', '.join(repr(v) for v in values)})")
        self.con.execute(_DDL)
        self.con.executemany(
            "INSERT INTO meta VALUES (?, ?)",
            [
                ["schema_version", str(SCHEMA_VERSION)],
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
        settings_now = {"timezone": self.store.timezone, "currency": self.store.currency, "session_timeout": str(self.store.session_timeout)}
        for key, value in settings_now.items():
            if meta.get(key) != str(value):
                # The derived tables depend on these settings: rebuild them with the new values.
                self.con.execute("UPDATE meta SET value = ? WHERE key = ?", [str(value), key])
                self._force_rebuild = True
        if self._force_rebuild:
            self._recompute_local_columns()

    def _recompute_local_columns(self) -> None:
        for table, columns in _LOCAL_COLUMNS.items():
            assignments = ", ".join(f"{name} = {sql}" for name, sql in columns.items())
            self.con.execute(f"UPDATE {table} SET {assignments}", {"tz": self.store.timezone})

    def rebuild(self) -> None:
        """Recompute the derived tables even when no rows change (after a settings change)."""
        self._force_rebuild = True

    def stage(self, table: str, frame: pl.DataFrame) -> None:
        """Queue typed rows (pulse.schema) for merging; later rows win over earlier ones."""
        if frame.height == 0:
            return
        frame = frame.select(list(SCHEMAS[table])).with_columns(
            pl.int_range(self._seq, self._seq + frame.height, dtype=pl.Int64).alias("_seq")
        )
        self._seq += frame.height
        stage = f"stage_{table}"
        self.con.register("batch", frame)
        if table not in self._staged:
            self.con.execute(f"CREATE TEMP TABLE {stage} AS SELECT * FROM batch LIMIT 0")
            self._staged.add(table)
        self.con.execute(f"INSERT INTO {stage} SELECT * FROM batch")
        self.con.unregister("batch")

    def quarantine(self, table: str, bad: pl.DataFrame) -> None:
        """Keep rows that broke a rule, with where they came from and why."""
        if bad.height == 0:
            return
        self.report(table).quarantined += bad.height
        self.con.register("bad_rows", bad.select("source", "row_number", "rule", "raw"))
        self.con.execute(
            "INSERT INTO quarantine SELECT ?, ?, source, row_number, rule, raw, now()::TIMESTAMP FROM bad_rows",
            [self.load_id, table],
        )
        self.con.unregister("bad_rows")
        self._changed = True

    def report(self, table: str) -> TableReport:
        return self.reports.setdefault(table, TableReport(table))

    def delete_user(self, user_id: str) -> dict[str, int]:
        """Erase one user from every input table and the quarantine; returns rows removed per table."""
        removed = {}
        for table in SCHEMAS:
            removed[table] = self.con.execute(f"DELETE FROM {table} WHERE user_id = ?", [user_id]).fetchone()[0]
        removed["quarantine"] = self.con.execute(
            "DELETE FROM quarantine WHERE json_extract_string(raw, '$.user_id') = ?", [user_id]
        ).fetchone()[0]
        if any(removed.values()):
            self._changed = True
            self._force_rebuild = True
        return removed

    def _merge(self, table: str) -> None:
        con, report = self.con, self.report(table)
        key = ", ".join(KEYS[table])
        cols = list(SCHEMAS[table])
        staged, unique = con.execute(f"SELECT count(*), count(DISTINCT ({key})) FROM stage_{table}").fetchone()
        # The window that keeps the last copy of each key is the costliest step of a big
        # load; most loads have no repeated keys and skip it.
        dedupe = f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY _seq DESC) = 1" if unique < staged else ""
        con.execute(f"CREATE TEMP TABLE latest AS SELECT * EXCLUDE (_seq) FROM stage_{table} {dedupe}")
        join = " AND ".join(f"t.{k} = l.{k}" for k in KEYS[table])
        same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM l.{c}" for c in cols)
        empty_target = con.execute(f"SELECT NOT EXISTS (SELECT 1 FROM {table})").fetchone()[0]
        matched, identical = (0, 0) if empty_target else con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE {same}) FROM latest l JOIN {table} t ON {join}"
        ).fetchone()
        if table == "events":
            # An event never changes: the first stored copy is kept.
            if matched:
                con.execute(f"DELETE FROM latest l WHERE EXISTS (SELECT 1 FROM {table} t WHERE {join})")
            report.duplicates += staged - unique + matched
        else:
            if matched:
                con.execute(f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM latest l WHERE {join} AND NOT ({same}))")
                con.execute(f"DELETE FROM latest l WHERE EXISTS (SELECT 1 FROM {table} t WHERE {join})")
            report.duplicates += staged - unique + identical
            report.updated += matched - identical
        inserted = con.execute("SELECT count(*) FROM latest").fetchone()[0]
        report.stored += inserted - (0 if table == "events" else matched - identical)
        if inserted:
            self._changed = True
            extra = _LOCAL_COLUMNS.get(table, {})
            select = ", ".join(cols + [f"{sql} AS {name}" for name, sql in extra.items()])
            time_col = _TIME_COLUMN[table]
            params = {"tz": self.store.timezone} if extra else None
            max_before = con.execute(f"SELECT max({time_col}) FROM {table}").fetchone()[0]
            min_new = con.execute(f"SELECT min({time_col}) FROM latest").fetchone()[0]
            con.execute(f"INSERT INTO {table} SELECT {select} FROM latest ORDER BY {time_col}", params)
            if max_before is not None and min_new < max_before:
                # Keep the table in time order so DuckDB's zonemaps prune date ranges.
                con.execute(f"CREATE OR REPLACE TABLE sorted AS SELECT * FROM {table} ORDER BY {time_col}")
                con.execute(f"DROP TABLE {table}")
                con.execute(f"ALTER TABLE sorted RENAME TO {table}")
        con.execute("DROP TABLE latest")
        con.execute(f"DROP TABLE stage_{table}")

    def finish(self) -> bool:
        """Merge everything staged, rebuild derived tables, bump the version. True if anything changed."""
        for table in SCHEMAS:
            if table in self._staged:
                self._merge(table)
        if not (self._changed or self._force_rebuild):
            return False
        self.con.execute(derived.USER_DAYS)
        derived.build_sessions(self.con, self.store.session_timeout)
        self.con.execute(derived.PEOPLE, {"tz": self.store.timezone})
        self.con.execute("UPDATE meta SET value = (value::INTEGER + 1)::VARCHAR WHERE key = 'version'")
        self.con.execute("DELETE FROM meta WHERE key = 'published_at'")
        self.con.execute("INSERT INTO meta VALUES ('published_at', ?)", [datetime.now(timezone.utc).isoformat()])
        self.con.execute("CHECKPOINT")
        return True

