"""alerts on literal rows (METRICS.md "Overview": alerts, issue 15): each rule firing and not
firing, the Poisson guard stopping a small-number change, and a top-contributor breakdown
whose shares are worked out by hand.

Every case checks Wednesday 2026-03-18 (D). Its same weekdays before are 03-11, 03-04, 02-25
and 02-18; the 7 days ending D are 03-12 … 03-18, the 7 before 03-05 … 03-11; the 28 days
before D are 02-18 … 03-17; D's week starts Monday 03-16, so the last full week before it is
the week of 03-09 (W), and the 8 weeks before W start 01-12 … 03-02.
"""

from __future__ import annotations

import math
from datetime import date, timedelta

import polars as pl
import pytest
from conftest import q
from polars.testing import assert_frame_equal

from metrics import registry

D = date(2026, 3, 18)
W = date(2026, 3, 9)
USERS = [
    {"user_id": "a", "signup_at": "2026-01-01 09:00", "country": "DE", "plan": "pro"},
    {"user_id": "b", "signup_at": "2026-01-01 09:00", "country": "DE", "plan": "free"},
    {"user_id": "c", "signup_at": "2026-01-01 09:00", "country": "US", "plan": "free"},
]
ALL_OFF = {rule: "off" for rule in ("activity_drop", "revenue_drop", "failed_payment_rate", "churn_spike", "error_spike",
                                    "traffic_surge")}


def alerts(store, **rules: str | float) -> pl.DataFrame:
    """The alerts for D with only the given rules on (threshold or "default")."""
    chosen = ALL_OFF | {rule: value for rule, value in rules.items() if value != "default"}
    pairs = ",".join(f"{rule}={value}" for rule, value in chosen.items())
    return registry.run("alerts", store, q("2026-03-01", "2026-03-18", date=str(D), rules=pairs))


def row(frame: pl.DataFrame, rule: str) -> dict:
    return frame.filter(pl.col("rule") == rule).row(0, named=True)


def event(n: int, user: str, day: date, kind: str = "page_view", device: str = "desktop", hour: int = 10) -> dict:
    return {"event_id": f"e{n}", "user_id": user, "ts": f"{day} {hour:02d}:{n % 60:02d}", "event_type": kind,
            "device_type": device}


def events(specs: list[tuple[str, date, str, str, int]]) -> list[dict]:
    """(user, day, event_type, device, how many) -> that many events, numbered in order."""
    out: list[dict] = []
    for user, day, kind, device, count in specs:
        out += [event(len(out) + i, user, day, kind, device) for i in range(count)]
    return out


def poisson_tail_up(k: int, mean: float) -> float:
    """P(N >= k) for N ~ Poisson(mean), by the textbook sum."""
    return 1 - sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k))


def poisson_tail_down(k: int, mean: float) -> float:
    """P(N <= k)."""
    return sum(math.exp(-mean) * mean**i / math.factorial(i) for i in range(k + 1))


# -- activity_drop ------------------------------------------------------------------------------

SAME_WEEKDAYS = [D - timedelta(days=7 * k) for k in range(1, 5)]
TEN = [f"u{i}" for i in range(10)]


def activity(on_d: int) -> list[dict]:
    """Ten users active on each of the 4 same weekdays before D, `on_d` of them on D."""
    return events([(u, day, "page_view", "desktop", 1) for day in SAME_WEEKDAYS for u in TEN]
                  + [(u, D, "page_view", "desktop", 1) for u in TEN[:on_d]])


def test_activity_drop_fires_when_far_below_the_same_weekday_and_unlikely_by_chance(make_store):
    # baseline 10 a day, value 1: 90 % down (threshold 10 × 0.7 = 7); P(N <= 1 | 10) = 11·e^-10 = 0.000499 < 0.001.
    got = row(alerts(make_store(events=activity(1)), activity_drop=0.3), "activity_drop")
    assert got["fired"] is True
    assert (got["value"], got["baseline"], got["threshold"]) == (1.0, 10.0, 7.0)
    assert got["p_value"] == pytest.approx(11 * math.exp(-10), rel=1e-9)
    assert got["explanation"] == (
        "1 users were active on Wednesday 2026-03-18, 90 % below the 10 of an average Wednesday in the 4 weeks before; "
        "it fires below 7 (30 % down). Fired: the drop is past the threshold (Poisson p = 0.0005, under 0.001).")


