"""Activity: how many people use the product, how they use it, for how long, and where they go."""

from dataclasses import replace

import streamlit as st

from metrics import registry
from ui import cache, charts, url
from ui import components as ui
from ui import format as fmt
from ui.filters import current_query

KPI_LABELS = {
    "dau": "Average DAU", "wau": "Average WAU", "mau": "Average MAU", "engagement_score": "Engagement score",
    "sessions": "Sessions", "avg_duration_s": "Average session length", "bounce_rate": "Bounce rate",
}
LIFECYCLE = {"new": "New", "returning": "Returning", "resurrecting": "Resurrecting", "dormant": "Dormant"}
LIFECYCLE_COLOURS = ["#2e7d32", "#1565c0", "#f9a825", "#9e9e9e"]
DIMENSION_LABELS = {"device_type": "Device", "browser": "Browser", "os": "OS", "country": "Country"}
TOP_FEATURES = 15
HALF = 470  # pixels: two tables side by side on a wide screen, one above the other on a narrow one

dimension_option = registry.get("breakdown").option("dimension")
window_default = registry.get("funnel").option("window_days").default

q = current_query()
per = fmt.label(q.interval).lower()
cutoff = ui.incomplete_from()
kpi_notes = {
    "dau": f"Users active on a day, averaged over the range's {q.days} days.",
    "wau": f"Users active in the 7 days up to a day, averaged over the range's {q.days} days.",
    "mau": f"Users active in the 30 days up to a day, averaged over the range's {q.days} days.",
    "engagement_score": "100 × DAU ÷ MAU, from 0 to 100, averaged over the range's days.",
    "sessions": "Sessions that began in the range.",
    "avg_duration_s": "The mean time from a session's first event to its last.",
    "bounce_rate": "The share of sessions one event long.",
}
st.title("Activity")
st.caption(" ".join(filter(None, [
    f"{fmt.span(q.start, q.end)}, compared with the {q.days} days before.",
    "How many people use the product, how, for how long, and where they go.",
    ui.range_used(q),
])))

