"""User: find one user by id, email or name, and see everything about them."""

import altair as alt
import streamlit as st

from metrics.user import TIMELINE_TYPES
from ui import cache
from ui import components as ui
from ui.filters import current_query

PAGE_SIZE = 50
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
TYPE_LABELS = {"event": "Events", "session": "Sessions", "purchase": "Purchases", "refund": "Refunds",
               "failed_payment": "Failed payments", "pending_payment": "Pending payments", "plan_change": "Plan changes"}
SPENDING = {"category": "By category", "provider": "By provider", "month": "By month"}


def hours_heatmap(hours) -> alt.Chart:
    """Events by weekday and hour of the day."""
    return alt.Chart(hours).mark_rect().encode(
        x=alt.X("hour:O", title="Hour of the day"),
        y=alt.Y("weekday:O", title=None, axis=alt.Axis(labelExpr=f"{WEEKDAYS}[datum.value]")),
        color=alt.Color("events:Q", title="Events", scale=alt.Scale(scheme="oranges")),
        tooltip=[alt.Tooltip("weekday:O", title="Weekday"), alt.Tooltip("hour:O", title="Hour"),
                 alt.Tooltip("events:Q", title="Events")],
    ).properties(height=220)


def spending_bars(spending) -> alt.Chart:
    return alt.Chart(spending.with_columns(spending["amount"].cast(float))).mark_bar().encode(
        x=alt.X("amount:Q", title=f"Net spend ({ui.currency()})",
                axis=alt.Axis(format="$,.0f" if ui.currency() == "USD" else ",.0f")),
        y=alt.Y("value:N", title=None, sort=None),
        tooltip=[alt.Tooltip("value:N", title=""), alt.Tooltip("orders:Q", title="Orders"),
                 alt.Tooltip("amount:Q", title="Net spend", format=",.2f")],
    ).properties(height=alt.Step(24))


def moment(ts) -> str:
    return f"{ts:%Y-%m-%d %H:%M} UTC" if ts else "–"


def chosen_user(q) -> str | None:
    """The user picked by search (or given in the link as ?user=ID), remembered across reruns."""
    text = st.text_input("Find a user", placeholder="Part of an id, email or name", key="user_search")
    if text.strip():
        found = cache.metric("user_search", q, text=text)
        if ui.empty(found, f"users matching {text!r}"):
            return None
        labels = {r["user_id"]: f"{r['name'] or '(no name)'} · {r['email'] or 'no email'} · {r['user_id']}"
                  for r in found.iter_rows(named=True)}
        picked = st.selectbox(f"{found.height} found (at most 20 shown)", list(labels), format_func=labels.get)
        st.session_state["user_page_id"] = picked
        st.query_params["user"] = picked
    return st.session_state.get("user_page_id") or st.query_params.get("user")


q = current_query()
st.title("User")

with ui.shows_errors():
    user_id = chosen_user(q)
    if user_id is None:
        st.info("Search for a user to see their profile, activity, money and timeline.", icon=":material/person_search:")
        st.stop()

    profile = cache.metric("user_profile", q, user_id=user_id).row(0, named=True)
    st.header(profile["name"] or profile["email"] or user_id)
    st.caption(f"User {user_id} · figures as of the end of {q.end}; activity, spending and timeline for "
               f"{q.range_start} – {q.range_end}.")
    consent = "yes" if profile["marketing_opt_in"] else "no"
    st.markdown(
        f"**Email** {profile['email'] or '–'} · **Signed up** {moment(profile['signup_at'])} · "
        f"**Country** {profile['country'] or '–'} · **Timezone** {profile['timezone'] or '–'} · "
        f"**Plan** {profile['plan'] or '–'} · **Signs in with** {profile['auth_provider'] or '–'} · "
        f"**Marketing email** {consent}  \n"
        f"**First seen** {moment(profile['first_seen'])} · **Last seen** {moment(profile['last_seen'])}"
    )
    ui.cards([
        ui.Card("Active days", ui.number(profile["active_days"])),
        ui.Card("Sessions per week", ui.number(profile["sessions_per_week"])),
        ui.Card("Average session", ui.duration(profile["avg_session_s"])),
        ui.Card("Total spent", ui.money(profile["total_spent"])),
        ui.Card("Orders", ui.number(profile["orders"])),
        ui.Card("Average monthly spend", ui.money(profile["avg_monthly_spend"])),
        ui.Card("Current MRR", ui.money(profile["current_mrr"])),
    ])
    ui.caption("user_profile")

    left, right = st.columns(2)
    with left:
        st.subheader("When they are active")
        ui.chart(hours_heatmap(cache.metric("user_hours", q, user_id=user_id)))
        ui.caption("user_hours")
    with right:
        st.subheader("Spending")
        for tab, dimension in zip(st.tabs(list(SPENDING.values())), SPENDING):
            with tab:
                spending = cache.metric("user_spending", q, user_id=user_id, dimension=dimension)
                if not ui.empty(spending, "spending"):
                    ui.chart(spending_bars(spending))
                    ui.table(spending, "user_spending", q, money_columns=("amount",), key=f"spending-{dimension}")
        ui.caption("user_spending")

    st.subheader("Subscription history")
    periods = cache.metric("user_subscriptions", q, user_id=user_id)
    if not ui.empty(periods, "subscriptions"):
        ui.table(periods, "user_subscriptions", q, money_columns=("mrr",))
    ui.caption("user_subscriptions", "Times in UTC.")

    st.subheader("Timeline")
    types = st.multiselect("Show", list(TIMELINE_TYPES), default=list(TIMELINE_TYPES), format_func=TYPE_LABELS.get,
                           key=f"timeline_types-{user_id}")
    page_key = f"timeline_page-{user_id}-{','.join(types)}"
    page = st.session_state.get(page_key, 0)
    if types:
        timeline = cache.metric("user_timeline", q, user_id=user_id, types=",".join(types), limit=PAGE_SIZE,
                                offset=page * PAGE_SIZE)
        if not ui.empty(timeline, "activity"):
            ui.table(timeline, "user_timeline", q, money_columns=("amount",), key="timeline")
        back, info, forward = st.columns([1, 2, 1])
        if back.button("Newer", disabled=page == 0, icon=":material/chevron_left:"):
            st.session_state[page_key] = page - 1
            st.rerun()
        info.caption(f"Page {page + 1} · newest first · times in UTC")
        if forward.button("Older", disabled=timeline.height < PAGE_SIZE, icon=":material/chevron_right:"):
            st.session_state[page_key] = page + 1
            st.rerun()
    ui.caption("user_timeline")
