"""Purchases and revenue: revenue, breakdowns, cohorts, customer value, other currencies, the explorer."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import polars as pl
import pytest
from conftest import build_store, d, q
from polars.testing import assert_frame_equal

from metrics import registry
from pulse.export import to_csv
from pulse.query import QueryError

MONEY = pl.Decimal(18, 2)

USERS = [
    {"user_id": "u1", "signup_at": "2024-01-02 09:00", "country": "DE"},
    {"user_id": "u2", "signup_at": "2024-01-05 09:00", "country": "US"},
    {"user_id": "u3", "signup_at": "2024-01-25 09:00", "country": "US"},
]
TRANSACTIONS = [
    {"transaction_id": "t1", "user_id": "u1", "ts": "2024-01-10 10:00", "kind": "purchase", "amount": "100",
     "category": "compute", "provider": "acme", "payment_method": "card", "product_name": "GPU hours"},
    # The refund of t1 is paid back in the next month: it counts in February.
    {"transaction_id": "t2", "user_id": "u1", "ts": "2024-02-03 10:00", "kind": "refund", "amount": "30", "refund_of": "t1"},
    # Two failed attempts, then the retry succeeds.
    {"transaction_id": "t3", "user_id": "u2", "ts": "2024-01-11 10:00", "kind": "purchase", "amount": "50",
     "status": "failed", "category": "storage", "provider": "acme", "payment_method": "paystack"},
    {"transaction_id": "t4", "user_id": "u2", "ts": "2024-01-11 10:05", "kind": "purchase", "amount": "50",
     "status": "failed", "category": "storage", "provider": "acme", "payment_method": "paystack"},
    {"transaction_id": "t5", "user_id": "u2", "ts": "2024-01-11 10:10", "kind": "purchase", "amount": "50",
     "category": "storage", "provider": "acme", "payment_method": "paystack"},
    {"transaction_id": "t6", "user_id": "u3", "ts": "2024-02-01 08:00", "kind": "subscription", "amount": "29",
     "category": "service", "provider": "pulse", "payment_method": "card", "plan": "pro"},
    {"transaction_id": "t7", "user_id": "u3", "ts": "2024-03-01 08:00", "kind": "subscription", "amount": "29",
     "category": "service", "provider": "pulse", "payment_method": "card", "plan": "pro"},
    # Pending counts nowhere.
    {"transaction_id": "t8", "user_id": "u2", "ts": "2024-03-05 10:00", "kind": "purchase", "amount": "20", "status": "pending"},
    # Another currency is never mixed into revenue.
    {"transaction_id": "t9", "user_id": "u1", "ts": "2024-01-20 10:00", "kind": "purchase", "amount": "999", "currency": "EUR"},
    {"transaction_id": "t10", "user_id": "u3", "ts": "2024-03-15 10:00", "kind": "purchase", "amount": "40", "provider": "acme"},
    {"transaction_id": "t11", "user_id": "u1", "ts": "2024-02-02 10:00", "kind": "refund", "amount": "100",
     "currency": "EUR", "refund_of": "t9"},
]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the whole module: the tests only read it."""
    return build_store(tmp_path_factory.mktemp("revenue") / "pulse.duckdb", users=USERS, transactions=TRANSACTIONS)


def revenue_frame(rows: list[tuple]) -> pl.DataFrame:
    columns = ["period", "orders", "buyers", "gross_revenue", "refunds", "net_revenue", "avg_order_value",
               "failed_payments", "failed_rate"]
    return pl.DataFrame(
        [(d(r[0]), r[1], r[2], Decimal(r[3]), Decimal(r[4]), Decimal(r[5]), None if r[6] is None else Decimal(r[6]), r[7], r[8])
         for r in rows],
        schema={"period": pl.Date, "orders": pl.Int64, "buyers": pl.Int64, "gross_revenue": MONEY, "refunds": MONEY,
                "net_revenue": MONEY, "avg_order_value": MONEY, "failed_payments": pl.Int64, "failed_rate": pl.Float64},
        orient="row",
    ).select(columns)


