"""Revenue: recurring revenue, how it moves month to month, and the subscriptions behind it."""

import streamlit as st

from metrics import registry
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
CHURN_RATES = {"customer_churn_rate": "Customers", "gross_mrr_churn": "Gross MRR", "net_mrr_churn": "Net MRR"}
STATUS_LABELS = {"trial": "On a trial", "active": "Paying", "cancelled": "Cancelled", "free": "Free"}
HALF = 470  # pixels: side by side on a wide screen, one above the other on a narrow one
MONTHS_AT_LEAST = 6  # a trend needs more than the one or two points of a short range

within_days = registry.get("trial_conversion").option("within_days").default

q = current_query()
monthly = ui.at_least_months(q, MONTHS_AT_LEAST)
cutoff = ui.incomplete_from()
currency = fmt.currency()
st.title("Revenue")
if monthly.start != q.start:
    months = f"the {MONTHS_AT_LEAST} months to {q.end:%B %Y} (the range {fmt.span(q.start, q.end)} is shorter)"
else:
    months = f"{monthly.start:%B %Y} – {q.end:%B %Y}"
st.caption(f"Monthly, whatever the interval: {months}. MRR is measured at each month's end; money in {currency}.")

with ui.shows_errors():
    mrr = cache.metric("mrr", monthly)
    rates = cache.metric("mrr_rates", monthly)
    latest, latest_rates = mrr.row(-1, named=True), rates.row(-1, named=True)
    in_progress = period_end(latest["month"], "month") >= cutoff
    st.caption(f"At the end of {latest['month']:%B %Y}"
               + (" (incomplete: the month is not over, so periods still running are counted)" if in_progress else "")
               + ":")
    ui.figure_cards(latest | latest_rates, FIGURE_LABELS, money=("mrr", "net_new_mrr", "arpu", "ltv"),
                    percent=("nrr", "grr", "customer_churn_rate"),
                    help={"mrr": f"ARR (12 × MRR): {fmt.money(latest['arr'])}",
                          "net_new_mrr": "New + reactivation + expansion − contraction − churned",
                          "ltv": "ARPU ÷ customer churn; " + (f"{fmt.EMPTY} means no customer churned this month."
                                                             if latest_rates["ltv"] is None else "an estimate.")})

    st.subheader("MRR and ARR")
    mrr_col, arr_col = st.columns(2)
    with mrr_col:
        ui.chart(charts.time(mrr, "month", {"mrr": "MRR"}, y_title=f"MRR ({currency})", values="money", interval="month",
                             incomplete_from=cutoff, narrow=True))
    with arr_col:
        ui.chart(charts.time(mrr, "month", {"arr": "ARR"}, y_title=f"ARR ({currency})", values="money", interval="month",
                             incomplete_from=cutoff, narrow=True))
    ui.caption("mrr")

    st.subheader("MRR movements")
    bridge = cache.metric("mrr_bridge", monthly)
    ui.chart(charts.time(bridge, "month", MOVEMENTS, kind="bar", y_title=f"MRR movement ({currency})", values="money",
                         interval="month", stacked=True, below=LOSSES, colours=MOVEMENT_COLOURS, height=300,
                         incomplete_from=cutoff))
    ui.table(bridge, "mrr_bridge", monthly, money_columns=tuple(c for c in bridge.columns if c != "month"))
    ui.caption("mrr_bridge")

    st.subheader("Churn and retention")
    churn_col, retention_col = st.columns(2)
    with churn_col:
        ui.chart(charts.time(rates, "month", CHURN_RATES, y_title="Churn per month", values="percent", interval="month",
                             incomplete_from=cutoff, narrow=True))
    with retention_col:
        ui.chart(charts.time(rates, "month", {"nrr": "NRR", "grr": "GRR"}, y_title="Revenue retention", values="percent",
                             interval="month", incomplete_from=cutoff, narrow=True))
    arpu_col, ltv_col = st.columns(2)
    with arpu_col:
        ui.chart(charts.time(mrr, "month", {"arpu": "ARPU"}, y_title=f"ARPU ({currency})", values="money",
                             interval="month", incomplete_from=cutoff, narrow=True))
    with ltv_col:
        ui.chart(charts.time(rates, "month", {"ltv": "LTV"}, y_title=f"LTV ({currency})", values="money",
                             interval="month", incomplete_from=cutoff, narrow=True))
    ui.caption("mrr_rates", "Net MRR churn is negative when expansion outweighs the losses.")
    with st.expander("The numbers behind the charts"):
        st.markdown("**MRR, customers and movements**")
        ui.table(mrr, "mrr", monthly, money_columns=("mrr", "arr", "arpu", *MOVEMENTS, "net_new_mrr"))
        st.markdown("**Churn, revenue retention and LTV**")
        ui.table(rates, "mrr_rates", monthly, money_columns=("ltv",), percent_columns=(*CHURN_RATES, "nrr", "grr"))

    st.subheader("Plan mix")
    mix = cache.metric("plan_mix", monthly)
    ui.chart_with_table(charts.plan_mix(mix, cutoff), mix, "plan_mix", monthly, "paid plans", folded="Plan mix table",
                        money_columns=("mrr",))
    ui.caption("plan_mix")

    status_col, trials_col = ui.side_by_side(HALF, HALF)
    with status_col:
        st.subheader("Subscriptions now")
        status = cache.metric("subscription_status", q)
        ui.cards([ui.Card(STATUS_LABELS[r["status"]], fmt.number(r["subscriptions"])) for r in status.iter_rows(named=True)])
        ui.caption("subscription_status", f"As of the end of {q.end}.")
    with trials_col:
        st.subheader("Trial conversion")
        trials = cache.metric("trial_conversion", monthly)
        window_open = ui.incomplete_from(within_days)
        ui.chart(charts.time(trials, "cohort", {"trials": "Trials started", "converted": "Converted"}, kind="bar",
                             y_title="Trials", interval="month", height=260, incomplete_from=window_open,
                             narrow=True))
        ui.table(trials, "trial_conversion", monthly, percent_columns=("conversion_rate",), dates={"cohort": "month"},
                 labels={"cohort": "Started in"},
                 marked=("cohort", window_open, " (open)",
                         f"(open): some of the month's trials are younger than {within_days} days and may still convert."))
        ui.caption("trial_conversion", f"Converted means a paid period within {within_days} days of the trial's start; "
                                       f"a month is incomplete until its last trial is {within_days} days old.")

    st.subheader("Plan changes")
    transitions = cache.metric("plan_transitions", q)
    ui.chart_with_table(charts.plan_transitions(transitions), transitions, "plan_transitions", q, "plan changes")
    ui.caption("plan_transitions", f"The range itself, {fmt.span(q.start, q.end)}, not the months above.")
