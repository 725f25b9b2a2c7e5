"""User: find one user by id, email or name, and see everything about them."""

import streamlit as st

from metrics import registry
from ui import auth, cache, charts, mail, url
from ui import components as ui
from ui import format as fmt
from ui.filters import current_query

PAGE_SIZE = 50
FIGURE_LABELS = {
    "active_days": "Active days",
    "sessions_per_week": "Sessions per week",
    "avg_session_s": "Average session",
    "total_spent": "Total spent",
    "orders": "Orders",
    "avg_monthly_spend": "Average monthly spend",
    "current_mrr": "Current MRR",
}
TYPE_LABELS = {"email": "Emails sent", "event": "Events", "session": "Sessions", "purchase": "Purchases", "refund": "Refunds",
               "failed_payment": "Failed payments", "pending_payment": "Pending payments", "plan_change": "Plan changes"}
SPENDING_LABELS = {"category": "By category", "provider": "By provider", "month": "By month"}
SPENDING_VALUES = {"category": "Category", "provider": "Provider", "month": "Month"}

spending_dimensions = registry.get("user_spending").option("dimension").choices
# A role sees a user's activity, their money, or both (billing: money only).
activity_shown, money_shown = auth.allowed("see_user_activity"), auth.allowed("see_user_money")
timeline_types = [t for t in registry.get("user_timeline").option("types").choices
                  if (activity_shown if t in ("event", "session") else money_shown)]
if activity_shown:
    timeline_types.append("email")

q = current_query()
st.title("User")

with ui.shows_errors():
    text = st.text_input("Find a user", placeholder="Part of an id, email or name", key="user_search")
    found = cache.metric("user_search", q, text=text) if text.strip() else None
    if found is not None and not ui.empty(found, f"users matching {text!r}"):
        names = {r["user_id"]: f"{r['name'] or '(no name)'} · {r['email'] or 'no email'} · {r['user_id']}"
                 for r in found.iter_rows(named=True)}
        picked = st.selectbox(f"{found.height} found (at most 20 shown)", list(names), format_func=names.get)
        st.session_state["user_page_id"] = picked
        url.keep("user", picked)
    # The user picked by search, or given in the link as ?user=ID, stays picked across reruns
    # until a search finds nobody.
    nobody = found is not None and found.is_empty()
    user_id = None if nobody else st.session_state.get("user_page_id") or st.query_params.get("user")
    if user_id is None:
        st.info("Search for a user to see their profile, activity, money and timeline.", icon=":material/person_search:")
        st.stop()

    profile = cache.metric("user_profile", q, user_id=user_id).row(0, named=True)
    st.header(fmt.text(profile["name"] or profile["email"] or user_id))
    activity_range = fmt.widened(q.start, q.end, q.range_start, q.range_end, q.interval) or fmt.span(q.start, q.end)
    st.caption(f"User {fmt.text(user_id)} · figures as of the end of {q.end}; activity, spending and timeline for {activity_range}.")
    consent = "yes" if profile["marketing_opt_in"] else "no"
    st.markdown(
        f"**Email** {fmt.text(profile['email'] or fmt.EMPTY)} · **Signed up** {fmt.moment(profile['signup_at'])} · "
        f"**Country** {fmt.text(profile['country'] or fmt.EMPTY)} · "
        f"**Timezone** {fmt.text(profile['timezone'] or fmt.EMPTY)} · **Plan** {fmt.text(profile['plan'] or fmt.EMPTY)} · "
        f"**Signs in with** {fmt.text(profile['auth_provider'] or fmt.EMPTY)} · "
        f"**Marketing email** {consent}  \n"
        f"**First seen** {fmt.moment(profile['first_seen'])} · **Last seen** {fmt.moment(profile['last_seen'])}"
    )
    ui.email_these([user_id], key="email-this-user", label="Email this user")
    ui.figure_cards(profile, FIGURE_LABELS, money=("total_spent", "avg_monthly_spend", "current_mrr"),
                    durations=("avg_session_s",))
    ui.caption("user_profile")

    hours_col, spending_col = st.columns(2) if activity_shown and money_shown else (st.container(), st.container())
    if activity_shown:
        with hours_col:
            st.subheader("When they are active")
            ui.chart(charts.weekday_hours(cache.metric("user_hours", q, user_id=user_id)))
            ui.caption("user_hours", text="One user's events by weekday and hour of the day in the reporting timezone.")
    if money_shown:
        with spending_col:
            st.subheader("Spending")
            for tab, dimension in zip(st.tabs([SPENDING_LABELS[d] for d in spending_dimensions]), spending_dimensions):
                with tab:
                    spending = cache.metric("user_spending", q, user_id=user_id, dimension=dimension)
                    months = "month" if dimension == "month" else None
                    ui.chart_with_table(charts.bars(spending, "amount", "value", "Net spend", values="money",
                                                    details=("orders",), periods=months),
                                        spending, "user_spending", q, "spending", key=f"spending-{dimension}",
                                        money_columns=("amount",), labels={"value": SPENDING_VALUES[dimension]},
                                        dates={"value": "month"} if months else None)
            ui.caption("user_spending")

        st.subheader("Subscription history")
        periods = cache.metric("user_subscriptions", q, user_id=user_id)
        if not ui.empty(periods, "subscriptions"):
            ui.table(periods, "user_subscriptions", q, money_columns=("mrr",))
        ui.caption("user_subscriptions", "Times in UTC.")

    st.subheader("Timeline")
    types = st.multiselect("Show", timeline_types, format_func=TYPE_LABELS.get, key="timeline_types",
                           default=url.get_list("types", timeline_types, timeline_types, what="timeline types"))
    url.keep("types", types, timeline_types)
    page_key = f"timeline_page-{user_id}-{','.join(types)}"
    page = st.session_state.get(page_key, 0)
    if types:
        kept = [t for t in types if t != "email"]
        timeline = cache.metric("user_timeline", q, user_id=user_id, types=",".join(kept), limit=PAGE_SIZE,
                                offset=page * PAGE_SIZE) if kept else None
        more = timeline is not None and timeline.height == PAGE_SIZE
        if "email" in types:  # emails live in the admin database: those within this page's span join it
            timeline = mail.with_emails(timeline, user_id, q, first_page=page == 0, last_page=not more)
        if not ui.empty(timeline, "activity"):
            ui.table(timeline, "user_timeline", q, money_columns=("amount",), key="timeline",
                     empty={"amount": "nothing paid: an event, a session or the end of a period"})
        ui.pager(page_key, more=more, note=f"Page {page + 1} · newest first · times in UTC",
                 back="Newer", forward="Older")
    else:
        st.info("Pick at least one kind of item to show.", icon=":material/filter_alt:")
    ui.caption("user_timeline")
