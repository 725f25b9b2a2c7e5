"""Subscriptions: MRR and its movements, rates, plan mix, status, trial conversion, plan transitions.

One business over January - June 2024 (all times UTC; a month ends at the next month's
first midnight):
  a  pro 29 from Jan 10, upgraded mid-February to enterprise 99, downgraded mid-April to pro 29
  b  an annual plan of 1200 a year (MRR 1200 / 12 = 100) from Jan 20, cancelled Mar 5,
     reactivated on pro 29 months later, Jun 10
  c  a trial from Jan 5 that converts to pro 29 on Jan 19 (14 days), cancelled Feb 20
  d  a trial from Feb 1 (ends Feb 15) that pays only on Mar 20 (48 days: outside 30 days)
  e  free plan from Jan 1
  f  a trial from Jun 25, still running
"""

from __future__ import annotations

from decimal import Decimal

import polars as pl
import pytest
from conftest import build_store, d, q
from polars.testing import assert_frame_equal

from metrics import registry
from pulse.export import to_csv

MONEY = pl.Decimal(18, 2)


def period(subscription: str, user: str, plan: str, mrr: str, start: str, end: str | None = None,
           reason: str | None = None) -> dict:
    """One subscription period row."""
    return {"subscription_id": subscription, "user_id": user, "plan": plan, "mrr": mrr, "started_at": start,
            "ended_at": end, "cancel_reason": reason}

USERS = [{"user_id": u, "signup_at": "2024-01-01 00:00", "country": "DE" if u == "a" else "US"} for u in "abcdef"]
SUBSCRIPTIONS = [
    period("sa", "a", "pro", "29", "2024-01-10 12:00", "2024-02-15 12:00"),
    period("sa", "a", "enterprise", "99", "2024-02-15 12:00", "2024-04-12 12:00"),
    period("sa", "a", "pro", "29", "2024-04-12 12:00"),
    period("sb", "b", "business", "100", "2024-01-20 09:00", "2024-03-05 09:00", reason="too expensive"),
    period("sb2", "b", "pro", "29", "2024-06-10 09:00"),
    period("sc", "c", "trial", "0", "2024-01-05 08:00", "2024-01-19 08:00"),
    period("sc", "c", "pro", "29", "2024-01-19 08:00", "2024-02-20 08:00"),
    period("sd", "d", "trial", "0", "2024-02-01 00:00", "2024-02-15 00:00"),
    period("sd2", "d", "pro", "29", "2024-03-20 10:00"),
    period("se", "e", "free", "0", "2024-01-01 00:00"),
    period("sf", "f", "trial", "0", "2024-06-25 00:00"),
]
HALF_YEAR = ("2024-01-01", "2024-06-30")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """One store for the module: the tests only read it."""
    return build_store(tmp_path_factory.mktemp("subscriptions") / "pulse.duckdb", users=USERS, subscriptions=SUBSCRIPTIONS)


MRR_COLUMNS = {"month": pl.Date, "mrr": MONEY, "arr": MONEY, "customers": pl.Int64, "arpu": MONEY, "new_mrr": MONEY,
               "reactivation_mrr": MONEY, "expansion_mrr": MONEY, "contraction_mrr": MONEY, "churned_mrr": MONEY,
               "net_new_mrr": MONEY}


def mrr_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [(d(r[0]), *(None if v is None else Decimal(v) if isinstance(v, str) else v for v in r[1:])) for r in rows],
        schema=MRR_COLUMNS, orient="row",
    )


def assert_bridge_holds(out: pl.DataFrame, mrr_before: Decimal) -> None:
    """mrr(M-1) + new + reactivation + expansion - contraction - churned = mrr(M), every month."""
    previous = mrr_before
    for row in out.iter_rows(named=True):
        moved = (row["new_mrr"] + row["reactivation_mrr"] + row["expansion_mrr"]
                 - row["contraction_mrr"] - row["churned_mrr"])
        assert previous + moved == row["mrr"], row["month"]
        assert row["net_new_mrr"] == moved, row["month"]
        previous = row["mrr"]


