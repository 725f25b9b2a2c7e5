"""The live feed on the Overview: what just happened — signups, large payments, failed
payments, refunds, cancellations and errors — newest first."""

from __future__ import annotations

from decimal import Decimal

import polars as pl

from metrics.base import MONEY_DTYPE, event_scope, user_scope
from metrics.money import transactions_scope
from metrics.registry import Option, metric
from pulse.measures import FAILED, ORDER, REFUND
from pulse.periods import end_of_day_utc
from pulse.query import Query

KINDS = ("signup", "large_payment", "failed_payment", "refund", "cancellation", "error")


@metric(
    "live_feed",
    ["ts", "kind", "user_id", "email", "detail", "amount"],
    options=(
        Option("limit", "int", 30, "how many of the newest items", minimum=1, maximum=1000),
        Option("large", "amount", Decimal("100"), "a payment at least this amount (reporting currency) is large"),
    ),
    area="overview",
)
def live_feed(store, q: Query) -> pl.DataFrame:
    """The newest signups, large payments, failed payments, refunds, cancellations and error events up to the end of the range, newest first.

    ts is when it happened (UTC, as stored); a payment is large at `large` or more in the
    reporting currency (succeeded purchases and subscription payments); failed payments and
    refunds in the reporting currency; a cancellation is a subscription's end with a
    cancel reason; an error is an `error` event (its event_name as detail). amount is the
    payment's, or for a cancellation the MRR it ended. The filter bar's
    country, plan and device (users who used it) and the staff data scope apply. Ties by
    kind, then user_id.
    """
    users, params = user_scope(q, "user_id", devices=True)
    subscribers, subscriber_params = user_scope(q, "s.user_id", devices=True)
    events, event_params = event_scope(q, "e")
    money, money_params = transactions_scope(store, q)
    params |= subscriber_params | event_params | money_params | {"until": end_of_day_utc(q.range_end, store.timezone), "large": q.opt("large"),
                              "limit": q.opt("limit")}
    out = store.fetch(
        f"""
        WITH items AS (
            SELECT signup_at AS ts, 'signup' AS kind, user_id, coalesce(plan, '') AS detail, NULL::DECIMAL(18, 2) AS amount
            FROM people WHERE signup_at < $until AND {users}
            UNION ALL
            SELECT t.ts, CASE WHEN {FAILED} THEN 'failed_payment' WHEN {REFUND} THEN 'refund' ELSE 'large_payment' END,
                   t.user_id, coalesce(t.product_name, t.plan, t.kind::VARCHAR), t.amount
            FROM transactions t
            WHERE t.ts < $until AND {money} AND ({FAILED} OR {REFUND} OR ({ORDER} AND t.amount >= $large))
            UNION ALL
            SELECT s.ended_at, 'cancellation', s.user_id, s.plan || ': ' || s.cancel_reason, s.mrr
            FROM subscriptions s
            WHERE s.ended_at < $until AND s.cancel_reason IS NOT NULL AND {subscribers}
            UNION ALL
            SELECT e.ts, 'error', e.user_id, coalesce(e.event_name, e.page_path, 'error'), NULL
            FROM events e
            WHERE e.event_type = 'error' AND e.ts < $until AND {events}
        )
        SELECT i.ts, i.kind, i.user_id, p.email, i.detail, i.amount
        FROM (SELECT * FROM items ORDER BY ts DESC, kind, user_id LIMIT $limit) i
        LEFT JOIN people p USING (user_id)
        ORDER BY i.ts DESC, i.kind, i.user_id
        """,
        params,
    )
    return out.cast({"amount": MONEY_DTYPE})
