"""Retention: do people come back, who is slipping away, and when."""

from dataclasses import replace

import streamlit as st

from metrics import registry
from metrics.retention import at_risk_windows
from pulse.query import INTERVALS
from ui import cache, charts, url
from ui import components as ui
from ui import format as fmt
from ui.filters import INTERVAL_LABELS, current_query

MODES = {"first_time": "First activity", "recurring": "Any activity"}
BREAKDOWNS = {"plan": "Plan", "country": "Country", "device_type": "First device", "auth_provider": "Sign-in"}
LIFETIME_LABELS = {"users": "Users gone quiet", "avg_lifetime_days": "Average lifetime",
                   "median_lifetime_days": "Median lifetime"}
DEFAULT_PERIOD = "week"  # day cohorts are a handful of users each: too few to read a rate from
TOP_GROUPS = 7  # and the rest as one group, Other: at most 8 lines besides all users'

mode_option, periods_option = registry.get("retention").option("mode"), registry.get("retention").option("periods")
breakdown_option = registry.get("retention_by").option("dimension")
day_n_columns = tuple(c for c in registry.get("day_n_retention").columns if c.startswith("day_"))

q = current_query()
cutoff = ui.incomplete_from()
st.title("Retention")

# The controls wrap onto a second row on a narrow screen rather than cut their labels.
controls = st.container(horizontal=True, gap="large", vertical_alignment="bottom")
mode = controls.segmented_control(
    "Cohorts by", mode_option.choices, default=url.get("mode", mode_option.default, mode_option.choices, what="cohorts"),
    format_func=MODES.get, key="retention_mode", help="First activity: each user once, in the period they were first "
    "active. Any activity: each user in every period they were active in.") or mode_option.default
interval = controls.segmented_control(
    "Period", list(INTERVALS), default=url.get("period", DEFAULT_PERIOD, INTERVALS, what="period"),
    format_func=INTERVAL_LABELS.get, key="retention_interval") or DEFAULT_PERIOD
periods = controls.slider("Periods to follow", min_value=2, max_value=24, key="retention_periods", width=220,
                          value=ui.url_number("periods", periods_option.default, 2, 24, what="periods to follow"))
cumulative = controls.toggle("Cumulative", key="retention_cumulative",
                             value=url.get("cumulative", "false", ("true", "false")) == "true",
                             help="Count a member as retained if active in that period or any later one.")
url.keep("mode", mode, mode_option.default)
url.keep("period", interval, DEFAULT_PERIOD)
url.keep("periods", periods, periods_option.default)
url.keep("cumulative", cumulative, False)
cohorts = replace(q, interval=interval)
options = {"mode": mode, "cumulative": cumulative, "periods": periods}
st.caption(" ".join(filter(None, [f"{fmt.span(q.start, q.end)}. Do people come back, who is slipping away, and when?",
                                  ui.range_used(cohorts, "Cohorts")])))

with ui.shows_errors():
    unit = fmt.UNITS[interval].capitalize()
    st.subheader("Cohorts")
    matrix = cache.metric("retention", cohorts, **options)
    if not ui.empty(matrix, "cohorts", count="cohort_size"):
        ui.chart(charts.retention_cohorts(matrix, interval, cutoff))
    ui.caption("retention", "By first activity a user's cohort is the period they were first active ever (someone "
                            "already active before the range is in no cohort of it); by any activity, every period they "
                            "were active in. Blank cells lie after the range's end.")

    st.subheader("Retention curve")
    breakdown = st.segmented_control(
        "Split by", breakdown_option.choices, format_func=BREAKDOWNS.get, key="retention_breakdown",
        default=url.get("split", breakdown_option.default, breakdown_option.choices, what="split"),
    ) or breakdown_option.default
    url.keep("split", breakdown, breakdown_option.default)
    curve = cache.metric("retention_curve", cohorts, **options)
    by = cache.metric("retention_by", cohorts, dimension=breakdown, top=TOP_GROUPS, **options)
    if not ui.empty(curve, "cohorts", count="cohort_size"):
        ui.chart(charts.retention_curves(curve, by, interval, BREAKDOWNS[breakdown],
                                         codes="device_type" if breakdown == "device_type" else None))
    ui.caption("retention_curve", "Each point counts every cohort that reaches it, the latest with a period still "
                                  "running.")
    ui.caption("retention_by", f"The {TOP_GROUPS} largest groups, the others together as Other. The first device is "
                               "the one of the user's first session; users without the attribute are grouped as Unknown.")
    with st.expander("The numbers behind the cohorts and curves"):
        later = {"period_offset": f"{unit} later"}
        st.markdown("**Cohorts**")
        ui.table(matrix, "retention", cohorts, percent_columns=("rate",), labels=later,
                 empty={"rate": "an empty cohort"})
        st.markdown("**All users**")
        ui.table(curve, "retention_curve", cohorts, percent_columns=("rate",), labels=later,
                 empty={"rate": "no cohort reaches this far"})
        st.markdown(f"**By {BREAKDOWNS[breakdown].lower()}**")
        ui.table(by, "retention_by", cohorts, percent_columns=("rate",),
                 labels=later | {"value": BREAKDOWNS[breakdown]},
                 codes={"value": "device_type"} if breakdown == "device_type" else None,
                 empty={"rate": "no cohort of the group reaches this far"})

    st.subheader("Day-N retention")
    day_n = cache.metric("day_n_retention", q)
    ui.table(day_n, "day_n_retention", q, percent_columns=day_n_columns, dates={"cohort": "day"},
             labels={"cohort": "First active on"})
    ui.caption("day_n_retention", "Cohorts are single days, whatever the period chosen; "
                                  f"{fmt.EMPTY} is not observable yet.")

    st.subheader("Churn and lifetime")
    churn_col, lifetime_col = ui.side_by_side("stretch", 240)
    with churn_col:
        churn = cache.metric("churn", cohorts)
        ui.chart(charts.time(churn, "period", {"churn_rate": f"Churn rate per {interval}"}, y_title="Churn rate",
                             values="percent", interval=interval, incomplete_from=cutoff))
        ui.caption("churn")
    with lifetime_col:
        life = cache.metric("lifetime", q).row(0, named=True)
        ui.figure_cards(life, LIFETIME_LABELS, days=("avg_lifetime_days", "median_lifetime_days"),
                        help={"users": "No activity in the 30 days before the end date."})
        ui.caption("lifetime")
    with st.expander("Churn per period"):
        ui.table(churn, "churn", cohorts, percent_columns=("churn_rate",))

    st.subheader("Users at risk")
    windows = at_risk_windows(q)
    at_risk = cache.metric("at_risk_users", q)
    if not ui.empty(at_risk, "users at risk"):
        ui.table(at_risk, "at_risk_users", q, money_columns=("mrr",), height=400,
                 labels={"active_days_prev_14": f"Active days {windows['prev_14'][0]} – {windows['prev_14'][1]}",
                         "active_days_last_14": f"Active days {windows['last_14'][0]} – {windows['last_14'][1]}"})
        ui.email_these(at_risk["user_id"].to_list(), key="email-at-risk")
    ui.caption("at_risk_users", f"Active days {windows['prev_14'][0]} – {windows['prev_14'][1]} against "
                                f"{windows['last_14'][0]} – {windows['last_14'][1]}; MRR at the end of {q.end}, "
                                "highest first.")