def test_the_poisson_guard_keeps_a_small_number_drop_quiet(make_store):
    # value 2 is below 7, but P(N <= 2 | 10) = 61·e^-10 = 0.00277: a day like that happens by chance.
    got = row(alerts(make_store(events=activity(2)), activity_drop=0.3), "activity_drop")
    assert got["fired"] is False
    assert got["p_value"] == pytest.approx(61 * math.exp(-10), rel=1e-9) == pytest.approx(poisson_tail_down(2, 10))
    assert got["explanation"].endswith("Not fired: past the threshold, but a count this far off happens by chance "
                                       "(Poisson p = 0.0028; it must be under 0.001).")


def test_activity_drop_stays_quiet_within_the_threshold(make_store):
    # value 8 against 10: 20 % down, not more than 30 %.
    got = row(alerts(make_store(events=activity(8)), activity_drop=0.3), "activity_drop")
    assert (got["fired"], got["value"], got["threshold"]) == (False, 8.0, 7.0)
    assert got["explanation"].endswith("Not fired: the drop is within the threshold.")


# -- error_spike and traffic_surge ---------------------------------------------------------------

BEFORE = [D - timedelta(days=k) for k in range(1, 29)]  # the 28 days before D


def test_three_errors_against_half_an_error_a_day_do_not_page_anyone(make_store):
    # 14 errors over the 28 days: 0.5 a day; D has 3 (threshold 1.5) but P(N >= 3 | 0.5) = 1 − 1.625·e^-0.5 = 0.0144.
    rows = events([("c", day, "error", "desktop", 1) for day in BEFORE[::2]] + [("c", D, "error", "desktop", 3)])
    got = row(alerts(make_store(users=USERS, events=rows), error_spike=3), "error_spike")
    assert (got["fired"], got["value"], got["baseline"], got["threshold"]) == (False, 3.0, 0.5, 1.5)
    assert got["p_value"] == pytest.approx(1 - 1.625 * math.exp(-0.5), rel=1e-9)
    assert got["top_contributors"] == ""


def test_seventeen_errors_against_three_point_seven_five_do(make_store):
    # 105 errors over the 28 days (3 or 4 a day alternately): 3.75 a day; D has 17 > 11.25, and P(N >= 17 | 3.75) ~ 1e-6.
    rows = events([("c", day, "error", "desktop", 4 if i % 4 else 3) for i, day in enumerate(BEFORE)]
                  + [("c", D, "error", "desktop", 17)])
    assert len(rows) == 105 + 17
    got = row(alerts(make_store(users=USERS, events=rows), error_spike=3), "error_spike")
    assert (got["fired"], got["value"], got["baseline"], got["threshold"]) == (True, 17.0, 3.75, 11.25)
    assert got["p_value"] == pytest.approx(poisson_tail_up(17, 3.75), rel=1e-6)
    assert got["p_value"] < 1e-5


# The segments behind a spike: 28 errors before D, one a day, all from c (US, free, desktop) — a
# mean of 1 a day. On D: a (DE, pro) 6 on mobile, b (DE, free) 4 on mobile, c 2 on desktop: 12.
# The whole change is 12 − 1 = 11. Each value's part is its count on D minus its mean before:
#   country DE 10 − 0 = 10 (10/11 = 90.9 %), US 2 − 1 = 1;  device mobile 10 − 0 = 10 (90.9 %), desktop 1;
#   plan pro 6 − 0 = 6 (6/11 = 54.5 %), free (b 4 + c 2) − 1 = 5 (45.5 %).
# Largest three, ties by dimension: country=DE, device=mobile, plan=pro.
SPIKE = events([("c", day, "error", "desktop", 1) for day in BEFORE]
               + [("a", D, "error", "mobile", 6), ("b", D, "error", "mobile", 4), ("c", D, "error", "desktop", 2)])


