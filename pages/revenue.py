"""Revenue: recurring revenue, how it moves month to month, and the subscriptions behind it."""

import streamlit as st

from pulse.query import period_end
from ui import cache, charts
from ui import components as ui
from ui import format as fmt
from ui.filters import current_query

FIGURE_LABELS = {
    "mrr": "MRR",
    "net_new_mrr": "Net new MRR",
    "customers": "Paying customers",
    "arpu": "ARPU",
    "nrr": "Net revenue retention",
    "grr": "Gross revenue retention",
    "customer_churn_rate": "Customer churn",
    "ltv": "LTV",
}
MOVEMENTS = {
    "new_mrr": "New",
    "reactivation_mrr": "Reactivation",
    "expansion_mrr": "Expansion",
    "contraction_mrr": "Contraction",
    "churned_mrr": "Churned",
}
LOSSES = ("contraction_mrr", "churned_mrr")
MOVEMENT_COLOURS = ["#2e7d32", "#66bb6a", "#a5d6a7", "#ef9a9a", "#c62828"]
CHURN_RATES = {"customer_churn_rate": "Customer churn", "gross_mrr_churn": "Gross MRR churn", "net_mrr_churn": "Net MRR churn"}
STATUS_LABELS = {"trial": "On a trial", "active": "Paying", "cancelled": "Cancelled", "free": "Free"}

q = current_query()
st.title("Revenue")
st.caption(f"Monthly, {q.range_start:%B %Y} – {q.range_end:%B %Y} (MRR is measured at each month's end), "
           f"money in {fmt.currency()}.")

with ui.shows_errors():
    mrr = cache.metric("mrr", q)
    rates = cache.metric("mrr_rates", q)
    latest, latest_rates = mrr.row(-1, named=True), rates.row(-1, named=True)
    in_progress = period_end(latest["month"], "month") > cache.info().last_day
    st.caption(f"At the end of {latest['month']:%B %Y}"
               + (" (the data ends before the month does: periods still running are counted)" if in_progress else "") + ":")
    ui.figure_cards(latest | latest_rates, FIGURE_LABELS, money=("mrr", "net_new_mrr", "arpu", "ltv"),
                    percent=("nrr", "grr", "customer_churn_rate"),
                    help={"mrr": f"ARR (12 × MRR): {fmt.money(latest['arr'])}",
                          "net_new_mrr": "New + reactivation + expansion − contraction − churned"})

    st.subheader("MRR and ARR")
    mrr_col, arr_col = st.columns(2)
    with mrr_col:
        ui.chart(charts.time(mrr, "month", {"mrr": "MRR"}, y_title="MRR", values="money", monthly=True))
    with arr_col:
        ui.chart(charts.time(mrr, "month", {"arr": "ARR"}, y_title="ARR", values="money", monthly=True))
    ui.caption("mrr")

    st.subheader("MRR movements")
    bridge = cache.metric("mrr_bridge", q)
    ui.chart(charts.time(bridge, "month", MOVEMENTS, kind="bar", y_title=f"MRR movement ({fmt.currency()})", values="money",
                         monthly=True, stacked=True, below=LOSSES, colours=MOVEMENT_COLOURS, height=300))
    ui.table(bridge, "mrr_bridge", q, money_columns=tuple(c for c in bridge.columns if c != "month"))
    ui.caption("mrr_bridge")

    st.subheader("Churn and retention")
    churn_col, retention_col = st.columns(2)
    with churn_col:
        ui.chart(charts.time(rates, "month", CHURN_RATES, y_title="Churn", values="percent", monthly=True))
    with retention_col:
        ui.chart(charts.time(rates, "month", {"nrr": "NRR", "grr": "GRR"}, y_title="Retention", values="percent", monthly=True))
    arpu_col, ltv_col = st.columns(2)
    with arpu_col:
        ui.chart(charts.time(mrr, "month", {"arpu": "ARPU"}, y_title="ARPU", values="money", monthly=True))
    with ltv_col:
        ui.chart(charts.time(rates, "month", {"ltv": "LTV"}, y_title="LTV", values="money", monthly=True))
    ui.caption("mrr_rates", "Net MRR churn is negative when expansion outweighs the losses.")
    with st.expander("The numbers behind the charts"):
        ui.table(mrr, "mrr", q, money_columns=("mrr", "arr", "arpu", *MOVEMENTS, "net_new_mrr"))
        ui.table(rates, "mrr_rates", q, money_columns=("ltv",), percent_columns=(*CHURN_RATES, "nrr", "grr"))

    st.subheader("Plan mix")
    mix = cache.metric("plan_mix", q)
    ui.chart_with_table(charts.plan_mix(mix), mix, "plan_mix", q, "paid plans", folded="Plan mix table", money_columns=("mrr",))
    ui.caption("plan_mix")

    status_col, trials_col = st.columns(2)
    with status_col:
        st.subheader("Subscriptions now")
        status = cache.metric("subscription_status", q)
        ui.cards([ui.Card(STATUS_LABELS[r["status"]], fmt.number(r["subscriptions"])) for r in status.iter_rows(named=True)],
                 per_row=2)
        ui.caption("subscription_status", f"As of the end of {q.end}.")
    with trials_col:
        st.subheader("Trial conversion")
        trials = cache.metric("trial_conversion", q)
        ui.chart(charts.time(trials, "cohort", {"trials": "Trials started", "converted": "Converted"}, kind="bar",
                             y_title="Trials", monthly=True, height=260))
        ui.table(trials, "trial_conversion", q, percent_columns=("conversion_rate",))
        ui.caption("trial_conversion", "Converted means a paid period within 30 days of the trial's start.")

    st.subheader("Plan changes")
    transitions = cache.metric("plan_transitions", q)
    ui.chart_with_table(charts.plan_transitions(transitions), transitions, "plan_transitions", q, "plan changes")
    ui.caption("plan_transitions")
