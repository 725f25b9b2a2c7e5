"""Every registered metric asked of DuckDB and of ClickHouse (chDB, in process) over the same
rows: the frames and their CSV exports must be identical. The store is a small demo business;
the ClickHouse side holds the same rows, loaded into ClickHouse's own tables
(pulse.clickhouse.ClickHouseStore.copy_of), and each metric's SQL is rendered by pulse.dialect."""

from __future__ import annotations

import pytest
from polars.testing import assert_frame_equal

from datetime import timedelta

from loaders.load import load_demo, load_files
from metrics import discovery, registry
from pulse.clickhouse import ClickHouseStore
from pulse.export import to_csv
from pulse.query import make_query
from pulse.store import Store

# Low API limits, so the users near theirs are a list, not an empty frame.
API_LIMITS = (("free", 5), ("trial", 5), ("pro", 20), ("enterprise", 50))

@pytest.fixture(scope="module")
def stores(tmp_path_factory, chdb_directory):
    folder = tmp_path_factory.mktemp("clickhouse")
    duck = Store(folder / "pulse.duckdb", api_limits=API_LIMITS)
    load_demo(duck, users=300, days=60, seed=4)
    bad = folder / "bad.csv"  # two rows for the quarantine
    bad.write_text("event_id,user_id,ts,event_type\nq1,u1,yesterday,login\nq2,u1,2024-01-01 10:00,teleport\n")
    load_files(duck, "events", [bad])
    return duck, ClickHouseStore.copy_of(duck, chdb_directory, "parity")


def default_query(store: Store, name: str):
    """The last 30 days by day, with what a metric cannot do without."""
    last = store.info().last_day
    needed = {o.name for o in registry.get(name).options if o.required}
    given = {"steps": "/,/pricing,/signup", "period": (last - timedelta(days=3)).isoformat(), "text": "a",
             "user_id": store.scalar("SELECT user_id FROM transactions GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")}
    return registry.get(name).typed(make_query(last - timedelta(days=29), last, "day",
                                               {k: v for k, v in given.items() if k in needed}))


@pytest.mark.parametrize("name", sorted(m.name for m in registry.all_metrics()))
def test_the_metric_gives_the_same_frame_on_clickhouse(stores, name):
    duck, chdb = stores
    q = default_query(duck, name)
    expected = registry.run(name, duck, q)
    assert not expected.is_empty()  # no rows would compare equal to any frame of these columns
    got = registry.run(name, chdb, q)
    assert_frame_equal(got, expected, check_dtypes=False)
    assert to_csv(got) == to_csv(expected)  # the export, byte for byte (as bench/parity.py at 1M)


@pytest.mark.parametrize("name", ["property_keys", "field_values"])
def test_discovery_samples_the_same_events_on_clickhouse(stores, name, monkeypatch):
    # A sample of about 500 of the range's events: the same ones, and the same scaled counts.
    monkeypatch.setattr(discovery, "SAMPLE_ROWS", 500)
    duck, chdb = stores
    q = default_query(duck, name)
    in_range = duck.scalar("SELECT count(*) FROM events WHERE day BETWEEN $start AND $end",
                           {"start": q.range_start, "end": q.range_end})
    assert in_range > 10 * 500  # so the sample is a small part of them
    expected = registry.run(name, duck, q)
    assert_frame_equal(registry.run(name, chdb, q), expected, check_dtypes=False)