def test_the_segments_that_drove_a_spike_with_their_shares(make_store):
    got = row(alerts(make_store(users=USERS, events=SPIKE), error_spike=3), "error_spike")
    assert (got["fired"], got["value"], got["baseline"], got["threshold"]) == (True, 12.0, 1.0, 3.0)
    assert got["top_contributors"] == "country=DE 91 %; device=mobile 91 %; plan=pro 55 %"


def test_a_filter_narrows_the_rule_and_its_segments(make_store):
    # Only free users: before D c's 28 errors (1 a day); on D b 4 + c 2 = 6 > 3. The change 6 − 1 = 5:
    # DE (b) 4 − 0 = 4 (80 %), mobile 4 (80 %), US (c) 2 − 1 = 1 (20 %), desktop 1, free 5 (100 %).
    store = make_store(users=USERS, events=SPIKE)
    out = registry.run("alerts", store, q("2026-03-01", "2026-03-18", date=str(D), plan="free",
                                          rules=",".join(f"{r}={v}" for r, v in (ALL_OFF | {"error_spike": 3}).items())))
    got = row(out, "error_spike")
    assert (got["fired"], got["value"], got["baseline"]) == (True, 6.0, 1.0)
    assert got["top_contributors"] == "plan=free 100 %; country=DE 80 %; device=mobile 80 %"


def test_traffic_surge_counts_every_event(make_store):
    # 2 page views a day before D (mean 2, threshold 6); D: 7 page views + 2 errors = 9 > 6, P(N >= 9 | 2) = 0.00024.
    rows = events([("c", day, "page_view", "desktop", 2) for day in BEFORE]
                  + [("c", D, "page_view", "desktop", 7), ("c", D, "error", "desktop", 2)])
    out = alerts(make_store(users=USERS, events=rows), traffic_surge=3, error_spike=3)
    surge, errors = row(out, "traffic_surge"), row(out, "error_spike")
    assert (surge["fired"], surge["value"], surge["baseline"], surge["threshold"]) == (True, 9.0, 2.0, 6.0)
    assert surge["p_value"] == pytest.approx(poisson_tail_up(9, 2), rel=1e-6)
    assert surge["top_contributors"] == "country=US 100 %; device=desktop 100 %; plan=free 100 %"
    # No error in the 28 days before: judged against one in 28 days; P(N >= 2 | 1/28) = 0.00061 < 0.001.
    assert (errors["fired"], errors["value"], errors["baseline"], errors["threshold"]) == (True, 2.0, 0.0, 0.0)
    assert errors["p_value"] == pytest.approx(poisson_tail_up(2, 1 / 28), rel=1e-6)


def test_a_quiet_day_fires_nothing(make_store):
    rows = events([("c", day, "page_view", "desktop", 2) for day in [*BEFORE, D]])
    out = alerts(make_store(users=USERS, events=rows), traffic_surge=3, error_spike=3)
    assert row(out, "traffic_surge")["fired"] is False
    errors = row(out, "error_spike")
    assert (errors["fired"], errors["value"], errors["baseline"], errors["threshold"]) == (False, 0.0, 0.0, 0.0)
    assert errors["p_value"] == 1.0  # P(N >= 0) is certain


# -- revenue_drop and failed_payment_rate ---------------------------------------------------------

def payment(n: int, user: str, day: date, amount: str, kind: str = "purchase", status: str = "succeeded") -> dict:
    return {"transaction_id": f"t{n}", "user_id": user, "ts": f"{day} 12:00", "kind": kind, "status": status,
            "amount": amount, "currency": "USD"}