def test_mrr_and_its_movements(store):
    out = registry.run("mrr", store, q(*HALF_YEAR, "month"))
    assert_frame_equal(out, mrr_frame([
        # a 29 + b 100 + c 29, all new; e is free and f not yet here: not customers. arpu 158 / 3
        ("2024-01-01", "158", "1896", 3, "52.67", "158", "0", "0", "0", "0", "158"),
        # a upgraded 29 -> 99 (expansion 70); c cancelled (churned 29); d is on a trial (0)
        ("2024-02-01", "199", "2388", 2, "99.50", "0", "0", "70", "0", "29", "41"),
        # b cancelled (churned 100); d pays for the first time (new 29)
        ("2024-03-01", "128", "1536", 2, "64.00", "29", "0", "0", "0", "100", "-71"),
        # a downgraded 99 -> 29 (contraction 70)
        ("2024-04-01", "58", "696", 2, "29.00", "0", "0", "0", "70", "0", "-70"),
        ("2024-05-01", "58", "696", 2, "29.00", "0", "0", "0", "0", "0", "0"),
        # b is back after three months without MRR: reactivation, not new
        ("2024-06-01", "87", "1044", 3, "29.00", "0", "29", "0", "0", "0", "29"),
    ]))
    assert_bridge_holds(out, Decimal("0"))


def test_mrr_range_widens_to_whole_months_and_starts_from_the_month_before(store):
    # Mid-March to mid-April by day is still March and April, and March's movements are
    # measured from February's end.
    out = registry.run("mrr", store, q("2024-03-15", "2024-04-15"))
    assert_frame_equal(out, mrr_frame([
        ("2024-03-01", "128", "1536", 2, "64.00", "29", "0", "0", "0", "100", "-71"),
        ("2024-04-01", "58", "696", 2, "29.00", "0", "0", "0", "70", "0", "-70"),
    ]))
    assert_bridge_holds(out, Decimal("199"))


def test_mrr_with_a_country_filter(store):
    out = registry.run("mrr", store, q(*HALF_YEAR, "month", country="DE"))
    assert_frame_equal(out, mrr_frame([
        ("2024-01-01", "29", "348", 1, "29.00", "29", "0", "0", "0", "0", "29"),
        ("2024-02-01", "99", "1188", 1, "99.00", "0", "0", "70", "0", "0", "70"),
        ("2024-03-01", "99", "1188", 1, "99.00", "0", "0", "0", "0", "0", "0"),
        ("2024-04-01", "29", "348", 1, "29.00", "0", "0", "0", "70", "0", "-70"),
        ("2024-05-01", "29", "348", 1, "29.00", "0", "0", "0", "0", "0", "0"),
        ("2024-06-01", "29", "348", 1, "29.00", "0", "0", "0", "0", "0", "0"),
    ]))
    assert_bridge_holds(out, Decimal("0"))


def test_months_with_no_mrr_at_all(make_store):
    store = make_store(subscriptions=[
        period("sx", "x", "pro", "50", "2024-01-05 00:00", "2024-02-10 00:00"),
        period("sx", "x", "pro", "50", "2024-05-03 00:00"),
    ])
    out = registry.run("mrr", store, q("2023-12-01", "2024-05-31", "month"))
    assert_frame_equal(out, mrr_frame([
        ("2023-12-01", "0", "0", 0, None, "0", "0", "0", "0", "0", "0"),
        ("2024-01-01", "50", "600", 1, "50.00", "50", "0", "0", "0", "0", "50"),
        ("2024-02-01", "0", "0", 0, None, "0", "0", "0", "0", "50", "-50"),
        ("2024-03-01", "0", "0", 0, None, "0", "0", "0", "0", "0", "0"),
        ("2024-04-01", "0", "0", 0, None, "0", "0", "0", "0", "0", "0"),
        ("2024-05-01", "50", "600", 1, "50.00", "0", "50", "0", "0", "0", "50"),
    ]))
    assert_bridge_holds(out, Decimal("0"))
    rates = registry.run("mrr_rates", store, q("2024-01-01", "2024-05-31", "month"))
    assert_frame_equal(rates, rates_frame([
        ("2024-01-01", None, None, None, None, None, None),
        # the only customer left: churn 1 / 1, all MRR lost; no ARPU this month, so no LTV
        ("2024-02-01", 1.0, 1.0, 1.0, 0.0, 0.0, None),
        # nothing at the previous month's end: every rate is empty
        ("2024-03-01", None, None, None, None, None, None),
        ("2024-04-01", None, None, None, None, None, None),
        ("2024-05-01", None, None, None, None, None, None),
    ]))


