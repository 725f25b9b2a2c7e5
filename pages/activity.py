"""Activity: how many people use the product, how they use it, for how long, and where they go."""

from dataclasses import replace
from datetime import date, datetime, timezone

import altair as alt
import streamlit as st

from ui import cache
from ui import components as ui
from ui.filters import current_query, period_label

KPI_LABELS = {
    "dau": "DAU", "wau": "WAU", "mau": "MAU", "engagement_score": "Engagement score",
    "sessions": "Sessions", "avg_duration_s": "Avg. session length", "bounce_rate": "Bounce rate",
}
LIFECYCLE = {"new": "New", "returning": "Returning", "resurrecting": "Resurrecting", "dormant": "Dormant"}
LIFECYCLE_COLOURS = ["#2e7d32", "#1565c0", "#f9a825", "#9e9e9e"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
DIMENSIONS = {"device_type": "Device", "browser": "Browser", "os": "OS", "country": "Country"}
TRENDS = {"increasing": "#2e7d32", "stable": "#9e9e9e", "decreasing": "#c62828"}
TOP_FEATURES = 15
COUNT = ",~r"  # axis and legend numbers: whole counts, and a plain 0 when everything is 0


def kpi_text(kpi: str, value: float | None) -> str:
    if kpi == "avg_duration_s":
        return ui.duration(value)
    if kpi == "bounce_rate":
        return ui.pct(value)
    if kpi == "engagement_score":
        return "–" if value is None else f"{value:.1f}"
    return ui.number(value)


def as_date(value) -> date:
    """A date from a chart selection: Vega-Lite hands temporal values back as epoch milliseconds."""
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000, tz=timezone.utc).date()
    return date.fromisoformat(str(value)[:10])


def period_words(interval: str, start: date) -> str:
    if interval == "week":
        return f"in the week of {start}"
    if interval == "month":
        return f"in {start:%B %Y}"
    return f"on {start}"


def picked(event, name: str) -> dict | None:
    """The point the user clicked in a chart (the first, if several), or None."""
    points = event.selection.get(name) if event is not None else None
    return dict(points[0]) if points else None


def users_behind(title: str, query, period: date, kind: str, key: str) -> None:
    """The people behind a clicked number, with their CSV: the hand-off for emailing them."""
    people = cache.metric("active_user_list", query, period=period, kind=kind)
    st.markdown(f"**{title}** · {people.height:,} users")
    ui.table(people, "active_user_list", query, key=key)


def lifecycle_chart(lifecycle, pick: alt.Parameter) -> alt.Chart:
    """New, returning and resurrecting users stacked up; dormant users drawn below zero."""
    label = " : ".join(f"datum.status == '{k}' ? '{v}'" for k, v in LIFECYCLE.items()) + " : datum.status"
    return alt.Chart(lifecycle).transform_fold(list(LIFECYCLE), as_=["status", "users"]).transform_calculate(
        shown="datum.status == 'dormant' ? -datum.users : datum.users", label=label,
    ).mark_bar().encode(
        x=alt.X("period:T", title=None, axis=alt.Axis(format="%b %d")),
        y=alt.Y("shown:Q", title="Users", stack=True, axis=alt.Axis(format=COUNT)),
        color=alt.Color("label:N", title=None, sort=list(LIFECYCLE.values()), legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=list(LIFECYCLE.values()), range=LIFECYCLE_COLOURS)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.35)),
        tooltip=[alt.Tooltip("period:T", title="Period", format="%Y-%m-%d"), alt.Tooltip("label:N", title=""),
                 alt.Tooltip("users:Q", title="Users", format=",")],
    ).add_params(pick).properties(height=300)


def bars(frame, x: str, y: str, x_title: str, y_title: str, colour: str | None = None) -> alt.Chart:
    """Horizontal bars in the frame's own order."""
    encoding = {"color": alt.Color(f"{colour}:N", title=None, legend=alt.Legend(orient="top"))} if colour else {}
    return alt.Chart(frame).mark_bar().encode(
        x=alt.X(f"{x}:Q", title=x_title, axis=alt.Axis(format=COUNT)),
        y=alt.Y(f"{y}:N", title=y_title, sort=None),
        tooltip=[alt.Tooltip(f"{y}:N", title=y_title or ui.label(y)), alt.Tooltip(f"{x}:Q", title=x_title, format=",")],
        **encoding,
    ).properties(height=alt.Step(24))