def test_revenue_by_month(store):
    # The range widens to whole months: Jan 1 - Apr 30.
    out = registry.run("revenue", store, q("2024-01-15", "2024-04-10", "month"))
    assert_frame_equal(out, revenue_frame([
        # t1 + t5 = 150, aov 150 / 2; failed t3, t4: 2 / (2 failed + 2 orders)
        ("2024-01-01", 2, 2, "150", "0", "150", "75", 2, 0.5),
        # t6 = 29; the refund of January's t1 lands here: net 29 - 30
        ("2024-02-01", 1, 1, "29", "30", "-1", "29", 0, 0.0),
        # t7 + t10 by one buyer; the pending t8 counts nowhere; aov 69 / 2
        ("2024-03-01", 2, 1, "69", "0", "69", "34.5", 0, 0.0),
        # nothing: zeros, and no average or rate to compute
        ("2024-04-01", 0, 0, "0", "0", "0", None, 0, None),
    ]))


def test_revenue_by_day_fills_empty_days(store):
    out = registry.run("revenue", store, q("2024-01-10", "2024-01-12"))
    assert_frame_equal(out, revenue_frame([
        ("2024-01-10", 1, 1, "100", "0", "100", "100", 0, 0.0),
        ("2024-01-11", 1, 1, "50", "0", "50", "50", 2, 2 / 3),
        ("2024-01-12", 0, 0, "0", "0", "0", None, 0, None),
    ]))


def test_revenue_days_follow_the_reporting_timezone(make_store):
    # 2024-02-01 03:00 UTC is still January 31 in New York.
    store = make_store(timezone="America/New_York", transactions=[
        {"transaction_id": "t1", "user_id": "u1", "ts": "2024-02-01 03:00", "kind": "purchase", "amount": "10"},
        {"transaction_id": "t2", "user_id": "u1", "ts": "2024-02-01 06:00", "kind": "purchase", "amount": "20"},
    ])
    out = registry.run("revenue", store, q("2024-01-01", "2024-02-29", "month"))
    assert_frame_equal(out, revenue_frame([
        ("2024-01-01", 1, 1, "10", "0", "10", "10", 0, 0.0),
        ("2024-02-01", 1, 1, "20", "0", "20", "20", 0, 0.0),
    ]))


def test_revenue_with_a_country_filter(store):
    out = registry.run("revenue", store, q("2024-01-01", "2024-02-29", "month", country="de"))
    assert_frame_equal(out, revenue_frame([
        ("2024-01-01", 1, 1, "100", "0", "100", "100", 0, 0.0),
        ("2024-02-01", 0, 0, "0", "30", "-30", None, 0, None),
    ]))


def breakdown_frame(dimension: str, rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [(dimension, r[0], r[1], r[2], Decimal(r[3]), r[4]) for r in rows],
        schema={"dimension": pl.String, "value": pl.String, "orders": pl.Int64, "buyers": pl.Int64,
                "gross_revenue": MONEY, "share": pl.Float64},
        orient="row",
    )


def test_revenue_breakdown_by_category(store):
    out = registry.run("revenue_breakdown", store, q("2024-01-01", "2024-03-31", dimension="category"))
    # Total gross 100 + 50 + 29 + 29 + 40 = 248; refunds and failed rows are not orders.
    assert_frame_equal(out, breakdown_frame("category", [
        ("(none)", 1, 1, "40", 40 / 248),
        ("compute", 1, 1, "100", 100 / 248),
        ("service", 2, 1, "58", 58 / 248),
        ("storage", 1, 1, "50", 50 / 248),
    ]))


def test_revenue_breakdown_by_country_uses_the_buyers_country(store):
    out = registry.run("revenue_breakdown", store, q("2024-01-01", "2024-03-31", dimension="country"))
    assert_frame_equal(out, breakdown_frame("country", [
        ("DE", 1, 1, "100", 100 / 248),
        ("US", 4, 2, "148", 148 / 248),
    ]))


def test_revenue_breakdown_by_plan_and_provider(store):
    by_plan = registry.run("revenue_breakdown", store, q("2024-01-01", "2024-03-31", dimension="plan"))
    assert_frame_equal(by_plan, breakdown_frame("plan", [("(none)", 3, 3, "190", 190 / 248), ("pro", 2, 1, "58", 58 / 248)]))
    by_provider = registry.run("revenue_breakdown", store, q("2024-02-01", "2024-02-29", dimension="provider"))
    assert_frame_equal(by_provider, breakdown_frame("provider", [("pulse", 1, 1, "29", 1.0)]))


