"""Revenue: recurring revenue, how it moves month to month, and the subscriptions behind it."""

import altair as alt
import streamlit as st

from pulse.query import period_end
from ui import cache
from ui import components as ui
from ui.filters import current_query

MOVEMENTS = {  # column: (label, direction)
    "new_mrr": ("New", 1),
    "reactivation_mrr": ("Reactivation", 1),
    "expansion_mrr": ("Expansion", 1),
    "contraction_mrr": ("Contraction", -1),
    "churned_mrr": ("Churned", -1),
}
MOVEMENT_COLOURS = ["#2e7d32", "#66bb6a", "#a5d6a7", "#ef9a9a", "#c62828"]
STATUS_LABELS = {"trial": "On a trial", "active": "Paying", "cancelled": "Cancelled", "free": "Free"}


def movements_chart(bridge) -> alt.Chart:
    """The MRR movements per month as bars: gains above zero, losses below."""
    signs = " : ".join(f"datum.movement == '{name}' ? {sign} * datum.amount" for name, (_, sign) in MOVEMENTS.items())
    labels = {name: label for name, (label, _) in MOVEMENTS.items()}
    data = bridge.select("month", *[bridge[c].cast(float) for c in MOVEMENTS])
    return alt.Chart(data).transform_fold(list(MOVEMENTS), as_=["movement", "amount"]).transform_calculate(
        signed=f"{signs} : datum.amount",
        label=" : ".join(f"datum.movement == '{n}' ? '{l}'" for n, l in labels.items()) + " : datum.movement",
    ).mark_bar().encode(
        x=alt.X("month:O", timeUnit="yearmonth", title=None),
        y=alt.Y("signed:Q", title=f"MRR movement ({ui.currency()})", stack=True, axis=money_axis()),
        color=alt.Color("label:N", title=None, sort=list(labels.values()), legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=list(labels.values()), range=MOVEMENT_COLOURS)),
        tooltip=[alt.Tooltip("month:T", title="Month", format="%B %Y"), alt.Tooltip("label:N", title=""),
                 alt.Tooltip("amount:Q", title="MRR", format=",.2f")],
    ).properties(height=300)


def money_axis() -> alt.Axis:
    return alt.Axis(format="$,.0f" if ui.currency() == "USD" else ",.0f")


def trials_chart(trials) -> alt.Chart:
    """Trials started and converted per month, side by side."""
    series = {"trials": "Trials started", "converted": "Converted"}
    return alt.Chart(trials).transform_fold(list(series), as_=["series", "count"]).transform_calculate(
        label=f"datum.series == 'trials' ? '{series['trials']}' : '{series['converted']}'"
    ).mark_bar().encode(
        x=alt.X("cohort:O", timeUnit="yearmonth", title=None),
        xOffset=alt.XOffset("label:N", sort=list(series.values())),
        y=alt.Y("count:Q", title="Trials"),
        color=alt.Color("label:N", title=None, sort=list(series.values()), legend=alt.Legend(orient="top")),
        tooltip=[alt.Tooltip("cohort:T", title="Started in", format="%B %Y"), alt.Tooltip("label:N", title=""),
                 alt.Tooltip("count:Q", title="Trials")],
    ).properties(height=260)


