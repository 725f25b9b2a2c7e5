"""One number everywhere: the same figure from different metrics (so different pages) agrees,
on the demo business, with and without filters and for each interval."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from conftest import q

from loaders.load import load_demo
from metrics import registry
from pulse.periods import period_end
from pulse.store import Store

END = date(2026, 10, 31)
FILTERS = [{}, {"country": "DE"}, {"plan": "pro"}, {"device_type": "mobile"}]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Store:
    store = Store(tmp_path_factory.mktemp("consistency") / "pulse.duckdb", timezone="Europe/Berlin")
    load_demo(store, users=600, days=240, seed=3, end=END)
    return store


def kpi(store: Store, name: str, start: str, end: str, **filters: str):
    out = registry.run("kpis", store, q(start, end, **filters))
    return out.filter(pl.col("kpi") == name)["value"].item()


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "all")
def test_overview_mrr_is_the_revenue_pages_mrr_at_each_month_end(store, filters):
    months = registry.run("mrr", store, q("2026-05-01", "2026-10-31", "month", **filters))
    for month, mrr in months.select("month", "mrr").iter_rows():
        month_end = period_end(month, "month").isoformat()
        assert kpi(store, "mrr", month.isoformat(), month_end, **filters) == mrr, (month, filters)


@pytest.mark.parametrize("interval", ["day", "week", "month"])
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "all")
def test_overview_net_revenue_is_the_purchases_pages_for_the_range_it_shows(store, interval, filters):
    # Purchases widens the range to whole periods and says so; over that range the Overview agrees.
    query = q("2026-09-10", "2026-10-20", interval, **filters)
    summary = registry.run("revenue_summary", store, query)
    widened = (query.range_start.isoformat(), query.range_end.isoformat())
    assert kpi(store, "net_revenue", *widened, **filters) == summary["net_revenue"].item()
    per_period = registry.run("revenue", store, query)
    assert per_period["net_revenue"].sum() == summary["net_revenue"].item()


@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: ",".join(f) or "all")
def test_overview_active_users_are_active_users_over_the_range(store, filters):
    over_month = registry.run("active_users", store, q("2026-10-01", "2026-10-31", "month", **filters))
    assert kpi(store, "active_users", "2026-10-01", "2026-10-31", **filters) == over_month["active_users"].item()
    over_days = registry.run("active_user_list", store, q("2026-10-01", "2026-10-31", "month", period="2026-10-01",
                                                          **filters))
    assert over_days.height == over_month["active_users"].item()
