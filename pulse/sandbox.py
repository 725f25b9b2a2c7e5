"""Pulse's SQL: one read-only query of the store, typed by a member of staff, in a sandbox.

DuckDB does the enforcing (on a ClickHouse store, ClickHouse does: see _on_clickhouse). Each query gets a connection of its own, which attaches the
store file READ_ONLY and then turns off everything that reaches past it: with
`enable_external_access` off no statement can read or write a file (read_csv, glob, COPY,
EXPORT DATABASE), attach a database, or install or load an extension; with
`lock_configuration` on, set last, no statement can change a setting back. The only spill
folder allowed is the private one set before the lock.

A parse-level check (duckdb.extract_statements) adds what DuckDB would still allow: exactly
one statement, and only a query (SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE, or
EXPLAIN of one), so nobody checkpoints, switches databases, opens a transaction or creates
temporary tables in the sandbox either.
"""

from __future__ import annotations

import re
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import duckdb
import polars as pl

from pulse.export import write_csv
from pulse.settings import Settings
from pulse.clickhouse import ClickHouseStore
from pulse.store import Store, StoreError

DEFAULT_LIMIT = 10_000
# Tables of the store that only Pulse reads (names as tokens of a query are refused).
PRIVATE_TABLES = {"meta", "erased_users"}
# Rows per Arrow batch when a whole result is streamed to a file.
BATCH_ROWS = 100_000
QUERIES = "SELECT, WITH, VALUES, FROM, DESCRIBE, SHOW, SUMMARIZE or EXPLAIN"
# Result types polars cannot hold or CSV cannot write; the sandbox returns them as DuckDB's text.
_TEXT_TYPES = {"list", "struct", "map", "array", "union", "blob", "bit", "interval", "bignum", "varint"}

_T = duckdb.StatementType
_WRITES = {_T.CREATE, _T.INSERT, _T.UPDATE, _T.DELETE, _T.DROP, _T.ALTER, _T.MERGE_INTO, _T.COPY_DATABASE, _T.VACUUM}


class SandboxError(StoreError):
    """Pulse's SQL refused or stopped a statement; the text is one sentence for the user."""


class NotOneStatementError(SandboxError):
    """The SQL holds no statement, or more than one: a wrong command line rather than a refused query."""


