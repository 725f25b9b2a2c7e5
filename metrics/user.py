"""One user: find them, and everything about them, for the User page.

Every metric here takes `--option user_id=...` and reads only that user's rows (each
query filters by user_id first), so a user page stays fast on a large store. The
country/device/plan filters do not apply: the user is chosen by id. Profile and
subscription history are as of the end date (their whole history up to --end); hours,
spending and the timeline cover the range, widened to whole periods. Times are UTC, as
stored.
"""

from __future__ import annotations

from dataclasses import replace

import polars as pl

from metrics.base import MONEY_DTYPE, user_scope, weekday_hours_sql
from metrics.registry import Option, metric
from pulse.measures import NET, NOT_SET, ORDER, ORDER_COUNT, local_day, mean_seconds, money, mrr_active_at
from pulse.periods import calendar_sql, end_of_day_utc, offset_sql, periods_between, trunc_sql
from pulse.query import Query, QueryError

USER_ID = Option("user_id", "str", None, "the user's id",
                 required="Say which user: --option user_id=USER_ID (find it with user_search).")
SEARCH_LIMIT = 20


def _data_scope(q: Query) -> tuple[str, dict]:
    """The staff member's data scope alone: the user page looks a user up whatever the filters."""
    return user_scope(replace(q, filters=()), "user_id")


def user_id(store, q: Query) -> str:
    """The user the query asks about, checked to exist, or one sentence saying what is wrong."""
    value = q.opt("user_id")
    scope, params = _data_scope(q)
    if not store.scalar(f"SELECT count(*) FROM people WHERE user_id = $user AND {scope}", {"user": value} | params):
        raise QueryError(f"There is no user {value!r} in the store{' within your data scope' if q.scope else ''}; "
                         "search by id, email or name.")
    return value


@metric(
    "user_search",
    ["user_id", "email", "name", "country", "plan", "signup_at", "last_seen"],
    options=(Option("text", "str", None, "part of a user's id, email or name",
                    required="Type part of a user's id, email or name to search: --option text=..."),),
    area="user",
    internal=True,
)
def user_search(store, q: Query) -> pl.DataFrame:
    """Up to 20 users whose id, email or name contains the text, ignoring case.

    Exact id or email matches come first, then those that start with the text, then the
    rest; ties by user_id.
    """
    text = q.opt("text").lower()
    scope, params = _data_scope(q)
    return store.fetch(
        f"""
        SELECT user_id, email, name, country, plan, signup_at, last_seen
        FROM people
        WHERE (contains(lower(user_id), $text) OR contains(lower(email), $text) OR contains(lower(name), $text))
          AND {scope}
        ORDER BY CASE WHEN lower(user_id) = $text OR lower(email) = $text THEN 0
                      WHEN starts_with(lower(user_id), $text) OR starts_with(lower(email), $text)
                           OR starts_with(lower(name), $text) THEN 1
                      ELSE 2 END,
                 user_id
        LIMIT {SEARCH_LIMIT}
        """,
        {"text": text} | params,
    )


