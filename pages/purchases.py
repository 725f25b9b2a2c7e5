"""Purchases: what was bought, refunded and failed, by whom, and every transaction behind it."""

import streamlit as st

from metrics import registry
from ui import cache, charts
from ui import components as ui
from ui import format as fmt
from ui.filters import current_query, period_label

PAGE_SIZE = 50
SUMMARY_LABELS = {
    "gross_revenue": "Gross revenue",
    "refunds": "Refunds",
    "net_revenue": "Net revenue",
    "avg_order_value": "Average order value",
    "orders": "Orders",
    "buyers": "Buyers",
    "failed_payments": "Failed payments",
    "failed_rate": "Failure rate",
}
SORT_LABELS = {"ts": "Time", "amount": "Amount", "user_id": "User", "kind": "Kind", "status": "Status", "category": "Category",
               "provider": "Provider", "transaction_id": "Transaction id"}
DIMENSION_LABELS = {"category": "Category", "provider": "Provider", "payment_method": "Payment method", "plan": "Plan",
                    "country": "Country"}
ALL = "All"

dimensions = registry.get("revenue_breakdown").option("dimension").choices
explorer = registry.get("transactions_list")

q = current_query()
per = period_label(q.interval).lower()
st.title("Purchases")
st.caption(f"{q.range_start} – {q.range_end} · money in {fmt.currency()} · succeeded payments unless a table says otherwise.")

with ui.shows_errors():
    summary = cache.metric("revenue_summary", q).row(0, named=True)
    ui.figure_cards(summary, SUMMARY_LABELS, money=("gross_revenue", "refunds", "net_revenue", "avg_order_value"),
                    percent=("failed_rate",), inverse=("refunds", "failed_payments", "failed_rate"))
    ui.caption("revenue_summary")

    other = cache.metric("other_currencies", q)
    if other.height:
        amounts = ", ".join(f"{fmt.money(r['amount'], r['currency'])} ({fmt.number(r['transactions'])} orders)"
                            for r in other.iter_rows(named=True))
        st.info(f"Not included above, because they are not in {fmt.currency()}: {amounts}.", icon=":material/currency_exchange:")

    revenue = cache.metric("revenue", q)
    st.subheader("Revenue")
    ui.chart(charts.time(revenue, "period", {"gross_revenue": "Gross", "refunds": "Refunds", "net_revenue": "Net"},
                         y_title=f"Revenue per {per}", values="money"))
    orders_col, value_col = st.columns(2)
    with orders_col:
        ui.chart(charts.time(revenue, "period", {"orders": "Orders", "buyers": "Buyers"}, y_title=f"Per {per}"))
    with value_col:
        ui.chart(charts.time(revenue, "period", {"avg_order_value": "Average order value"}, y_title="Average order value",
                             values="money"))
    ui.caption("revenue", "A refund counts when it is paid back, so net revenue can dip below zero.")

    st.subheader("Revenue by …")
    for tab, dimension in zip(st.tabs([DIMENSION_LABELS[d] for d in dimensions]), dimensions):
        with tab:
            breakdown = cache.metric("revenue_breakdown", q, dimension=dimension)
            ui.chart_with_table(charts.bars(breakdown, "gross_revenue", "value", "Gross revenue", values="money",
                                            largest_first=True, step=22),
                                breakdown, "revenue_breakdown", q, "orders", key=f"breakdown-{dimension}",
                                money_columns=("gross_revenue",), percent_columns=("share",))
    ui.caption("revenue_breakdown")

    st.subheader("Refunds and failed payments")
    problems = cache.metric("refunds_and_failures", q)
    counts_col, amounts_col = st.columns(2)
    with counts_col:
        ui.chart(charts.time(problems, "period", {"refund_count": "Refunds", "failed_payments": "Failed payments"},
                             y_title=f"Count per {per}"))
        ui.chart(charts.time(problems, "period", {"failed_rate": "Failure rate"}, y_title="Failure rate", values="percent"))
    with amounts_col:
        ui.chart(charts.time(problems, "period", {"refunded_amount": "Refunded", "failed_amount": "Failed"},
                             y_title=f"Amount per {per}", values="money"))
    ui.caption("refunds_and_failures")

    st.subheader("Transactions")
    st.caption("Every transaction in the range, in any status and currency (times in UTC).")
    categories = cache.metric("transaction_facets", q, facet="category")["value"].to_list()
    providers = cache.metric("transaction_facets", q, facet="provider")["value"].to_list()
    with st.form("explorer", border=False):
        cols = st.columns(4)
        status = cols[0].selectbox("Status", [ALL, *explorer.option("status").choices])
        kind = cols[1].selectbox("Kind", [ALL, *explorer.option("kind").choices])
        category = cols[2].selectbox("Category", [ALL] + categories)
        provider = cols[3].selectbox("Provider", [ALL] + providers)
        cols = st.columns(4)
        min_amount = cols[0].number_input("Amount from", min_value=0.0, value=None, step=10.0, format="%.2f")
        max_amount = cols[1].number_input("Amount up to", min_value=0.0, value=None, step=10.0, format="%.2f")
        sort = cols[2].selectbox("Sort by", explorer.option("sort").choices, format_func=SORT_LABELS.get)
        descending = cols[3].toggle("Highest / newest first", value=explorer.option("descending").default)
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
    pager_col, download_col = st.columns([4, 2])
    with pager_col:
        ui.pager("explorer_page", more=rows.height == PAGE_SIZE, note=f"Page {page + 1} · {PAGE_SIZE} rows a page")
    with download_col:
        ui.download_every_row("transactions_list", q.with_options(**{k: v for k, v in choices.items() if v is not None}),
                              "transactions", "Download every matching row", key="explorer-all")

    st.subheader("Purchase cohorts")
    cohorts = cache.metric("purchase_cohorts", q)
    ui.chart_with_table(charts.purchase_cohorts(cohorts), cohorts, "purchase_cohorts", q, "cohorts", folded="Cohort table",
                        money_columns=("revenue",))
    ui.caption("purchase_cohorts")

    st.subheader("Top customers")
    top = cache.metric("customer_value", q, sort="total_spent", descending=True, limit=20)
    if not ui.empty(top, "customers"):
        ui.table(top, "customer_value", q, money_columns=("total_spent", "avg_order_value"))
    ui.caption("customer_value", "The 20 who spent most, net of refunds.")
