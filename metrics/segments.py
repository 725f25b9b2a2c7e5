"""Email segments: the users a staff member can write to, chosen by filters and conditions.

A segment is every user the store knows, narrowed by the filters, the staff member's data
scope and each condition given (all must hold). Its figures are the User page's, as of
--end: the same net spend (pulse.measures.NET) and the same MRR at the end of --end
(metrics.money.mrr_at_sql); its lifecycle status is the lifecycle chart's and "at risk" is
at_risk_users' list, each reused here rather than written again.
"""

from __future__ import annotations

import polars as pl

from metrics.activity import USER_KINDS, lifecycle_statuses
from metrics.base import MONEY_DTYPE, user_scope
from metrics.money import mrr_at_sql
from metrics.registry import Option, metric
from metrics.retention import at_risk_sql
from pulse.measures import NET, money
from pulse.periods import end_of_day_utc, period_start
from pulse.query import Query

LIFECYCLE_STATUSES = USER_KINDS[1:]

# The user's net spend up to --end, as shown (rounded to cents), so min_spent compares with
# what the table says.
SPENT = money("coalesce(paid.spent, 0)")


def _feature_users(option: str) -> str:
    """SQL: the users with a feature_use event named as the option says, up to --end."""
    return f"SELECT user_id FROM events WHERE event_type = 'feature_use' AND event_name = ${option} AND day <= $end"


# The conditions that bind their option's value as it is, by option name; a condition on a
# day a user does not have (never seen) is unknown in SQL, so it keeps nobody.
CONDITIONS = {
    "last_seen_before": "s.last_day < $last_seen_before",
    "last_seen_after": "s.last_day > $last_seen_after",
    "signed_up_before": "p.signup_day < $signed_up_before",
    "signed_up_after": "p.signup_day > $signed_up_after",
    "min_spent": f"{SPENT} >= $min_spent",
    "used_feature": f"p.user_id IN ({_feature_users('used_feature')})",
    "not_used_feature": f"p.user_id NOT IN ({_feature_users('not_used_feature')})",
}


@metric(
    "segment_users",
    ["user_id", "email", "name", "plan", "country", "signup_at", "last_seen", "total_spent", "mrr",
     "marketing_opt_in", "timezone", "auth_provider"],
    options=(
        Option("user_ids", "list", None, "only these user ids, comma-separated (ids the store does not have are left out)",
               invalid="Give at least one user id to user_ids, comma-separated: user_ids=u1,u2."),
        Option("lifecycle", "choice", None, "only users of this lifecycle status in the period that contains --end",
               LIFECYCLE_STATUSES, invalid="Unknown lifecycle status {value!r}; use one of: {choices}."),
        Option("last_seen_before", "date", None,
               "only users whose last active day up to --end is before this day (never seen: left out)"),
        Option("last_seen_after", "date", None,
               "only users whose last active day up to --end is after this day (never seen: left out)"),
        Option("signed_up_before", "date", None, "only users whose signup day is before this day"),
        Option("signed_up_after", "date", None, "only users whose signup day is after this day"),
        Option("min_spent", "amount", None, "only users whose total_spent up to --end is at least this amount"),
        Option("at_risk", "bool", False, "true: only the users at_risk_users lists for the same --end",
               invalid="Option at_risk={value!r} is neither true nor false; use at_risk=true to keep only users at risk."),
        Option("used_feature", "str", None, "only users with a feature_use event of this name up to --end"),
        Option("not_used_feature", "str", None, "only users without a feature_use event of this name up to --end"),
    ),
    area="user",
)
def segment_users(store, q: Query) -> pl.DataFrame:
    """The recipients of an email segment: the users who pass the filters and every condition given, with their contact details, spend and MRR.

    Every user the store knows is a candidate. The country, plan and device_type filters
    and the staff member's data scope narrow them (device_type: used that device at least
    once); each option given narrows them further, all at once. --start does not matter:
    the segment is as of --end.

    last_seen is the UTC time of the user's last event up to the end of --end, empty when
    they had none by then. total_spent is orders minus refunds in the reporting currency up
    to --end, as on the User page, 0 for a user who never paid; mrr is their MRR at the end
    of --end, 0 without a subscription.

    user_ids keeps those ids. lifecycle keeps the users of that status in the period of the
    interval that contains --end, as the lifecycle chart counts that whole period with the
    same filters. last_seen_before / last_seen_after compare the local day of last_seen,
    strictly; a user never seen by --end is neither. signed_up_before / signed_up_after
    compare the signup day, strictly. min_spent keeps a total_spent of at least the amount.
    at_risk=true keeps the users at_risk_users lists for the same --end and filters.
    used_feature / not_used_feature keep the users with / without a feature_use event of
    that name up to --end. Rows by user_id.
    """
    scope, params = user_scope(q, "p.user_id", devices=True)
    conditions = [scope]
    ids = q.opt("user_ids")
    if ids:
        conditions.append("p.user_id IN (SELECT unnest(CAST($user_ids AS VARCHAR[])))")
        params["user_ids"] = list(ids)
    status = q.opt("lifecycle")
    if status:
        period = period_start(q.end, q.interval)
        statuses, status_params = lifecycle_statuses(q, period, period)
        conditions.append(f"p.user_id IN (SELECT user_id FROM {statuses} WHERE status = $lifecycle)")
        params |= status_params | {"lifecycle": status}
    if q.opt("at_risk"):
        at_risk, risk_params = at_risk_sql(q)
        conditions.append(f"p.user_id IN (SELECT user_id FROM {at_risk})")
        params |= risk_params
    for name, condition in CONDITIONS.items():
        value = q.opt(name)
        if value is not None and value != "":
            conditions.append(condition)
            params[name] = value
    mrr_sql, mrr_params = mrr_at_sql(q)
    out = store.fetch(
        f"""
        WITH seen AS (
            SELECT user_id, max(ts) AS last_seen, max(day) AS last_day FROM events WHERE day <= $end GROUP BY user_id
        ),
        paid AS (
            SELECT t.user_id, {NET} AS spent
            FROM transactions t WHERE t.day <= $end AND t.currency = $currency GROUP BY t.user_id
        )
        SELECT p.user_id, p.email, p.name, p.plan, p.country, p.signup_at, s.last_seen,
               {SPENT} AS total_spent, {money('coalesce(m.mrr, 0)')} AS mrr,
               p.marketing_opt_in, p.timezone, p.auth_provider
        FROM people p
        LEFT JOIN seen s ON s.user_id = p.user_id
        LEFT JOIN paid ON paid.user_id = p.user_id
        LEFT JOIN ({mrr_sql}) m ON m.user_id = p.user_id
        WHERE {" AND ".join(conditions)}
        ORDER BY p.user_id
        """,
        {**params, **mrr_params, "end": q.end, "currency": store.currency, "at": end_of_day_utc(q.end, store.timezone)},
    )
    return out.cast({"total_spent": MONEY_DTYPE, "mrr": MONEY_DTYPE})