def test_revenue_breakdown_of_an_empty_range_is_empty(store):
    out = registry.run("revenue_breakdown", store, q("2023-01-01", "2023-01-31", dimension="payment_method"))
    assert_frame_equal(out, breakdown_frame("payment_method", []))


def test_revenue_breakdown_exports_as_exact_csv(store):
    out = registry.run("revenue_breakdown", store, q("2024-01-01", "2024-03-31", dimension="payment_method"))
    assert to_csv(out) == (
        "dimension,value,orders,buyers,gross_revenue,share\n"
        "payment_method,(none),1,1,40.00,0.16129\n"
        "payment_method,card,3,2,158.00,0.637097\n"
        "payment_method,paystack,1,1,50.00,0.201613\n"
    )


def cohorts_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [(d(r[0]), r[1], r[2], r[3], Decimal(r[4])) for r in rows],
        schema={"cohort": pl.Date, "period_offset": pl.Int64, "cohort_size": pl.Int64, "buyers": pl.Int64, "revenue": MONEY},
        orient="row",
    )


def test_purchase_cohorts(store):
    out = registry.run("purchase_cohorts", store, q("2024-01-01", "2024-03-31"))
    assert_frame_equal(out, cohorts_frame([
        # u1 and u2 first bought in January: 100 + 50
        ("2024-01-01", 0, 2, 2, "150"),
        # u1's refund of January's purchase: net -30, and no buyer
        ("2024-01-01", 1, 2, 0, "-30"),
        # u2's pending purchase is not revenue
        ("2024-01-01", 2, 2, 0, "0"),
        ("2024-02-01", 0, 1, 1, "29"),
        # u3 again in March: 29 + 40
        ("2024-02-01", 1, 1, 1, "69"),
        # nobody bought for the first time in March
        ("2024-03-01", 0, 0, 0, "0"),
    ]))


def test_purchase_cohorts_leave_out_customers_who_first_bought_before_the_range(store):
    out = registry.run("purchase_cohorts", store, q("2024-02-10", "2024-03-05"))
    assert_frame_equal(out, cohorts_frame([
        ("2024-02-01", 0, 1, 1, "29"),
        ("2024-02-01", 1, 1, 1, "69"),
        ("2024-03-01", 0, 0, 0, "0"),
    ]))


def value_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [(r[0], r[1], Decimal(r[2]), d(r[3]), d(r[4]), Decimal(r[5]), r[6], r[7]) for r in rows],
        schema={"user_id": pl.String, "orders": pl.Int64, "total_spent": MONEY, "first_purchase": pl.Date,
                "last_purchase": pl.Date, "avg_order_value": MONEY, "recency_days": pl.Int64, "frequency": pl.Float64},
        orient="row",
    )


def test_customer_value_as_of_the_end(store):
    out = registry.run("customer_value", store, q("2024-03-01", "2024-03-31"))
    assert_frame_equal(out, value_frame([
        # 100 bought - 30 refunded; Jan 10 -> Mar 31 is 81 days; 1 order x 30 / 82 days
        ("u1", 1, "70", "2024-01-10", "2024-01-10", "100", 81, 30 / 82),
        ("u2", 1, "50", "2024-01-11", "2024-01-11", "50", 80, 30 / 81),
        # 29 + 29 + 40 = 98 over 3 orders; Feb 1 -> Mar 31 is 60 days counted: 3 x 30 / 60
        ("u3", 3, "98", "2024-02-01", "2024-03-15", "32.67", 16, 1.5),
    ]))


def test_customer_value_ignores_what_happens_after_the_end(store):
    out = registry.run("customer_value", store, q("2024-01-01", "2024-01-31"))
    assert_frame_equal(out, value_frame([
        ("u1", 1, "100", "2024-01-10", "2024-01-10", "100", 21, 30 / 22),
        ("u2", 1, "50", "2024-01-11", "2024-01-11", "50", 20, 30 / 21),
    ]))


def test_customer_value_top_customers(store):
    out = registry.run("customer_value", store, q("2024-03-01", "2024-03-31", sort="total_spent", descending="true", limit="2"))
    assert out["user_id"].to_list() == ["u3", "u1"]
    assert to_csv(out) == (
        "user_id,orders,total_spent,first_purchase,last_purchase,avg_order_value,recency_days,frequency\n"
        "u3,3,98.00,2024-02-01,2024-03-15,32.67,16,1.5\n"
        "u1,1,70.00,2024-01-10,2024-01-10,100.00,81,0.365854\n"
    )


