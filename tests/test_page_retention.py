"""The Retention page renders on a small store and shows the right figures."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest
import streamlit as st
from conftest import build_store, q, shown
from streamlit.testing.v1 import AppTest

from metrics import registry

PAGE = Path(__file__).resolve().parent.parent / "pages" / "retention.py"


def ev(user: str, *days: str) -> list[dict]:
    return [{"event_id": f"{user}@{day}", "user_id": user, "ts": f"{day} 10:00", "event_type": "login",
             "device_type": "desktop"} for day in days]


TABLES = {
    "users": [
        {"user_id": "a", "email": "a@example.com", "signup_at": "2024-01-02 09:00", "plan": "pro", "country": "DE"},
        {"user_id": "b", "email": "b@example.com", "signup_at": "2024-01-03 09:00", "plan": "free", "country": "US"},
        {"user_id": "c", "email": "c@example.com", "signup_at": "2024-01-08 09:00", "country": "US"},
        {"user_id": "d", "email": "d@example.com", "signup_at": "2023-11-01 09:00", "plan": "free"},
    ],
    # Weeks of Jan 1, 8, 15, 22. a: weeks 1-3, b: weeks 1-4, c: week 2, d: only in November.
    "events": [
        *ev("a", "2024-01-02", "2024-01-03", "2024-01-04", "2024-01-09", "2024-01-16"),
        *ev("b", "2024-01-03", "2024-01-10", "2024-01-17", "2024-01-24"),
        *ev("c", "2024-01-08"),
        *ev("d", "2023-11-01", "2023-11-05"),
    ],
    "subscriptions": [{"subscription_id": "s1", "user_id": "a", "plan": "pro", "mrr": "29", "started_at": "2023-12-01 00:00"}],
}
QUERY = q("2024-01-01", "2024-01-28", "week")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("retention_page") / "pulse.duckdb"
    build_store(path, **TABLES)
    return path


def open_page(store_path, monkeypatch, query=QUERY, **link: str) -> AppTest:
    """The Retention page after one run against the small store, opened by a link with these
    page parameters."""
    monkeypatch.setenv("PULSE_STORE", str(store_path))
    monkeypatch.setenv("PULSE_ADMIN_DB", f"sqlite:///{store_path.parent / 'admin.db'}")
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["query"] = query
    for key, value in link.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture
def page(store_path, monkeypatch) -> AppTest:
    return open_page(store_path, monkeypatch)


def table(at: AppTest, metric: str):
    """The table on the page with exactly this metric's columns, as pandas."""
    columns = list(registry.get(metric).columns)
    return next(t.value for t in at.dataframe if list(t.value.columns) == columns)


def chart(at: AppTest, index: int) -> tuple[dict, list[dict]]:
    """The index-th chart's Vega-Lite spec and the rows of its first dataset, as sent to the browser."""
    proto = at.get("vega_lite_chart")[index].proto
    return json.loads(proto.spec), pa.ipc.open_stream(proto.datasets[0].data.data).read_all().to_pylist()


