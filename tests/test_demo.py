"""The demo generator: deterministic, exactly typed, internally consistent, and shaped like
a real product (the shares below are the generator's parameters, with room for noise)."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from pathlib import Path
from zoneinfo import ZoneInfo

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from loaders import demo
from loaders.demo import params, simulation
from pulse.schema import DEVICE_TYPES, EVENT_TYPES, SCHEMAS, TRANSACTION_KINDS, TRANSACTION_STATUSES

ROOT = Path(__file__).resolve().parent.parent
END = dt.date(2025, 6, 30)


def tables(users: int, days: int, seed: int = 1, batch_users: int = 5000) -> dict[str, pl.DataFrame]:
    batches: dict[str, list[pl.DataFrame]] = {name: [] for name in SCHEMAS}
    for name, frame in demo.generate(users, days, seed=seed, end=END, batch_users=batch_users):
        batches[name].append(frame)
    return {name: pl.concat(frames) for name, frames in batches.items()}


@pytest.fixture(scope="module")
def small() -> dict[str, pl.DataFrame]:
    """300 users over 60 days, in three chunks."""
    return tables(300, 60, batch_users=100)


@pytest.fixture(scope="module")
def medium() -> dict[str, pl.DataFrame]:
    """Enough users for shares to settle."""
    return tables(3000, 120)


def test_same_arguments_give_identical_tables(small):
    again = tables(300, 60, batch_users=100)
    for name in SCHEMAS:
        assert_frame_equal(again[name], small[name])


def test_another_seed_gives_other_data(small):
    other = tables(300, 60, seed=2, batch_users=100)
    for name in SCHEMAS:
        assert not other[name].equals(small[name]), name
    assert other["users"]["user_id"].to_list() == small["users"]["user_id"].to_list()


def test_every_batch_has_the_exact_schema():
    seen = set()
    for name, frame in demo.generate(250, 30, end=END, batch_users=100):
        assert frame.schema == pl.Schema(SCHEMAS[name]), name
        seen.add(name)
    assert seen == set(SCHEMAS)


def test_users_are_generated_chunk_by_chunk():
    names = [name for name, _ in demo.generate(250, 30, end=END, batch_users=100)]
    users_frames = [frame.height for name, frame in demo.generate(250, 30, end=END, batch_users=100)
                    if name == "users"]
    assert users_frames == [100, 100, 50]
    # Each chunk yields its users, subscriptions and transactions before its events.
    assert names[:3] == ["users", "subscriptions", "transactions"]
    assert names.count("users") == 3 and names[-1] == "events"


def test_ids_are_unique_and_well_formed(small):
    users, events, transactions = small["users"], small["events"], small["transactions"]
    assert users["user_id"].is_unique().all()
    assert users["user_id"].to_list()[:3] == ["u000001", "u000002", "u000003"]
    assert events["event_id"].is_unique().all()
    assert events["event_id"].str.starts_with("e").all()
    assert transactions["transaction_id"].is_unique().all()
    assert set(events["user_id"]) <= set(users["user_id"])
    assert set(transactions["user_id"]) <= set(users["user_id"])


def test_everything_lies_in_the_window(small):
    start = dt.datetime.combine(END - dt.timedelta(days=59), dt.time())
    stop = dt.datetime.combine(END + dt.timedelta(days=1), dt.time())
    for table, column in (("users", "signup_at"), ("events", "ts"), ("transactions", "ts"),
                          ("subscriptions", "started_at")):
        values = small[table][column]
        assert values.min() >= start and values.max() < stop, (table, column)


def test_a_demo_generated_today_ends_now(small):
    """Generated at noon of its last day, the demo is the whole demo up to noon: nothing later,
    and subscriptions that end in the afternoon are still running."""
    now = dt.datetime.combine(END, dt.time(12))
    cut: dict[str, list[pl.DataFrame]] = {name: [] for name in SCHEMAS}
    for name, frame in demo.generate(300, 60, end=END, batch_users=100, now=now):
        cut[name].append(frame)
    cut_tables = {name: pl.concat(frames) for name, frames in cut.items()}
    for table, column in (("users", "signup_at"), ("events", "ts"), ("transactions", "ts"),
                          ("subscriptions", "started_at")):
        before_noon = small[table].filter(pl.col(column) <= now)
        if table == "subscriptions":
            running = pl.col("ended_at") > now
            before_noon = before_noon.with_columns(pl.when(running).then(None).otherwise(pl.col(c)).alias(c)
                                                   for c in ("ended_at", "cancel_reason"))
        assert_frame_equal(cut_tables[table], before_noon)
    assert cut_tables["events"].height < small["events"].height
    assert cut_tables["events"].filter(pl.col("ts") >= dt.datetime.combine(END, dt.time())).height > 0
    assert cut_tables["subscriptions"]["ended_at"].max() <= now


def test_a_users_first_event_is_their_signup(small):
    first = small["events"].group_by("user_id").agg(pl.col("ts").min())
    joined = small["users"].join(first, on="user_id", how="left")
    assert (joined["ts"] == joined["signup_at"]).all()


def test_sessions_match_the_thirty_minute_rule(small):
    events = small["events"].sort("user_id", "ts").with_columns(
        gap=pl.col("ts").diff().over("user_id"),
        new_session=pl.col("session_id") != pl.col("session_id").shift().over("user_id"))
    following = events.filter(pl.col("gap").is_not_null())
    thirty = dt.timedelta(minutes=30)
    assert (following.filter(pl.col("new_session"))["gap"] > thirty).all()
    assert (following.filter(~pl.col("new_session"))["gap"] < thirty).all()


def test_enumerations_stay_within_data_md(small):
    users, events, transactions = small["users"], small["events"], small["transactions"]
    assert set(events["event_type"]) == set(EVENT_TYPES)
    assert set(events["device_type"]) == set(DEVICE_TYPES)
    assert set(transactions["kind"]) <= set(TRANSACTION_KINDS)
    assert set(transactions["status"]) <= set(TRANSACTION_STATUSES)
    assert set(users["auth_provider"]) <= {"email", "google", "github", "gitlab", "bitbucket"}
    assert set(users["plan"]) <= {"free", "trial", "pro", "enterprise"}
    assert set(small["subscriptions"]["plan"]) <= {"free", "trial", "pro", "enterprise"}
    assert set(transactions["payment_method"]) <= {"card", "paystack", "wallet", "manual"}
    assert set(transactions["currency"]) <= {"USD", "EUR", "GBP"}
    assert users["country"].str.contains(r"^[A-Z]{2}$").all()
    places = set(users.select("country", "timezone").iter_rows())
    assert places <= {(country, zone) for country, zone, _ in params.PLACES}
    located = events.join(users, on="user_id")
    assert (located["country_code"] == located["country"]).all()
    assert users["email"].str.contains(r"^[a-z._]+[0-9]+@[a-z.]+\.(com|org|net|example)$").all()
    for zone in users["timezone"].unique():
        ZoneInfo(zone)


def test_event_details_fit_their_type(small):
    events = small["events"]
    views = events.filter(pl.col("event_type") == "page_view")
    assert views["page_path"].str.starts_with("/").all()
    assert events.filter(pl.col("event_type") != "page_view")["page_path"].is_null().all()
    features = events.filter(pl.col("event_type") == "feature_use")
    properties = features["properties"].str.json_decode(
        pl.Struct({"category": pl.String, "duration": pl.Int64}))
    assert set(properties.struct.field("category")) <= set(params.CATEGORIES)
    assert properties.struct.field("duration").is_between(1, params.GAP_MAX_S).all()
    assert events.filter(pl.col("event_type") != "feature_use")["properties"].is_null().all()
    calls = events.filter(pl.col("event_type") == "api_call")["event_name"]
    assert calls.str.contains(r"^(GET|POST|PATCH|DELETE) /v1/").all()


def test_devices_browsers_and_systems_agree(small):
    combos = set(small["events"].select("device_type", "os", "browser").unique().iter_rows())
    assert combos <= {(device, os, browser) for device, os, browser, _ in params.DEVICES}
    assert ("desktop", "iOS", "Safari") not in combos


def test_subscription_periods_are_consistent(small):
    subscriptions = small["subscriptions"]
    ended = subscriptions.filter(pl.col("ended_at").is_not_null())
    assert (ended["ended_at"] > ended["started_at"]).all()
    assert not subscriptions.select("subscription_id", "started_at").is_duplicated().any()
    assert subscriptions["user_id"].n_unique() == small["users"].height
    # Periods of one subscription follow each other without overlapping.
    ordered = subscriptions.sort("subscription_id", "started_at").with_columns(
        previous_end=pl.col("ended_at").shift().over("subscription_id"))
    follows = ordered.filter(pl.col("previous_end").is_not_null())
    assert (follows["started_at"] >= follows["previous_end"]).all()
    # At most one running period, and it is the user's current plan.
    running = subscriptions.filter(pl.col("ended_at").is_null())
    assert running["subscription_id"].is_unique().all()
    current = running.join(small["users"], on="user_id")
    assert (current["plan"] == current["plan_right"]).all()
    mrr = dict(subscriptions.group_by("plan").agg(pl.col("mrr").unique().sort()).iter_rows())
    assert [str(m) for m in mrr["free"]] == ["0.0000"]
    assert [str(m) for m in mrr["trial"]] == ["0.0000"]


def test_cancellations_have_a_reason_and_only_they(medium):
    subscriptions = medium["subscriptions"]
    reasons = subscriptions.filter(pl.col("cancel_reason").is_not_null())
    assert set(reasons["cancel_reason"]) == {"too_expensive", "missing_feature",
                                            "switched_competitor", "no_longer_needed"}
    assert set(reasons["plan"]) <= {"pro", "enterprise"}
    assert reasons["ended_at"].is_not_null().all()


def test_paid_periods_are_charged_at_their_start(medium):
    window_end = dt.datetime.combine(END, dt.time())
    paid = medium["subscriptions"].filter(pl.col("mrr") > 0,
                                          pl.col("started_at") < window_end)
    charges = medium["transactions"].filter(pl.col("kind") == "subscription")
    matched = paid.join(charges, left_on=["user_id", "started_at"], right_on=["user_id", "ts"],
                        how="left")
    assert matched["transaction_id"].is_not_null().all()
    assert (matched["plan"] == matched["plan_right"]).all()
    prices = {("pro", "29.0000"), ("pro", "290.0000"), ("enterprise", "199.0000"),
              ("enterprise", "499.0000")}
    assert {(plan, str(amount)) for plan, amount in charges.select("plan", "amount").iter_rows()} <= prices


def test_refunds_point_at_earlier_succeeded_purchases(medium):
    transactions = medium["transactions"]
    refunds = transactions.filter(pl.col("kind") == "refund")
    assert refunds.height > 0
    assert refunds["refund_of"].is_not_null().all()
    assert transactions.filter(pl.col("kind") != "refund")["refund_of"].is_null().all()
    originals = refunds.join(transactions, left_on="refund_of", right_on="transaction_id",
                             how="left", suffix="_original")
    assert (originals["kind_original"] == "purchase").all()
    assert (originals["status_original"] == "succeeded").all()
    assert (originals["user_id"] == originals["user_id_original"]).all()
    assert (originals["ts"] > originals["ts_original"]).all()
    assert (originals["amount"] <= originals["amount_original"]).all()


def test_amounts_are_positive_with_two_decimals(medium):
    amounts = medium["transactions"]["amount"]
    assert (amounts > 0).all()
    assert ((amounts * 100).cast(pl.Int64) == amounts * 100).all()


def test_failed_charges_are_retried(medium):
    transactions = medium["transactions"]
    failed = transactions.filter(pl.col("status") == "failed")
    retries = failed.join(transactions.filter(pl.col("status") != "failed"),
                          on=["user_id", "product_id", "amount"], suffix="_retry").filter(
        (pl.col("ts_retry") - pl.col("ts")).is_between(dt.timedelta(days=1),
                                                      dt.timedelta(days=4)))
    assert 0.01 < failed.height / transactions.height < 0.06
    assert retries["transaction_id"].n_unique() > 0.6 * failed.height


def test_signups_grow(medium):
    per_month = medium["users"].group_by(pl.col("signup_at").dt.month()).len().sort("signup_at")
    first, last = per_month["len"][0], per_month["len"][-1]
    assert last > 1.2 * first


def test_shares_look_like_a_real_product(medium):
    users, events = medium["users"], medium["events"]
    assert 0.30 < (users["country"] == "US").mean() < 0.40
    assert 0.30 < users["marketing_opt_in"].mean() < 0.50
    device = events.group_by("user_id").agg(pl.col("device_type").mode().first())["device_type"]
    assert 0.50 < (device == "desktop").mean() < 0.70
    assert 0.20 < (device == "mobile").mean() < 0.40
    types = events["event_type"].value_counts(normalize=True)
    share = dict(zip(types["event_type"], types["proportion"], strict=True))
    assert share["page_view"] > share["feature_use"] > share["custom"] > share["error"]
    assert share["error"] < 0.03
    api_users = events.filter(pl.col("event_type") == "api_call")["user_id"].n_unique()
    assert api_users < 0.2 * users.height  # a minority makes the API traffic


def test_activity_follows_the_working_week_in_local_time(medium):
    local = medium["events"].join(medium["users"], on="user_id").filter(
        pl.col("timezone") == "America/New_York").with_columns(
        local=pl.col("ts").dt.replace_time_zone("UTC").dt.convert_time_zone("America/New_York"))
    working_hours = local["local"].dt.hour().is_between(9, 17).mean()
    weekend = (local["local"].dt.weekday() >= 6).mean()
    assert working_hours > 0.5
    assert weekend < 0.15  # two days of seven would be 0.29


def test_retention_drops_then_flattens(medium):
    active = medium["events"].select("user_id", day=pl.col("ts").dt.date()).unique()
    signup = medium["users"].select("user_id", first=pl.col("signup_at").dt.date())
    cohort = signup.filter(pl.col("first") <= END - dt.timedelta(days=60))
    days_after = active.join(cohort, on="user_id").select(
        "user_id", after=(pl.col("day") - pl.col("first")).dt.total_days())

    def retained(n: int) -> float:
        return days_after.filter(pl.col("after") == n)["user_id"].n_unique() / cohort.height

    day1, day7, day30, day60 = retained(1), retained(7), retained(30), retained(60)
    assert day1 > day7 > day30 > 0
    assert day1 - day7 > day30 - day60  # steep at first, then a plateau


def test_stickiness_is_plausible(medium):
    daily = medium["events"].select("user_id", day=pl.col("ts").dt.date()).unique()
    last_day = END
    mau = daily.filter(pl.col("day") > last_day - dt.timedelta(days=30))["user_id"].n_unique()
    dau = daily.filter(pl.col("day") > last_day - dt.timedelta(days=30)).height / 30
    assert 0.12 < dau / mau < 0.40


def test_a_feature_retires_partway(medium):
    features = medium["events"].filter(pl.col("event_type") == "feature_use")
    last_used = dict(features.group_by("event_name").agg(pl.col("ts").max()).iter_rows())
    first_used = dict(features.group_by("event_name").agg(pl.col("ts").min()).iter_rows())
    (fraction,) = [renamed[1] for name, *_, renamed in params.FEATURES if name == "legacy_charts"]
    switch = dt.datetime.combine(END - dt.timedelta(days=119 - int(fraction * 120)), dt.time())
    assert last_used["legacy_charts"] < switch <= first_used["chart_builder"]
    users = features.group_by("event_name").agg(pl.col("user_id").n_unique())
    adoption = dict(users.iter_rows())
    assert adoption["create_report"] > 10 * adoption["sso_setup"]


@pytest.mark.parametrize(("users", "days"), [(2000, 60), (800, 240)])
def test_estimate_events_is_within_fifteen_percent(users, days):
    actual = sum(frame.height for name, frame in demo.generate(users, days, end=END)
                 if name == "events")
    assert abs(demo.estimate_events(users, days) - actual) < 0.15 * actual


def test_events_come_in_bounded_slices_numbered_on(monkeypatch):
    monkeypatch.setattr(simulation, "EVENT_SLICE", 1000)
    heights = [frame.height for name, frame in demo.generate(100, 30, end=END) if name == "events"]
    assert len(heights) > 3 and max(heights) <= 1000
    ids = pl.concat(frame for name, frame in demo.generate(100, 30, end=END)
                    if name == "events")["event_id"]
    assert ids.to_list() == [f"e{n}" for n in range(ids.len())]


def test_the_generator_is_lazy():
    started = time.perf_counter()
    name, frame = next(demo.generate(10_000_000, 365, end=END))
    assert (name, frame.height) == ("users", 5000)
    assert time.perf_counter() - started < 10


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="days >= 1"):
        next(demo.generate(10, 0, end=END))


def test_loads_and_commands_start_without_the_generator():
    """Only load_demo imports the demo package, so `pulse load` and the other commands do
    not pay for it."""
    code = "import sys, loaders.load, cli.main; print('loaders.demo' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert result.stdout == "False\n"
