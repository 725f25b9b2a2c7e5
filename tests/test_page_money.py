"""The Purchases, Revenue and User pages render on a small store and show the right figures."""

from __future__ import annotations

from pathlib import Path

import pytest
import streamlit as st
from conftest import build_store, q, shown
from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parent.parent / "pages"

TABLES = {
    "users": [
        {"user_id": "u1", "email": "ann@example.com", "name": "Ann Lee", "signup_at": "2024-01-02 09:00", "country": "DE",
         "plan": "pro"},
        {"user_id": "u2", "email": "bob@example.com", "name": "Bob", "signup_at": "2024-01-05 09:00", "country": "US"},
    ],
    "events": [
        {"event_id": "e1", "user_id": "u1", "ts": "2024-01-03 10:00", "event_type": "page_view", "page_path": "/"},
        {"event_id": "e2", "user_id": "u1", "ts": "2024-01-03 10:10", "event_type": "feature_use", "event_name": "export"},
        {"event_id": "e3", "user_id": "u2", "ts": "2024-01-06 12:00", "event_type": "login"},
    ],
    "transactions": [
        {"transaction_id": "t1", "user_id": "u1", "ts": "2024-01-10 10:00", "kind": "purchase", "amount": "100",
         "category": "compute", "provider": "acme"},
        {"transaction_id": "t2", "user_id": "u1", "ts": "2024-02-03 10:00", "kind": "refund", "amount": "30", "refund_of": "t1"},
        {"transaction_id": "t3", "user_id": "u2", "ts": "2024-01-11 10:00", "kind": "purchase", "amount": "50",
         "status": "failed"},
        {"transaction_id": "t4", "user_id": "u2", "ts": "2024-01-11 10:05", "kind": "purchase", "amount": "50",
         "category": "storage", "provider": "acme"},
        {"transaction_id": "t5", "user_id": "u1", "ts": "2024-01-20 10:00", "kind": "purchase", "amount": "999",
         "currency": "EUR"},
        {"transaction_id": "t6", "user_id": "u2", "ts": "2024-02-01 08:00", "kind": "subscription", "amount": "29",
         "plan": "pro"},
    ],
    "subscriptions": [
        {"subscription_id": "s1", "user_id": "u1", "plan": "trial", "mrr": "0", "started_at": "2024-01-02 09:00",
         "ended_at": "2024-01-16 09:00"},
        {"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "29", "started_at": "2024-01-16 09:00",
         "ended_at": "2024-03-10 00:00"},
        {"subscription_id": "s2", "user_id": "u2", "plan": "pro", "mrr": "29", "started_at": "2024-01-20 00:00"},
    ],
}
QUERY = q("2024-01-01", "2024-02-29", "month")


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("pages") / "pulse.duckdb"
    build_store(path, **TABLES)
    return path


@pytest.fixture
def page(store_path, monkeypatch):
    """page(name, **link) -> an AppTest of pages/<name>.py after one run against the small store,
    opened by a link with these page parameters."""
    monkeypatch.setenv("PULSE_STORE", str(store_path))
    monkeypatch.setenv("PULSE_ADMIN_DB", f"sqlite:///{store_path.parent / 'admin.db'}")
    # The app's caches live in this process: start from a clean slate for this store.
    st.cache_resource.clear()
    st.cache_data.clear()

    def run(name: str, **link: str) -> AppTest:
        at = AppTest.from_file(str(PAGES / f"{name}.py"), default_timeout=60)
        at.session_state["query"] = QUERY
        for key, value in link.items():
            at.query_params[key] = value
        at.run()
        assert not at.exception, at.exception
        assert not at.error, [e.value for e in at.error]
        return at

    return run


