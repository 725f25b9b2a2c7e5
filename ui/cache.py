"""Every cache of the web app, in one place.

Metric results are cached by (metric, query, store version): a published load changes the
version, so the next rerun recomputes and nobody sees stale figures. The cache holds at most
the settings' cache_mb of frames, dropping the least recently used first. The store handle
(with the web app's query limits) and the settings are resources shared by all sessions.
The annotations every time chart marks are read at most every 30 seconds, and at once after
a change made in the app.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import date
from types import SimpleNamespace

import polars as pl
import streamlit as st

from metrics import registry
from metrics.goals import Goal, Progress, progress
from metrics.overview import filter_choices as _filter_choices
from pulse.query import Query
from pulse.settings import Settings, load_settings
from pulse.store import Store, StoreInfo


@st.cache_resource
def settings() -> Settings:
    return load_settings()


@st.cache_resource
def store() -> Store:
    return Store.from_settings(settings(), limited=True)


class FrameCache:
    """Frames by key, least recently used dropped first once they hold more than `budget`
    bytes together (a frame larger than the budget is returned but not kept)."""

    def __init__(self, budget: int):
        self.budget = budget
        self.used = 0
        self._frames: OrderedDict[tuple, pl.DataFrame] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> pl.DataFrame | None:
        with self._lock:
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
            return frame

    def put(self, key: tuple, frame: pl.DataFrame) -> None:
        size = frame.estimated_size()
        with self._lock:
            if key in self._frames or size > self.budget:
                return
            self._frames[key] = frame
            self.used += size
            while self.used > self.budget:
                _, dropped = self._frames.popitem(last=False)
                self.used -= dropped.estimated_size()


@st.cache_resource
def _frames() -> FrameCache:
    return FrameCache(settings().cache_mb * 1024 * 1024)


def metric(name: str, q: Query, **options: object) -> pl.DataFrame:
    """The metric's frame for this query, with extra metric options (raw or typed)."""
    query = q.with_options(**{k: v for k, v in options.items() if v is not None}) if options else q
    st.session_state.setdefault("metric_queries", {})[name] = query  # for a table's "Schedule this"
    key = (name, query, store().version())
    frame = _frames().get(key)
    if frame is None:
        frame = registry.run(name, store(), query)
        _frames().put(key, frame)
    return frame


@st.cache_data(ttl=3600, max_entries=20, show_spinner=False)
def _info(version: str) -> StoreInfo:
    return store().info()


def info() -> StoreInfo:
    return _info(store().version())


@st.cache_data(ttl=3600, max_entries=20, show_spinner=False)
def _choices(version: str) -> dict[str, list[str]]:
    return _filter_choices(store())


def filter_choices() -> dict[str, list[str]]:
    """The country, device and plan values that exist in the store, for the filter bar."""
    return _choices(store().version())


@st.cache_data(ttl=3600, max_entries=200, show_spinner=False)
def _goal_progress(version: str, q: Query, measure: str, target: float, due: date, until: date) -> Progress:
    return progress(store(), q, SimpleNamespace(measure=measure, target=target, due=due), until)


def goal_progress(q: Query, goal: Goal, until: date) -> Progress:
    """A goal's progress on the data up to `until`, kept per store version like a metric. Only
    the data scope of q counts (goals ignore the filter bar), so the key keeps nothing else;
    it stays out of the metric cache, whose queries a table's "Schedule this" reads back."""
    scoped = Query(until, until, scope=q.scope)
    return _goal_progress(store().version(), scoped, goal.measure, goal.target, goal.due, until)


@st.cache_data(ttl=30, max_entries=1, show_spinner=False)
def annotations(_read: Callable[[], pl.DataFrame]) -> pl.DataFrame:
    """Every annotation, as `_read` (ui.annotations) reads them from the admin database. A
    page draws several time charts: one read serves them all. A note added from the command
    line shows within the ttl; a change on the Annotations page clears this at once
    (`annotations.clear()`), for every session."""
    return _read()