def test_retention_page_shows_cohorts_curves_churn_and_users_at_risk(page):
    at = page
    assert at.title[0].value == "Retention"
    matrix = table(at, "retention")
    # First weeks: a and b in week 1, c in week 2; a back in weeks 2-3, b in weeks 2-4.
    assert matrix["cohort_size"].tolist() == [2, 2, 2, 2, 1, 1, 1, 0, 0, 0]
    assert matrix["retained"].tolist() == [2, 2, 2, 1, 1, 0, 0, 0, 0, 0]
    spec, cells = chart(at, 0)
    assert [layer["mark"]["type"] for layer in spec["layer"]] == ["rect", "text"]
    assert [(row["period_offset"], row["rate"]) for row in cells[:4]] == [(0, 1.0), (1, 1.0), (2, 1.0), (3, 0.5)]
    curve = table(at, "retention_curve")
    # Offset 1 over weeks 1-3: (2 + 0 + 0) / (2 + 1 + 0); tables show rates as percent.
    assert curve["rate"].round(2).tolist() == [100.0, 66.67, 66.67, 50.0]
    by_plan = table(at, "retention_by")
    assert sorted(set(by_plan["value"])) == ["Unknown", "free", "pro"]
    day_n = table(at, "day_n_retention")
    # a (Jan 2) is back 1, 7 and 14 days later; b (Jan 3) 7 and 14 days later, not the next day.
    jan_2, jan_3 = day_n.iloc[1], day_n.iloc[2]
    assert (jan_2["day_1"], jan_2["day_7"], jan_2["day_14"]) == (100.0, 100.0, 100.0)
    assert (jan_3["day_1"], jan_3["day_7"], jan_3["day_14"]) == (0.0, 100.0, 100.0)
    churn = table(at, "churn")
    # Week 3: c of {a, b, c} gone; week 4: a of {a, b} gone.
    assert churn["churned"].tolist() == [0, 0, 1, 1] and churn["active_previous"].tolist() == [0, 2, 3, 2]
    # Only d has been quiet for more than 30 days: Nov 1 - Nov 5.
    shown = {m.label: m.value for m in at.metric}
    assert shown == {"Users gone quiet": "1", "Average lifetime": "4.0 days", "Median lifetime": "4.0 days"}
    at_risk = table(at, "at_risk_users")
    # a: 4 active days in Jan 1-14, 1 in Jan 15-28; c: 1 and 0; b: 2 and 2 is not at risk.
    assert at_risk["user_id"].tolist() == ["user?user=a", "user?user=c"] and at_risk["mrr"].tolist() == [29.0, 0.0]
    assert all(c.value for c in at.caption)


def test_retention_page_options_change_the_matrix(page):
    at = page
    at.toggle(key="retention_cumulative").set_value(True)
    at.segmented_control(key="retention_mode").set_value("recurring")
    at.slider(key="retention_periods").set_value(2)
    at.run()
    assert not at.exception
    matrix = table(at, "retention")
    # Recurring weeks: {a, b}, {a, b, c}, {a, b}, {b}; back then or later: all but c after week 2.
    assert matrix["cohort_size"].tolist() == [2, 2, 3, 3, 2, 2, 1]
    assert matrix["retained"].tolist() == [2, 2, 3, 2, 2, 1, 1]


def test_retention_opens_on_week_cohorts_whatever_the_interval(store_path, monkeypatch):
    at = open_page(store_path, monkeypatch, q("2024-01-01", "2024-01-28", "day"))
    assert at.segmented_control(key="retention_interval").value == "week"
    assert table(at, "retention")["cohort_size"].tolist()[:3] == [2, 2, 2]
    assert "period" not in at.query_params


def test_a_retention_link_opens_on_its_choices(store_path, monkeypatch):
    at = open_page(store_path, monkeypatch, mode="recurring", period="month", periods="3", cumulative="true",
                   split="country")
    shown = {key: at.segmented_control(key=key).value for key in ("retention_mode", "retention_interval",
                                                                     "retention_breakdown")}
    assert shown == {"retention_mode": "recurring", "retention_interval": "month", "retention_breakdown": "country"}
    assert at.slider(key="retention_periods").value == 3 and at.toggle(key="retention_cumulative").value is True
    # By any activity in January: a, b and c, one cohort; the months after it lie after the range.
    assert table(at, "retention")["cohort_size"].tolist() == [3]
    assert sorted(set(table(at, "retention_by")["value"])) == ["DE", "US"]
    assert not at.warning


def test_retention_choices_go_into_the_link(page):
    at = page
    at.segmented_control(key="retention_mode").set_value("recurring")
    at.segmented_control(key="retention_interval").set_value("day")
    at.toggle(key="retention_cumulative").set_value(True)
    at.segmented_control(key="retention_breakdown").set_value("device_type")
    at.run()
    assert {k: at.query_params[k] for k in ("mode", "period", "cumulative", "split")} == {
        "mode": "recurring", "period": "day", "cumulative": "true", "split": "device_type"}
    # Devices in words in the table of the split curve.
    assert set(table(at, "retention_by")["value"]) == {"Desktop"}


def test_a_bad_retention_link_is_a_warning_naming_it(store_path, monkeypatch):
    at = open_page(store_path, monkeypatch, period="fortnight", periods="99")
    assert [shown(w.value) for w in at.warning] == [
        "The link's period 'fortnight' is not one of: day, week, month; showing week.",
        "The link's periods to follow '99' is not a whole number from 2 to 24; showing 8.",
    ]
    assert at.segmented_control(key="retention_interval").value == "week"