def transition_matrix(transitions) -> alt.LayerChart:
    """Customers per (from plan, to plan), the counts written in."""
    base = alt.Chart(transitions).transform_joinaggregate(top="max(customers)").encode(
        x=alt.X("to_plan:N", title="To plan", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("from_plan:N", title="From plan"),
    ).properties(height=alt.Step(36))
    cells = base.mark_rect().encode(
        color=alt.Color("customers:Q", title="Customers", scale=alt.Scale(scheme="blues")),
        tooltip=[alt.Tooltip("from_plan:N", title="From"), alt.Tooltip("to_plan:N", title="To"),
                 alt.Tooltip("customers:Q", title="Customers")],
    )
    counts = base.mark_text(fontSize=13).encode(
        text="customers:Q", color=alt.condition("datum.customers > datum.top / 2", alt.value("white"), alt.value("black")),
    )
    return cells + counts


def by_month(chart: alt.Chart, column: str = "month") -> alt.Chart:
    """A ui.time_chart of monthly figures, its axis labelled by month."""
    return chart.encode(x=alt.X(f"{column}:T", title=None, axis=alt.Axis(format="%b %Y", tickCount="month")))


def percent_axis(chart: alt.Chart, title: str) -> alt.Chart:
    """A monthly ui.time_chart whose values are fractions, drawn and hovered as percentages."""
    return by_month(chart).encode(
        y=alt.Y("value:Q", title=title, axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("month:T", title="Month", format="%B %Y"), alt.Tooltip("series:N", title=""),
                 alt.Tooltip("value:Q", title=title, format=".1%")],
    )


q = current_query()
st.title("Revenue")
st.caption(f"Monthly, {q.range_start:%B %Y} – {q.range_end:%B %Y} (MRR is measured at each month's end), "
           f"money in {ui.currency()}.")

with ui.shows_errors():
    mrr = cache.metric("mrr", q)
    rates = cache.metric("mrr_rates", q)
    latest, latest_rates = mrr.row(-1, named=True), rates.row(-1, named=True)
    in_progress = period_end(latest["month"], "month") > cache.info().last_day
    st.caption(f"At the end of {latest['month']:%B %Y}"
               + (" (the data ends before the month does: periods still running are counted)" if in_progress else "") + ":")
    ui.cards([
        ui.Card("MRR", ui.money(latest["mrr"]), help=f"ARR (12 × MRR): {ui.money(latest['arr'])}"),
        ui.Card("Net new MRR", ui.money(latest["net_new_mrr"]), help="New + reactivation + expansion − contraction − churned"),
        ui.Card("Paying customers", ui.number(latest["customers"])),
        ui.Card("ARPU", ui.money(latest["arpu"])),
        ui.Card("Net revenue retention", ui.pct(latest_rates["nrr"])),
        ui.Card("Gross revenue retention", ui.pct(latest_rates["grr"])),
        ui.Card("Customer churn", ui.pct(latest_rates["customer_churn_rate"])),
        ui.Card("LTV", ui.money(latest_rates["ltv"])),
    ])

    st.subheader("MRR and ARR")
    left, right = st.columns(2)
    with left:
        ui.chart(by_month(ui.time_chart(mrr, "month", {"mrr": "MRR"}, money_axis=True, y_title="MRR")))
    with right:
        ui.chart(by_month(ui.time_chart(mrr, "month", {"arr": "ARR"}, money_axis=True, y_title="ARR")))
    ui.caption("mrr")

    st.subheader("MRR movements")
    bridge = cache.metric("mrr_bridge", q)
    ui.chart(movements_chart(bridge))
    ui.table(bridge, "mrr_bridge", q, money_columns=tuple(c for c in bridge.columns if c != "month"))
    ui.caption("mrr_bridge")

    st.subheader("Churn and retention")
    left, right = st.columns(2)
    with left:
        ui.chart(percent_axis(ui.time_chart(rates, "month", {"customer_churn_rate": "Customer churn",
                                                              "gross_mrr_churn": "Gross MRR churn",
                                                              "net_mrr_churn": "Net MRR churn"}), "Churn"))
    with right:
        ui.chart(percent_axis(ui.time_chart(rates, "month", {"nrr": "NRR", "grr": "GRR"}), "Retention"))
    left, right = st.columns(2)
    with left:
        ui.chart(by_month(ui.time_chart(mrr, "month", {"arpu": "ARPU"}, money_axis=True, y_title="ARPU")))
    with right:
        ui.chart(by_month(ui.time_chart(rates, "month", {"ltv": "LTV"}, money_axis=True, y_title="LTV")))
    ui.caption("mrr_rates", "Net MRR churn is negative when expansion outweighs the losses.")
    with st.expander("The numbers behind the charts"):
        ui.table(mrr, "mrr", q, money_columns=("mrr", "arr", "arpu", *MOVEMENTS, "net_new_mrr"))
        ui.table(rates, "mrr_rates", q, money_columns=("ltv",),
                 percent_columns=("customer_churn_rate", "gross_mrr_churn", "net_mrr_churn", "nrr", "grr"))

    st.subheader("Plan mix")
    mix = cache.metric("plan_mix", q)
    if not ui.empty(mix, "paid plans"):
        ui.chart(alt.Chart(mix.with_columns(mix["mrr"].cast(float))).mark_bar().encode(
            x=alt.X("month:O", timeUnit="yearmonth", title=None),
            y=alt.Y("mrr:Q", title=f"MRR ({ui.currency()})", stack=True, axis=money_axis()),
            color=alt.Color("plan:N", title="Plan", legend=alt.Legend(orient="top")),
            tooltip=[alt.Tooltip("month:T", title="Month", format="%B %Y"), alt.Tooltip("plan:N", title="Plan"),
                     alt.Tooltip("customers:Q", title="Customers"), alt.Tooltip("mrr:Q", title="MRR", format=",.2f")],
        ).properties(height=280))
        with st.expander("Plan mix table"):
            ui.table(mix, "plan_mix", q, money_columns=("mrr",))
    ui.caption("plan_mix")

    left, right = st.columns(2)
    with left:
        st.subheader("Subscriptions now")
        status = cache.metric("subscription_status", q)
        ui.cards([ui.Card(STATUS_LABELS[r["status"]], ui.number(r["subscriptions"])) for r in status.iter_rows(named=True)],
                 per_row=2)
        ui.caption("subscription_status", f"As of the end of {q.end}.")
    with right:
        st.subheader("Trial conversion")
        trials = cache.metric("trial_conversion", q)
        ui.chart(trials_chart(trials))
        ui.table(trials, "trial_conversion", q, percent_columns=("conversion_rate",))
        ui.caption("trial_conversion", "Converted means a paid period within 30 days of the trial's start.")

    st.subheader("Plan changes")
    transitions = cache.metric("plan_transitions", q)
    if not ui.empty(transitions, "plan changes"):
        ui.chart(transition_matrix(transitions))
        ui.table(transitions, "plan_transitions", q)
    ui.caption("plan_transitions")
