"""Purchases: what was bought, refunded and failed, by whom, and every transaction behind it."""

import streamlit as st

from metrics import registry
from ui import cache, charts, url
from ui import components as ui
from ui import format as fmt
from ui.filters import current_query

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
               "provider": "Provider", "transaction_id": "Transaction ID"}
DIMENSION_LABELS = {"category": "Category", "provider": "Provider", "payment_method": "Payment method", "plan": "Plan",
                    "country": "Country"}
ALL = "All"
FILTER_WIDTH = 200  # pixels
STATUS_LABELS = {ALL: ALL} | fmt.CODES["status"]
KIND_LABELS = {ALL: ALL} | fmt.CODES["kind"]

dimension_option = registry.get("revenue_breakdown").option("dimension")
dimensions = dimension_option.choices
explorer = registry.get("transactions_list")
sort_option, descending_option = explorer.option("sort"), explorer.option("descending")

q = current_query()
per = fmt.label(q.interval).lower()
cutoff = ui.incomplete_from()
widened = fmt.widened(q.start, q.end, q.range_start, q.range_end, q.interval)
st.title("Purchases")
st.caption((f"{widened}; the Overview's net revenue counts {fmt.span(q.start, q.end)} only." if widened
            else f"{fmt.span(q.start, q.end)}.")
           + f" Money in {fmt.currency()}; succeeded payments unless a table says otherwise.")

