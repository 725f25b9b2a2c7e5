"""Purchases: what was bought, refunded and failed, by whom, and every transaction behind it."""

import altair as alt
import streamlit as st

from metrics import registry
from metrics.revenue import BREAKDOWN_DIMENSIONS, TRANSACTION_SORTS
from pulse.export import to_csv
from ui import cache
from ui import components as ui
from ui.filters import current_query, period_label

PAGE_SIZE = 50
SORT_LABELS = {"ts": "Time", "amount": "Amount", "user_id": "User", "kind": "Kind", "status": "Status", "category": "Category",
               "provider": "Provider", "transaction_id": "Transaction id"}
DIMENSION_LABELS = {"category": "Category", "provider": "Provider", "payment_method": "Payment method", "plan": "Plan",
                    "country": "Country"}
ALL = "All"


def percent_axis(chart: alt.Chart, title: str) -> alt.Chart:
    """A ui.time_chart whose values are fractions, drawn and hovered as percentages."""
    return chart.encode(
        y=alt.Y("value:Q", title=title, axis=alt.Axis(format="%")),
        tooltip=[alt.Tooltip("period:T", title="Period"), alt.Tooltip("series:N", title=""),
                 alt.Tooltip("value:Q", title=title, format=".1%")],
    )


def money_axis() -> alt.Axis:
    return alt.Axis(format="$,.0f" if ui.currency() == "USD" else ",.0f")


def bars_by_value(frame, value: str, measure: str, title: str) -> alt.Chart:
    """Horizontal bars of one money measure per value, largest first."""
    return alt.Chart(frame.with_columns(frame[measure].cast(float))).mark_bar().encode(
        x=alt.X(f"{measure}:Q", title=f"{title} ({ui.currency()})", axis=money_axis()),
        y=alt.Y(f"{value}:N", title=None, sort="-x"),
        tooltip=[alt.Tooltip(f"{value}:N", title=ui.label(value)), alt.Tooltip(f"{measure}:Q", title=title, format=",.2f")],
    ).properties(height=alt.Step(22))