def test_other_currencies_are_shown_apart(store):
    out = registry.run("other_currencies", store, q("2024-01-01", "2024-03-31"))
    # 999 bought, 100 refunded, in euros
    expected = pl.DataFrame({"currency": ["EUR"], "transactions": [1], "amount": [Decimal("899")]},
                            schema={"currency": pl.String, "transactions": pl.Int64, "amount": MONEY})
    assert_frame_equal(out, expected)
    assert to_csv(out) == "currency,transactions,amount\nEUR,1,899.00\n"


def list_frame(ids: list[str]) -> pl.DataFrame:
    """The explorer's expected rows, by transaction id, in the given order."""
    rows = {r["transaction_id"]: r for r in TRANSACTIONS}
    return pl.DataFrame(
        [(i, datetime.fromisoformat(rows[i]["ts"]), rows[i]["user_id"], rows[i]["kind"], rows[i].get("status", "succeeded"),
          Decimal(rows[i]["amount"]), rows[i].get("currency", "USD"), rows[i].get("category"), rows[i].get("provider"),
          rows[i].get("product_name"), rows[i].get("payment_method"), rows[i].get("plan")) for i in ids],
        schema={"transaction_id": pl.String, "ts": pl.Datetime("us"), "user_id": pl.String, "kind": pl.String,
                "status": pl.String, "amount": MONEY, "currency": pl.String, "category": pl.String, "provider": pl.String,
                "product_name": pl.String, "payment_method": pl.String, "plan": pl.String},
        orient="row",
    )


def test_transactions_list_newest_first_in_every_currency_and_status(store):
    out = registry.run("transactions_list", store, q("2024-01-01", "2024-01-31"))
    assert_frame_equal(out, list_frame(["t9", "t5", "t4", "t3", "t1"]))


def test_transactions_list_filters(store):
    failed = registry.run("transactions_list", store, q("2024-01-01", "2024-03-31", status="failed"))
    assert_frame_equal(failed, list_frame(["t4", "t3"]))
    refunds = registry.run("transactions_list", store, q("2024-01-01", "2024-03-31", kind="refund"))
    assert_frame_equal(refunds, list_frame(["t2", "t11"]))
    options = {"provider": "acme", "category": "storage", "status": "succeeded"}
    acme = registry.run("transactions_list", store, q("2024-01-01", "2024-03-31", **options))
    assert_frame_equal(acme, list_frame(["t5"]))


def test_transactions_list_amount_range_sorted_and_paged(store):
    options = {"min_amount": "40", "max_amount": "100", "sort": "amount", "descending": "false"}
    out = registry.run("transactions_list", store, q("2024-01-01", "2024-03-31", **options))
    # Ties in amount by transaction id, as text: t10 < t3 < t4 < t5, t1 < t11.
    assert_frame_equal(out, list_frame(["t10", "t3", "t4", "t5", "t1", "t11"]))
    page = registry.run("transactions_list", store, q("2024-01-01", "2024-03-31", **options, limit="2", offset="2"))
    assert_frame_equal(page, list_frame(["t4", "t5"]))


def test_transactions_list_rejects_an_amount_that_is_not_a_number(store):
    with pytest.raises(QueryError, match="min_amount='ten' is not an amount"):
        registry.run("transactions_list", store, q("2024-01-01", "2024-03-31", min_amount="ten"))


def test_transactions_list_exports_as_exact_csv(store):
    out = registry.run("transactions_list", store, q("2024-02-01", "2024-02-29", sort="ts", descending="false"))
    assert to_csv(out) == (
        "transaction_id,ts,user_id,kind,status,amount,currency,category,provider,product_name,payment_method,plan\n"
        "t6,2024-02-01 08:00:00,u3,subscription,succeeded,29.00,USD,service,pulse,,card,pro\n"
        "t11,2024-02-02 10:00:00,u1,refund,succeeded,100.00,EUR,,,,,\n"
        "t2,2024-02-03 10:00:00,u1,refund,succeeded,30.00,USD,,,,,\n"
    )