with ui.shows_errors():

    kpis = cache.metric("activity_kpis", q)
    ui.kpi_cards(kpis, KPI_LABELS, percent=("bounce_rate",), durations=("avg_duration_s",), decimals=("engagement_score",),
                 inverse=("bounce_rate",), notes=kpi_notes)
    ui.caption("activity_kpis")

    st.header("Who is active")
    st.subheader("Daily, weekly and monthly active users")
    rolling = cache.metric("dau_wau_mau", q)
    active_event = ui.chart(charts.time(rolling, "date", {"dau": "DAU", "wau": "WAU", "mau": "MAU"}, y_title="Users",
                                        pick="day_pick", incomplete_from=cutoff),
                            key="active_chart", selectable=True)
    ui.caption("dau_wau_mau", "Click a day to list the users active on it.")
    day = ui.picked(active_event, "day_pick")
    if day:
        chosen = ui.as_date(day["date"])
        ui.users_behind(f"Users active on {chosen}", replace(q, interval="day"), chosen, "active", "active_people")

    engagement = cache.metric("engagement", q)
    ui.chart(charts.time(engagement, "date", {"engagement_score": "Engagement score (0–100)"}, y_title="Score",
                         height=240, incomplete_from=cutoff))
    ui.caption("engagement")

    new_col, lifecycle_col = st.columns(2)
    with new_col:
        st.subheader("New users")
        new = cache.metric("new_users", q)
        ui.chart(charts.time(new, "period", {"new_users": f"New users per {per}"}, kind="bar", y_title="Users",
                             interval=q.interval, incomplete_from=cutoff, narrow=True))
        ui.caption("new_users")
    with lifecycle_col:
        st.subheader("Lifecycle")
        lifecycle = cache.metric("lifecycle", q)
        lifecycle_event = ui.chart(
            charts.time(lifecycle, "period", LIFECYCLE, kind="bar", y_title="Users", stacked=True, below=("dormant",),
                        colours=LIFECYCLE_COLOURS, pick="status_pick", height=300, interval=q.interval,
                        incomplete_from=cutoff, narrow=True),
            key="lifecycle_chart", selectable=True,
        )
        ui.caption("lifecycle", "Click a bar to list its users.")
    status = ui.picked(lifecycle_event, "status_pick")
    if status:
        chosen = ui.as_date(status["period"])
        ui.users_behind(f"{LIFECYCLE[status['series']]} users {fmt.in_period(chosen, q.interval)}", q, chosen,
                        status["series"], "lifecycle_people")

    with st.expander("The numbers behind these charts"):
        st.markdown("**Headline figures**")
        ui.kpi_table(kpis, KPI_LABELS, "activity_kpis", q, percent=("bounce_rate",), durations=("avg_duration_s",),
                     decimals=("engagement_score",))
        st.markdown("**Daily, weekly and monthly active users**")
        ui.table(rolling, "dau_wau_mau", q, percent_columns=("stickiness",))
        st.markdown("**Engagement score**")
        ui.table(engagement, "engagement", q)
        st.markdown(f"**New users per {per}**")
        ui.table(new, "new_users", q)
        st.markdown(f"**Lifecycle per {per}**")
        ui.table(lifecycle, "lifecycle", q)

    st.header("Sessions")
    sessions = cache.metric("sessions", q)
    ui.chart(charts.time(sessions, "period", {"sessions": f"Sessions per {per}"}, kind="bar", y_title="Sessions",
                         interval=q.interval, incomplete_from=cutoff))
    ui.caption("sessions", f"A session ends after {cache.settings().session_timeout} minutes without an event.")
    lengths_col, hours_col = st.columns(2)
    with lengths_col:
        st.subheader("How long sessions last")
        lengths = cache.metric("session_length_distribution", q)
        ui.chart(charts.session_lengths(lengths))
        ui.caption("session_length_distribution")
    with hours_col:
        st.subheader("When people use the product")
        cells = cache.metric("activity_heatmap", q)
        ui.chart(charts.weekday_hours(cells))
        ui.caption("activity_heatmap", f"Hours in {cache.info().timezone}.",
                   text="Events in the range by local weekday and hour of the day.")
    with st.expander("The numbers behind these charts"):
        st.markdown(f"**Sessions per {per}**")
        ui.table(sessions, "sessions", q, percent_columns=("bounce_rate",))
        st.markdown("**How long sessions last**")
        ui.table(lengths, "session_length_distribution", q)
        st.markdown("**Events by weekday and hour**")
        ui.table(cells, "activity_heatmap", q)

    st.subheader("Devices, browsers, systems and countries")
    linked_dimension = url.get("breakdown", dimension_option.default, dimension_option.choices, what="breakdown")
    dimension = st.segmented_control("Break down by", dimension_option.choices, default=linked_dimension,
                                     format_func=DIMENSION_LABELS.get, key="activity_breakdown") or dimension_option.default
    url.keep("breakdown", dimension, dimension_option.default)
    breakdown = cache.metric("breakdown", q, dimension=dimension)
    if not ui.empty(breakdown, "activity"):
        ui.chart(charts.bars(breakdown, "users", "value", "Users", DIMENSION_LABELS[dimension],
                             codes="device_type" if dimension == "device_type" else None))
        ui.caption("breakdown")
        ui.table(breakdown, "breakdown", q, key=f"breakdown_{dimension}", labels={"value": DIMENSION_LABELS[dimension]})

    st.header("Features")
    st.subheader("Adoption by category")
    adoption = cache.metric("feature_adoption", q)
    if not ui.empty(adoption, "feature use"):
        ui.chart(charts.feature_adoption(adoption, q.interval))
        ui.caption("feature_adoption")
    top_col, unused_col = ui.side_by_side(HALF, HALF)
    with top_col:
        st.subheader(f"Top {TOP_FEATURES} features")
        usage = cache.metric("feature_usage", q)
        if not ui.empty(usage, "feature use"):
            ui.chart(charts.top_features(usage, TOP_FEATURES))
            ui.caption("feature_usage")
    with unused_col:
        st.subheader("Features no longer used")
        unused = cache.metric("unused_features", q)
        ui.table(unused, "unused_features", q)
        ui.caption("unused_features")
    with st.expander("The numbers behind these charts"):
        st.markdown("**Feature use in the range**")
        ui.table(usage, "feature_usage", q, percent_columns=("adoption_rate",))
        st.markdown(f"**Adoption per {per}**")
        ui.table(adoption, "feature_adoption", q, percent_columns=("adoption_rate",))

    st.header("Journeys")
    paths_col, pages_col = ui.side_by_side(HALF, HALF)
    with paths_col:
        st.subheader("Top paths")
        ui.table(cache.metric("paths", q), "paths", q)
        ui.caption("paths")
    with pages_col:
        st.subheader("Entry and exit pages")
        ui.table(cache.metric("entry_exit", q), "entry_exit", q, percent_columns=("bounce_rate",),
                 empty={"bounce_rate": "no session began on this page"})
        ui.caption("entry_exit")

    st.subheader("Funnel")
    names = cache.metric("funnel_candidates", q)["name"].to_list()
    linked_steps = url.get_list("funnel", [])
    # Steps picked on another range, or named by the link, stay picked even where this range never saw them.
    kept = [step for step in st.session_state.get("funnel_steps", linked_steps) if step not in names]
    steps_col, window_col = st.columns([4, 1])
    steps = steps_col.multiselect("Steps, in order", names + kept, default=linked_steps, key="funnel_steps",
                                  placeholder="Pick event names or pages, the first step first")
    window = window_col.number_input("Window (days)", min_value=1, max_value=365, key="funnel_window",
                                     value=ui.url_number("window", window_default, 1, 365, what="funnel window"))
    url.keep("funnel", steps, [])
    url.keep("window", int(window), window_default)
    if steps:
        funnel = cache.metric("funnel", q, steps=tuple(steps), window_days=int(window))
        ui.chart(charts.funnel(funnel))
        ui.caption("funnel", f"Within {fmt.plural(int(window), 'day')} of the first step.")
        ui.table(funnel, "funnel", q, percent_columns=("conversion_from_start", "conversion_from_previous"))
    else:
        st.info("Pick two or more steps to see how many users go from one to the next.", icon=":material/filter_alt:")

    st.header("API usage against plan limits")
    limits = cache.settings().api_limits
    api = cache.metric("api_usage", q)
    if not ui.empty(api, "accounts at 80 % or more of their plan's monthly API calls"):
        ui.table(api, "api_usage", q, percent_columns=("share",), labels={"share": "Share of the limit"})
        ui.email_these(api["user_id"].to_list(), key="email-api-usage")
    ui.caption("api_usage", f"Limits per plan: {', '.join(f'{plan} {limit:,}' for plan, limit in limits)}.")
