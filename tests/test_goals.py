"""Goals: kept in the admin database (SQLite and PostgreSQL) with an audit trail, and their
progress on a small literal store whose numbers are worked out by hand.

The business, January to early July 2024 (UTC); the data's last complete day is 2024-07-03:
  net revenue per month  Jan 100, Feb 200 (a 250 purchase, 50 of it refunded), Mar 300,
                         Apr 400, May 500, Jun 600, and 70 so far in July — all u2's (US),
                         except July's, which is u1's (DE)
  MRR at month ends      u1 10 from Jan 10; u2 20 from Mar 5; u3 30 from May 20 to Jun 10:
                         Jan 10, Feb 10, Mar 30, Apr 30, May 60, Jun 30, Jul 30
  paying customers       Jan 1, Feb 1, Mar 2, Apr 2, May 2 + 1 = 3, Jun 2, Jul 2
  active users           u1 on the 1st of every month and on Jul 3; u2 on the 2nd of Mar - Jun:
                         Jan 1, Feb 1, Mar 2, Apr 2, May 2, Jun 2, Jul 1 so far
  new users per week     u1-u3 signed up in January; u4 on Tue 2024-07-02 (the week of Jul 1)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import pytest
from conftest import d, open_page, q, shown

from admin.db import AdminDB
from admin.goals import GoalError, Goals
from metrics.goals import AHEAD, BEHIND, MEASURES, MISSED, ON_TRACK, REACHED, Projection, progress, project, series

USERS = [{"user_id": "u1", "signup_at": "2024-01-01 08:00", "country": "DE"},
         {"user_id": "u2", "signup_at": "2024-01-02 08:00", "country": "US"},
         {"user_id": "u3", "signup_at": "2024-01-03 08:00", "country": "US"},
         {"user_id": "u4", "signup_at": "2024-07-02 08:00", "country": "US"}]
EVENTS = ([{"event_id": f"a{m}", "user_id": "u1", "ts": f"2024-{m:02d}-01 10:00", "event_type": "page_view"}
           for m in range(1, 8)]
          + [{"event_id": f"b{m}", "user_id": "u2", "ts": f"2024-{m:02d}-02 10:00", "event_type": "page_view"}
             for m in range(3, 7)]
          + [{"event_id": "last", "user_id": "u1", "ts": "2024-07-03 10:00", "event_type": "login"}])


def purchase(tid: str, user: str, ts: str, amount: str, kind: str = "purchase", of: str | None = None) -> dict:
    return {"transaction_id": tid, "user_id": user, "ts": ts, "kind": kind, "amount": amount, "refund_of": of}


TRANSACTIONS = [purchase("t1", "u2", "2024-01-15 10:00", "100"),
                purchase("t2", "u2", "2024-02-10 10:00", "250"),
                purchase("t2r", "u2", "2024-02-20 10:00", "50", kind="refund", of="t2"),
                purchase("t3", "u2", "2024-03-15 10:00", "300"),
                purchase("t4", "u2", "2024-04-15 10:00", "400"),
                purchase("t5", "u2", "2024-05-15 10:00", "500"),
                purchase("t6", "u2", "2024-06-15 10:00", "600"),
                purchase("t7", "u1", "2024-07-02 10:00", "70")]
SUBSCRIPTIONS = [
    {"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "10", "started_at": "2024-01-10 00:00"},
    {"subscription_id": "s2", "user_id": "u2", "plan": "pro", "mrr": "20", "started_at": "2024-03-05 00:00"},
    {"subscription_id": "s3", "user_id": "u3", "plan": "pro", "mrr": "30", "started_at": "2024-05-20 00:00",
     "ended_at": "2024-06-10 00:00"},
]
UNTIL = d("2024-07-03")
Q = q("2024-06-01", "2024-06-30")  # the filter bar's range: goals do not use it
MONTHS = [d(f"2024-{m:02d}-01") for m in range(1, 7)]


@dataclass
class Target:
    measure: str
    target: float
    due: date


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    from conftest import build_store

    return build_store(tmp_path_factory.mktemp("goals") / "pulse.duckdb", users=USERS, events=EVENTS,
                       transactions=TRANSACTIONS, subscriptions=SUBSCRIPTIONS)


# -- the series --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("measure", "values", "current"), [
    ("net_revenue", [100, 200, 300, 400, 500, 600], 70),
    ("mrr", [10, 10, 30, 30, 60, 30], 30),
    ("paying_customers", [1, 1, 2, 2, 3, 2], 2),
    ("active_users", [1, 1, 2, 2, 2, 2], 1),
])
def test_a_monthly_series_is_the_last_six_complete_months_and_this_one_so_far(store, measure, values, current):
    s = series(store, Q, measure, UNTIL)
    assert (s.periods, s.values, s.current_period, s.current, s.current_complete) == (
        MONTHS, [float(v) for v in values], d("2024-07-01"), float(current), False)


def test_new_users_are_counted_by_week(store):
    # Wednesday 2024-07-03 is in the week of Monday Jul 1; the six weeks before it are complete.
    s = series(store, Q, "new_users", UNTIL)
    assert s.periods == [d("2024-05-20"), d("2024-05-27"), d("2024-06-03"), d("2024-06-10"), d("2024-06-17"),
                         d("2024-06-24")]
    assert (s.values, s.current_period, s.current) == ([0.0] * 6, d("2024-07-01"), 1.0)


def test_a_day_that_ends_its_period_makes_it_the_current_and_complete_one(store):
    s = series(store, Q, "net_revenue", d("2024-06-30"))
    assert (s.periods, s.current_period, s.current, s.current_complete) == (MONTHS, d("2024-06-01"), 600.0, True)


def test_goals_ignore_the_filters_but_keep_the_data_scope(store):
    assert series(store, q("2024-06-01", "2024-06-30", country="DE"), "net_revenue", UNTIL).values[-1] == 600.0
    scoped = series(store, Q.scoped(countries=("DE",)), "net_revenue", UNTIL)
    assert (scoped.values, scoped.current) == ([0.0] * 6, 70.0)


def test_periods_before_the_first_day_of_activity_are_left_out(make_store):
    later = make_store(users=USERS, events=[e for e in EVENTS if e["ts"] >= "2024-01-15"], transactions=TRANSACTIONS)
    s = series(later, Q, "net_revenue", UNTIL)
    assert (s.periods, s.values) == (MONTHS[1:], [200.0, 300.0, 400.0, 500.0, 600.0])


# -- progress ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "expected"), [(900, ON_TRACK), (950, BEHIND), (850, AHEAD)])
def test_net_revenue_on_a_straight_line(store, target, expected):
    # 100, 200, ..., 600 at indices 0..5 is the line 100 + 100 i; September is 3 months after June,
    # index 8: 100 + 800 = 900, with no spread around an exact line.
    p = progress(store, Q, Target("net_revenue", target, d("2024-09-15")), UNTIL)
    assert (p.due_period, p.steps, p.projection, p.status) == (d("2024-09-01"), 3, Projection(900.0, 900.0, 900.0),
                                                               expected)
    assert (p.current, p.share) == (70.0, 70 / target)
    assert p.method == ("Least-squares line over the last 6 complete months, projected to September 2024, "
                        "with an 80 % prediction interval.")


def test_the_line_fits_the_months_there_are(make_store):
    # Activity from Jan 15: January is left out, 200..600 at indices 0..4 is 200 + 100 i,
    # and September is index 4 + 3 = 7: 900.
    later = make_store(users=USERS, events=[e for e in EVENTS if e["ts"] >= "2024-01-15"], transactions=TRANSACTIONS)
    p = progress(later, Q, Target("net_revenue", 900, d("2024-09-30")), UNTIL)
    assert (p.projection, p.status) == (Projection(900.0, 900.0, 900.0), ON_TRACK)
    assert p.method.startswith("Least-squares line over the last 5 complete months")


def test_paying_customers_with_an_interval(store):
    # y = 1, 1, 2, 2, 3, 2 at x = 0..5: x̄ = 2.5, ȳ = 11/6, Sxx = 17.5,
    # Sxy = -2.5 - 1.5 - 1 + 1 + 4.5 + 5 = 5.5, slope = 5.5 / 17.5 = 11/35.
    # August is 2 months after June: x0 = 7, point = 11/6 + 11/35 · 4.5 = 3.2476.
    # Residuals -0.0476, -0.3619, 0.3238, 0.0095, 0.6952, -0.6190: SSE = 1.1048, s = sqrt(SSE / 4) = 0.5255;
    # t(0.9, 4) = 1.5332; sqrt(1 + 1/6 + 4.5² / 17.5) = 1.5244; half width = 1.5332 · 0.5255 · 1.5244 = 1.2283.
    p = progress(store, Q, Target("paying_customers", 3, d("2024-08-20")), UNTIL)
    assert p.steps == 2
    assert (p.projection.point, p.projection.low, p.projection.high) == (
        pytest.approx(3.2476, abs=1e-4), pytest.approx(3.2476 - 1.2283, abs=1e-4), pytest.approx(3.2476 + 1.2283, abs=1e-4))
    assert p.status == ON_TRACK  # 2.02 <= 3 <= 3.25
    assert progress(store, Q, Target("paying_customers", 2, d("2024-08-20")), UNTIL).status == AHEAD  # 2.02 > 2
    assert progress(store, Q, Target("paying_customers", 4, d("2024-08-20")), UNTIL).status == BEHIND


def test_a_goal_due_this_month_is_projected_one_month_on(store):
    p = progress(store, Q, Target("mrr", 50, d("2024-07-31")), UNTIL)
    assert (p.due_period, p.steps) == (d("2024-07-01"), 1)
    assert p.projection == project([10, 10, 30, 30, 60, 30], 1)


def test_a_goal_whose_period_is_over_was_reached_or_missed(store):
    reached = progress(store, Q, Target("net_revenue", 600, d("2024-06-15")), UNTIL)
    assert (reached.status, reached.current, reached.projection) == (REACHED, 600.0, None)
    assert reached.method == "June 2024 is over: the goal was reached."
    assert progress(store, Q, Target("net_revenue", 600.01, d("2024-06-15")), UNTIL).status == MISSED


def test_too_little_history_is_said_not_projected(make_store):
    # Activity from May 10: May began before it and is left out; only June is complete.
    recent = make_store(users=USERS, events=[e for e in EVENTS if e["ts"] >= "2024-05-10"], transactions=TRANSACTIONS)
    p = progress(recent, Q, Target("net_revenue", 900, d("2024-09-30")), UNTIL)
    assert (p.projection, p.status) == (None, "")
    assert p.method == "Too little history to project: 1 complete month of data, and the line needs at least 3."


def test_the_chart_rows(store):
    p = progress(store, Q, Target("net_revenue", 900, d("2024-09-15")), UNTIL)
    frame = p.chart_frame()
    assert frame.filter(part="actual")["value"].to_list() == [100.0, 200.0, 300.0, 400.0, 500.0, 600.0]
    assert frame.filter(part="so far").select("period", "value").rows() == [(d("2024-07-01"), 70.0)]
    assert frame.filter(part="projected").select("period", "value", "low", "high").rows() == [
        (d(f"2024-{m:02d}-01"), v, v, v) for m, v in ((6, 600.0), (7, 700.0), (8, 800.0), (9, 900.0))]


# -- kept in the admin database ----------------------------------------------------------------------


@pytest.fixture
def db(admin_db):
    return admin_db

TODAY = d("2026-11-21")


def test_goals_are_kept_changed_and_deleted_with_an_audit_trail(db):
    goals = Goals(db, MEASURES)
    first = goals.add("mrr", 50000, d("2027-03-31"), "  Series A  ", by="ana@example.com", address="10.0.0.1", today=TODAY)
    second = goals.add("new_users", 120, d("2026-12-31"), "", by="ben@example.com", today=TODAY)
    assert [(g.id, g.measure, g.target, g.due, g.note, g.owner) for g in goals.all()] == [
        (second, "new_users", 120.0, d("2026-12-31"), "", "ben@example.com"),  # soonest due first
        (first, "mrr", 50000.0, d("2027-03-31"), "Series A", "ana@example.com"),
    ]
    goals.update(first, by="ben@example.com", target=60000.5, note="Series B", today=TODAY)
    assert (goals.get(first).target, goals.get(first).due, goals.get(first).note) == (60000.5, d("2027-03-31"), "Series B")
    goals.delete(second, by="ana@example.com")
    assert [g.id for g in goals.all()] == [first]
    log = db.audit_log()
    assert log.select("actor", "action", "detail", "address").rows() == [
        ("ana@example.com", "goal.delete", f"{second} new_users at least 120 by 2026-12-31", ""),
        ("ben@example.com", "goal.update", f"{first} mrr at least 60000.5 by 2027-03-31", ""),
        ("ben@example.com", "goal.add", f"{second} new_users at least 120 by 2026-12-31", ""),
        ("ana@example.com", "goal.add", f"{first} mrr at least 50000 by 2027-03-31", "10.0.0.1"),
    ]


@pytest.mark.parametrize(("measure", "target", "due", "sentence"), [
    ("arr", 10, "2027-01-01", "Unknown measure 'arr'; choose one of: mrr, paying_customers, active_users, net_revenue, "
                              "new_users."),
    ("mrr", 0, "2027-01-01", "The target must be a number above 0."),
    ("mrr", -5, "2027-01-01", "The target must be a number above 0."),
    ("mrr", float("nan"), "2027-01-01", "The target must be a number above 0."),
    ("mrr", None, "2027-01-01", "The target must be a number above 0."),
    ("mrr", 10, "2026-11-21", "The due date must be after today (2026-11-21)."),
    ("mrr", 10, "2025-01-01", "The due date must be after today (2026-11-21)."),
])
def test_a_goal_the_user_got_wrong_is_one_sentence(db, measure, target, due, sentence):
    goals = Goals(db, MEASURES)
    with pytest.raises(GoalError) as caught:
        goals.add(measure, target, d(due), "", by="ana@example.com", today=TODAY)
    assert str(caught.value) == sentence
    assert goals.all() == [] and db.audit_log().is_empty()


def test_changing_a_goal_that_is_not_there(db):
    goals = Goals(db, MEASURES)
    with pytest.raises(GoalError, match="^There is no goal 7.$"):
        goals.update(7, by="ana@example.com", target=5)
    with pytest.raises(GoalError, match="^There is no goal 7.$"):
        goals.delete(7, by="ana@example.com")
    goal = goals.add("mrr", 10, d("2027-01-01"), "", by="ana@example.com", today=TODAY)
    with pytest.raises(GoalError, match="^The due date must be after today"):
        goals.update(goal, by="ana@example.com", due=d("2026-01-01"), today=TODAY)


# -- on the Overview ---------------------------------------------------------------------------------


def test_the_overview_shows_each_goal(tmp_path, monkeypatch):
    from conftest import build_store

    path = tmp_path / "pulse.duckdb"
    build_store(path, users=USERS, events=EVENTS, transactions=TRANSACTIONS, subscriptions=SUBSCRIPTIONS)
    db = AdminDB(f"sqlite:///{tmp_path / 'admin.db'}")  # the app's (conftest points PULSE_ADMIN_DB here)
    goals = Goals(db, MEASURES)
    goals.add("net_revenue", 900, d("2024-09-15"), "Summer *push*", by="ana@example.com", today=d("2024-01-01"))
    goals.add("paying_customers", 4, d("2024-08-20"), "", by="ana@example.com", today=d("2024-01-01"))
    db.engine.dispose()

    at = open_page(path, monkeypatch, "overview", range="custom", start="2024-06-01", end="2024-06-30")
    assert not at.exception, at.exception
    assert "Goals" in [h.value for h in at.subheader]
    texts = [shown(m.value) for m in at.markdown]
    assert "Paying customers" in "".join(texts) and "$70.00 → $900.00 by 2024-09-15" in texts
    assert "2 → 4 by 2024-08-20" in texts
    captions = [shown(c.value) for c in at.caption]
    assert "Projected for Sep 2024: $900.00 (80 % interval $900.00 to $900.00)." in captions
    assert "Summer *push*" in captions  # the note as written, not as markdown
    assert ("Least-squares line over the last 6 complete months, projected to September 2024, "
            "with an 80 % prediction interval.") in captions
    assert len(at.get("vega_lite_chart")) == 3 + 2

    # Set a third goal through the form; the page reruns and shows it.
    form = [s for s in at.selectbox if s.label == "Number"][0]
    form.set_value("mrr")
    [n for n in at.number_input if n.label == "Target: at least"][0].set_value(100.0)
    [b for b in at.button if b.label == "Set the goal"][0].click()
    at.run()
    assert not at.exception, at.exception
    assert "Set a goal for MRR." in [shown(s.value) for s in at.success]
    assert "$30.00 → $100.00 by " in "".join(shown(m.value) for m in at.markdown)


# -- the command line --------------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path):
    from conftest import build_store

    build_store(tmp_path / "pulse.duckdb", users=USERS, events=EVENTS, transactions=TRANSACTIONS,
                subscriptions=SUBSCRIPTIONS)
    return {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml"),
            "PULSE_ADMIN_DB": f"sqlite:///{tmp_path / 'admin.db'}", "USER": "ana@example.com"}


def pulse(env, *args):
    from click.testing import CliRunner

    from cli.main import main

    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False, prog_name="pulse")


def test_goals_from_the_command_line(cli_env, tmp_path):
    added = pulse(cli_env, "goal", "add", "net_revenue", "900", "--due", "2099-09-15", "--note", "Summer push")
    assert (added.exit_code, added.stdout, added.stderr) == (0, "Set goal 1: net_revenue at least 900 by 2099-09-15.\n", "")
    listed = pulse(cli_env, "goal", "list")
    assert listed.exit_code == 0, listed.stderr
    # The data ends on 2024-07-03; the line 100 + 100 i reaches September 2099 far above 900.
    assert "Net revenue per month" in listed.stdout and "900.00" in listed.stdout and "ahead" in listed.stdout
    assert "Summer push" in listed.stdout and "ana@example.com" in listed.stdout
    assert "Data to 2024-07-03." in listed.stdout
    deleted = pulse(cli_env, "goal", "delete", "1", "--by", "ben@example.com")
    assert (deleted.exit_code, deleted.stdout) == (0, "Deleted goal 1.\n")
    assert pulse(cli_env, "goal", "list").stdout == "No goals yet: `pulse goal add MEASURE TARGET --due YYYY-MM-DD`.\n"
    log = AdminDB(cli_env["PULSE_ADMIN_DB"]).audit_log()
    assert log.select("actor", "action", "address").rows() == [("ben@example.com", "goal.delete", "command line"),
                                                               ("ana@example.com", "goal.add", "command line")]


@pytest.mark.parametrize(("args", "message"), [
    (("add", "arr", "10", "--due", "2099-01-01"),
     "pulse: Unknown measure 'arr'; choose one of: mrr, paying_customers, active_users, net_revenue, new_users.\n"),
    (("add", "mrr", "0", "--due", "2099-01-01"), "pulse: The target must be a number above 0.\n"),
    (("add", "mrr", "10", "--due", "2000-01-01"), "pulse: The due date must be after today ("),
    (("add", "mrr", "10", "--due", "soon"), "pulse: The date --due 'soon' is not a date; use YYYY-MM-DD, e.g. 2024-03-01.\n"),
    (("add", "mrr", "lots", "--due", "2099-01-01"), "pulse: Invalid value for 'TARGET': 'lots' is not a valid float."),
    (("delete", "7"), "pulse: There is no goal 7.\n"),
])
def test_a_wrong_goal_on_the_command_line_is_one_line_and_exit_2(cli_env, args, message):
    result = pulse(cli_env, "goal", *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