# What each column of the queryable tables holds, in one place: the four input tables
# (DATA.md), the tables derived from them on every load (pulse/derived.py) and the quarantine.
DESCRIPTIONS: dict[str, dict[str, str]] = {
    "users": {
        "user_id": "The user's id; unique. A later load of the same id updates the row.",
        "email": "The user's email address, if known.",
        "name": "The user's name, if known.",
        "signup_at": "When the user signed up (UTC).",
        "country": "The user's country, ISO 3166-1 alpha-2.",
        "timezone": "The user's timezone, an IANA name.",
        "auth_provider": "How the user signs in: email, google, github, …",
        "plan": "The user's current plan label.",
        "marketing_opt_in": "True when the user agreed to campaign email.",
    },
    "events": {
        "event_id": "The event's id; unique, so an event loaded twice is stored once.",
        "user_id": "The user who did it.",
        "ts": "When it happened (UTC).",
        "event_type": "One of page_view, feature_use, api_call, login, logout, error, custom.",
        "event_name": "The feature's name for feature_use; free text otherwise.",
        "page_path": "The page viewed (page_view).",
        "session_id": "The session id the source gave, kept as given (Pulse derives its own sessions).",
        "device_type": "desktop, mobile, tablet or other.",
        "browser": "The browser.",
        "os": "The operating system.",
        "country_code": "The country it came from, ISO alpha-2.",
        "referrer": "The referrer.",
        "properties": "Further properties as a JSON object (known keys: category, duration in seconds).",
        "day": "The local day of ts in the reporting timezone.",
        "hour": "The local hour of ts in the reporting timezone (0-23).",
    },
    "transactions": {
        "transaction_id": "The transaction's id; unique.",
        "user_id": "The user who paid (or was refunded).",
        "ts": "When it happened (UTC).",
        "kind": "purchase, subscription or refund.",
        "status": "succeeded, failed or pending.",
        "amount": "The amount, >= 0 (a refund is a positive amount of kind refund).",
        "currency": "ISO 4217 currency code.",
        "product_id": "The product's id.",
        "product_name": "The product's name.",
        "category": "The product category (service, application, compute, storage, network, …).",
        "provider": "The seller or provider.",
        "payment_method": "card, paystack, manual, wallet, …",
        "plan": "The plan paid for (kind subscription).",
        "refund_of": "For a refund, the transaction_id refunded.",
        "day": "The local day of ts in the reporting timezone.",
    },
    "subscriptions": {
        "subscription_id": "The subscription's id; one row per period of constant plan and MRR.",
        "user_id": "The subscriber.",
        "plan": "The plan in this period (free, trial, pro, enterprise, …).",
        "mrr": "Monthly recurring revenue in this period (annual price / 12; 0 for trial and free).",
        "started_at": "When the period started (UTC).",
        "ended_at": "When the period ended (UTC); empty while it still runs.",
        "cancel_reason": "Why the subscription was cancelled, if it was.",
    },
    "user_days": {
        "user_id": "A user with at least one event that day.",
        "day": "The local day in the reporting timezone.",
        "events": "The user's events that day.",
        "event_types": "Bit mask of the event types the user had that day (bit i: the i-th of page_view, feature_use, "
                       "api_call, login, logout, error, custom).",
        "devices": "Bit mask of the device types that day (desktop, mobile, tablet, other; the last bit: none given).",
        "next_day": "The user's next day with an event (empty for their latest), kept for rolling active users.",
    },
    "day_users": {
        "day": "A local day with at least one event.",
        "users": "Users with at least one event that day, unfiltered (the day's rows of user_days).",
    },
    "feature_days": {
        "user_id": "A user who used a feature that day.",
        "day": "The local day.",
        "feature": "The feature (a feature_use event's event_name).",
        "uses": "The user's uses of it that day.",
        "described_at": "When the day's latest use with properties happened (empty: no use that day had any).",
        "category": "That use's properties.category ('' when its properties had none).",
    },
    "sessions": {
        "user_id": "The user of the session.",
        "session_no": "The session's number among the user's sessions, from 1.",
        "start_ts": "The session's first event (UTC).",
        "end_ts": "The session's last event (UTC).",
        "day": "The local day of the session's first event.",
        "duration_s": "Seconds from the first to the last event.",
        "events": "Events in the session (a bounce has exactly one).",
        "device_type": "The device type of the first event.",
        "browser": "The browser of the first event.",
        "os": "The operating system of the first event.",
        "country_code": "The country of the first event.",
        "entry_page": "The first page viewed.",
        "exit_page": "The last page viewed.",
        "page_views": "Page views in the session.",
        "path": "The pages viewed in order, repeats collapsed, first 5 steps, joined by ' > '.",
    },
    "people": {
        "user_id": "Every user: in users, or seen only in events, transactions or subscriptions.",
        "email": "The email address from users.",
        "name": "The name from users.",
        "signup_at": "Signup time from users, else the user's first event, transaction or subscription (UTC).",
        "country": "The country from users, else from the user's first event with one.",
        "timezone": "The timezone from users.",
        "auth_provider": "The sign-in method from users.",
        "plan": "The plan from users, else the latest subscription's plan.",
        "marketing_opt_in": "True when the user agreed to campaign email.",
        "first_seen": "The user's first event (UTC).",
        "last_seen": "The user's last event (UTC).",
        "first_day": "The local day of the user's first event (kept at load time for retention cohorts).",
        "last_day": "The local day of the user's last event.",
        "in_users": "True when the users table has the user.",
        "signup_day": "The local day of signup_at.",
    },
    "quarantine": {
        "load_id": "The load that set the row aside.",
        "table_name": "The table the row was meant for.",
        "source": "The file or source it came from.",
        "row_number": "Its line or row number in the source.",
        "rule": "The rule it broke.",
        "raw": "The row as read, as JSON.",
        "quarantined_at": "When it was set aside (UTC).",
    },
}


def schema(store: Store) -> pl.DataFrame:
    """The tables Pulse's SQL can query. Columns: table, column, type, description (empty
    for a column the store has and DESCRIPTIONS lacks)."""
    store.require()
    columns = store.columns(list(DESCRIPTIONS))
    described = [DESCRIPTIONS[t].get(c, "") for t, c in zip(columns["table"], columns["column"])]
    return columns.with_columns(pl.Series("description", described, dtype=pl.String))


