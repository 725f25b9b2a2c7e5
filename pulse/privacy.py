"""Personal data requests: hand a user everything the store holds about them, or erase it.

The export reads one consistent version of the store; the erasure is a write like a load
(a private copy, published atomically or not at all) that publishes a freshly written
file, so the erased values are not left in its free pages. The load log keeps a salted
hash of the id, never the id itself, and so does the store, so that a later load of the
same user is set aside rather than bringing them back.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any, NamedTuple

from pulse.schema import KEYS, SCHEMAS
from pulse.store import USER_QUARANTINE, Store, StoreError, user_quarantine

# Columns holding JSON text, returned as JSON values rather than strings.
_JSON_COLUMNS = {("events", "properties"), ("quarantine", "raw")}
_QUARANTINE_COLUMNS = ("load_id", "table_name", "source", "row_number", "rule", "raw", "quarantined_at")


def _plain(table: str, column: str, value: Any) -> Any:
    """A stored value as JSON: timestamps and dates ISO 8601, decimals as exact strings."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if (table, column) in _JSON_COLUMNS and isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _rows(con, table: str, columns: tuple[str, ...], where: str, order: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    cursor = con.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where} ORDER BY {order}", params)
    return [{c: _plain(table, c, v) for c, v in zip(columns, row)} for row in cursor.fetchall()]


def export_user(store: Store, user_id: str) -> dict[str, Any]:
    """Every stored row of one user, from every input table and the quarantine, as JSON values.

    Quarantined rows are those an erasure would remove: by the id in any spelling of its
    column, or by the user's email.
    """
    tables: dict[str, list[dict[str, Any]]] = {}
    with store.read() as con:
        for table, schema in SCHEMAS.items():
            tables[table] = _rows(con, table, tuple(schema), "user_id = $user_id", ", ".join(KEYS[table]),
                                  {"user_id": user_id})
        tables["quarantine"] = _rows(con, "quarantine", _QUARANTINE_COLUMNS, f"rowid IN (SELECT rid FROM ({USER_QUARANTINE}))",
                                     "quarantined_at, source, row_number", user_quarantine(con, user_id))
    if not any(tables.values()):
        raise StoreError(f"There is no user {user_id!r} in the store: nothing to export.")
    return {"user_id": user_id, "exported_at": datetime.now(timezone.utc).isoformat(), "tables": tables}


class Erasure(NamedTuple):
    user_hash: str  # the id as the logs name it from now on
    removed: dict[str, int]  # rows removed per table


def forget_user(store: Store, user_id: str, actor: str) -> Erasure:
    """Erase one user from every table of the store, publish that like a load, and log who asked.
 Derived tables are rebuilt from what remains; the
    load log's earlier mentions of the id are replaced by its hash.
    """
    store.require()
    started = datetime.now(timezone.utc)
    with store.writer("forget") as writer:
        removed = writer.erase_user(user_id)
        if not any(removed.values()):
            raise StoreError(f"There is no user {user_id!r} in the store: nothing was erased.")
        hashed = writer.user_hash(user_id)
        # Inside the writer, so the log never names the id once the erasure is published.
        store.rewrite_log(lambda value: _without(value, user_id, hashed))
    store.log({
        "source": f"forget {hashed}",
        "load_id": writer.load_id,
        "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "outcome": "erased",
        "erased_user": hashed,
        "actor": actor,
        "removed": removed,
    })
    return Erasure(hashed, removed)


def _without(value: Any, user_id: str, hashed: str) -> Any:
    """A logged value with the id replaced by its hash, where the id is the whole value or
    the subject of an erasure logged before ids were hashed ("forget ID")."""
    if value == user_id:
        return hashed
    if value == f"forget {user_id}":
        return f"forget {hashed}"
    if isinstance(value, str) and json.dumps(user_id) in value:
        # Quoted inside a longer text, such as a line of the log that could not be read.
        return value.replace(json.dumps(user_id), json.dumps(hashed))
    return value
