"""Overview: the headline figures, and who is active and new, for the chosen range."""

import streamlit as st

from metrics.overview import MONEY_KPIS
from ui import cache, charts
from ui import components as ui
from ui.filters import current_query, period_label

KPI_LABELS = {
    "total_users": "Total users",
    "active_users": "Active users",
    "new_users": "New users",
    "mrr": "MRR (at end)",
    "net_revenue": "Net revenue",
    "transactions": "Transactions",
    "failed_payments": "Failed payments",
}
PER_PERIOD = {"active_users": "Active users", "new_users": "New users"}

q = current_query()
per = period_label(q.interval).lower()
st.title("Overview")
st.caption(f"{q.start} – {q.end}, compared with the {q.days} days before.")

with ui.shows_errors():
    kpis = cache.metric("kpis", q)
    ui.kpi_cards(kpis, KPI_LABELS, money=MONEY_KPIS, inverse=("failed_payments",))
    ui.caption("kpis")

    figures = {row["kpi"]: row["value"] for row in kpis.iter_rows(named=True)}
    if not figures["active_users"] and not figures["new_users"]:
        info = cache.info()
        st.info(f"Nobody was active or signed up between {q.start} and {q.end}. "
                f"The data covers {info.first_day} to {info.last_day}: pick a range inside it.", icon=":material/event_busy:")
        st.stop()

    counts = {name: cache.metric(name, q) for name in PER_PERIOD}
    for column, (name, title) in zip(st.columns(2), PER_PERIOD.items()):
        with column:
            st.subheader(title)
            ui.chart(charts.time(counts[name], "period", {name: f"{title} per {per}"}, kind="bar"))
            ui.caption(name)

    st.subheader("Daily, weekly and monthly active users")
    rolling = cache.metric("dau_wau_mau", q)
    ui.chart(charts.time(rolling, "date", {"dau": "DAU", "wau": "WAU", "mau": "MAU"}))
    ui.caption("dau_wau_mau", "Stickiness is DAU ÷ MAU.")

    with st.expander("The numbers behind the charts"):
        ui.table(kpis, "kpis", q, percent_columns=("change",))
        for name, frame in counts.items():
            ui.table(frame, name, q)
        ui.table(rolling, "dau_wau_mau", q, percent_columns=("stickiness",))