def cohort_heatmap(cohorts) -> alt.LayerChart:
    """Net revenue by first-purchase month (rows) and months since (columns), the figures written in."""
    base = alt.Chart(cohorts.with_columns(cohorts["revenue"].cast(float))).transform_joinaggregate(
        top="max(revenue)"
    ).encode(
        x=alt.X("period_offset:O", title="Months after the first purchase", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("cohort:O", title="First purchase in", timeUnit="yearmonth"),
    ).properties(height=alt.Step(28))
    cells = base.mark_rect().encode(
        color=alt.Color("revenue:Q", title=f"Net revenue ({ui.currency()})", scale=alt.Scale(scheme="greens")),
        tooltip=[alt.Tooltip("cohort:T", title="Cohort", format="%B %Y"), alt.Tooltip("period_offset:O", title="Month"),
                 alt.Tooltip("cohort_size:Q", title="Customers"), alt.Tooltip("buyers:Q", title="Bought that month"),
                 alt.Tooltip("revenue:Q", title="Net revenue", format=",.2f")],
    )
    figures = base.mark_text(fontSize=11).encode(
        text=alt.Text("revenue:Q", format=",.0f"),
        color=alt.condition("datum.revenue > datum.top / 2", alt.value("white"), alt.value("black")),
    )
    return cells + figures


q = current_query()
st.title("Purchases")
st.caption(f"{q.range_start} – {q.range_end} · money in {ui.currency()} · succeeded payments unless a table says otherwise.")

with ui.shows_errors():
    summary = cache.metric("revenue_summary", q).row(0, named=True)
    ui.cards([
        ui.Card("Gross revenue", ui.money(summary["gross_revenue"])),
        ui.Card("Refunds", ui.money(summary["refunds"]), inverse=True),
        ui.Card("Net revenue", ui.money(summary["net_revenue"])),
        ui.Card("Average order value", ui.money(summary["avg_order_value"])),
        ui.Card("Orders", ui.number(summary["orders"])),
        ui.Card("Buyers", ui.number(summary["buyers"])),
        ui.Card("Failed payments", ui.number(summary["failed_payments"]), inverse=True),
        ui.Card("Failure rate", ui.pct(summary["failed_rate"]), inverse=True),
    ])
    ui.caption("revenue_summary")

    other = cache.metric("other_currencies", q)
    if other.height:
        amounts = ", ".join(f"{ui.money(r['amount'], r['currency'])} ({ui.number(r['transactions'])} orders)"
                            for r in other.iter_rows(named=True))
        st.info(f"Not included above, because they are not in {ui.currency()}: {amounts}.", icon=":material/currency_exchange:")

    per = period_label(q.interval).lower()
    revenue = cache.metric("revenue", q)
    st.subheader("Revenue")
    ui.chart(ui.time_chart(revenue, "period", {"gross_revenue": "Gross", "refunds": "Refunds", "net_revenue": "Net"},
                           y_title=f"Revenue per {per}", money_axis=True))
    left, right = st.columns(2)
    with left:
        ui.chart(ui.time_chart(revenue, "period", {"orders": "Orders", "buyers": "Buyers"}, y_title=f"Per {per}"))
    with right:
        ui.chart(ui.time_chart(revenue, "period", {"avg_order_value": "Average order value"}, money_axis=True,
                               y_title="Average order value"))
    ui.caption("revenue", "A refund counts when it is paid back, so net revenue can dip below zero.")

    st.subheader("Revenue by …")
    tabs = st.tabs([DIMENSION_LABELS[d] for d in BREAKDOWN_DIMENSIONS])
    for tab, dimension in zip(tabs, BREAKDOWN_DIMENSIONS):
        with tab:
            breakdown = cache.metric("revenue_breakdown", q, dimension=dimension)
            if not ui.empty(breakdown, "orders"):
                ui.chart(bars_by_value(breakdown, "value", "gross_revenue", "Gross revenue"))
                ui.table(breakdown, "revenue_breakdown", q, money_columns=("gross_revenue",), percent_columns=("share",),
                         key=f"breakdown-{dimension}")
    ui.caption("revenue_breakdown")

    st.subheader("Refunds and failed payments")
    problems = cache.metric("refunds_and_failures", q)
    left, right = st.columns(2)
    with left:
        ui.chart(ui.time_chart(problems, "period", {"refunds": "Refunds", "failed_payments": "Failed payments"},
                               y_title=f"Count per {per}"))
        ui.chart(percent_axis(ui.time_chart(problems, "period", {"failed_rate": "Failure rate"}), "Failure rate"))
    with right:
        ui.chart(ui.time_chart(problems, "period", {"refunded_amount": "Refunded", "failed_amount": "Failed"},
                               money_axis=True, y_title=f"Amount per {per}"))
    ui.caption("refunds_and_failures")

    st.subheader("Transactions")
    st.caption("Every transaction in the range, in any status and currency (times in UTC).")
    categories = cache.metric("transaction_facets", q, facet="category")["value"].to_list()
    providers = cache.metric("transaction_facets", q, facet="provider")["value"].to_list()
    with st.form("explorer", border=False):
        cols = st.columns(4)
        status = cols[0].selectbox("Status", [ALL, "succeeded", "failed", "pending"])
        kind = cols[1].selectbox("Kind", [ALL, "purchase", "subscription", "refund"])
        category = cols[2].selectbox("Category", [ALL] + categories)
        provider = cols[3].selectbox("Provider", [ALL] + providers)
        cols = st.columns(4)
        min_amount = cols[0].number_input("Amount from", min_value=0.0, value=None, step=10.0, format="%.2f")
        max_amount = cols[1].number_input("Amount up to", min_value=0.0, value=None, step=10.0, format="%.2f")
        sort = cols[2].selectbox("Sort by", TRANSACTION_SORTS, format_func=SORT_LABELS.get)
        descending = cols[3].toggle("Highest / newest first", value=True)
        if st.form_submit_button("Show transactions"):
            st.session_state["explorer_page"] = 0
    page = st.session_state.get("explorer_page", 0)
    choices = {
        "status": None if status == ALL else status,
        "kind": None if kind == ALL else kind,
        "category": None if category == ALL else category,
        "provider": None if provider == ALL else provider,
        "min_amount": None if min_amount is None else f"{min_amount:.2f}",
        "max_amount": None if max_amount is None else f"{max_amount:.2f}",
        "sort": sort,
        "descending": descending,
    }
    rows = cache.metric("transactions_list", q, **choices, limit=PAGE_SIZE, offset=page * PAGE_SIZE)
    ui.table(rows, "transactions_list", q, money_columns=("amount",), key="explorer")
    store, everything = cache.store(), q.with_options(**{k: v for k, v in choices.items() if v is not None})
    back, info, forward, download = st.columns([1, 2, 1, 2])
    if back.button("Previous page", disabled=page == 0, icon=":material/chevron_left:"):
        st.session_state["explorer_page"] = page - 1
        st.rerun()
    info.caption(f"Page {page + 1} · {PAGE_SIZE} rows a page")
    if forward.button("Next page", disabled=rows.height < PAGE_SIZE, icon=":material/chevron_right:"):
        st.session_state["explorer_page"] = page + 1
        st.rerun()
    download.download_button(
        "Download every matching row", lambda: to_csv(registry.run("transactions_list", store, everything)),
        file_name=f"transactions_{q.start}_{q.end}.csv", mime="text/csv", icon=":material/download:", key="explorer-all",
    )

    st.subheader("Purchase cohorts")
    cohorts = cache.metric("purchase_cohorts", q)
    if not ui.empty(cohorts, "cohorts"):
        ui.chart(cohort_heatmap(cohorts))
        with st.expander("Cohort table"):
            ui.table(cohorts, "purchase_cohorts", q, money_columns=("revenue",))
    ui.caption("purchase_cohorts")

    st.subheader("Top customers")
    top = cache.metric("customer_value", q, sort="total_spent", descending=True, limit=20)
    if not ui.empty(top, "customers"):
        ui.table(top, "customer_value", q, money_columns=("total_spent", "avg_order_value"))
    ui.caption("customer_value", "The 20 who spent most, net of refunds.")
