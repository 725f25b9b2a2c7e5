"""The SQL page's helpers: running a query in the sandbox as the signed-in member of staff,
recording it, its whole result as a CSV, the schema, saved queries and history."""

from __future__ import annotations

import io
import time

import polars as pl

import streamlit as st

from admin.queries import Queries
from pulse import sandbox
from ui import auth, cache


def queries() -> Queries:
    return Queries(auth.access().accounts.db)


def run(sql: str) -> tuple[pl.DataFrame, bool, float]:
    """The first 10,000 rows, whether there were more, and the seconds it took; every run,
    refused or not, goes to the person's history and the audit log."""
    began = time.perf_counter()
    who = auth.acting()
    try:
        frame, cut = sandbox.run_sql(cache.store(), sql, seconds=cache.settings().query_seconds)
    except sandbox.SandboxError as exc:
        queries().record(who["by"], sql, None, None, str(exc), who["address"])
        raise
    took = time.perf_counter() - began
    queries().record(who["by"], sql, frame.height, took, "", who["address"])
    return frame, cut, took


def download_every_row(sql: str) -> None:
    """The query's every row as Pulse's CSV, computed when the download is clicked (and audited)."""
    if not auth.allowed("download_csv"):
        return

    def whole() -> bytes:
        out = io.BytesIO()
        rows = sandbox.stream_sql(cache.store(), sql, out, seconds=cache.settings().query_seconds)
        auth.record("sql.download", f"{sql[:200]} ({rows:,} rows)")
        return out.getvalue()

    st.download_button("Download every row (CSV)", whole, file_name="pulse_sql.csv", mime="text/csv",
                       icon=":material/download:", key="sql_download")


@st.cache_data(ttl=3600, show_spinner=False)
def _schema(version: str) -> pl.DataFrame:
    return sandbox.schema(cache.store())


def schema() -> pl.DataFrame:
    return _schema(cache.store().version())


def delete(query_id: int, by: str, address: str) -> None:
    queries().delete(query_id, by, may_delete_any=auth.staff().role == "admin", address=address)