def length_chart(lengths) -> alt.Chart:
    return alt.Chart(lengths).mark_bar().encode(
        x=alt.X("bucket:N", title="Session length", sort=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("sessions:Q", title="Sessions", axis=alt.Axis(format=COUNT)),
        tooltip=[alt.Tooltip("bucket:N", title="Length"), alt.Tooltip("sessions:Q", title="Sessions", format=",")],
    ).properties(height=260)


def weekday_heatmap(cells) -> alt.Chart:
    return alt.Chart(cells).mark_rect().encode(
        x=alt.X("hour:O", title="Hour of the day", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("weekday:O", title=None, axis=alt.Axis(labelExpr=f"{WEEKDAYS}[datum.value]")),
        # An hour without events stays blank, also when the whole range is empty.
        color=alt.condition(
            "datum.events > 0",
            alt.Color("events:Q", title="Events", scale=alt.Scale(scheme="oranges"), legend=alt.Legend(format=COUNT)),
            alt.value("#f4f4f4"),
        ),
        tooltip=[alt.Tooltip("day:N", title="Weekday"), alt.Tooltip("hour:O", title="Hour"),
                 alt.Tooltip("events:Q", title="Events", format=",")],
    ).transform_calculate(day=f"{WEEKDAYS}[datum.weekday]").properties(height=240)


def adoption_heatmap(adoption) -> alt.Chart:
    """One row per feature, grouped by category; one column per period; cells coloured by adoption."""
    return alt.Chart(adoption).transform_calculate(row="datum.category + ' · ' + datum.feature").mark_rect().encode(
        x=alt.X("period:O", timeUnit="yearmonthdate", title=None, axis=alt.Axis(format="%b %d", labelAngle=-45)),
        y=alt.Y("row:N", title=None, sort=None, axis=alt.Axis(labelLimit=320, labelOverlap=False)),
        color=alt.Color("adoption_rate:Q", title="Adoption", scale=alt.Scale(scheme="greens"), legend=alt.Legend(format="%")),
        tooltip=[alt.Tooltip("feature:N", title="Feature"), alt.Tooltip("category:N", title="Category"),
                 alt.Tooltip("period:T", title="Period", format="%Y-%m-%d"),
                 alt.Tooltip("unique_users:Q", title="Users", format=","),
                 alt.Tooltip("adoption_rate:Q", title="Adoption", format=".1%")],
    ).properties(height=alt.Step(20))


def top_features_chart(usage) -> alt.Chart:
    """The most used features, coloured by their trend against the previous range."""
    return alt.Chart(usage).transform_window(
        rank="rank()", sort=[alt.SortField("usage_count", order="descending")]
    ).transform_filter(f"datum.rank <= {TOP_FEATURES}").mark_bar().encode(
        x=alt.X("usage_count:Q", title="Uses", axis=alt.Axis(format=COUNT)),
        y=alt.Y("feature:N", title=None, sort="-x"),
        color=alt.Color("trend:N", title="Trend", legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=list(TRENDS), range=list(TRENDS.values()))),
        tooltip=[alt.Tooltip("feature:N", title="Feature"), alt.Tooltip("usage_count:Q", title="Uses", format=","),
                 alt.Tooltip("unique_users:Q", title="Users", format=","),
                 alt.Tooltip("adoption_rate:Q", title="Adoption", format=".1%"), alt.Tooltip("trend:N", title="Trend")],
    ).properties(height=alt.Step(22))


def funnel_chart(funnel) -> alt.Chart:
    steps = alt.Chart(funnel).transform_calculate(label="datum.step + '. ' + datum.name").encode(
        x=alt.X("label:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("users:Q", title="Users", axis=alt.Axis(format=COUNT)),
    )
    return (steps.mark_bar() + steps.mark_text(dy=-8).encode(text=alt.Text("conversion_from_start:Q", format=".0%"))).encode(
        tooltip=[alt.Tooltip("label:N", title="Step"), alt.Tooltip("users:Q", title="Users", format=","),
                 alt.Tooltip("conversion_from_start:Q", title="From the first step", format=".1%"),
                 alt.Tooltip("conversion_from_previous:Q", title="From the step before", format=".1%"),
                 alt.Tooltip("median_seconds_from_previous:Q", title="Median seconds from the step before", format=",.0f")],
    ).properties(height=280)


q = current_query()
per = period_label(q.interval).lower()
st.title("Activity")
st.caption(f"{q.start} – {q.end}, compared with the {q.days} days before. How many people use the product, "
           "how, for how long, and where they go.")

with ui.shows_errors():
    # The store's sessions table was cut with this timeout: the session metrics read it as is.
    session = {"session_timeout_minutes": cache.info().session_timeout}

    kpis = cache.metric("activity_kpis", q, **session)
    ui.cards([
        ui.Card(KPI_LABELS[row["kpi"]], kpi_text(row["kpi"], row["value"]), row["change"],
                help=f"Previous range: {kpi_text(row['kpi'], row['previous'])}", inverse=row["kpi"] == "bounce_rate")
        for row in kpis.iter_rows(named=True)
    ])
    ui.caption("activity_kpis")

    st.header("Who is active")
    st.subheader("Daily, weekly and monthly active users")
    rolling = cache.metric("dau_wau_mau", q)
    day_pick = alt.selection_point(name="day_pick", fields=["date"], on="click")
    active_event = ui.chart(ui.time_chart(rolling, "date", {"dau": "DAU", "wau": "WAU", "mau": "MAU"}, selection=day_pick),
                            key="active_chart", selectable=True)
    ui.caption("dau_wau_mau", "Stickiness is DAU ÷ MAU. Click a day to list the users active on it.")
    day = picked(active_event, "day_pick")
    if day:
        chosen = as_date(day["date"])
        users_behind(f"Users active on {chosen}", replace(q, interval="day"), chosen, "active", "active_people")

    engagement = cache.metric("engagement", q)
    ui.chart(ui.time_chart(engagement, "date", {"engagement_score": "Engagement score"}, y_title="Score (0–100)", height=200))
    ui.caption("engagement")

    left, right = st.columns(2)
    with left:
        st.subheader("New users")
        new = cache.metric("new_users", q)
        ui.chart(ui.time_chart(new, "period", {"new_users": f"New users per {per}"}, kind="bar"))
        ui.caption("new_users")
    with right:
        st.subheader("Lifecycle")
        lifecycle = cache.metric("lifecycle", q)
        status_pick = alt.selection_point(name="status_pick", fields=["period", "status"], on="click")
        lifecycle_event = ui.chart(lifecycle_chart(lifecycle, status_pick), key="lifecycle_chart", selectable=True)
        ui.caption("lifecycle", "Click a bar to list its users.")
    status = picked(lifecycle_event, "status_pick")
    if status:
        chosen = as_date(status["period"])
        users_behind(f"{LIFECYCLE[status['status']]} users {period_words(q.interval, chosen)}", q, chosen, status["status"],
                     "lifecycle_people")

    with st.expander("The numbers behind these charts"):
        ui.table(kpis, "activity_kpis", q, percent_columns=("change",))
        ui.table(rolling, "dau_wau_mau", q, percent_columns=("stickiness",))
        ui.table(engagement, "engagement", q)
        ui.table(new, "new_users", q)
        ui.table(lifecycle, "lifecycle", q)

    st.header("Sessions")
    sessions = cache.metric("sessions", q, **session)
    ui.chart(ui.time_chart(sessions, "period", {"sessions": f"Sessions per {per}"}, kind="bar"))
    ui.caption("sessions", f"A session ends after {session['session_timeout_minutes']} minutes without an event.")
    left, right = st.columns(2)
    with left:
        st.subheader("How long sessions last")
        lengths = cache.metric("session_length_distribution", q, **session)
        ui.chart(length_chart(lengths))
        ui.caption("session_length_distribution")
    with right:
        st.subheader("When people use the product")
        cells = cache.metric("activity_heatmap", q)
        ui.chart(weekday_heatmap(cells))
        ui.caption("activity_heatmap", f"Hours in {cache.info().timezone}.")
    with st.expander("The numbers behind these charts"):
        ui.table(sessions, "sessions", q, percent_columns=("bounce_rate",))
        ui.table(lengths, "session_length_distribution", q)
        ui.table(cells, "activity_heatmap", q)

    st.subheader("Devices, browsers, systems and countries")
    dimension = st.segmented_control("Break down by", list(DIMENSIONS), default="device_type",
                                     format_func=DIMENSIONS.get, key="activity_breakdown") or "device_type"
    breakdown = cache.metric("breakdown", q, dimension=dimension, **session)
    if not ui.empty(breakdown, "activity"):
        ui.chart(bars(breakdown, "users", "value", "Users", DIMENSIONS[dimension]))
        ui.caption("breakdown")
        ui.table(breakdown, "breakdown", q, key=f"breakdown_{dimension}")

    st.header("Features")
    st.subheader("Adoption by category")
    adoption = cache.metric("feature_adoption", q)
    if not ui.empty(adoption, "feature use"):
        ui.chart(adoption_heatmap(adoption))
        ui.caption("feature_adoption")
    left, right = st.columns([3, 2])
    with left:
        st.subheader(f"Top {TOP_FEATURES} features")
        usage = cache.metric("feature_usage", q)
        if not ui.empty(usage, "feature use"):
            ui.chart(top_features_chart(usage))
            ui.caption("feature_usage")
    with right:
        st.subheader("Features no longer used")
        unused = cache.metric("unused_features", q)
        ui.table(unused, "unused_features", q)
        ui.caption("unused_features")
    with st.expander("The numbers behind these charts"):
        ui.table(usage, "feature_usage", q, percent_columns=("adoption_rate",))
        ui.table(adoption, "feature_adoption", q, percent_columns=("adoption_rate",))

    st.header("Journeys")
    left, right = st.columns(2)
    with left:
        st.subheader("Top paths")
        ui.table(cache.metric("paths", q, **session), "paths", q)
        ui.caption("paths")
    with right:
        st.subheader("Entry and exit pages")
        ui.table(cache.metric("entry_exit", q, **session), "entry_exit", q, percent_columns=("bounce_rate",))
        ui.caption("entry_exit")

    st.subheader("Funnel")
    names = cache.metric("funnel_candidates", q)["name"].to_list()
    # Steps picked on another range stay picked, even where this range never saw them.
    kept = [step for step in st.session_state.get("funnel_steps", []) if step not in names]
    steps_col, window_col = st.columns([4, 1])
    steps = steps_col.multiselect("Steps, in order", names + kept, key="funnel_steps",
                                  placeholder="Pick event names or pages, the first step first")
    window = window_col.number_input("Window (days)", min_value=1, max_value=365, value=14, key="funnel_window")
    if steps:
        funnel = cache.metric("funnel", q, steps=tuple(steps), window_days=int(window))
        ui.chart(funnel_chart(funnel))
        ui.caption("funnel", f"Within {int(window)} days of the first step.")
        ui.table(funnel, "funnel", q, percent_columns=("conversion_from_start", "conversion_from_previous"))
    else:
        st.info("Pick two or more steps to see how many users go from one to the next.", icon=":material/filter_alt:")

    st.header("API usage against plan limits")
    api = cache.metric("api_usage", q, limits=cache.settings().api_limits)
    if not ui.empty(api, "accounts at 80 % or more of their plan's monthly API calls"):
        ui.table(api, "api_usage", q, percent_columns=("share",))
    ui.caption("api_usage", f"Limits per plan: {', '.join(f'{plan} {limit:,}' for plan, limit in cache.settings().api_limits)}.")
