"""Pulse's store on ClickHouse: `chdb://DIRECTORY` (ClickHouse in this process, through chDB)
or `clickhouse://USER:PASSWORD@HOST:PORT/DATABASE` (a server, through clickhouse-connect).

Every metric asks the same SQL of both engines: a DuckDB statement is rendered for ClickHouse
by `pulse.dialect.clickhouse`. The tables are ClickHouse's own (`TABLES`): MergeTree sorted by
day and user, monthly partitions for what grows with time, LowCardinality text for
enumerations, Decimal money.

Versions. The store's database (DATABASE; `pulse` for chDB) holds one small table,
`published` (version, database, published_at); each published version of the store is a
database of its own, DATABASE_vN, holding the input, derived, quarantine and meta tables.
Readers take the newest row of `published` and read its database. A load builds the next
version's database: each input table's untouched partitions are attached from the current
version (hard links, nothing copied), the partitions the load touches are rewritten with its
rows merged by key, and the derived tables are built by INSERT … SELECT. One row in
`published` then swaps every table at once: readers never see half a load, across tables too
(EXCHANGE TABLES swaps one pair at a time), and a failed load leaves only an unpublished
database, dropped at once or by the next load. The version before the current one is kept for
reads still running on it.
"""

from __future__ import annotations

import atexit
import fcntl
import hashlib
import logging
import re
import shutil
import threading
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import unquote, urlsplit

import polars as pl
import pyarrow as pa
import sqlglot
from sqlglot import exp

from pulse import derived
from pulse.dialect import CLICKHOUSE_SETTINGS, clickhouse
from pulse.measures import local_day, local_hour
from pulse.periods import next_period
from pulse.schema import KEYS, SCHEMAS
from pulse.settings import Settings
from pulse.store import (DERIVED_VERSION, SCHEMA_VERSION, Store, StoreError, StoreInfo, Writer)

ROOT = Path(__file__).resolve().parent.parent

# The input tables as ClickHouse keeps them: (columns, PARTITION BY, ORDER BY).
_TEXT, _OPT, _LOW = "String", "Nullable(String)", "LowCardinality(Nullable(String))"
_TS, _DAY, _MONEY = "DateTime64(6)", "Date32", "Decimal(18, 4)"
TABLES: dict[str, tuple[dict[str, str], str | None, str]] = {
    "users": ({"user_id": _TEXT, "email": _OPT, "name": _OPT, "signup_at": _TS, "country": _LOW, "timezone": _LOW,
               "auth_provider": _LOW, "plan": _LOW, "marketing_opt_in": "Bool"}, None, "user_id"),
    "events": ({"event_id": _TEXT, "user_id": _TEXT, "ts": _TS, "event_type": "LowCardinality(String)",
                "event_name": _LOW, "page_path": _OPT, "session_id": _OPT, "device_type": _LOW, "browser": _LOW,
                "os": _LOW, "country_code": _LOW, "referrer": _OPT, "properties": _OPT, "day": _DAY, "hour": "Int8"},
               "toYYYYMM(day)", "(day, user_id, ts)"),
    "transactions": ({"transaction_id": _TEXT, "user_id": _TEXT, "ts": _TS, "kind": "LowCardinality(String)",
                      "status": "LowCardinality(String)", "amount": _MONEY, "currency": "LowCardinality(String)",
                      "product_id": _OPT, "product_name": _OPT, "category": _LOW, "provider": _LOW,
                      "payment_method": _LOW, "plan": _LOW, "refund_of": _OPT, "day": _DAY},
                     "toYYYYMM(day)", "(day, user_id, ts)"),
    "subscriptions": ({"subscription_id": _TEXT, "user_id": _TEXT, "plan": "LowCardinality(String)", "mrr": _MONEY,
                       "started_at": _TS, "ended_at": f"Nullable({_TS})", "cancel_reason": _LOW},
                      None, "(user_id, started_at, subscription_id)"),
    "quarantine": ({"load_id": _TEXT, "table_name": "LowCardinality(String)", "source": _TEXT,
                    "row_number": "Nullable(Int64)", "rule": _TEXT, "raw": _OPT, "quarantined_at": _TS},
                   None, "(quarantined_at, source)"),
    "meta": ({"key": _TEXT, "value": _OPT}, None, "key"),
    "erased_users": ({"id_hash": _TEXT, "erased_at": _TS}, None, "id_hash"),
}
# The derived tables, built from a version's input tables by CREATE TABLE … AS SELECT.
_DERIVED_LAYOUT = {
    "user_days": ("toYYYYMM(day)", "(day, user_id)"),
    "day_users": ("toYYYYMM(day)", "day"),
    "feature_days": ("toYYYYMM(day)", "(day, user_id, feature)"),
    "sessions": ("toYYYYMM(day)", "(day, user_id, start_ts)"),
    "people": (None, "user_id"),
}
# The shape of the tables above; a ClickHouse store of another shape has its derived tables
# rebuilt by its next load (the input tables keep theirs).
LAYOUT = "2"
_LOCAL = {"events": {"day": local_day("ts"), "hour": local_hour("ts")}, "transactions": {"day": local_day("ts")}}


@dataclass(frozen=True)
class Address:
    """A ClickHouse store setting, parsed. `password` is never shown: `label` is what Pulse
    says when it names the store."""

    kind: str  # "chdb" or "clickhouse"
    database: str
    directory: Path | None = None  # chdb
    host: str = ""
    port: int = 8123
    user: str = "default"
    password: str = ""
    secure: bool = False

    @property
    def label(self) -> str:
        if self.kind == "chdb":
            return f"chdb://{self.directory}"
        return f"clickhouse://{self.user}@{self.host}:{self.port}/{self.database}"

    @property
    def local(self) -> Path:
        """Where Pulse keeps its own files for this store (load log, lock, staged rows)."""
        if self.kind == "chdb":
            return self.directory / self.database  # type: ignore[operator]
        return ROOT / "data" / f"clickhouse-{self.host}-{self.port}-{self.database}"