def test_revenue_drop_fires_on_a_week_far_below_the_one_before(make_store):
    # The 7 days before: a 120 + b 80 = 200. The 7 days to D: a 40 + b 80, a refund of 20 to b = 100.
    # 50 % down, threshold 200 × 0.7 = 140. The drop of 100: a 80 (80 %), b 20 (20 %); DE 100 %;
    # pro (a) 80 %; devices: neither used one, so "(none)" 100 %.
    txns = [payment(1, "a", D - timedelta(days=8), "120.00"), payment(2, "b", D - timedelta(days=10), "80.00"),
            payment(3, "a", D - timedelta(days=2), "40.00"), payment(4, "b", D, "80.00"),
            payment(5, "b", D, "20.00", kind="refund")]
    got = row(alerts(make_store(users=USERS, transactions=txns), revenue_drop=0.3), "revenue_drop")
    assert (got["fired"], got["value"], got["baseline"], got["threshold"]) == (True, 100.0, 200.0, 140.0)
    assert got["top_contributors"] == "country=DE 100 %; device=(none) 100 %; plan=pro 80 %"
    assert got["explanation"] == (
        "Net revenue of the 7 days to 2026-03-18 was USD 100.00, 50 % below the USD 200.00 of the 7 days before; "
        "it fires below USD 140.00 (30 % down). Fired: the drop is past the threshold.")


def test_revenue_drop_needs_the_earlier_week_to_reach_the_minimum(make_store):
    # 90 the week before, nothing since: a 100 % drop, but 90 is under the minimum of 100.
    store = make_store(users=USERS, transactions=[payment(1, "a", D - timedelta(days=9), "90.00")])
    got = row(alerts(store, revenue_drop=0.3), "revenue_drop")
    assert (got["fired"], got["value"], got["baseline"]) == (False, 0.0, 90.0)
    assert got["explanation"].endswith("Not checked: the earlier week's USD 90.00 is under the USD 100.00 the rule needs.")


def test_revenue_drop_stays_quiet_on_a_small_dip(make_store):
    txns = [payment(1, "a", D - timedelta(days=9), "200.00"), payment(2, "a", D, "160.00")]  # 20 % down
    got = row(alerts(make_store(users=USERS, transactions=txns), revenue_drop=0.3), "revenue_drop")
    assert (got["fired"], got["value"], got["threshold"]) == (False, 160.0, 140.0)


def failed_week(failed: int, orders: int) -> list[dict]:
    rows = [payment(i, "a", D - timedelta(days=i % 7), "10.00") for i in range(orders)]
    rows += [payment(100 + i, "b", D - timedelta(days=i % 7), "10.00", status="failed") for i in range(failed)]
    rows += [payment(200, "c", D - timedelta(days=9), "10.00", status="failed"),  # the week before: 1 of 4
             *[payment(201 + i, "c", D - timedelta(days=9), "10.00") for i in range(3)]]
    return rows


def test_failed_payment_rate_fires_above_the_threshold(make_store):
    # 2 failed (b) of 2 + 8 = 20 % > 10 %. Failures beyond the threshold: 2 − 0.1 × 10 = 1; b: 2 − 0.1 × 2 = 1.8
    # (180 %), a: 0 − 0.8 = −0.8. DE (a and b) 1 (100 %), pro (a) −0.8, free (b) 1.8: free 180 %, b's (none) device.
    got = row(alerts(make_store(users=USERS, transactions=failed_week(2, 8)), failed_payment_rate=0.1),
              "failed_payment_rate")
    assert (got["fired"], got["value"], got["baseline"], got["threshold"]) == (True, 0.2, 0.25, 0.1)
    assert got["top_contributors"] == "plan=free 180 %; country=DE 100 %; device=(none) 100 %"
    assert got["explanation"] == ("2 of 10 payments failed in the 7 days to 2026-03-18 (20.0 %), against 25.0 % the 7 days "
                                  "before; it fires above 10.0 %. Fired: the rate is past the threshold.")


def test_failed_payment_rate_at_the_threshold_does_not_fire(make_store):
    got = row(alerts(make_store(users=USERS, transactions=failed_week(1, 9)), failed_payment_rate=0.1),
              "failed_payment_rate")
    assert (got["fired"], got["value"]) == (False, 0.1)


# -- churn_spike -------------------------------------------------------------------------------

CORE = [f"k{i}" for i in range(10)]
WEEKS = [W - timedelta(days=7 * k) for k in range(9, -1, -1)]  # 01-05 … W, ten Mondays