with ui.shows_errors():
    summary = cache.metric("revenue_summary", q).row(0, named=True)
    ui.figure_cards(summary, SUMMARY_LABELS, money=("gross_revenue", "refunds", "net_revenue", "avg_order_value"),
                    percent=("failed_rate",), inverse=("refunds", "failed_payments", "failed_rate"))
    ui.caption("revenue_summary", text="The range's totals, counted as in the charts below: orders, buyers, gross and "
                                       "net revenue, refunds, average order value, failed payments.")

    other = cache.metric("other_currencies", q)
    if other.height:
        amounts = ", ".join(f"{fmt.money(r['amount'], r['currency'])} ({fmt.plural(r['transactions'], 'order')})"
                            for r in other.iter_rows(named=True))
        st.info(f"Not included above, because they are not in {fmt.currency()}: {fmt.text(amounts)}.", icon=":material/currency_exchange:")

    revenue = cache.metric("revenue", q)
    st.subheader("Revenue")
    ui.chart(charts.time(revenue, "period", {"gross_revenue": "Gross", "refunds": "Refunds", "net_revenue": "Net"},
                         y_title=f"Revenue per {per} ({fmt.currency()})", values="money", interval=q.interval,
                         incomplete_from=cutoff))
    orders_col, value_col = st.columns(2)
    with orders_col:
        ui.chart(charts.time(revenue, "period", {"orders": "Orders", "buyers": "Buyers"}, y_title=f"Per {per}",
                             interval=q.interval, incomplete_from=cutoff, narrow=True))
    with value_col:
        ui.chart(charts.time(revenue, "period", {"avg_order_value": "Average order value"},
                             y_title=f"Average order value ({fmt.currency()})", values="money", interval=q.interval,
                             incomplete_from=cutoff, narrow=True))
    ui.caption("revenue", "A refund counts when it is paid back, so net revenue can dip below zero.")

    st.subheader("Revenue by …")
    linked = url.get("by", dimension_option.default, dimensions, what="breakdown")
    tabs = st.tabs([DIMENSION_LABELS[d] for d in dimensions], default=DIMENSION_LABELS[linked], key="purchases_by",
                   on_change="rerun")
    chosen = {DIMENSION_LABELS[d]: d for d in dimensions}.get(st.session_state.get("purchases_by"), linked)
    url.keep("by", chosen, dimension_option.default)
    for tab, dimension in zip(tabs, dimensions):
        if dimension != chosen:
            continue
        with tab:
            breakdown = cache.metric("revenue_breakdown", q, dimension=dimension)
            ui.chart_with_table(charts.bars(breakdown, "gross_revenue", "value", "Gross revenue", values="money",
                                            largest_first=True, step=22),
                                breakdown, "revenue_breakdown", q, "orders", key=f"breakdown-{dimension}",
                                money_columns=("gross_revenue",), percent_columns=("share",),
                                labels={"share": "Share of gross revenue"})
    ui.caption("revenue_breakdown")

    st.subheader("Refunds and failed payments")
    problems = cache.metric("refunds_and_failures", q)
    counts_col, amounts_col = st.columns(2)
    with counts_col:
        ui.chart(charts.time(problems, "period", {"refund_count": "Refunds", "failed_payments": "Failed payments"},
                             y_title=f"Count per {per}", interval=q.interval, incomplete_from=cutoff, narrow=True))
        ui.chart(charts.time(problems, "period", {"failed_rate": "Failure rate"}, y_title="Failure rate", values="percent",
                             interval=q.interval, incomplete_from=cutoff, narrow=True))
    with amounts_col:
        ui.chart(charts.time(problems, "period", {"refunded_amount": "Refunded", "failed_amount": "Failed"},
                             y_title=f"Amount per {per} ({fmt.currency()})", values="money", interval=q.interval,
                             incomplete_from=cutoff, narrow=True))
    ui.caption("refunds_and_failures", f"No failure rate is drawn for a {q.interval} without payments.")

    st.subheader("Transactions")
    st.caption("Every transaction in the range, in any status and currency (times in UTC).")
    categories = cache.metric("transaction_facets", q, facet="category")["value"].to_list()
    providers = cache.metric("transaction_facets", q, facet="provider")["value"].to_list()
    statuses, kinds = explorer.option("status").choices, explorer.option("kind").choices
    # A category or provider from the link stays offered even where this range has none of it.
    linked = {
        "status": url.get("status", ALL, [ALL, *statuses], what="status"),
        "kind": url.get("kind", ALL, [ALL, *kinds], what="kind"),
        "category": url.get("category", ALL),
        "provider": url.get("provider", ALL),
        "sort": url.get("sort", sort_option.default, sort_option.choices, what="sort"),
        "descending": url.get("descending", str(descending_option.default).lower(), ("true", "false")) == "true",
    }
    category_options = [ALL, *categories, *([linked["category"]] if linked["category"] not in [ALL, *categories] else [])]
    provider_options = [ALL, *providers, *([linked["provider"]] if linked["provider"] not in [ALL, *providers] else [])]
    with st.form("explorer", border=False):
        # The filters wrap onto more rows on a narrow screen rather than cut their labels.
        filters = st.container(horizontal=True, gap="small", vertical_alignment="bottom")
        status = filters.selectbox("Status", [ALL, *statuses], index=[ALL, *statuses].index(linked["status"]),
                                   format_func=STATUS_LABELS.get, key="explorer_status", width=FILTER_WIDTH)
        kind = filters.selectbox("Kind", [ALL, *kinds], index=[ALL, *kinds].index(linked["kind"]),
                                 format_func=KIND_LABELS.get, key="explorer_kind", width=FILTER_WIDTH)
        category = filters.selectbox("Category", category_options, index=category_options.index(linked["category"]),
                                     key="explorer_category", width=FILTER_WIDTH)
        provider = filters.selectbox("Provider", provider_options, index=provider_options.index(linked["provider"]),
                                     key="explorer_provider", width=FILTER_WIDTH)
        min_amount = filters.number_input("Amount from", min_value=0.0, value=None, step=10.0, format="%.2f",
                                          key="explorer_min", width=FILTER_WIDTH)
        max_amount = filters.number_input("Amount up to", min_value=0.0, value=None, step=10.0, format="%.2f",
                                          key="explorer_max", width=FILTER_WIDTH)
        sort = filters.selectbox("Sort by", sort_option.choices, index=sort_option.choices.index(linked["sort"]),
                                 format_func=SORT_LABELS.get, key="explorer_sort", width=FILTER_WIDTH)
        descending = filters.toggle("Highest / newest first", value=linked["descending"], key="explorer_descending")
        if st.form_submit_button("Show transactions"):
            st.session_state["explorer_page"] = 0
    for name, value, default in (("status", status, ALL), ("kind", kind, ALL), ("category", category, ALL),
                                 ("provider", provider, ALL), ("sort", sort, sort_option.default),
                                 ("descending", descending, descending_option.default)):
        url.keep(name, value, default)
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
    if not ui.empty(rows, "transactions match these choices"):
        ui.table(rows, "transactions_list", q, money_columns=("amount",), key="explorer",
                 empty={"category": "none given", "plan": "not a subscription"})
    ui.pager("explorer_page", more=rows.height == PAGE_SIZE, note=f"Page {page + 1} · {PAGE_SIZE} rows a page")
    ui.download_every_row("transactions_list", q.with_options(**{k: v for k, v in choices.items() if v is not None}),
                              "transactions", "Download every matching row", key="explorer-all")

    st.subheader("Purchase cohorts")
    cohorts = cache.metric("purchase_cohorts", q)
    ui.chart_with_table(charts.purchase_cohorts(cohorts, cutoff), cohorts, "purchase_cohorts", q, "cohorts",
                        folded="Cohort table", money_columns=("revenue",), dates={"cohort": "month"},
                        labels={"cohort": "First purchase in", "period_offset": "Months later",
                                "cohort_size": "Customers", "buyers": "Bought that month", "revenue": "Net revenue"})
    ui.caption("purchase_cohorts")

    st.subheader("Top customers")
    top = cache.metric("customer_value", q, sort="total_spent", descending=True, limit=20)
    if not ui.empty(top, "customers"):
        ui.table(top, "customer_value", q, money_columns=("total_spent", "avg_order_value"))
        ui.email_these(top["user_id"].to_list(), key="email-top-customers")
    ui.caption("customer_value", "The 20 who spent most, net of refunds.")