def parse_address(text: str) -> Address:
    """`chdb://DIRECTORY` or `clickhouse://USER:PASSWORD@HOST:PORT/DATABASE` (https port:
    `clickhouses://`… is not a scheme; add `?secure=1`). A wrong one is one sentence (no password)."""
    if text.startswith("chdb://"):
        folder = text[len("chdb://"):]
        if not folder:
            raise StoreError("The store setting chdb:// needs a directory, e.g. chdb://data/clickhouse.")
        return Address("chdb", "pulse", directory=Path(folder).expanduser().resolve())
    parts = urlsplit(text)
    name = (parts.path or "").strip("/")
    shown = re.sub(r"//([^:@/]*):[^@/]*@", r"//\1:***@", text)
    try:
        port = parts.port or 8123
    except ValueError:
        raise StoreError(f"The store setting {shown} has a port that is not a number.") from None
    if not parts.hostname or not name or "/" in name:
        raise StoreError(f"The store setting {shown} is not a ClickHouse address: give "
                         "clickhouse://USER:PASSWORD@HOST:PORT/DATABASE.")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise StoreError(f"The ClickHouse database {name!r} in the store setting is not a plain name "
                         "(letters, digits and underscores).")
    return Address("clickhouse", name, host=parts.hostname, port=port,
                   user=unquote(parts.username or "default"), password=unquote(parts.password or ""),
                   secure="secure=1" in (parts.query or ""))


# -- the two ways to ClickHouse ------------------------------------------------------------

