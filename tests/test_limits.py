"""Limits that keep one view from holding the web server: a range cut to the data and to the
points a chart draws, a time and a memory limit on every query the app runs, a metric cache
bounded in bytes, and the most periods one query answers."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import polars as pl
import pytest
from conftest import open_page, shown

from loaders.load import load_demo
from pulse.query import QueryError, make_query
from pulse.store import Store, StoreError
from ui.cache import FrameCache

PAGES = ["overview", "activity", "retention", "purchases", "revenue", "user", "data"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("limits") / "pulse.duckdb"
    load_demo(Store(path), users=200, days=60, seed=5)
    return path


@pytest.mark.parametrize("page", PAGES)
def test_the_widest_range_is_cut_to_the_data_on_every_page(demo, monkeypatch, page):
    info = Store(demo).info()
    started = time.perf_counter()
    at = open_page(demo, monkeypatch, page, range="custom", start="1970-01-01", end="2199-12-31")
    assert time.perf_counter() - started < 60
    assert not at.exception
    assert [shown(w.value) for w in at.sidebar.warning] == [
        f"The data runs from {info.first_day} to {info.last_day}, so the range 1970-01-01 – 2199-12-31 is shown as "
        f"{info.first_day} – {info.last_day}."
    ]
    assert at.sidebar.date_input[0].value == (info.first_day, info.last_day)


def test_a_range_outside_the_supported_days_is_a_warning(demo, monkeypatch):
    at = open_page(demo, monkeypatch, "overview", range="custom", start="1900-01-01", end="2100-12-31")
    assert not at.exception
    assert [shown(w.value) for w in at.sidebar.warning] == [
        "The start date 1900-01-01 is outside the days Pulse supports, 1970-01-01 to 2199-12-31. Showing last 30 days."
    ]


def test_more_days_than_a_chart_draws_are_shown_by_week(demo, monkeypatch):
    info = Store(demo).info()
    at = open_page(demo, monkeypatch, "activity", env={"PULSE_MAX_POINTS": "20"}, range="custom",
                   start=info.first_day.isoformat(), end=info.last_day.isoformat())
    days = (info.last_day - info.first_day).days + 1
    weeks = (info.last_day.toordinal() - info.last_day.weekday() - info.first_day.toordinal()
             + info.first_day.weekday()) // 7 + 1
    notes = [shown(w.value) for w in at.sidebar.warning]
    assert notes[0] == f"{days} days are more than the 20 points a chart draws; showing weeks."
    assert notes[1:] == ([] if weeks <= 20 else [f"{weeks} weeks are more than the 20 points a chart draws; showing months."])
    assert at.sidebar.segmented_control[0].value == "week"


def test_a_query_past_its_time_limit_is_stopped_with_one_sentence(demo):
    store = Store(demo, query_seconds=1)
    started = time.perf_counter()
    with pytest.raises(StoreError) as caught:
        store.fetch("SELECT count(*) FROM range(100000) a, range(1000000) b WHERE a.range + b.range = -1")
    assert time.perf_counter() - started < 5
    assert str(caught.value) == (
        "This view took longer than 1 s to compute and was stopped, so the server stays free for everyone: "
        "choose a shorter range or a coarser interval.")
    assert store.scalar("SELECT 1") == 1  # the store stays usable


def test_a_query_past_its_memory_limit_is_stopped_with_one_sentence(demo, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    store = Store(demo, query_memory_mb=128)
    with pytest.raises(StoreError) as caught:
        store.fetch("SELECT list(range ORDER BY random()) FROM range(200000000)")
    assert str(caught.value) == ("This view needed more than the 128 MB of memory the app allows and was stopped: "
                                 "choose a shorter range or a coarser interval.")
    assert store.scalar("SELECT 2") == 2


def test_the_metric_cache_is_bounded_in_bytes():
    frames = {name: pl.DataFrame({"x": list(range(rows))}) for name, rows in (("a", 100), ("b", 100), ("c", 100))}
    one = frames["a"].estimated_size()  # 800 bytes: 100 64-bit integers
    assert one == 800
    cache = FrameCache(budget=2 * one)
    cache.put(("a",), frames["a"])
    cache.put(("b",), frames["b"])
    assert cache.get(("a",)) is frames["a"]  # a is now the most recently used
    cache.put(("c",), frames["c"])  # over budget: b, the least recently used, goes
    assert (cache.get(("a",)), cache.get(("b",)), cache.get(("c",))) == (frames["a"], None, frames["c"])
    assert cache.used == 2 * one
    cache.put(("big",), pl.DataFrame({"x": list(range(1000))}))  # larger than the budget: not kept
    assert cache.get(("big",)) is None and cache.used == 2 * one


def test_a_query_of_more_periods_than_one_answers_is_refused():
    assert make_query("1970-01-01", "2024-10-03").days == 20_000
    with pytest.raises(QueryError) as caught:
        make_query("1970-01-01", "2024-10-04")
    assert str(caught.value) == ("The range 1970-01-01 – 2024-10-04 has more than 20,000 days, the most one query "
                                 "answers; choose a shorter range or a longer interval.")
    assert make_query("1970-01-01", "2199-12-31", "week").end == date(2199, 12, 31)
