"""Overview: the headline figures, and who is active and new, for the chosen range."""

import streamlit as st

from metrics.overview import MONEY_KPIS
from ui import cache
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

q = current_query()
st.title("Overview")
st.caption(f"{q.start} – {q.end}, compared with the {q.days} days before.")

with ui.shows_errors():
    kpis = cache.metric("kpis", q)
    ui.cards([
        ui.Card(
            KPI_LABELS[row["kpi"]],
            ui.money(row["value"]) if row["kpi"] in MONEY_KPIS else ui.number(row["value"]),
            row["change"],
            help=f"Previous range: {ui.money(row['previous']) if row['kpi'] in MONEY_KPIS else ui.number(row['previous'])}",
            inverse=row["kpi"] == "failed_payments",
        )
        for row in kpis.iter_rows(named=True)
    ])
    ui.caption("kpis")

    figures = {row["kpi"]: row["value"] for row in kpis.iter_rows(named=True)}
    if not figures["active_users"] and not figures["new_users"]:
        info = cache.info()
        st.info(f"Nobody was active or signed up between {q.start} and {q.end}. "
                f"The data covers {info.first_day} to {info.last_day}: pick a range inside it.", icon=":material/event_busy:")
        st.stop()

    left, right = st.columns(2)
    with left:
        st.subheader("Active users")
        active = cache.metric("active_users", q)
        ui.chart(ui.time_chart(active, "period", {"active_users": f"Active users per {period_label(q.interval).lower()}"}, kind="bar"))
        ui.caption("active_users")
    with right:
        st.subheader("New users")
        new = cache.metric("new_users", q)
        ui.chart(ui.time_chart(new, "period", {"new_users": f"New users per {period_label(q.interval).lower()}"}, kind="bar"))
        ui.caption("new_users")

    st.subheader("Daily, weekly and monthly active users")
    rolling = cache.metric("dau_wau_mau", q)
    ui.chart(ui.time_chart(rolling, "date", {"dau": "DAU", "wau": "WAU", "mau": "MAU"}))
    ui.caption("dau_wau_mau", "Stickiness is DAU ÷ MAU.")

    with st.expander("The numbers behind the charts"):
        ui.table(kpis, "kpis", q, percent_columns=("change",))
        ui.table(active, "active_users", q)
        ui.table(new, "new_users", q)
        ui.table(rolling, "dau_wau_mau", q, percent_columns=("stickiness",))