class _Chdb:
    """ClickHouse in this process, through chDB, on a directory.

    chDB's embedded server holds its directory for one process at a time. So that the
    dashboard, a load and the scheduler (each a process) can share a chdb:// store, a process
    takes the directory's lock file and opens the server for a burst of work, and closes both
    once it has been idle for IDLE_SECONDS (opening costs about 65 ms here). A load holds them
    from start to publish: while it runs, readers in other processes wait for it, up to
    WAIT_SECONDS. One process opens one directory at a time.
    """

    IDLE_SECONDS = 2.0
    WAIT_SECONDS = 600
    _all: dict[Path, _Chdb] = {}
    _made = threading.Lock()

    def __new__(cls, directory: Path) -> _Chdb:
        with cls._made:
            if directory not in cls._all:
                engine = super().__new__(cls)
                engine.directory = directory
                engine._lock = threading.RLock()
                engine._users = 0
                engine._session = None
                engine._lock_file = None
                engine._timer = None
                engine._database = None
                cls._all[directory] = engine
            return cls._all[directory]

    @contextmanager
    def lease(self) -> Iterator[Any]:
        """The open session, this process's alone for the block (and until it is idle)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._session is None:
                self._open()
            self._users += 1
            try:
                yield self._session
            finally:
                self._users -= 1
                if self._users == 0:
                    self._timer = threading.Timer(self.IDLE_SECONDS, self._close_if_idle)
                    self._timer.daemon = True
                    self._timer.start()

    def _open(self) -> None:
        from chdb import session  # only here: chDB is large, and only ClickHouse stores need it

        for other in list(self._all.values()):  # chDB runs one directory per process at a time
            if other is not self and other._session is not None:
                other._close_if_idle()
                if other._session is not None:
                    raise StoreError(f"This process is using chDB on {other.directory}; chDB opens one directory "
                                     f"per process at a time, so {self.directory} has to wait.")
        self.directory.mkdir(parents=True, exist_ok=True)
        lock = open(self.directory / ".pulse-lock", "a+")
        waited = 0.0
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if waited >= self.WAIT_SECONDS:
                    lock.close()
                    raise StoreError(f"The chDB store at {self.directory} has been busy in another process (a load?) "
                                     f"for {self.WAIT_SECONDS} s; try again when it is done.") from None
                time.sleep(0.05)
                waited += 0.05
        try:
            self._session = session.Session(str(self.directory))
        except Exception as exc:
            lock.close()
            raise StoreError(f"chDB cannot open {self.directory}: {str(exc).strip().splitlines()[0][:200]}") from None
        self._lock_file = lock
        self._database = None

    @classmethod
    def close_all(cls) -> None:
        """Close every idle session (at exit: chDB crashes the interpreter's exit otherwise)."""
        for engine in list(cls._all.values()):
            if engine._timer is not None:
                engine._timer.cancel()
            engine._close_if_idle()

    def _close_if_idle(self) -> None:
        with self._lock:
            if self._users or self._session is None:
                return
            self._session.close()
            self._session = None
            self._lock_file.close()  # and with it the lock
            self._lock_file = None

    def arrow(self, sql: str, database: str) -> pa.Table:
        with self.lease() as session:  # the session's current database is shared state: one statement at a time
            self._use(session, database)
            return session.query(sql, "ArrowTable")

    def command(self, sql: str, database: str = "system") -> None:
        with self.lease() as session:
            self._use(session, database)
            session.query(sql)

    def _use(self, session: Any, database: str) -> None:
        if self._database != database:
            self._database = None  # unknown until USE succeeds
            session.query(f"USE {database}")
            self._database = database

    def insert(self, table: str, files: list[Path], database: str) -> None:
        for file in files:
            quoted = str(file).replace("\\", "\\\\").replace("'", "\\'")
            self.command(f"INSERT INTO {database}.{table} SELECT * FROM file('{quoted}', Parquet)", database)


atexit.register(_Chdb.close_all)


class _Server:
    """A ClickHouse server over HTTP (clickhouse-connect)."""

    def __init__(self, address: Address):
        import clickhouse_connect
        from clickhouse_connect.driver.exceptions import ClickHouseError

        # The client logs each failure too; Pulse says it once, in its own sentence.
        logging.getLogger("clickhouse_connect").setLevel(logging.CRITICAL)

        where = f"{address.host}:{address.port}"
        try:
            self.client = clickhouse_connect.get_client(
                host=address.host, port=address.port, username=address.user, password=address.password,
                secure=address.secure, connect_timeout=5, send_receive_timeout=600, autogenerate_session_id=False)
            found = self.client.command("SELECT count() FROM system.databases WHERE name = {name:String}",
                                        parameters={"name": address.database})
        except ClickHouseError as exc:
            raise StoreError(_server_refusal(str(exc), where, address)) from None
        except OSError as exc:
            raise StoreError(f"Cannot reach the ClickHouse server at {where} ({exc.strerror or exc}): check the store "
                             "setting and that the server is running.") from None
        if not int(found):
            raise StoreError(f"The ClickHouse server at {where} has no database {address.database}: create it "
                             f"(CREATE DATABASE {address.database}) or fix the store setting.")

    @contextmanager
    def lease(self) -> Iterator[None]:
        """A server is shared by every process as it is."""
        yield None

    def arrow(self, sql: str, database: str) -> pa.Table:
        return self.client.query_arrow(sql, settings={"database": database}, use_strings=True)

    def command(self, sql: str, database: str = "system") -> None:
        self.client.command(sql, settings={"database": database})

    def insert(self, table: str, files: list[Path], database: str) -> None:
        import pyarrow.parquet as pq

        for file in files:
            self.client.insert_arrow(table, pq.read_table(file), database=database)


def _server_refusal(text: str, where: str, address: Address) -> str:
    """One sentence for what a ClickHouse server said, with no password in it."""
    code = re.search(r"Code: (\d+)", text)
    number = int(code.group(1)) if code else None
    if number in (516, 192, 193, 194):
        return f"The ClickHouse server at {where} refused user {address.user}: the user name or password in the store setting is wrong."
    if number == 81:
        return (f"The ClickHouse server at {where} has no database {address.database}: create it "
                f"(CREATE DATABASE {address.database}) or fix the store setting.")
    if "Connection refused" in text or "Max retries" in text or "Failed to establish" in text or "timed out" in text:
        return f"Cannot reach the ClickHouse server at {where}: check the store setting and that the server is running."
    first = (text.strip().splitlines() or ["no reason given"])[0]
    if address.password:
        first = first.replace(address.password, "***")
    return f"The ClickHouse server at {where} refused Pulse ({first[:200]})."


# -- the store -------------------------------------------------------------------------------

def _settings_clause(extra: dict[str, Any] | None = None) -> str:
    values = CLICKHOUSE_SETTINGS | (extra or {})
    return " SETTINGS " + ", ".join(f"{k} = {v!r}" for k, v in values.items())


def _stopped(exc: Exception) -> str | None:
    """"time" or "memory" when ClickHouse stopped a statement at a limit, else None."""
    text = str(exc)
    if "TIMEOUT_EXCEEDED" in text or "Code: 159" in text:
        return "time"
    if "MEMORY_LIMIT_EXCEEDED" in text or "Code: 241" in text:
        return "memory"
    return None


def frame_of(table: pa.Table) -> pl.DataFrame:
    """A ClickHouse result as the frame DuckDB gives: instants naive UTC (as DuckDB's TIMESTAMP)."""
    frame = pl.from_arrow(table)
    return frame.with_columns(pl.col(name).dt.replace_time_zone(None) for name, kind in frame.schema.items()
                              if isinstance(kind, pl.Datetime) and kind.time_zone is not None)


def query(directory: Path, sql: str, params: dict | None = None) -> pl.DataFrame:
    """The store's SQL (DuckDB, `$name` parameters) run on chDB in `directory` as ClickHouse
    SQL, with the settings every read has, as the frame DuckDB would give."""
    return frame_of(_Chdb(Path(directory).resolve()).arrow(clickhouse(sql, params) + _settings_clause(), "system"))


class ClickHouseStore(Store):
    """A store on ClickHouse; reads and loads as the DuckDB store does (see the module)."""

    def __init__(self, address: str | Address, timezone: str = "UTC", currency: str = "USD", session_timeout: int = 30,
                 api_limits: tuple[tuple[str, int], ...] = Settings.api_limits,
                 query_seconds: int | None = None, query_memory_mb: int | None = None, **alerts: Any):
        self.address = address if isinstance(address, Address) else parse_address(address)
        super().__init__(self.address.local, timezone, currency, session_timeout, api_limits,
                         query_seconds, query_memory_mb, **alerts)
        self.database = self.address.database
        self._engine: _Chdb | _Server | None = None
        self._engine_lock = threading.Lock()

    @classmethod
    def chdb(cls, directory: Path, database: str = "pulse", like: Store | None = None) -> ClickHouseStore:
        """A chDB store in `directory`, database `database`, reading as `like` does (timezone…)."""
        address = Address("chdb", database, directory=Path(directory).resolve())
        if like is None:
            return cls(address)
        return cls(address, like.timezone, like.currency, like.session_timeout, like.api_limits,
                   alert_rules=like.alert_rules, alert_p_value=like.alert_p_value,
                   alert_revenue_minimum=like.alert_revenue_minimum)

    @classmethod
    def copy_of(cls, store: Store, directory: Path, database: str = "pulse") -> ClickHouseStore:
        """A chDB store loaded with exactly the input rows, quarantine and load log of `store`
        (replacing whatever `database` held): the same rows, through ClickHouse's own load."""
        chdb = cls.chdb(directory, database, like=store)
        chdb.drop()
        with store.read() as con, chdb.writer("copy") as writer:
            for table, schema in SCHEMAS.items():
                rows = con.sql(f"SELECT {', '.join(schema)} FROM {table}").pl()
                writer.stage(table, rows.cast(schema))  # type: ignore[arg-type]
            writer.keep_quarantine(con.sql("SELECT * FROM quarantine").pl())
        if store.log_path.exists():  # its load log too: the same store, in another engine
            shutil.copyfile(store.log_path, chdb.log_path)
        return chdb

    def __repr__(self) -> str:
        return f"ClickHouseStore({self.address.label!r})"

    @property
    def label(self) -> str:
        return self.address.label

    @property
    def engine(self) -> _Chdb | _Server:
        with self._engine_lock:
            if self._engine is None:
                self._engine = _Chdb(self.address.directory) if self.address.kind == "chdb" else _Server(self.address)
            return self._engine

    # -- versions

    def _published(self) -> tuple[int, str] | None:
        """The newest published version and its database; None before the first load."""
        try:
            newest = self.engine.arrow(f"SELECT version, database FROM {self.database}.published "
                                       "ORDER BY version DESC LIMIT 1", "system").to_pylist()
        except StoreError:
            raise
        except Exception as exc:  # chDB's RuntimeError or the server's error: the table is not there yet
            if "UNKNOWN_TABLE" in str(exc) or "UNKNOWN_DATABASE" in str(exc) or "Code: 60" in str(exc) or "Code: 81" in str(exc):
                return None
            raise
        return (newest[0]["version"], newest[0]["database"]) if newest else None

    def exists(self) -> bool:
        return self._published() is not None

    def require(self) -> None:
        if not self.exists():
            raise StoreError(f"There is no store in {self.label} yet: run `pulse demo` or `pulse load` first.")

    def version(self) -> str:
        published = self._published()
        return "missing" if published is None else str(published[0])

    def drop(self) -> None:
        """Remove the store and every version of it (tests and copies)."""
        for name in self._databases():
            self.engine.command(f"DROP DATABASE IF EXISTS {name} SYNC")
        self.engine.command(f"DROP DATABASE IF EXISTS {self.database} SYNC")

    def _databases(self) -> list[str]:
        return [row["name"] for row in self.engine.arrow(
            f"SELECT name FROM system.databases WHERE startsWith(name, '{self.database}_v') ORDER BY name",
            "system").to_pylist()]

    # -- reading

    def _reading(self) -> str:
        published = self._published()
        if published is None:
            self.require()
        return published[1]  # type: ignore[index]

    def _limits(self) -> dict[str, Any]:
        limits: dict[str, Any] = {}
        if self.query_seconds:
            limits["max_execution_time"] = self.query_seconds
        if self.query_memory_mb:
            limits["max_memory_usage"] = self.query_memory_mb * 1024 * 1024
        return limits

    def _run(self, sql: str, params: list | dict | None) -> pa.Table:
        if isinstance(params, list):
            raise ValueError("ClickHouse statements take named parameters ($name), not positional ones.")
        statement = clickhouse(sql, params) + _settings_clause(self._limits())
        try:
            return self.engine.arrow(statement, self._reading())
        except StoreError:
            raise
        except Exception as exc:  # chDB raises plain RuntimeErrors; the server, its own errors
            if _stopped(exc) == "time":
                raise StoreError(f"This view took longer than {self.query_seconds} s to compute and was stopped, so "
                                 "the server stays free for everyone: choose a shorter range or a coarser interval.") from None
            if _stopped(exc) == "memory":
                raise StoreError(f"This view needed more than the {self.query_memory_mb} MB of memory the app allows "
                                 "and was stopped: choose a shorter range or a coarser interval.") from None
            raise

    def fetch(self, sql: str, params: list | dict | None = None) -> pl.DataFrame:
        return frame_of(self._run(sql, params))

    def scalar(self, sql: str, params: list | dict | None = None) -> Any:
        frame = self.fetch(sql, params)
        return None if frame.is_empty() else frame.row(0)[0]

    @contextmanager
    def batches(self, sql: str, params: list | dict | None, batch_rows: int, memory_mb: int) -> Iterator[Any]:
        table = self._run(sql, params)
        frame = frame_of(table).to_arrow()
        yield pa.RecordBatchReader.from_batches(frame.schema, frame.to_batches(batch_rows))

    @contextmanager
    def read(self) -> Iterator[Any]:
        raise StoreError(f"{self.label} is a ClickHouse store; this reads a DuckDB store directly and is not built "
                         "for ClickHouse yet.")
        yield  # pragma: no cover

    def read_only(self, sql: str, tables: set[str], seconds: float | None, memory_mb: int,
                  rows: int | None = None) -> pl.DataFrame:
        """A query typed by staff (DuckDB SQL, already held to one query by pulse.sandbox), run
        with ClickHouse's readonly setting (no writes, settings or table functions such as
        file() or url()) and reading only the store's `tables` (no other database, no system
        tables); at most `rows` rows when given."""
        rendered = clickhouse(sql)
        tree = sqlglot.parse_one(rendered, read="clickhouse")
        named = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            allowed = table.name in tables | named and not (table.db or table.catalog)
            if isinstance(table.this, exp.Func) or not allowed:
                raise StoreError(f"Pulse's SQL reads the store's tables only ({', '.join(sorted(tables))}), "
                                 f"and {table.sql(dialect='clickhouse')} is not one of them.")
        limits: dict[str, Any] = {"readonly": 1, "max_memory_usage": int(memory_mb) * 1024 * 1024}
        if seconds:
            limits["max_execution_time"] = seconds
        if rows is not None:
            limits |= {"max_result_rows": rows, "result_overflow_mode": "break"}
        try:
            return frame_of(self.engine.arrow(rendered + _settings_clause(limits), self._reading()))
        except StoreError:
            raise
        except Exception as exc:
            if _stopped(exc) == "time":
                raise StoreError(f"The query ran past {seconds:g} s and was stopped; narrow it (a shorter range, "
                                 "fewer columns).") from None
            if _stopped(exc) == "memory":
                raise StoreError(f"The query needed more than the {memory_mb:,} MB of memory Pulse's SQL may use and "
                                 "was stopped; narrow it (a shorter range, fewer columns).") from None
            reason = re.sub(r"^Code: \d+\. DB::Exception: ", "", str(exc).strip().splitlines()[0]).split(" In scope")[0]
            raise StoreError(f"The query failed: {reason[:300]}") from None

    def columns(self, tables: list[str]) -> pl.DataFrame:
        """The store's columns of `tables`, in that order: table, column, type (ClickHouse's)."""
        order = {name: i for i, name in enumerate(tables)}
        found = frame_of(self.engine.arrow(
            f"SELECT table, name AS column, type FROM system.columns WHERE database = '{self._reading()}' "
            "ORDER BY table, position", "system"))
        return (found.filter(pl.col("table").is_in(tables))
                .sort(pl.col("table").replace_strict(order, return_dtype=pl.Int32), maintain_order=True))

    def info(self) -> StoreInfo:
        meta = dict(self.fetch("SELECT key, value FROM meta").rows())
        counts = self.fetch(" UNION ALL ".join(f"SELECT '{t}' AS t, count(*) AS n FROM {t}" for t in SCHEMAS))
        first_day, last_day = self.fetch("SELECT min(day), max(day) FROM user_days").row(0)
        return self._info(meta, dict(counts.rows()), first_day, last_day)

    # -- loading

    def sweep(self) -> None:
        """Drop versions no reader can be on: neither published nor the one before the current."""
        published = self._published()
        keep: set[str] = set()
        if published is not None:
            keep = {row["database"] for row in self.engine.arrow(
                f"SELECT database FROM {self.database}.published ORDER BY version DESC LIMIT 2", "system").to_pylist()}
        for name in self._databases():
            if name not in keep:
                self.engine.command(f"DROP DATABASE IF EXISTS {name} SYNC")

    @contextmanager
    def writer(self, source: str) -> Iterator[Writer]:
        """Load into the next version's database and publish it at the end of the block, or drop it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._lock_path, "a+") as lock, self.engine.lease():
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                self.engine.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")
                self.engine.command(f"CREATE TABLE IF NOT EXISTS {self.database}.published (version UInt64, "
                                    "database String, published_at DateTime64(6, 'UTC')) ENGINE = MergeTree ORDER BY version")
                self.sweep()
                current = self._published()
                number = (current[0] if current else 0) + 1
                target = f"{self.database}_v{number}_{uuid.uuid4().hex[:8]}"
                self.engine.command(f"CREATE DATABASE {target}")
                writer = ClickHouseWriter(self, source, current[1] if current else None, target)
                try:
                    if current is None:
                        writer.create_schema()
                    else:
                        writer.check_compatible()
                    yield writer
                    changed = writer.finish()
                    if not (changed or current is None):
                        self.engine.command(f"DROP DATABASE {target} SYNC")
                    else:
                        if self._published() != current:
                            raise StoreError(f"Another load published {self.label} while this one ran; run it again.")
                        self.engine.command(f"INSERT INTO {self.database}.published VALUES "
                                            f"({number}, '{target}', now64(6))", "system")
                        self.sweep()
                except BaseException:
                    self.engine.command(f"DROP DATABASE IF EXISTS {target} SYNC")
                    raise
            finally:
                shutil.rmtree(self._spill_path, ignore_errors=True)
                fcntl.flock(lock, fcntl.LOCK_UN)


def _create(name: str, database: str) -> str:
    columns, partition, order = TABLES[name]
    body = ", ".join(f"`{c}` {kind}" for c, kind in columns.items())
    parted = f" PARTITION BY {partition}" if partition else ""
    return f"CREATE TABLE {database}.{name} ({body}) ENGINE = MergeTree{parted} ORDER BY {order}"


def _row_text(columns: list[str], alias: str) -> str:
    """A row's whole value as text, NULLs and all (two rows are the same exactly when it is)."""
    return f"toString(tuple({', '.join(f'{alias}.`{c}`' for c in columns)}))"


class ClickHouseWriter(Writer):
    """Stages batches as the DuckDB writer does (Parquet files), then merges them by key into
    the next version's tables and builds its derived tables (see the module)."""

    def __init__(self, store: ClickHouseStore, source: str, current: str | None, target: str):
        super().__init__(store, None, source)  # type: ignore[arg-type]
        self.engine = store.engine
        self.current = current
        self.target = target
        self._meta: dict[str, str] = {}
        self._relocalise = False
        self._new_events = False  # the merge kept the events it added as new_events

    # statements on the next version, as ClickHouse SQL
    def _command(self, sql: str) -> None:
        self.engine.command(sql, self.target)

    def _rows(self, sql: str) -> list[dict[str, Any]]:
        return self.engine.arrow(sql + _settings_clause(), self.target).to_pylist()

    def _insert(self, table: str, select: str, params: dict | None = None) -> None:
        """INSERT the rows of `select` (DuckDB SQL, rendered) into `table`, with the settings every read has."""
        self._command(f"INSERT INTO {table} " + clickhouse(select, params) + _settings_clause())

    def create_schema(self) -> None:
        self._meta = {"schema_version": str(SCHEMA_VERSION), "derived_version": str(DERIVED_VERSION), "version": "0",
                      "timezone": self.store.timezone, "currency": self.store.currency,
                      "session_timeout": str(self.store.session_timeout), "layout": LAYOUT}
        self._force_rebuild = True

    def check_compatible(self) -> None:
        self._meta = {row["key"]: row["value"] for row in self.engine.arrow(
            "SELECT key, value FROM meta", self.current).to_pylist()}  # type: ignore[arg-type]
        if self._meta.get("schema_version") != str(SCHEMA_VERSION):
            raise StoreError(f"The store at {self.store.label} was written by another version of Pulse "
                             f"(schema {self._meta.get('schema_version')}).")
        now = {"timezone": self.store.timezone, "currency": self.store.currency,
               "session_timeout": str(self.store.session_timeout), "derived_version": str(DERIVED_VERSION),
               "layout": LAYOUT}
        for key, value in now.items():
            if self._meta.get(key) != value:
                self._meta[key] = value
                self._force_rebuild = True
                self._relocalise = self._relocalise or key == "timezone"

    def _erasure_salt(self) -> str:
        if "erasure_salt" not in self._meta:
            self._meta["erasure_salt"] = uuid.uuid4().hex
        return self._meta["erasure_salt"]

    def erased_filter(self) -> Callable[[pl.Series], pl.Series] | None:
        if self.current is None:
            return None
        hashes = {row["id_hash"] for row in self.engine.arrow("SELECT id_hash FROM erased_users", self.current).to_pylist()}
        if not hashes:
            return None
        salt = self._erasure_salt()

        def erased(user_ids: pl.Series) -> pl.Series:
            gone = [u for u in user_ids.unique().drop_nulls().to_list()
                    if hashlib.sha256((salt + u).encode()).hexdigest() in hashes]
            return user_ids.is_in(gone).fill_null(False)

        return erased

    def erase_user(self, user_id: str) -> dict[str, int]:
        raise StoreError(f"Erasing a user from a ClickHouse store ({self.store.label}) is not built yet: "
                         "erase them from the source and load the store anew.")

    def quarantine(self, table: str, bad: pl.DataFrame) -> None:
        if bad.height == 0:
            return
        self.report(table).quarantined += bad.height
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        self.keep_quarantine(bad.select(
            pl.lit(self.load_id).alias("load_id"), pl.lit(table).alias("table_name"), "source",
            pl.col("row_number").cast(pl.Int64), "rule", "raw", pl.lit(now).cast(pl.Datetime("us")).alias("quarantined_at")))

    def keep_quarantine(self, rows: pl.DataFrame) -> None:
        """Quarantine rows as they are (quarantine's columns), for the merge to add."""
        if rows.height:
            self._write("quarantine_new", rows.select(list(TABLES["quarantine"][0])))

    def _write(self, name: str, frame: pl.DataFrame) -> None:
        """Stage `frame` under `name` for the merge."""
        files = self._staged.setdefault(name, [])
        files.append(self._parquet(f"{name}-{len(files):06d}"))
        frame.write_parquet(files[-1], compression="lz4", statistics=False)

    def _parquet(self, name: str) -> Path:
        folder = self.store._spill_path / f"stage-{self.load_id}"
        folder.mkdir(parents=True, exist_ok=True)
        return folder / f"{name}.parquet"

    # -- the merge

    def _staging(self, table: str) -> str:
        """The staged rows, the last copy of each key, as a table of the next version's database."""
        schema = SCHEMAS[table]
        columns = ", ".join(f"`{c}` {TABLES[table][0][c]}" for c in schema)
        self._command(f"CREATE TABLE _staged_{table} ({columns}, _seq Int64) ENGINE = MergeTree ORDER BY _seq")
        self.engine.insert(f"_staged_{table}", self._staged[table], self.target)
        key = ", ".join(KEYS[table])
        self._command(f"CREATE TABLE _latest_{table} ENGINE = MergeTree ORDER BY tuple() AS "
                      f"SELECT * EXCEPT _seq FROM _staged_{table} ORDER BY _seq DESC LIMIT 1 BY {key}")
        staged = self._rows(f"SELECT count() AS n FROM _staged_{table}")[0]["n"]
        unique = self._rows(f"SELECT count() AS n FROM _latest_{table}")[0]["n"]
        self.report(table).duplicates += staged - unique
        self._command(f"DROP TABLE _staged_{table} SYNC")
        return f"_latest_{table}"

    def _merge_table(self, table: str) -> None:
        """Build the next version of an input table: its untouched partitions attached from
        the current version, the touched ones rewritten with the load's rows merged by key."""
        self._command(_create(table, self.target))
        columns = list(TABLES[table][0])
        inputs = list(SCHEMAS.get(table, {})) or columns
        key = f"({', '.join(KEYS[table])})" if table in KEYS else None
        current = f"{self.current}.{table}" if self.current else None
        removed: str | None = None
        touched: set[str] = set()
        insert: str | None = None
        if table in self._staged:
            latest = self._staging(table)
            report = self.report(table)
            if current:
                stored = f"(SELECT *, _partition_id AS part FROM {current} WHERE {key} IN (SELECT {key} FROM {latest}))"
                self._command(f"CREATE TABLE _matched_{table} ENGINE = MergeTree ORDER BY tuple() AS "
                              f"SELECT {key} AS k, {_row_text(inputs, 's')} = {_row_text(inputs, 'l')} AS same, "
                              f"s.part AS part FROM {stored} s JOIN {latest} l USING ({', '.join(KEYS[table])})")
                counts = self._rows(f"SELECT count() AS matched, countIf(same) AS identical FROM _matched_{table}")[0]
                matched, identical = counts["matched"], counts["identical"]
            else:
                matched = identical = 0
            if table == "events":  # an event never changes: the first stored copy is kept
                report.duplicates += matched
                keep = f"{key} NOT IN (SELECT k FROM _matched_{table})" if matched else "1"
            else:
                report.duplicates += identical
                report.updated += matched - identical
                keep = f"{key} NOT IN (SELECT k FROM _matched_{table} WHERE same)" if identical else "1"
                if matched > identical:
                    removed = f"(SELECT k FROM _matched_{table} WHERE NOT same)"
                    touched |= {r["part"] for r in self._rows(f"SELECT DISTINCT part FROM _matched_{table} WHERE NOT same")}
            local = _LOCAL.get(table, {})
            select = ", ".join([f"\"{c}\"" for c in inputs] + [f"{sql} AS {name}" for name, sql in local.items()])
            self._command(f"CREATE TABLE _insert_{table} AS {table}")
            self._insert(f"_insert_{table}", f"SELECT {select} FROM {latest} WHERE {keep}", {"tz": self.store.timezone})
            inserted = self._rows(f"SELECT count() AS n FROM _insert_{table}")[0]["n"]
            report.stored += inserted - (0 if table == "events" else matched - identical)
            if inserted or removed:
                self._changed = True
            partition = TABLES[table][1]
            touched |= {r["part"] for r in self._rows(
                f"SELECT DISTINCT toString({partition or 'tuple()'}) AS part FROM _insert_{table}")} if partition else {"all"}
            insert = f"_insert_{table}"
            self._command(f"DROP TABLE {latest} SYNC")
        if table == "quarantine" and "quarantine_new" in self._staged:
            self._command("CREATE TABLE _insert_quarantine AS quarantine")
            self.engine.insert("_insert_quarantine", self._staged["quarantine_new"], self.target)
            if current:  # a row already quarantined (the same file loaded again) is not kept twice
                same = ", ".join(c for c in columns if c not in ("load_id", "quarantined_at"))
                self._command(f"DELETE FROM _insert_quarantine WHERE toString(tuple({same})) IN "
                              f"(SELECT toString(tuple({same})) FROM {current})")
            self._changed = self._changed or bool(self._rows("SELECT count() AS n FROM _insert_quarantine")[0]["n"])
            insert = "_insert_quarantine"
        if table == "events" and self._relocalise and current:
            touched = {"*"}  # every local day moves with the timezone
        if current:
            for part in self._partitions(self.current, table):
                if part in touched or "*" in touched:
                    local = _LOCAL.get(table, {}) if "*" in touched else {}
                    select = ", ".join(f"{local[c]} AS {c}" if c in local else f"\"{c}\"" for c in columns)
                    where = f"_partition_id = '{part}'" + (f" AND {key} NOT IN {removed}" if removed else "")
                    self._insert(table, f"SELECT {select} FROM {current} WHERE {where}", {"tz": self.store.timezone})
                else:
                    self._command(f"ALTER TABLE {table} ATTACH PARTITION ID '{part}' FROM {current}")
        if table in SCHEMAS and current:  # whose derived rows the load changes (people, sessions…)
            if insert:
                self._command(f"INSERT INTO touched_users SELECT DISTINCT user_id FROM {insert}")
            if removed:
                self._command(f"INSERT INTO touched_users SELECT user_id FROM {current} WHERE {key} IN {removed}")
        if insert:
            self._command(f"INSERT INTO {table} SELECT * FROM {insert}")
            if table == "events":  # kept for the derived tables: what the load added
                self._command(f"RENAME TABLE {insert} TO new_events")
                self._new_events = True
            else:
                self._command(f"DROP TABLE {insert} SYNC")
        if table in KEYS and table in self._staged and self.current:
            self._command(f"DROP TABLE IF EXISTS _matched_{table} SYNC")

    def finish(self) -> bool:
        self._command("CREATE TABLE touched_users (user_id String) ENGINE = MergeTree ORDER BY tuple()")
        for table in TABLES:
            if table != "meta":
                self._merge_table(table)
        if not (self._changed or self._force_rebuild):
            return False
        if self._force_rebuild or self.current is None:
            self._build_derived()
        else:
            self._update_derived()
        for name in ("touched_users", "new_events", "cuts", "new_sessions"):
            self._command(f"DROP TABLE IF EXISTS {name} SYNC")
        self._meta["version"] = str(int(self._meta.get("version", "0")) + 1)
        self._meta["published_at"] = datetime.now(timezone.utc).isoformat()
        self._command(_create("meta", self.target))
        self._write_frame("meta", pl.DataFrame({"key": list(self._meta), "value": list(self._meta.values())}))
        return True

    def _write_frame(self, table: str, frame: pl.DataFrame) -> None:
        path = self._parquet(f"{table}-{uuid.uuid4().hex[:8]}")
        frame.write_parquet(path)
        self.engine.insert(table, [path], self.target)
        path.unlink()

    # -- derived tables

    def _derive(self, name: str, select: str, params: dict | None = None) -> None:
        partition, order = _DERIVED_LAYOUT[name]
        parted = f" PARTITION BY {partition}" if partition else ""
        self._command(f"CREATE TABLE {name} ENGINE = MergeTree{parted} ORDER BY {order} "
                      "SETTINGS allow_nullable_key = 1 AS " + clickhouse(select, params) + _settings_clause())

    def _build_derived(self) -> None:
        """Every derived table of the next version, from its input tables (pulse.derived's SQL,
        rendered for ClickHouse; sessions in polars, a bucket of users at a time)."""
        self._derive("user_days", derived.user_days_of())
        self._derive("day_users", derived.day_users_select())
        self._derive("feature_days", derived.feature_days_select())
        self._derive("people", derived.people_select(), {"tz": self.store.timezone})
        self._sessions()

    def _sessions(self) -> None:
        columns = ", ".join(f"`{c}` {_SESSION_TYPES[c]}" for c in derived.SESSION_COLUMNS)
        partition, order = _DERIVED_LAYOUT["sessions"]
        self._command(f"CREATE TABLE sessions ({columns}) ENGINE = MergeTree PARTITION BY {partition} ORDER BY {order}")
        self._sessionise("sessions", "events", {})

    def _sessionise(self, into: str, source: str, params: dict, renumber: bool = False) -> None:
        """The sessions of the events `source` (a FROM clause over events) selects, into the
        table `into`, a bucket of users at a time so memory stays bounded; `renumber` numbers a
        user's sessions on from their cut's base (see pulse.derived's cuts)."""
        total = self._rows("SELECT count() AS n FROM (" + clickhouse(f"SELECT 1 FROM {source}", params) + ") AS s")[0]["n"]
        buckets = max(1, -(-total // derived.BUCKET_EVENTS))
        self._command(f"CREATE TABLE _bucket_sessions AS {into} ENGINE = Memory")
        durations = ", ".join(derived.duration_sql("start_ts", "end_ts") + " AS duration_s" if c == "duration_s" else
                              "(session_no + c.base)::INTEGER AS session_no" if c == "session_no" and renumber else c
                              for c in derived.SESSION_COLUMNS)
        joined = "_bucket_sessions JOIN cuts c USING (user_id)" if renumber else "_bucket_sessions"
        for bucket in range(buckets):
            where = "TRUE" if buckets == 1 else f"cityHash64(user_id) % {buckets} = {bucket}"
            events = frame_of(self.engine.arrow(
                clickhouse(f"SELECT * FROM (SELECT {derived.BUCKET_COLUMNS} FROM {source})", params)
                + f" WHERE {where}" + _settings_clause(), self.target))
            if events.height:
                self._command("TRUNCATE TABLE _bucket_sessions")
                self._write_frame("_bucket_sessions", derived.sessions_of(events, self.store.session_timeout))
                self._insert(into, f"SELECT {durations} FROM {joined}")
        self._command("DROP TABLE _bucket_sessions SYNC")

    def _update_derived(self) -> None:
        """The derived tables of the next version from the current version's, recomputing only
        what the load touched, as pulse.derived.update does on DuckDB: the user-days, day counts
        and feature-days of the months the new events fall in (and of the month holding each
        such user's previous active day, whose next day moves), each user's sessions from their
        cut on, the touched users' people rows. Every other month is attached as it was."""
        for name in _DERIVED_LAYOUT:
            self._command(f"CREATE TABLE {name} AS {self.current}.{name}")
            for part in self._partitions(self.current, name):
                self._command(f"ALTER TABLE {name} ATTACH PARTITION ID '{part}' FROM {self.current}.{name}")
        if self._new_events:
            months = [r["m"] for r in self._rows("SELECT DISTINCT toStartOfMonth(day) AS m FROM new_events")]
            before = [r["m"] for r in self._rows(
                "SELECT DISTINCT toStartOfMonth(p) AS m FROM (SELECT u.user_id, max(u.day) AS p FROM user_days u "
                "JOIN (SELECT user_id, min(day) AS first FROM new_events GROUP BY user_id) f ON u.user_id = f.user_id "
                "WHERE u.day < f.first GROUP BY u.user_id)")]
            for month in sorted(set(months) | set(before)):
                self._replace("user_days", month, derived.user_days_of("$first", "$last"))
            for month in months:
                self._replace("day_users", month, derived.day_users_select("day BETWEEN $first AND $last"))
                self._replace("feature_days", month, derived.feature_days_select("day BETWEEN $first AND $last"))
            self._update_sessions()
        touched = "user_id IN (SELECT user_id FROM touched_users)"
        self._command("CREATE TABLE _people AS people")
        self._command(f"INSERT INTO _people SELECT * FROM people WHERE NOT ({touched})")
        self._insert("_people", derived.people_select(touched), {"tz": self.store.timezone})
        self._command("DROP TABLE people SYNC")
        self._command("RENAME TABLE _people TO people")

    def _update_sessions(self) -> None:
        """Each user with new events: their sessions from the cut on, cut again and numbered on."""
        self._command("CREATE TABLE cuts ENGINE = MergeTree ORDER BY user_id SETTINGS allow_nullable_key = 1 AS "
                      + clickhouse(derived.cuts_select()) + _settings_clause())
        since = self._rows("SELECT min(cut_ts) AS since FROM cuts")[0]["since"]
        self._command("CREATE TABLE new_sessions AS sessions")
        self._sessionise("new_sessions", derived.CUT_EVENTS, {"since": since}, renumber=True)
        months = {r["m"] for r in self._rows(
            "SELECT DISTINCT toStartOfMonth(s.day) AS m FROM sessions s JOIN cuts c ON s.user_id = c.user_id "
            "WHERE s.start_ts >= c.cut_ts UNION DISTINCT SELECT DISTINCT toStartOfMonth(day) FROM new_sessions")}
        columns = ", ".join(f"s.{c}" for c in derived.SESSION_COLUMNS)
        for month in sorted(months):
            self._replace("sessions", month,
                          f"SELECT {columns} FROM sessions s LEFT JOIN cuts c ON s.user_id = c.user_id "
                          "WHERE s.day BETWEEN $first AND $last AND (c.cut_ts IS NULL OR s.start_ts < c.cut_ts) "
                          "UNION ALL SELECT * FROM new_sessions WHERE day BETWEEN $first AND $last")

    def _replace(self, table: str, month: Any, select: str) -> None:
        """Put the rows `select` gives (DuckDB SQL binding $first and $last, the month's first and
        last day) in place of the month's partition of `table`."""
        last = next_period(month, "month") - timedelta(days=1)
        self._command(f"CREATE TABLE _month AS {table}")
        self._insert("_month", select, {"first": month, "last": last, "tz": self.store.timezone})
        self._command(f"ALTER TABLE {table} DROP PARTITION ID '{month:%Y%m}'")
        self._command(f"INSERT INTO {table} SELECT * FROM _month")
        self._command("DROP TABLE _month SYNC")

    def _partitions(self, database: str, table: str) -> list[str]:
        return [r["partition_id"] for r in self.engine.arrow(
            f"SELECT DISTINCT partition_id FROM system.parts WHERE database = '{database}' AND table = '{table}' "
            "AND active ORDER BY 1", "system").to_pylist()]


_SESSION_TYPES = {
    "user_id": _TEXT, "session_no": "Int32", "start_ts": _TS, "end_ts": _TS, "day": _DAY, "duration_s": "Float64",
    "events": "Int32", "device_type": _LOW, "browser": _LOW, "os": _LOW, "country_code": _LOW, "entry_page": _OPT,
    "exit_page": _OPT, "page_views": "Int32", "path": _OPT,
}