def test_month_ends_follow_the_reporting_timezone(make_store):
    # January ends at 2024-02-01 05:00 UTC in New York.
    store = make_store(timezone="America/New_York", subscriptions=[
        # Ends at 03:00 UTC = Jan 31, 22:00 local: gone before January ends.
        period("s1", "u1", "pro", "10", "2024-01-05 00:00", "2024-02-01 03:00"),
        # Starts at 04:00 UTC = Jan 31, 23:00 local: counts at January's end.
        period("s2", "u2", "pro", "20", "2024-02-01 04:00"),
    ])
    out = registry.run("mrr", store, q("2024-01-01", "2024-01-31", "month"))
    assert_frame_equal(out, mrr_frame([("2024-01-01", "20", "240", 1, "20.00", "20", "0", "0", "0", "0", "20")]))


def test_mrr_is_summed_exactly_and_rounded_once_and_the_bridge_holds_to_the_cent(make_store):
    # 1000 a year is 83.3333 a month. January: 2 x 83.3333 = 166.6666 -> 166.67 (the Overview's
    # figure too); ARR 12 x 166.6666 = 1999.9992 -> 2000.00; ARPU 83.3333 -> 83.33.
    # February: u2 has gone; MRR 83.3333 -> 83.33. The movements are steps between rounded
    # running totals: churned = round(166.6666) - round(83.3333) = 166.67 - 83.33 = 83.34,
    # a cent from its exact 83.3333, so that 166.67 - 83.34 = 83.33 to the cent.
    store = make_store(subscriptions=[
        period("s1", "u1", "annual", "83.3333", "2024-01-05 00:00"),
        period("s2", "u2", "annual", "83.3333", "2024-01-06 00:00", "2024-02-06 00:00"),
    ])
    out = registry.run("mrr", store, q("2024-01-01", "2024-02-29", "month"))
    assert_frame_equal(out, mrr_frame([
        ("2024-01-01", "166.67", "2000.00", 2, "83.33", "166.67", "0", "0", "0", "0", "166.67"),
        ("2024-02-01", "83.33", "1000.00", 1, "83.33", "0", "0", "0", "0", "83.34", "-83.34"),
    ]))
    assert_bridge_holds(out, Decimal("0"))
    overview = registry.run("kpis", store, q("2024-01-01", "2024-01-31"))
    assert overview.filter(pl.col("kpi") == "mrr")["value"].item() == Decimal("166.67")


def rates_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        [(d(r[0]), *r[1:6], None if r[6] is None else Decimal(r[6])) for r in rows],
        schema={"month": pl.Date, "customer_churn_rate": pl.Float64, "gross_mrr_churn": pl.Float64,
                "net_mrr_churn": pl.Float64, "nrr": pl.Float64, "grr": pl.Float64, "ltv": MONEY},
        orient="row",
    )


def test_mrr_rates(store):
    out = registry.run("mrr_rates", store, q(*HALF_YEAR, "month"))
    assert_frame_equal(out, rates_frame([
        # no MRR at the end of December: nothing to compare with
        ("2024-01-01", None, None, None, None, None, None),
        # 1 of 3 customers churned; gross (29 + 0) / 158; net (29 - 70) / 158;
        # nrr (158 + 70 - 29) / 158; grr (158 - 29) / 158; ltv 99.50 / (1/3)
        ("2024-02-01", 1 / 3, 29 / 158, -41 / 158, 199 / 158, 129 / 158, "298.50"),
        # b churned: 1 of 2; 100 of 199 lost; ltv 64 / 0.5
        ("2024-03-01", 0.5, 100 / 199, 100 / 199, 99 / 199, 99 / 199, "128.00"),
        # a contracted 70 of 128; nobody churned, so no LTV
        ("2024-04-01", 0.0, 70 / 128, 70 / 128, 58 / 128, 58 / 128, None),
        ("2024-05-01", 0.0, 0.0, 0.0, 1.0, 1.0, None),
        # a reactivation is not retention: nrr and grr stay 1
        ("2024-06-01", 0.0, 0.0, 0.0, 1.0, 1.0, None),
    ]))