def check(sql: str) -> str:
    """The one query in `sql`, or the sentence that refuses it."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise SandboxError(f"The query failed: {_reason(exc)}") from None
    if not statements:
        raise NotOneStatementError("There is no SQL to run: give one query, e.g. SELECT count(*) FROM events.")
    if len(statements) > 1:
        raise NotOneStatementError(f"Pulse's SQL runs one statement at a time, and this holds {len(statements)}; "
                                   "run them one by one.")
    statement = statements[0]
    inner = statement
    while inner.type == _T.EXPLAIN:
        # EXPLAIN ANALYZE runs the statement it explains.
        inner = duckdb.extract_statements(_explained(inner.query))[0]
    if inner.type != _T.SELECT:
        raise SandboxError(_refusal(inner.type, _first_word(inner.query)))
    private = sorted({token.strip('"').lower() for _, token in _tokens(inner.query)} & PRIVATE_TABLES)
    if private:
        # The erasure salt and the erased ids' hashes would let anyone confirm who was erased.
        raise SandboxError(f"The {' and '.join(private)} table{'s are' if len(private) > 1 else ' is'} Pulse's own "
                           "bookkeeping and not open to SQL.")
    return statement.query


def run_sql(store: Store, sql: str, limit: int = DEFAULT_LIMIT, seconds: float | None = None) -> tuple[pl.DataFrame, bool]:
    """The first `limit` rows of the query's result, and whether it had more. Stopped after
    `seconds` (default: the store's query_seconds, else the setting's default)."""
    query = check(sql)
    seconds = seconds or store.query_seconds or Settings.query_seconds
    if isinstance(store, ClickHouseStore):
        frame = _on_clickhouse(store, query, seconds, limit + 1)
        return frame.head(limit), frame.height > limit
    with _sandbox(store, seconds, "or export it whole with pulse sql --out FILE") as con:
        table = _relation(con, query).limit(limit + 1).to_arrow_table()
    frame = pl.from_arrow(table)
    return frame.head(limit), frame.height > limit


def stream_sql(store: Store, sql: str, out: BinaryIO, seconds: float | None = None) -> int:
    """Write the query's whole result to `out` as Pulse's CSV (pulse.export), in Arrow
    batches, so memory stays bounded; returns the row count. Stopped after `seconds`
    (default: the store's query_seconds; None there, as on the command line, is no limit)."""
    query = check(sql)
    seconds = seconds or store.query_seconds
    if isinstance(store, ClickHouseStore):
        return write_csv([_on_clickhouse(store, query, seconds)], out)
    with _sandbox(store, seconds, "or split it by range into several files") as con:
        return write_csv(_frames(_relation(con, query).to_arrow_reader(BATCH_ROWS)), out)


def _on_clickhouse(store: ClickHouseStore, query: str, seconds: float | None, rows: int | None = None) -> pl.DataFrame:
    """The query on a ClickHouse store: rendered from DuckDB's SQL like every metric's, so a
    saved query runs on either engine; ClickHouse's readonly setting does the enforcing."""
    store.require()
    try:
        return store.read_only(query, set(DESCRIPTIONS), seconds, store.query_memory_mb or Settings.query_memory_mb, rows)
    except StoreError as exc:
        raise SandboxError(str(exc)) from None


def _frames(reader) -> Iterator[pl.DataFrame]:
    empty = True
    for batch in reader:
        empty = False
        yield pl.from_arrow(batch)
    if empty:
        yield pl.from_arrow(reader.schema.empty_table())


@contextmanager
def _sandbox(store: Store, seconds: float | None, hint: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the store that can only read it (see the module's docstring), stopped
    after `seconds`; DuckDB's errors come out as SandboxError sentences."""
    store.require()
    memory_mb = store.query_memory_mb or Settings.query_memory_mb
    with tempfile.TemporaryDirectory(prefix="pulse-sql-") as spill:
        con = duckdb.connect(config={"allow_unsigned_extensions": False, "autoinstall_known_extensions": False,
                                     "autoload_known_extensions": False})
        timer = threading.Timer(seconds, con.interrupt) if seconds else None
        try:
            con.execute(f"SET memory_limit = '{int(memory_mb)}MB'")
            # The only folder DuckDB may write to once external access is off: its own spill
            # folder, named here (an in-memory database would otherwise spill to ./.tmp).
            con.execute("SET temp_directory = '{}'".format(spill.replace("'", "''")))
            con.execute("ATTACH ? AS store (READ_ONLY)", [str(store.path)])
            con.execute("USE store")
            con.execute("SET enable_external_access = false")
            # No statement sees the caller's Python variables as tables.
            con.execute("SET python_enable_replacements = false")
            con.execute("SET lock_configuration = true")
            if timer:
                timer.start()
            yield con
        except duckdb.InterruptException:
            raise SandboxError(f"The query ran past {seconds:g} s and was stopped; narrow it (a shorter range, "
                               f"fewer columns) {hint}.") from None
        except duckdb.OutOfMemoryException:
            raise SandboxError(f"The query needed more than the {memory_mb:,} MB of memory Pulse's SQL may use and was "
                               "stopped; narrow it (a shorter range, fewer columns).") from None
        except duckdb.PermissionException as exc:
            path = re.search(r'Cannot access (?:file|directory) "(.*?)"', str(exc))
            if path:
                raise SandboxError(f"Reading files is not allowed in Pulse's SQL (it asked for {path[1]}).") from None
            raise SandboxError(f"Pulse's SQL does not allow this: {_reason(exc)}") from None
        except duckdb.Error as exc:
            raise SandboxError(f"The query failed: {_reason(exc)}") from None
        finally:
            if timer:
                timer.cancel()
            con.close()


def _relation(con: duckdb.DuckDBPyConnection, query: str) -> duckdb.DuckDBPyRelation:
    """The query as a relation whose columns polars and CSV can hold: nested, binary and
    interval values as DuckDB's text for them, repeated column names numbered (name_1, …)."""
    relation = con.sql(query)
    names, seen = [], set()
    for name in relation.columns:
        unique, n = name, 0
        while unique in seen:
            n += 1
            unique = f"{name}_{n}"
        seen.add(unique)
        names.append(unique)
    kinds = [str(t.id) for t in relation.dtypes]
    if names == relation.columns and not _TEXT_TYPES.intersection(kinds):
        return relation
    quoted = ['"{}"'.format(name.replace('"', '""')) for name in names]
    return relation.project(", ".join(
        f"CAST(#{i} AS VARCHAR) AS {q}" if kind in _TEXT_TYPES else f"#{i} AS {q}"
        for i, (kind, q) in enumerate(zip(kinds, quoted), start=1)
    ))


def _refusal(kind: duckdb.StatementType, word: str) -> str:
    if kind == _T.COPY:
        return "Pulse's SQL is read-only: COPY would read or write a file."
    if kind == _T.EXPORT:
        return "Pulse's SQL is read-only: EXPORT DATABASE would write files."
    if kind in _WRITES:
        return f"Pulse's SQL is read-only and cannot run {word}."
    if kind in (_T.ATTACH, _T.DETACH):
        return f"Pulse's SQL cannot attach or detach databases ({word})."
    if kind == _T.LOAD:
        return f"Pulse's SQL cannot install or load extensions ({word})."
    if kind in (_T.SET, _T.PRAGMA):
        return f"Pulse's SQL cannot change settings ({word})."
    if kind == _T.MULTI:
        return "Pulse's SQL needs PIVOT's values listed: PIVOT … ON column IN ('a', 'b')."
    return f"Pulse's SQL runs queries only ({QUERIES}), not {word}."


def _tokens(text: str) -> list[tuple[int, str]]:
    """(position, text) of each token of `text`, comments left out."""
    spans = duckdb.tokenize(text)
    ends = [start for start, _ in spans[1:]] + [len(text)]
    return [(start, text[start:end].strip()) for (start, kind), end in zip(spans, ends)
            if kind != duckdb.token_type.comment]


def _first_word(text: str) -> str:
    tokens = _tokens(text)
    return tokens[0][1].upper() if tokens else ""


def _explained(text: str) -> str:
    """The statement of `EXPLAIN [ANALYZE] [(options)] statement`."""
    depth = 0
    for start, token in _tokens(text):
        if token == "(":
            depth += 1
        elif token == ")":
            depth -= 1
        elif depth == 0 and token.upper() not in ("EXPLAIN", "ANALYZE"):
            return text[start:]
    return ""


def _reason(exc: duckdb.Error) -> str:
    """DuckDB's message without its pointer into the SQL (it follows a blank line)."""
    message = " ".join(str(exc).strip().split("\n\n")[0].split()) or type(exc).__name__
    return message if message.endswith((".", "!", "?")) else message + "."
