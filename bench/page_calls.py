"""Each page's metrics exactly as the page asks for them at its default view.

`record` runs a page once in Streamlit's test runner over a store, with the filter bar's
default view (the last 30 days of data, by day), and notes every metric call the page makes
(name, query, options); `replay` makes those calls again, so a benchmark times what a
person opening the page waits for, not every metric of the page's area. Pages that need a
person (the User page) are opened for the most active user, as a link from the Users list
would open them.
"""

from __future__ import annotations

import os
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The pages staff open to look at the business, with the link parameters each needs.
PAGES = ("overview", "activity", "retention", "purchases", "revenue", "user", "explore")


def record(store_path: Path, page: str, days: int = 30) -> list[tuple[str, object]]:
    """The (metric name, query) calls the page makes at its default view over `days` days."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from metrics import registry
    from pulse.query import make_query
    from pulse.store import Store

    store = Store(store_path)
    last = store.info().last_day
    calls: list[tuple[str, object]] = []
    real_run = registry.run

    def noting(name, store, q):
        calls.append((name, q))
        return real_run(name, store, q)

    with tempfile.TemporaryDirectory(prefix="pulse-bench-page-") as scratch:
        os.environ["PULSE_STORE"] = str(store_path)
        os.environ["PULSE_ADMIN_DB"] = f"sqlite:///{scratch}/admin.db"
        if page == "overview":
            _set_every_goal(os.environ["PULSE_ADMIN_DB"], last)
        st.cache_resource.clear()
        st.cache_data.clear()
        at = AppTest.from_file(str(ROOT / "pages" / f"{page}.py"), default_timeout=600)
        at.session_state["query"] = make_query(last - timedelta(days=days - 1), last, "day")
        if page == "user":
            at.query_params["user"] = store.scalar(
                "SELECT user_id FROM user_days GROUP BY 1 ORDER BY count(*) DESC, user_id LIMIT 1")
        registry.run = noting
        try:
            at.run()
        finally:
            registry.run = real_run
        if at.exception:
            raise RuntimeError(f"the {page} page failed: {at.exception[0].message}")
    return calls


def _set_every_goal(admin_url: str, last) -> None:
    """A goal for each measure a goal can be set for: the most an Overview shows."""
    from admin.db import AdminDB
    from admin.goals import Goals
    from metrics.goals import MEASURES

    db = AdminDB(admin_url)
    for measure in MEASURES:
        Goals(db, MEASURES).add(measure, 1e9, last + timedelta(days=180), "", by="bench", today=last)
    db.engine.dispose()


def warm(store_path: Path, page: str, days: int, runs: int, calls_file: Path) -> dict:
    """Record the page's calls (kept in `calls_file` for `fresh`), then the median of `runs`
    replays of them: the page's metrics with the store and the process warm."""
    import pickle
    import statistics
    import time

    from pulse.store import Store

    calls = record(store_path, page, days)
    calls_file.write_bytes(pickle.dumps(calls))
    store = Store(store_path)
    seconds = []
    for _ in range(runs):
        began = time.perf_counter()
        replay(store, calls)
        seconds.append(time.perf_counter() - began)
    return {"warm": statistics.median(seconds), "calls": [name for name, _ in calls]}


def fresh(store_path: Path, calls_file: Path) -> float:
    """The recorded calls once, in a new process that has only imported Pulse: the store
    opened and nothing cached, as the first person to open the page after a start waits."""
    import importlib
    import pickle
    import time

    from pulse.store import Store

    importlib.import_module("metrics.registry")  # before the clock starts, as a server has it

    calls = pickle.loads(calls_file.read_bytes())
    began = time.perf_counter()
    replay(Store(store_path), calls)
    return time.perf_counter() - began


def replay(store, calls: list[tuple[str, object]]) -> None:
    from metrics import registry

    for name, q in calls:
        registry.run(name, store, q)