def test_mrr_and_rates_export_as_exact_csv(store):
    assert to_csv(registry.run("mrr", store, q("2024-02-01", "2024-03-31", "month"))) == (
        "month,mrr,arr,customers,arpu,new_mrr,reactivation_mrr,expansion_mrr,contraction_mrr,churned_mrr,net_new_mrr\n"
        "2024-02-01,199.00,2388.00,2,99.50,0.00,0.00,70.00,0.00,29.00,41.00\n"
        "2024-03-01,128.00,1536.00,2,64.00,29.00,0.00,0.00,0.00,100.00,-71.00\n"
    )
    assert to_csv(registry.run("mrr_rates", store, q("2024-01-01", "2024-02-29", "month"))) == (
        "month,customer_churn_rate,gross_mrr_churn,net_mrr_churn,nrr,grr,ltv\n"
        "2024-01-01,,,,,,\n"
        "2024-02-01,0.333333,0.183544,-0.259494,1.259494,0.816456,298.50\n"
    )


def test_plan_mix(store):
    out = registry.run("plan_mix", store, q(*HALF_YEAR, "month"))
    rows = [
        ("2024-01-01", "business", 1, "100"), ("2024-01-01", "enterprise", 0, "0"), ("2024-01-01", "pro", 2, "58"),
        ("2024-02-01", "business", 1, "100"), ("2024-02-01", "enterprise", 1, "99"), ("2024-02-01", "pro", 0, "0"),
        ("2024-03-01", "business", 0, "0"), ("2024-03-01", "enterprise", 1, "99"), ("2024-03-01", "pro", 1, "29"),
        ("2024-04-01", "business", 0, "0"), ("2024-04-01", "enterprise", 0, "0"), ("2024-04-01", "pro", 2, "58"),
        ("2024-05-01", "business", 0, "0"), ("2024-05-01", "enterprise", 0, "0"), ("2024-05-01", "pro", 2, "58"),
        ("2024-06-01", "business", 0, "0"), ("2024-06-01", "enterprise", 0, "0"), ("2024-06-01", "pro", 3, "87"),
    ]
    expected = pl.DataFrame([(d(m), p, c, Decimal(v)) for m, p, c, v in rows],
                            schema={"month": pl.Date, "plan": pl.String, "customers": pl.Int64, "mrr": MONEY}, orient="row")
    assert_frame_equal(out, expected)


def status_frame(counts: tuple[int, int, int, int]) -> pl.DataFrame:
    return pl.DataFrame({"status": ["trial", "active", "cancelled", "free"], "subscriptions": list(counts)},
                        schema={"status": pl.String, "subscriptions": pl.Int64})


def test_subscription_status_at_the_end(store):
    out = registry.run("subscription_status", store, q(*HALF_YEAR))
    # trial: sf; active: sa, sb2, sd2; cancelled: sb, sc, sd (a trial that ended); free: se
    assert_frame_equal(out, status_frame((1, 3, 3, 1)))


def test_subscription_status_early_on(store):
    out = registry.run("subscription_status", store, q("2024-01-01", "2024-01-10"))
    # sc is on its trial, sa started that day, se is free; sb and the rest start later
    assert_frame_equal(out, status_frame((1, 1, 0, 1)))
    assert to_csv(out) == "status,subscriptions\ntrial,1\nactive,1\ncancelled,0\nfree,1\n"


def trials_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame([(d(r[0]), *r[1:]) for r in rows],
                        schema={"cohort": pl.Date, "trials": pl.Int64, "converted": pl.Int64,
                                "conversion_rate": pl.Float64, "median_days_to_convert": pl.Float64}, orient="row")


def test_trial_conversion_within_30_days(store):
    out = registry.run("trial_conversion", store, q(*HALF_YEAR, "month"))
    assert_frame_equal(out, trials_frame([
        ("2024-01-01", 1, 1, 1.0, 14.0),      # c paid 14 days after its trial began
        ("2024-02-01", 1, 0, 0.0, None),      # d paid after 48 days: too late
        ("2024-03-01", 0, 0, None, None),
        ("2024-04-01", 0, 0, None, None),
        ("2024-05-01", 0, 0, None, None),
        ("2024-06-01", 1, 0, 0.0, None),      # f has not paid (yet)
    ]))