@metric(
    "user_profile",
    ["user_id", "email", "name", "signup_at", "country", "timezone", "auth_provider", "plan", "marketing_opt_in",
     "first_seen", "last_seen", "active_days", "sessions_per_week", "avg_session_s", "total_spent", "orders",
     "avg_monthly_spend", "current_mrr"],
    options=(USER_ID,),
    area="user",
)
def user_profile(store, q: Query) -> pl.DataFrame:
    """One user's profile and lifetime figures as of the end date.

    first_seen / last_seen: the first event and the last event of the last session that
    began by --end. active_days: local days with an event. sessions_per_week: sessions ÷
    (days from the first active day to --end, both counted) × 7. avg_session_s: mean session
    duration. total_spent: succeeded orders minus succeeded refunds, reporting currency.
    orders: succeeded purchases and subscription payments. avg_monthly_spend: total_spent ÷
    calendar months from the signup month to the --end month, both counted. current_mrr:
    the MRR of their periods active at the end of --end.
    """
    user = user_id(store, q)
    out = store.fetch(
        f"""
        WITH days AS (
            SELECT count(*) AS active_days, min(day) AS first_day FROM user_days WHERE user_id = $user AND day <= $end
        ),
        visits AS (
            SELECT min(start_ts) AS first_seen, max(end_ts) AS last_seen, count(*) AS sessions,
                   {mean_seconds('duration_s')} AS avg_session_s
            FROM sessions WHERE user_id = $user AND day <= $end
        ),
        paid AS (
            SELECT {ORDER_COUNT} AS orders, {NET} AS spent
            FROM transactions t WHERE t.user_id = $user AND t.day <= $end AND t.currency = $currency
        ),
        tenure AS (
            SELECT {offset_sql('month', trunc_sql('signup_day', 'month'), trunc_sql('CAST($end AS DATE)', 'month'))} + 1 AS months
            FROM people WHERE user_id = $user AND signup_day <= $end
        ),
        recurring AS (
            SELECT coalesce(sum(mrr), 0) AS mrr FROM subscriptions
            WHERE user_id = $user AND {mrr_active_at('subscriptions', '$at')}
        )
        SELECT p.user_id, p.email, p.name, p.signup_at, p.country, p.timezone, p.auth_provider, p.plan,
               p.marketing_opt_in, v.first_seen, v.last_seen, d.active_days,
               CAST(v.sessions AS DOUBLE) * 7 / (date_diff('day', d.first_day, CAST($end AS DATE)) + 1) AS sessions_per_week,
               v.avg_session_s, {money('paid.spent')} AS total_spent, paid.orders,
               {money('paid.spent / tenure.months')} AS avg_monthly_spend,
               {money('recurring.mrr')} AS current_mrr
        FROM people p CROSS JOIN days d CROSS JOIN visits v CROSS JOIN paid CROSS JOIN recurring
        LEFT JOIN tenure ON TRUE
        WHERE p.user_id = $user
        """,
        {"user": user, "end": q.end, "currency": store.currency, "at": end_of_day_utc(q.end, store.timezone)},
    )
    return out.cast({"active_days": pl.Int64, "orders": pl.Int64, "sessions_per_week": pl.Float64,
                     "avg_session_s": pl.Float64})


@metric("user_hours", ["weekday", "hour", "events"], options=(USER_ID,), area="user")
def user_hours(store, q: Query) -> pl.DataFrame:
    """One user's events by weekday (0 = Monday) and hour of the day in the reporting timezone, all 168 cells."""
    user = user_id(store, q)
    return store.fetch(
        weekday_hours_sql("SELECT day, hour FROM events WHERE user_id = $user AND day BETWEEN $start AND $end"),
        {"user": user, "start": q.range_start, "end": q.range_end},
    )


SPENDING_DIMENSIONS = ("category", "provider", "month")


@metric(
    "user_spending",
    ["value", "orders", "amount"],
    options=(USER_ID, Option("dimension", "choice", "category", "what to break the spending down by", SPENDING_DIMENSIONS)),
    area="user",
)
def user_spending(store, q: Query) -> pl.DataFrame:
    """One user's orders and net spend in the range by category, provider or month (reporting currency).

    amount = succeeded orders minus succeeded refunds. A refund counts in its own month,
    and under its own category/provider, else that of the order it refunds. Missing values
    show as "(none)"; with month, every month of the range appears (named by its first day).
    """
    user = user_id(store, q)
    dimension = q.opt("dimension")
    value = {
        "category": "coalesce(t.category, o.category, $not_set)",
        "provider": "coalesce(t.provider, o.provider, $not_set)",
        "month": f"strftime({trunc_sql('t.day', 'month')}, '%Y-%m-%d')",
    }[dimension]
    months = ""
    if dimension == "month":
        months = f"""UNION ALL
            SELECT strftime(month, '%Y-%m-%d'), 0, 0 FROM {calendar_sql('month', 'months')}"""
    out = store.fetch(
        f"""
        WITH mine AS (
            SELECT * FROM transactions
            WHERE user_id = $user AND currency = $currency AND status = 'succeeded' AND day <= $end
        ),
        rows AS (
            SELECT {value} AS value,
                   CASE WHEN {ORDER} THEN 1 ELSE 0 END AS is_order,
                   CASE WHEN {ORDER} THEN t.amount ELSE -t.amount END AS amount
            FROM mine t LEFT JOIN mine o ON t.kind = 'refund' AND o.transaction_id = t.refund_of
            WHERE t.day BETWEEN $start AND $end
            {months}
        )
        SELECT value, sum(is_order) AS orders, {money('sum(amount)')} AS amount
        FROM rows GROUP BY value ORDER BY value
        """,
        {"user": user, "currency": store.currency, "start": q.range_start, "end": q.range_end, "not_set": NOT_SET,
         "months": periods_between(q.range_start, q.range_end, "month")},
    )
    return out.cast({"orders": pl.Int64})