def figures(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def table_with(at: AppTest, column: str):
    """The first table on the page that has this column, as pandas."""
    return next(t.value for t in at.dataframe if column in t.value.columns)


def test_purchases_page(page):
    at = page("purchases")
    assert at.title[0].value == "Purchases"
    # Orders t1 + t4 + t6 = 179, the refund 30 (in February), the euro purchase apart.
    assert figures(at) == {
        "Gross revenue": "$179.00", "Refunds": "$30.00", "Net revenue": "$149.00", "Average order value": "$59.67",
        "Orders": "3", "Buyers": "2", "Failed payments": "1", "Failure rate": "25.0%",
    }
    assert "€999.00 (1 order)" in shown(at.info[0].value)
    explorer = table_with(at, "transaction_id")
    assert explorer["transaction_id"].tolist() == ["t2", "t6", "t5", "t4", "t3", "t1"]
    top = table_with(at, "recency_days")
    # u2: 50 + 29; u1: 100 - 30
    # Each buyer links to the user page.
    assert top["user_id"].tolist() == ["user?user=u2", "user?user=u1"] and top["total_spent"].tolist() == [79.0, 70.0]


def test_purchase_explorer_filters(page):
    at = page("purchases")
    at.selectbox[0].set_value("failed")
    at.form_submit_button[0].click().run()
    assert table_with(at, "transaction_id")["transaction_id"].tolist() == ["t3"]


def test_revenue_page(page):
    at = page("revenue")
    assert at.title[0].value == "Revenue"
    shown = figures(at)
    # At the end of February: u1 and u2 on pro at 29 each.
    assert {k: shown[k] for k in ("MRR", "Net new MRR", "Paying customers", "ARPU", "Net revenue retention",
                                  "Customer churn", "LTV")} == {
        "MRR": "$58.00", "Net new MRR": "$0.00", "Paying customers": "2", "ARPU": "$29.00",
        "Net revenue retention": "100.0%", "Customer churn": "0.0%", "LTV": "—",
    }
    assert {k: shown[k] for k in ("Paying", "On a trial", "Cancelled", "Free")} == {
        "Paying": "2", "On a trial": "0", "Cancelled": "0", "Free": "0",
    }
    # Two months are too few for a trend: the page draws the six to February.
    assert at.caption[0].value.startswith("Monthly, whatever the interval: the 6 months to February 2024 (the range "
                                          "2024-01-01 – 2024-02-29 is shorter).")
    bridge = table_with(at, "end_mrr")
    # u1 pays from Jan 16 and u2 from Jan 20: 58 at both month ends, all of it new in January.
    assert [str(m)[:7] for m in bridge["month"]] == ["2023-09", "2023-10", "2023-11", "2023-12", "2024-01", "2024-02"]
    assert bridge["end_mrr"].tolist() == [0, 0, 0, 0, 58.0, 58.0] and bridge["new_mrr"].tolist() == [0, 0, 0, 0, 58.0, 0]


def test_user_page_needs_a_search_first(page):
    at = page("user")
    assert "Search for a user" in at.info[0].value


def test_user_page(page):
    at = page("user")
    at.text_input(key="user_search").input("ANN").run()
    assert not at.exception
    assert at.header[0].value == "Ann Lee"
    shown = figures(at)
    # 100 bought - 30 refunded; the euro purchase is not spent in dollars; pro at the end of February.
    assert {k: shown[k] for k in ("Total spent", "Orders", "Average monthly spend", "Current MRR", "Active days")} == {
        "Total spent": "$70.00", "Orders": "1", "Average monthly spend": "$35.00", "Current MRR": "$29.00",
        "Active days": "1",
    }
    timeline = table_with(at, "detail")
    assert timeline["type"].tolist()[:2] == ["Refund", "Purchase"]


def test_a_purchases_link_opens_on_its_explorer_filters_and_breakdown(page):
    at = page("purchases", status="succeeded", kind="purchase", sort="amount", descending="false", by="provider")
    assert [at.selectbox(key=k).value for k in ("explorer_status", "explorer_kind", "explorer_sort")] == [
        "succeeded", "purchase", "amount"]
    assert at.toggle(key="explorer_descending").value is False
    # Succeeded purchases, smallest first: t4 (50), t1 (100), t5 (999 EUR).
    assert table_with(at, "transaction_id")["transaction_id"].tolist() == ["t4", "t1", "t5"]
    # Revenue by provider: acme sold t1 and t4, the subscription t6 has none.
    assert table_with(at, "share")["value"].tolist() == ["(none)", "acme"]
    assert not at.warning


def test_explorer_choices_go_into_the_link(page):
    at = page("purchases")
    at.selectbox(key="explorer_status").set_value("failed")
    at.selectbox(key="explorer_sort").set_value("amount")
    at.form_submit_button[0].click().run()
    assert {k: at.query_params[k] for k in ("status", "sort")} == {"status": "failed", "sort": "amount"}
    assert not {"kind", "category", "provider", "descending"} & set(at.query_params)


def test_a_bad_purchases_link_is_a_warning_naming_it(page):
    at = page("purchases", status="lost", by="colour")
    assert [shown(w.value) for w in at.warning] == [
        "The link's breakdown 'colour' is not one of: category, provider, payment_method, plan, country; showing category.",
        "The link's status 'lost' is not one of: All, succeeded, failed, pending; showing All.",
    ]
    assert at.selectbox(key="explorer_status").value == "All"


def test_a_user_link_opens_on_its_timeline_types(page):
    at = page("user", user="u1", types="refund,purchase")
    assert at.header[0].value == "Ann Lee"
    assert at.multiselect(key="timeline_types").value == ["refund", "purchase"]
    # Refund t2 in February, purchases t5 (in euros) and t1 in January.
    assert table_with(at, "detail")["type"].tolist() == ["Refund", "Purchase", "Purchase"]
    at.multiselect(key="timeline_types").set_value(["refund"])
    at.run()
    assert at.query_params["types"] == "refund" and at.query_params["user"] == "u1"