def test_revenue_exports_as_exact_csv(store):
    assert to_csv(registry.run("revenue", store, q("2024-02-01", "2024-04-30", "month"))) == (
        "period,orders,buyers,gross_revenue,refunds,net_revenue,avg_order_value,failed_payments,failed_rate\n"
        "2024-02-01,1,1,29.00,30.00,-1.00,29.00,0,0.0\n"
        "2024-03-01,2,1,69.00,0.00,69.00,34.50,0,0.0\n"
        "2024-04-01,0,0,0.00,0.00,0.00,,0,\n"
    )


def test_metrics_with_no_transactions_at_all(make_store):
    store = make_store(users=USERS)
    assert_frame_equal(registry.run("revenue", store, q("2024-01-01", "2024-01-31", "month")),
                       revenue_frame([("2024-01-01", 0, 0, "0", "0", "0", None, 0, None)]))
    assert_frame_equal(registry.run("customer_value", store, q("2024-01-01", "2024-01-31")), value_frame([]))
    assert_frame_equal(registry.run("other_currencies", store, q("2024-01-01", "2024-01-31")),
                       pl.DataFrame(schema={"currency": pl.String, "transactions": pl.Int64, "amount": MONEY}))
    assert_frame_equal(registry.run("purchase_cohorts", store, q("2024-01-01", "2024-01-31")),
                       cohorts_frame([("2024-01-01", 0, 0, 0, "0")]))



def summary_frame(row: tuple) -> pl.DataFrame:
    return pl.DataFrame(
        [(row[0], row[1], *(None if v is None else Decimal(v) for v in row[2:6]), row[6], row[7])],
        schema={"orders": pl.Int64, "buyers": pl.Int64, "gross_revenue": MONEY, "refunds": MONEY, "net_revenue": MONEY,
                "avg_order_value": MONEY, "failed_payments": pl.Int64, "failed_rate": pl.Float64},
        orient="row",
    )


def test_revenue_summary_counts_each_buyer_once(store):
    out = registry.run("revenue_summary", store, q("2024-01-01", "2024-03-31"))
    # Orders t1, t5, t6, t7, t10 = 248 by u1, u2, u3 (u3 bought in two months); aov 248 / 5; failed 2 / (2 + 5)
    assert_frame_equal(out, summary_frame((5, 3, "248", "30", "218", "49.60", 2, 2 / 7)))
    assert to_csv(out) == (
        "orders,buyers,gross_revenue,refunds,net_revenue,avg_order_value,failed_payments,failed_rate\n"
        "5,3,248.00,30.00,218.00,49.60,2,0.285714\n"
    )


def test_revenue_summary_of_an_empty_range(store):
    out = registry.run("revenue_summary", store, q("2023-01-01", "2023-01-31"))
    assert_frame_equal(out, summary_frame((0, 0, "0", "0", "0", None, 0, None)))


def test_refunds_and_failures_by_month(store):
    out = registry.run("refunds_and_failures", store, q("2024-01-01", "2024-04-30", "month"))
    expected = pl.DataFrame(
        [(d("2024-01-01"), 0, Decimal("0"), 2, Decimal("100"), 0.5),   # t3 + t4 failed: 2 / (2 + 2 orders)
         (d("2024-02-01"), 1, Decimal("30"), 0, Decimal("0"), 0.0),    # the euro refund is not counted
         (d("2024-03-01"), 0, Decimal("0"), 0, Decimal("0"), 0.0),
         (d("2024-04-01"), 0, Decimal("0"), 0, Decimal("0"), None)],
        schema={"period": pl.Date, "refund_count": pl.Int64, "refunded_amount": MONEY, "failed_payments": pl.Int64,
                "failed_amount": MONEY, "failed_rate": pl.Float64},
        orient="row",
    )
    assert_frame_equal(out, expected)


def facets_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"value": pl.String, "transactions": pl.Int64}, orient="row")


def test_transaction_facets_list_values_of_every_row(store):
    # Failed rows count too: storage is t3, t4, t5.
    assert_frame_equal(registry.run("transaction_facets", store, q("2024-01-01", "2024-03-31", facet="category")),
                       facets_frame([("compute", 1), ("service", 2), ("storage", 3)]))
    assert_frame_equal(registry.run("transaction_facets", store, q("2024-01-01", "2024-03-31", facet="currency")),
                       facets_frame([("EUR", 2), ("USD", 9)]))
    out = registry.run("transaction_facets", store, q("2024-02-01", "2024-03-31", facet="provider"))
    assert to_csv(out) == "value,transactions\nacme,1\npulse,2\n"