def churn_rows(leaving: int) -> list[dict]:
    """Ten core users active every Monday from 01-05 to W−7, and on W all but `leaving` of them;
    plus one passer-by a week, active that week only. Every week before W loses its passer-by:
    1 of 11 (9.09 %). W loses the passer-by of the week before and the `leaving` core users."""
    specs = [(f"x{week}", week, "page_view", "desktop", 1) for week in WEEKS]
    specs += [(u, week, "page_view", "desktop", 1) for week in WEEKS[:-1] for u in CORE]
    specs += [(u, W, "page_view", "mobile", 1) for u in CORE[leaving:]]
    return events(specs)


def test_churn_spike_fires_on_a_week_far_above_the_eight_before(make_store):
    # W: (1 + 4) / 11 = 45.45 % against 1/11 = 9.09 %; threshold 1.5 × 9.09 % = 13.6 %.
    got = row(alerts(make_store(events=churn_rows(4)), churn_spike=1.5), "churn_spike")
    assert got["fired"] is True
    assert got["value"] == pytest.approx(5 / 11)
    assert got["baseline"] == pytest.approx(1 / 11)
    assert got["threshold"] == pytest.approx(1.5 / 11)
    # The churned users beyond the baseline rate: 5 − 11/11 = 4, every one of them on desktop with no country
    # or plan: (none) 100 % in each dimension.
    assert got["top_contributors"] == "country=(none) 100 %; device=desktop 100 %; plan=(none) 100 %"
    assert got["explanation"].startswith("Churn in the week of 2026-03-09 was 45.5 %, against 9.1 % on average over "
                                         "the 8 weeks before; it fires above 13.6 % (1.5 times the average).")


def test_churn_spike_stays_quiet_on_a_usual_week(make_store):
    got = row(alerts(make_store(events=churn_rows(0)), churn_spike=1.5), "churn_spike")
    assert got["fired"] is False
    assert got["value"] == pytest.approx(1 / 11)


# -- the whole frame --------------------------------------------------------------------------

def test_every_rule_one_row_by_rule_with_the_rules_turned_off_empty(make_store):
    store = make_store(users=USERS, events=SPIKE)
    out = alerts(store, error_spike=3)
    expected = pl.DataFrame({
        "rule": ["activity_drop", "churn_spike", "error_spike", "failed_payment_rate", "revenue_drop", "traffic_surge"],
        "fired": [False, False, True, False, False, False],
        "value": [None, None, 12.0, None, None, None],
        "baseline": [None, None, 1.0, None, None, None],
        "threshold": [None, None, 3.0, None, None, None],
        "p_value": [None, None, poisson_tail_up(12, 1), None, None, None],
        "explanation": ["Turned off in the alert_rules setting."] * 2 + [
            "12 error events on 2026-03-18, against a daily average of 1 over the 28 days before; it fires above 3 "
            f"(3 times the average). Fired: the count is past the threshold (Poisson p = {poisson_tail_up(12, 1):.2g}, "
            "under 0.001)."] + ["Turned off in the alert_rules setting."] * 3,
        "top_contributors": ["", "", "country=DE 91 %; device=mobile 91 %; plan=pro 55 %", "", "", ""],
    })
    assert_frame_equal(out, expected, rel_tol=1e-6)


def test_the_default_rules_come_from_the_settings(make_store):
    store = make_store(users=USERS, events=SPIKE)
    store.alert_rules = (("activity_drop", None), ("revenue_drop", None), ("failed_payment_rate", None),
                         ("churn_spike", None), ("error_spike", 20.0), ("traffic_surge", None))
    out = registry.run("alerts", store, q("2026-03-01", "2026-03-18", date=str(D)))
    assert row(out, "error_spike")["threshold"] == 20.0  # 20 × 1 a day: 12 does not fire
    assert not out["fired"].any()


def test_the_default_day_is_the_last_complete_one(make_store):
    # The store's data ends on D (its load ran later): D is the last complete day.
    store = make_store(users=USERS, events=SPIKE)
    out = registry.run("alerts", store, q("2026-03-01", "2026-03-18", rules="error_spike=3"))
    assert row(out, "error_spike")["explanation"].startswith("12 error events on 2026-03-18")