def test_trial_conversion_with_a_longer_window_exports_as_exact_csv(store):
    out = registry.run("trial_conversion", store, q("2024-01-01", "2024-02-29", "month", within_days="60"))
    assert to_csv(out) == (
        "cohort,trials,converted,conversion_rate,median_days_to_convert\n"
        "2024-01-01,1,1,1.0,14.0\n"
        "2024-02-01,1,1,1.0,48.0\n"
    )


def test_trial_conversion_counts_day_30_and_not_day_31(make_store):
    store = make_store(subscriptions=[
        period("t1", "u1", "trial", "0", "2024-03-01 23:00", "2024-03-10 00:00"),
        period("p1", "u1", "pro", "29", "2024-03-31 00:30"),
        period("t2", "u2", "trial", "0", "2024-03-02 08:00", "2024-03-10 00:00"),
        period("p2", "u2", "pro", "29", "2024-04-02 08:00"),
        # A paid period that began before the trial does not convert it.
        period("t3", "u3", "trial", "0", "2024-03-05 00:00"),
        period("p3", "u3", "pro", "29", "2024-03-01 00:00", "2024-03-05 00:00"),
    ])
    out = registry.run("trial_conversion", store, q("2024-03-01", "2024-03-31", "month"))
    # Days are counted between local dates: Mar 1 -> Mar 31 is 30 (in); Mar 2 -> Apr 2 is 31 (out).
    assert_frame_equal(out, trials_frame([("2024-03-01", 3, 1, 1 / 3, 30.0)]))


def transitions_frame(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"from_plan": pl.String, "to_plan": pl.String, "customers": pl.Int64}, orient="row")


def test_plan_transitions(store):
    out = registry.run("plan_transitions", store, q(*HALF_YEAR))
    assert_frame_equal(out, transitions_frame([
        ("business", "pro", 1),     # b, across subscriptions and a gap of three months
        ("enterprise", "pro", 1),   # a's downgrade
        ("pro", "enterprise", 1),   # a's upgrade
        ("trial", "pro", 2),        # c and d
    ]))


def test_plan_transitions_count_where_the_new_period_starts(store):
    out = registry.run("plan_transitions", store, q("2024-03-01", "2024-04-30"))
    assert_frame_equal(out, transitions_frame([("enterprise", "pro", 1), ("trial", "pro", 1)]))
    assert to_csv(out) == "from_plan,to_plan,customers\nenterprise,pro,1\ntrial,pro,1\n"


def test_mrr_bridge(store):
    out = registry.run("mrr_bridge", store, q(*HALF_YEAR, "month"))
    rows = [
        ("2024-01-01", "0", "158", "0", "0", "0", "0", "158"),
        ("2024-02-01", "158", "0", "0", "70", "0", "29", "199"),
        ("2024-03-01", "199", "29", "0", "0", "0", "100", "128"),
        ("2024-04-01", "128", "0", "0", "0", "70", "0", "58"),
        ("2024-05-01", "58", "0", "0", "0", "0", "0", "58"),
        ("2024-06-01", "58", "0", "29", "0", "0", "0", "87"),
    ]
    columns = ["start_mrr", "new_mrr", "reactivation_mrr", "expansion_mrr", "contraction_mrr", "churned_mrr", "end_mrr"]
    expected = pl.DataFrame([(d(r[0]), *(Decimal(v) for v in r[1:])) for r in rows],
                            schema={"month": pl.Date, **{c: MONEY for c in columns}}, orient="row")
    assert_frame_equal(out, expected)
    for row in out.iter_rows(named=True):
        assert (row["start_mrr"] + row["new_mrr"] + row["reactivation_mrr"] + row["expansion_mrr"]
                - row["contraction_mrr"] - row["churned_mrr"]) == row["end_mrr"], row["month"]
    assert to_csv(out.head(2)) == (
        "month,start_mrr,new_mrr,reactivation_mrr,expansion_mrr,contraction_mrr,churned_mrr,end_mrr\n"
        "2024-01-01,0.00,158.00,0.00,0.00,0.00,0.00,158.00\n"
        "2024-02-01,158.00,0.00,0.00,70.00,0.00,29.00,199.00\n"
    )