@metric(
    "user_subscriptions",
    ["subscription_id", "plan", "mrr", "started_at", "ended_at", "cancel_reason"],
    options=(USER_ID,),
    area="user",
)
def user_subscriptions(store, q: Query) -> pl.DataFrame:
    """One user's subscription periods that began by the end date, oldest first."""
    user = user_id(store, q)
    return store.fetch(
        f"""
        SELECT subscription_id, plan, {money('mrr')} AS mrr, started_at, ended_at, cancel_reason
        FROM subscriptions WHERE user_id = $user AND started_at < $at
        ORDER BY started_at, subscription_id
        """,
        {"user": user, "at": end_of_day_utc(q.end, store.timezone)},
    )


TIMELINE_TYPES = ("event", "session", "purchase", "refund", "failed_payment", "pending_payment", "plan_change")
# The timeline's detail is words: an event or transaction kind as a person would say it.
EVENT_WORDS = {"page_view": "Page view", "feature_use": "Feature use", "api_call": "API call", "login": "Sign-in",
               "logout": "Sign-out", "error": "Error", "custom": "Custom event"}
KIND_WORDS = {"purchase": "Purchase", "subscription": "Subscription payment", "refund": "Refund"}


def _words(column: str, words: dict[str, str]) -> str:
    """SQL naming `column`'s value in words (an unknown value as it is)."""
    cases = " ".join(f"WHEN '{key}' THEN '{word}'" for key, word in words.items())
    return f"CASE {column}::VARCHAR {cases} ELSE {column}::VARCHAR END"

# One SELECT per row type, each yielding (ts, type, detail, amount, key); `key` only orders ties.
_TIMELINE_PARTS = {
    "event": """
        SELECT ts, 'event' AS type,
               {event_words}
               || coalesce(': ' || CASE WHEN event_type = 'page_view' THEN page_path END,
                           ': ' || event_name, ': ' || page_path, '')
               || coalesce(' (' || device_type::VARCHAR || ')', '') AS detail,
               CAST(NULL AS DECIMAL(18,2)) AS amount, event_id AS key
        FROM events WHERE user_id = $user AND day BETWEEN $start AND $end""",
    "session": """
        SELECT start_ts, 'session',
               'Session ' || session_no || ': ' || CASE WHEN events = 1 THEN '1 event' ELSE events || ' events' END
               || ' over ' || CAST(round(duration_s) AS BIGINT) || ' s'
               || coalesce(', ' || device_type::VARCHAR, '') || coalesce(', entered at ' || entry_page, ''),
               NULL, CAST(session_no AS VARCHAR)
        FROM sessions WHERE user_id = $user AND day BETWEEN $start AND $end""",
    "transactions": """
        SELECT ts,
               CASE WHEN status = 'failed' THEN 'failed_payment' WHEN status = 'pending' THEN 'pending_payment'
                    WHEN kind = 'refund' THEN 'refund' ELSE 'purchase' END,
               {kind_words} || coalesce(' of ' || refund_of, '') || coalesce(' · ' || product_name, '')
               || coalesce(' · ' || plan, '')
               || coalesce(' · ' || category, '') || coalesce(' · ' || provider, '') || coalesce(' · ' || payment_method, '')
               || CASE WHEN currency <> $currency THEN ' · ' || CAST(round(amount, 2) AS VARCHAR) || ' ' || currency ELSE '' END,
               CASE WHEN currency = $currency THEN round(amount, 2) END, transaction_id
        FROM transactions WHERE user_id = $user AND day BETWEEN $start AND $end""",
    "plan_change": """
        SELECT change_at, 'plan_change', detail, amount, key FROM (
            SELECT started_at AS change_at,
                   CASE WHEN previous_plan IS NULL THEN 'Started ' || plan
                        WHEN previous_end < started_at THEN 'Resumed ' || plan
                        ELSE previous_plan || ' → ' || plan END AS detail,
                   round(mrr, 2) AS amount, subscription_id || ' start' AS key
            FROM periods
            UNION ALL
            SELECT ended_at, 'Ended ' || plan || coalesce(' (' || cancel_reason || ')', ''), NULL, subscription_id || ' end'
            FROM periods WHERE ended_at IS NOT NULL AND (next_start IS NULL OR next_start > ended_at)
        ) WHERE {local_at} BETWEEN $start AND $end""",
}
_TRANSACTION_TYPES = {"purchase", "refund", "failed_payment", "pending_payment"}


