"""Overview: the headline figures, and who is active and new, for the chosen range."""

import streamlit as st

from metrics.overview import MONEY_KPIS
from ui import alerts, cache, charts, goals
from ui import components as ui
from ui import format as fmt
from ui.filters import current_query

KPI_LABELS = {
    "total_users": "Total users",
    "active_users": "Active users",
    "new_users": "New users",
    "mrr": "MRR (at end)",
    "net_revenue": "Net revenue",
    "transactions": "Transactions",
    "failed_payments": "Failed payments",
}
KPI_NOTES = {
    "total_users": "Everyone signed up by the end of the range.",
    "active_users": "Distinct users with at least one event in the range (not a daily average).",
    "new_users": "Users who signed up in the range.",
    "mrr": "Monthly recurring revenue at the end of the range's last day.",
    "transactions": "Orders in the range.",
}
PER_PERIOD = {"active_users": "Active users", "new_users": "New users"}

q = current_query()
per = fmt.label(q.interval).lower()
cutoff = ui.incomplete_from()
st.title("Overview")
st.caption(" ".join(filter(None, [f"{fmt.span(q.start, q.end)}, compared with the {q.days} days before.",
                                  ui.range_used(q)])))

with ui.shows_errors():
    kpis = cache.metric("kpis", q)
    ui.kpi_cards(kpis, KPI_LABELS, money=MONEY_KPIS, inverse=("failed_payments",), notes=KPI_NOTES)
    ui.caption("kpis")

    figures = {row["kpi"]: row["value"] for row in kpis.iter_rows(named=True)}
    if not figures["active_users"] and not figures["new_users"]:
        info = cache.info()
        st.info(f"Nobody was active or signed up between {q.start} and {q.end}. "
                f"The data covers {info.first_day} to {info.last_day}: pick a range inside it.", icon=":material/event_busy:")
        st.stop()

    st.subheader("Alerts")
    alerts.alerts_section(q)

    counts = {name: cache.metric(name, q) for name in PER_PERIOD}
    for column, (name, title) in zip(st.columns(2), PER_PERIOD.items()):
        with column:
            st.subheader(title)
            ui.chart(charts.time(counts[name], "period", {name: f"{title} per {per}"}, kind="bar", y_title="Users",
                                 interval=q.interval, incomplete_from=cutoff, narrow=True))
            ui.caption(name)

    st.subheader("Daily, weekly and monthly active users")
    rolling = cache.metric("dau_wau_mau", q)
    ui.chart(charts.time(rolling, "date", {"dau": "DAU", "wau": "WAU", "mau": "MAU"}, y_title="Users",
                         incomplete_from=cutoff))
    ui.caption("dau_wau_mau")

    st.subheader("Goals")
    goals.goals_section(q)

    st.subheader("Live feed")
    ui.live_feed(q)
    ui.caption("live_feed")

    with st.expander("The numbers behind the charts"):
        st.markdown("**Headline figures**")
        ui.kpi_table(kpis, KPI_LABELS, "kpis", q, money=MONEY_KPIS)
        for name, title in PER_PERIOD.items():
            st.markdown(f"**{title} per {per}**")
            ui.table(counts[name], name, q)
        st.markdown("**Daily, weekly and monthly active users**")
        ui.table(rolling, "dau_wau_mau", q, percent_columns=("stickiness",))
