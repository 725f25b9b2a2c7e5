"""Personal data requests: hand a user everything the store holds about them, or erase it.

The export reads one consistent version of the store; the erasure is a write like a load
(a private copy, published atomically or not at all) and is recorded in the load log.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from typing import Any

from pulse.schema import KEYS, SCHEMAS
from pulse.store import Store, StoreError

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


def _rows(con, table: str, columns: tuple[str, ...], where: str, order: str, user_id: str) -> list[dict[str, Any]]:
    cursor = con.execute(f"SELECT {', '.join(columns)} FROM {table} WHERE {where} ORDER BY {order}", [user_id])
    return [{c: _plain(table, c, v) for c, v in zip(columns, row)} for row in cursor.fetchall()]


def export_user(store: Store, user_id: str) -> dict[str, Any]:
    """Every stored row of one user, from every input table and the quarantine, as JSON values."""
    tables: dict[str, list[dict[str, Any]]] = {}
    with store.read() as con:
        for table, schema in SCHEMAS.items():
            tables[table] = _rows(con, table, tuple(schema), "user_id = ?", ", ".join(KEYS[table]), user_id)
        tables["quarantine"] = _rows(con, "quarantine", _QUARANTINE_COLUMNS, "json_extract_string(raw, '$.user_id') = ?",
                                     "quarantined_at, source, row_number", user_id)
    if not any(tables.values()):
        raise StoreError(f"There is no user {user_id!r} in the store: nothing to export.")
    return {"user_id": user_id, "exported_at": datetime.now(timezone.utc).isoformat(), "tables": tables}


def forget_user(store: Store, user_id: str, actor: str) -> dict[str, int]:
    """Erase one user from every table of the store, publish that like a load, and log who asked.

    Returns the rows removed per table. Derived tables are rebuilt from what remains.
    """
    store.require()
    started = datetime.now(timezone.utc)
    with store.writer(f"forget {user_id}") as writer:
        removed = writer.delete_user(user_id)
        if not any(removed.values()):
            raise StoreError(f"There is no user {user_id!r} in the store: nothing was erased.")
    store.log({
        "source": f"forget {user_id}",
        "load_id": writer.load_id,
        "started": started.isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "outcome": "erased",
        "erased_user": user_id,
        "actor": actor,
        "removed": removed,
    })
    return removed
