"""Pulse's metrics on ClickHouse, in process through chDB (issue 17, first part).

A `ChdbStore` answers the metrics' `fetch` and `scalar` on ClickHouse: each statement is the
one the DuckDB store runs, rendered by `pulse.dialect.clickhouse`. This first part holds a
copy of a published DuckDB store's tables (`ChdbStore.copy_of`), which is what the parity
check needs: the same rows in both engines, every metric asked of both. Loading straight
into ClickHouse tables of its own design, the `chdb://` and `clickhouse://` store settings
and the pages on ClickHouse come next; until then nothing in the app or the command reads a
ChdbStore.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pulse.dialect import CLICKHOUSE_SETTINGS, clickhouse
from pulse.schema import SCHEMAS
from pulse.store import DERIVED_VERSION, Store, StoreInfo

def query(session: Any, sql: str, params: dict | None = None) -> pl.DataFrame:
    """The store's SQL (DuckDB, `$name` parameters) run on a chDB session as ClickHouse SQL,
    with the settings every read needs, as the frame DuckDB would give."""
    settings = ", ".join(f"{k} = {v!r}" for k, v in CLICKHOUSE_SETTINGS.items())
    frame = pl.from_arrow(session.query(f"{clickhouse(sql, params)} SETTINGS {settings}", "ArrowTable"))
    # Instants come back labelled UTC; the store's are naive UTC, as DuckDB's TIMESTAMP.
    return frame.with_columns(pl.col(name).dt.replace_time_zone(None) for name, kind in frame.schema.items()
                              if isinstance(kind, pl.Datetime) and kind.time_zone is not None)


class ChdbStore(Store):
    """A store read through chDB: the ClickHouse database `database` under `directory`. It
    keeps the DuckDB store's settings (timezone, currency, session timeout, limits), which
    the metrics read from the store they are given.

    chDB runs one embedded server per process, on one directory: every ChdbStore of a process
    names the same directory (a second one is refused by chDB), each its own database.
    """

    def __init__(self, directory: Path, like: Store, database: str = "pulse"):
        super().__init__(like.path, like.timezone, like.currency, like.session_timeout, like.api_limits,
                         alert_rules=like.alert_rules, alert_p_value=like.alert_p_value,
                         alert_revenue_minimum=like.alert_revenue_minimum)
        from chdb import session  # only here: chDB is large, and only ClickHouse stores need it

        self.directory = Path(directory)
        self.database = database
        self.session = session.Session(str(self.directory))
        self.session.query(f"CREATE DATABASE IF NOT EXISTS {database}")

    @classmethod
    def copy_of(cls, store: Store, directory: Path, database: str = "pulse") -> ChdbStore:
        """A chDB database holding exactly the tables of the published `store` (replacing it)."""
        chdb = cls(directory, store, database)
        chdb.command(f"DROP DATABASE IF EXISTS {database}")
        chdb.command(f"CREATE DATABASE {database}")
        with store.read() as con:
            tables = [row[0] for row in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'store' ORDER BY 1").fetchall()]
            for table in tables:
                rows = con.sql(f"SELECT * FROM {table}").to_arrow_table()  # noqa: F841  (read by Python(rows))
                chdb.session.query(f"CREATE TABLE {database}.{table} ENGINE = MergeTree ORDER BY tuple() "
                                   "AS SELECT * FROM Python(rows)")
        return chdb

    def command(self, sql: str) -> None:
        self.session.query(sql)

    def fetch(self, sql: str, params: list | dict | None = None) -> pl.DataFrame:
        if isinstance(params, list):
            raise ValueError("ClickHouse statements take named parameters ($name), not positional ones.")
        self.session.query(f"USE {self.database}")  # the session may be shared with another database's store
        return query(self.session, sql, params)

    def scalar(self, sql: str, params: list | dict | None = None) -> Any:
        frame = self.fetch(sql, params)
        return None if frame.is_empty() else frame.row(0)[0]

    def derived_current(self) -> bool:
        return self.scalar("SELECT value FROM meta WHERE key = 'derived_version'") == str(DERIVED_VERSION)

    def info(self) -> StoreInfo:
        meta = dict(self.fetch("SELECT key, value FROM meta").rows())
        rows = {t: self.scalar(f"SELECT count(*) FROM {t}") for t in SCHEMAS}
        first_day, last_day = self.fetch("SELECT min(day), max(day) FROM user_days").row(0)
        return self._info(meta, rows, first_day, last_day)
