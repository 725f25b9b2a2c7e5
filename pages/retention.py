"""Retention: do people come back, who is slipping away, and when."""

from dataclasses import replace

import altair as alt
import streamlit as st

from metrics.retention import DAY_N, at_risk_windows
from pulse.query import INTERVALS
from ui import cache
from ui import components as ui
from ui.filters import INTERVAL_LABELS, current_query

MODES = {"first_time": "First activity", "recurring": "Any activity"}
BREAKDOWNS = {"plan": "Plan", "country": "Country", "device_type": "First device", "auth_provider": "Sign-in"}
ALL_USERS = "All users"
UNITS = {"day": "days", "week": "weeks", "month": "months"}


def cohort_heatmap(matrix, interval: str) -> alt.LayerChart:
    """One row per cohort (labelled with its size), one column per offset, cells coloured by
    the rate and labelled with it as a percentage."""
    later = f"{UNITS[interval].capitalize()} later"
    base = alt.Chart(matrix).transform_calculate(
        # Dates reach the browser as UTC midnights: format them in UTC, whatever the viewer's timezone.
        day="utcFormat(toDate(datum.cohort), '%Y-%m-%d')",
    ).transform_calculate(
        row="datum.day + '  ·  ' + format(datum.cohort_size, ',') + ' users'",
    ).encode(
        x=alt.X("period_offset:O", title=f"{UNITS[interval].capitalize()} after the cohort's first",
                axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("row:O", title=None, axis=alt.Axis(labelLimit=240)),
    ).properties(height=alt.Step(26))
    cells = base.mark_rect().encode(
        color=alt.Color("rate:Q", title="Retained", scale=alt.Scale(scheme="blues", domain=[0, 1]),
                        legend=alt.Legend(format="%")),
        tooltip=[alt.Tooltip("day:N", title="Cohort"), alt.Tooltip("period_offset:O", title=later),
                 alt.Tooltip("cohort_size:Q", title="Cohort size", format=","),
                 alt.Tooltip("retained:Q", title="Retained", format=","),
                 alt.Tooltip("rate:Q", title="Rate", format=".1%")],
    )
    labels = base.mark_text(fontSize=11).encode(
        text=alt.Text("rate:Q", format=".0%"),
        color=alt.condition("datum.rate > 0.5", alt.value("white"), alt.value("black")),
    ).transform_filter("isValid(datum.rate)")
    return cells + labels


def retention_curves(curve, by, interval: str, breakdown: str) -> alt.LayerChart:
    """The retention curve of all users, bold, with the curve of each group overlaid."""
    unit = UNITS[interval].capitalize()
    x = alt.X("period_offset:O", title=f"{unit} after the cohort's first", axis=alt.Axis(labelAngle=0))
    y = alt.Y("rate:Q", title="Retained", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1]))
    tooltip = [alt.Tooltip("group:N", title=BREAKDOWNS[breakdown]), alt.Tooltip("period_offset:O", title=f"{unit} later"),
               alt.Tooltip("retained:Q", title="Retained", format=","), alt.Tooltip("cohort_size:Q", title="Of", format=","),
               alt.Tooltip("rate:Q", title="Rate", format=".1%")]
    everyone = alt.Chart(curve).transform_calculate(group=f"'{ALL_USERS}'").mark_line(
        point=True, strokeWidth=4, color="black").encode(x=x, y=y, tooltip=tooltip)
    groups = alt.Chart(by).transform_calculate(group="datum.value").mark_line(point=True, strokeWidth=2).encode(
        x=x, y=y, tooltip=tooltip,
        color=alt.Color("group:N", title=BREAKDOWNS[breakdown], legend=alt.Legend(orient="top")),
    )
    return (groups + everyone).properties(height=320)


def percent_chart(chart: alt.Chart, title: str) -> alt.Chart:
    """A ui.time_chart whose values are fractions, drawn and hovered as percentages."""
    return chart.encode(
        y=alt.Y("value:Q", title=title, axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("period:T", title="Period", format="%Y-%m-%d"), alt.Tooltip("series:N", title=""),
                 alt.Tooltip("value:Q", title=title, format=".1%")],
    )


def days(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} days"


q = current_query()
st.title("Retention")
st.caption(f"{q.start} – {q.end}. Do people come back, who is slipping away, and when?")

mode_col, interval_col, periods_col, cumulative_col = st.columns([3, 3, 3, 2])
mode = mode_col.segmented_control("Cohorts by", list(MODES), default="first_time", format_func=MODES.get,
                                  key="retention_mode", help="First activity: each user once, in the period they were "
                                  "first active. Any activity: each user in every period they were active in.") or "first_time"
interval = interval_col.segmented_control("Period", list(INTERVALS), default=q.interval, format_func=INTERVAL_LABELS.get,
                                          key="retention_interval") or q.interval
periods = periods_col.slider("Periods to follow", min_value=2, max_value=24, value=8, key="retention_periods")
cumulative = cumulative_col.toggle("Cumulative", key="retention_cumulative",
                                   help="Count a member as retained if active in that period or any later one.")
cohorts = replace(q, interval=interval)
options = {"mode": mode, "cumulative": cumulative, "periods": periods}

with ui.shows_errors():
    st.subheader("Cohorts")
    matrix = cache.metric("retention", cohorts, **options)
    ui.chart(cohort_heatmap(matrix, interval))
    ui.caption("retention", "By first activity a user's cohort is the period they were first active ever (someone "
                            "already active before the range is in no cohort of it); by any activity, every period they "
                            "were active in. Blank cells lie after the range's end.")

    st.subheader("Retention curve")
    breakdown = st.segmented_control("Split by", list(BREAKDOWNS), default="plan", format_func=BREAKDOWNS.get,
                                     key="retention_breakdown") or "plan"
    curve = cache.metric("retention_curve", cohorts, **options)
    by = cache.metric("retention_by", cohorts, dimension=breakdown, **options)
    ui.chart(retention_curves(curve, by, interval, breakdown))
    ui.caption("retention_curve")
    ui.caption("retention_by", "The first device is the one of the user's first session; users without the attribute are "
                               "grouped as Unknown.")
    with st.expander("The numbers behind the cohorts and curves"):
        ui.table(matrix, "retention", cohorts, percent_columns=("rate",))
        ui.table(curve, "retention_curve", cohorts, percent_columns=("rate",))
        ui.table(by, "retention_by", cohorts, percent_columns=("rate",))

    st.subheader("Day-N retention")
    day_n = cache.metric("day_n_retention", q)
    ui.table(day_n, "day_n_retention", q, percent_columns=tuple(f"day_{n}" for n in DAY_N))
    ui.caption("day_n_retention", "Cohorts are single days, whatever the period chosen; an empty cell is not observable yet.")

    st.subheader("Churn and lifetime")
    left, right = st.columns([3, 1])
    with left:
        churn = cache.metric("churn", cohorts)
        ui.chart(percent_chart(ui.time_chart(churn, "period", {"churn_rate": "Churn rate"}), "Churn rate"))
        ui.caption("churn")
    with right:
        life = cache.metric("lifetime", q).row(0, named=True)
        ui.cards([
            ui.Card("Users gone quiet", ui.number(life["users"]), help="No activity in the 30 days before the end date."),
            ui.Card("Average lifetime", days(life["avg_lifetime_days"])),
            ui.Card("Median lifetime", days(life["median_lifetime_days"])),
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
