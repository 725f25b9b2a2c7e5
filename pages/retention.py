"""Retention: do people come back, who is slipping away, and when."""

from dataclasses import replace

import streamlit as st

from metrics import registry
from metrics.retention import at_risk_windows
from pulse.query import INTERVALS
from ui import cache, charts
from ui import components as ui
from ui import format as fmt
from ui.filters import INTERVAL_LABELS, current_query

MODES = {"first_time": "First activity", "recurring": "Any activity"}
BREAKDOWNS = {"plan": "Plan", "country": "Country", "device_type": "First device", "auth_provider": "Sign-in"}

mode_option, periods_option = registry.get("retention").option("mode"), registry.get("retention").option("periods")
breakdown_option = registry.get("retention_by").option("dimension")
day_n_columns = tuple(c for c in registry.get("day_n_retention").columns if c.startswith("day_"))

q = current_query()
st.title("Retention")
st.caption(f"{q.start} – {q.end}. Do people come back, who is slipping away, and when?")

mode_col, interval_col, periods_col, cumulative_col = st.columns([3, 3, 3, 2])
mode = mode_col.segmented_control("Cohorts by", mode_option.choices, default=mode_option.default, format_func=MODES.get,
                                  key="retention_mode", help="First activity: each user once, in the period they were first "
                                  "active. Any activity: each user in every period they were active in.") or mode_option.default
interval = interval_col.segmented_control("Period", list(INTERVALS), default=q.interval, format_func=INTERVAL_LABELS.get,
                                          key="retention_interval") or q.interval
periods = periods_col.slider("Periods to follow", min_value=2, max_value=24, value=periods_option.default,
                             key="retention_periods")
cumulative = cumulative_col.toggle("Cumulative", key="retention_cumulative",
                                   help="Count a member as retained if active in that period or any later one.")
cohorts = replace(q, interval=interval)
options = {"mode": mode, "cumulative": cumulative, "periods": periods}

with ui.shows_errors():
    st.subheader("Cohorts")
    matrix = cache.metric("retention", cohorts, **options)
    ui.chart(charts.retention_cohorts(matrix, interval))
    ui.caption("retention", "By first activity a user's cohort is the period they were first active ever (someone "
                            "already active before the range is in no cohort of it); by any activity, every period they "
                            "were active in. Blank cells lie after the range's end.")

    st.subheader("Retention curve")
    breakdown = st.segmented_control("Split by", breakdown_option.choices, default=breakdown_option.default,
                                     format_func=BREAKDOWNS.get, key="retention_breakdown") or breakdown_option.default
    curve = cache.metric("retention_curve", cohorts, **options)
    by = cache.metric("retention_by", cohorts, dimension=breakdown, **options)
    ui.chart(charts.retention_curves(curve, by, interval, BREAKDOWNS[breakdown]))
    ui.caption("retention_curve")
    ui.caption("retention_by", "The first device is the one of the user's first session; users without the attribute are "
                               "grouped as Unknown.")
    with st.expander("The numbers behind the cohorts and curves"):
        ui.table(matrix, "retention", cohorts, percent_columns=("rate",))
        ui.table(curve, "retention_curve", cohorts, percent_columns=("rate",))
        ui.table(by, "retention_by", cohorts, percent_columns=("rate",))

    st.subheader("Day-N retention")
    day_n = cache.metric("day_n_retention", q)
    ui.table(day_n, "day_n_retention", q, percent_columns=day_n_columns)
    ui.caption("day_n_retention", "Cohorts are single days, whatever the period chosen; an empty cell is not observable yet.")

    st.subheader("Churn and lifetime")
    churn_col, lifetime_col = st.columns([3, 1])
    with churn_col:
        churn = cache.metric("churn", cohorts)
        ui.chart(charts.time(churn, "period", {"churn_rate": "Churn rate"}, y_title="Churn rate", values="percent"))
        ui.caption("churn")
    with lifetime_col:
        life = cache.metric("lifetime", q).row(0, named=True)
        ui.cards([
            ui.Card("Users gone quiet", fmt.number(life["users"]), help="No activity in the 30 days before the end date."),
            ui.Card("Average lifetime", fmt.decimal(life["avg_lifetime_days"], " days")),
            ui.Card("Median lifetime", fmt.decimal(life["median_lifetime_days"], " days")),
        ], per_row=1)
        ui.caption("lifetime")
    with st.expander("Churn per period"):
        ui.table(churn, "churn", cohorts, percent_columns=("churn_rate",))

    st.subheader("Users at risk")
    windows = at_risk_windows(q)
    at_risk = cache.metric("at_risk_users", q)
    if not ui.empty(at_risk, "users at risk"):
        ui.table(at_risk, "at_risk_users", q, money_columns=("mrr",), height=400)
    ui.caption("at_risk_users", f"Active days {windows['prev_14'][0]} – {windows['prev_14'][1]} against "
                                f"{windows['last_14'][0]} – {windows['last_14'][1]}; MRR at the end of {q.end}, "
                                "highest first.")