@metric(
    "user_timeline",
    ["ts", "type", "detail", "amount"],
    options=(
        USER_ID,
        Option("types", "list", TIMELINE_TYPES, f"row types to show: {', '.join(TIMELINE_TYPES)}", TIMELINE_TYPES,
               invalid="Unknown timeline type {value!r}; use some of: {choices}."),
        Option("limit", "int", 0, "rows per page (0: all)", minimum=0, maximum=1_000_000),
        Option("offset", "int", 0, "rows to skip (paging)", minimum=0, maximum=1_000_000_000),
    ),
    area="user",
)
def user_timeline(store, q: Query) -> pl.DataFrame:
    """Everything one user did in the range, newest first: events, sessions, payments, refunds and plan changes.

    Types: event, session, purchase (succeeded purchase or subscription payment), refund,
    failed_payment, pending_payment, plan_change (a period starting, or ending without a
    next one). amount is the payment in the reporting currency (other currencies are named in the
    detail instead) or, for a plan change, the new period's MRR.
    """
    user = user_id(store, q)
    types = tuple(q.opt("types"))
    parts = [_TIMELINE_PARTS[t].format(event_words=_words("event_type", EVENT_WORDS))
             for t in ("event", "session") if t in types]
    if _TRANSACTION_TYPES & set(types):
        parts.append(_TIMELINE_PARTS["transactions"].format(kind_words=_words("kind", KIND_WORDS)))
    if "plan_change" in types:
        parts.append(_TIMELINE_PARTS["plan_change"].format(local_at=local_day("change_at")))
    limit, offset = int(q.opt("limit")), int(q.opt("offset"))
    page = f"LIMIT {limit + offset}" if limit else ""
    # Each part keeps only the rows that can reach the page, so a heavy user's year of
    # events is cut to one page before the parts are merged.
    branches = " UNION ALL ".join(
        f"(SELECT * FROM ({part}) AS p(ts, type, detail, amount, key) WHERE type IN (SELECT unnest(CAST($types AS VARCHAR[]))) "
        f"ORDER BY ts DESC, type, key {page})"
        for part in parts
    )
    out = store.fetch(
        f"""
        WITH periods AS (
            SELECT *, lag(plan) OVER w AS previous_plan, lag(ended_at) OVER w AS previous_end,
                   lead(started_at) OVER w AS next_start
            FROM subscriptions WHERE user_id = $user
            WINDOW w AS (PARTITION BY user_id ORDER BY started_at, subscription_id)
        ),
        timeline AS ({branches})
        SELECT ts, type, detail, CAST(amount AS DECIMAL(18,2)) AS amount
        FROM timeline
        ORDER BY ts DESC, type, key
        {f"LIMIT {limit}" if limit else ""} OFFSET {offset}
        """,
        {"user": user, "start": q.range_start, "end": q.range_end, "currency": store.currency, "tz": store.timezone,
         "types": list(types)},
    )
    return out.cast({"ts": pl.Datetime("us"), "amount": MONEY_DTYPE})
