"""Alerts: rules evaluated for one day that say what changed, whether the change is more than
noise, and which segments drove it (METRICS.md "Overview": alerts).

Each rule reads its figures from the registered metric that shows them on the pages
(active_users, revenue, churn), so an alert's value is the number staff see there; only the
daily error and event counts, which no page draws, are counted here.

A rule's `threshold` is in the unit of its `value`: the level below which a drop rule fires
(baseline × (1 − X)) or above which a spike rule fires (baseline × X; for
failed_payment_rate, X itself). A count rule — activity_drop, error_spike, traffic_surge,
whose value is a count and whose baseline is a mean count — also needs the Poisson tail
in its direction, P(N ≤ value) for a drop and P(N ≥ value) for a spike with N ~
Poisson(baseline), below the p_value option. A spike against a baseline of no events at all
is judged against one event in the 28 days (a mean of 1/28), so the first error ever seen is
not certain to page anyone.

The segments that drove an alert are computed for a fired rule only: for every value of
country, device and plan (a user's profile country and plan; the devices they used, so a
user on two devices counts for both), the part of the change that value accounts for, and
its share of the whole change. The whole change is value − baseline for a spike, baseline −
value for a drop; for failed_payment_rate the failed payments beyond the threshold's rate
(failed − X × attempts), for churn_spike the churned users beyond the baseline rate
(churned − baseline × active the week before). The three largest parts across the three
dimensions are listed, largest first.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

import polars as pl
from scipy.stats import poisson

from metrics.base import active_days, event_scope
from metrics.money import transactions_scope
from metrics.registry import Option, metric, run
from pulse.derived import DEVICE_BIT, NO_DEVICE_BIT
from pulse.measures import FAILED, NOT_SET, ORDER, REFUND
from pulse.periods import period_start
from pulse.query import Query, QueryError
from pulse.settings import ALERT_RULES

RULES = tuple(sorted(ALERT_RULES))
COUNT_RULES = ("activity_drop", "error_spike", "traffic_surge")
BASELINE_DAYS = 28  # error_spike, traffic_surge: the daily mean of the days before
CHURN_WEEKS = 8  # churn_spike: the mean weekly churn rate of the weeks before
TOP = 3
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# A user's devices (user_days.devices, a bit mask) as a list of names.
_DEVICE_NAMES = ", ".join(f"CASE WHEN {{m}} & {bit} <> 0 THEN '{name}' END" for name, bit in
                          [*DEVICE_BIT.items(), (NOT_SET, NO_DEVICE_BIT)])


def _devices(mask: str) -> str:
    return f"list_filter([{_DEVICE_NAMES.format(m=mask)}], lambda x: x IS NOT NULL)"


@dataclass(frozen=True)
class Check:
    """One rule's verdict for a day, and the rows whose segments explain it (fired rules)."""

    rule: str
    value: float | None
    baseline: float | None
    threshold: float | None
    p_value: float | None
    fired: bool
    explanation: str
    drivers: tuple[str, dict] | None = None  # (SQL of rows: country, plan, devices, cur, base; params)
    direction: int = 1  # +1: the change is cur − base; −1 (a drop): base − cur


def alert_day(store, q: Query) -> date:
    """The day the alerts are for: the `date` option, else the store's last complete day."""
    chosen = q.opt("date")
    if chosen is not None:
        return chosen
    last = store.info().last_complete_day()
    if last is None:
        raise QueryError("The store holds no activity yet, so there is no day to check alerts for.")
    return last


def _sub(q: Query, start: date, end: date, interval: str = "day") -> Query:
    """q's filters and scope over another range, with no options (for another metric)."""
    return replace(q, start=start, end=end, interval=interval, options=())


def _pct(fraction: float, digits: int = 0) -> str:
    return f"{fraction:.{digits}%}".replace("%", " %")


def _num(value: float, money: str | None = None) -> str:
    return f"{money} {value:,.2f}" if money else f"{value:,.1f}".removesuffix(".0")


def _verdict(crossed: bool, p_value: float | None, alpha: float, what: str) -> tuple[bool, str]:
    """Whether the rule fires, and the sentence that says so."""
    if not crossed:
        return False, f"Not fired: the {what} is within the threshold."
    if p_value is not None and p_value >= alpha:
        return False, (f"Not fired: past the threshold, but a count this far off happens by chance "
                       f"(Poisson p = {p_value:.2g}; it must be under {alpha:g}).")
    noise = f" (Poisson p = {p_value:.2g}, under {alpha:g})" if p_value is not None else ""
    return True, f"Fired: the {what} is past the threshold{noise}."


def _activity_drop(store, q: Query, day: date, x: float, alpha: float) -> Check:
    first = day - timedelta(days=BASELINE_DAYS)
    dau = run("active_users", store, _sub(q, first, day))
    counts = dict(zip(dau["period"].to_list(), dau["active_users"].to_list()))
    value = float(counts.get(day, 0))
    baseline = sum(counts.get(day - timedelta(days=7 * k), 0) for k in range(1, 5)) / 4
    threshold = baseline * (1 - x)
    p_value = float(poisson.cdf(value, baseline)) if baseline else None
    fired, verdict = _verdict(baseline > 0 and value < threshold, p_value, alpha, "drop")
    weekday = WEEKDAYS[day.weekday()]
    change = f"{_pct(1 - value / baseline)} below" if baseline and value < baseline else "not below"
    explanation = (f"{_num(value)} users were active on {weekday} {day}, {change} the {_num(baseline)} of an average "
                   f"{weekday} in the 4 weeks before; it fires below {_num(threshold)} ({_pct(x)} down). {verdict}")
    days, params = active_days(q, "$first", "$day")
    rows = f"""
        SELECT p.country, p.plan, {_devices('u.devices')} AS devices,
               CASE WHEN a.day = $day THEN 1.0 ELSE 0.0 END AS cur,
               CASE WHEN a.day = $day THEN 0.0 ELSE 0.25 END AS base
        FROM {days} a JOIN user_days u USING (user_id, day) LEFT JOIN people p USING (user_id)
        WHERE isodow(a.day) = isodow($day)
    """
    return Check("activity_drop", value, baseline, threshold, p_value, fired, explanation,
                 (rows, {**params, "first": first, "day": day}), -1)


def _buyers(store, q: Query, since: date, day: date) -> tuple[str, dict]:
    """Transactions of the local days since..day in the reporting currency, after filters,
    with each buyer's country, plan and the devices they ever used up to `day`."""
    scope, params = transactions_scope(store, q)
    sql = f"""
        WITH devices AS (SELECT user_id, bit_or(devices) AS devices FROM user_days
                         WHERE day <= $day AND user_id IN (SELECT user_id FROM transactions t
                                                           WHERE t.day BETWEEN $since AND $day)
                         GROUP BY user_id)
        SELECT t.user_id, t.day, t.kind, t.status, t.amount, p.country, p.plan, {_devices('coalesce(d.devices, 0)')} AS devices
        FROM transactions t LEFT JOIN people p USING (user_id) LEFT JOIN devices d USING (user_id)
        WHERE t.day BETWEEN $since AND $day AND {scope}
    """
    return sql, {**params, "since": since, "day": day}


def _money_rules(store, q: Query, day: date, rules: dict[str, float | None], minimum: float) -> list[Check]:
    week = day - timedelta(days=6)
    before = week - timedelta(days=7)
    daily = run("revenue", store, _sub(q, before, day))
    now, earlier = daily.filter(pl.col("period") >= week), daily.filter(pl.col("period") < week)
    currency = store.currency
    checks = []
    x = rules["revenue_drop"]
    if x is not None:
        value, baseline = float(now["net_revenue"].sum()), float(earlier["net_revenue"].sum())
        threshold = baseline * (1 - x)
        if baseline < minimum:
            fired, verdict = False, (f"Not checked: the earlier week's {_num(baseline, currency)} is under the "
                                     f"{_num(minimum, currency)} the rule needs.")
        else:
            fired, verdict = _verdict(value < threshold, None, 1, "drop")
        change = f"{_pct(1 - value / baseline)} below" if baseline > 0 and value < baseline else "not below"
        explanation = (f"Net revenue of the 7 days to {day} was {_num(value, currency)}, {change} the "
                       f"{_num(baseline, currency)} of the 7 days before; it fires below {_num(threshold, currency)} "
                       f"({_pct(x)} down). {verdict}")
        txns, params = _buyers(store, q, before, day)
        rows = f"""
            SELECT country, plan, devices,
                   CASE WHEN day >= $week THEN net ELSE 0 END AS cur, CASE WHEN day < $week THEN net ELSE 0 END AS base
            FROM (SELECT *, CASE WHEN {ORDER} THEN t.amount ELSE -t.amount END AS net
                  FROM ({txns}) t WHERE {ORDER} OR {REFUND})
        """
        checks.append(Check("revenue_drop", round(value, 2), round(baseline, 2), round(threshold, 2), None, fired,
                            explanation, (rows, {**params, "week": week}), -1))
    x = rules["failed_payment_rate"]
    if x is not None:
        def rate(frame: pl.DataFrame) -> float | None:
            failed, orders = frame["failed_payments"].sum(), frame["orders"].sum()
            return failed / (failed + orders) if failed + orders else None

        value, baseline = rate(now), rate(earlier)
        fired, verdict = _verdict(value is not None and value > x, None, 1, "rate")
        failed, attempts = now["failed_payments"].sum(), now["failed_payments"].sum() + now["orders"].sum()
        explanation = (f"{failed:,} of {attempts:,} payments failed in the 7 days to {day}"
                       + (f" ({_pct(value, 1)})" if value is not None else "")
                       + (f", against {_pct(baseline, 1)} the 7 days before" if baseline is not None else "")
                       + f"; it fires above {_pct(x, 1)}. {verdict}")
        txns, params = _buyers(store, q, week, day)
        rows = f"""
            SELECT country, plan, devices, CASE WHEN {FAILED} THEN 1.0 ELSE 0.0 END AS cur, $x AS base
            FROM ({txns}) t WHERE {FAILED} OR {ORDER}
        """
        checks.append(Check("failed_payment_rate", value, baseline, x, None, fired, explanation,
                            (rows, {**params, "x": x})))
    return checks


def _churn_spike(store, q: Query, day: date, x: float) -> Check:
    week = period_start(day, "week") - timedelta(days=7)  # the last full week before the day's week
    churn = run("churn", store, _sub(q, week - timedelta(days=7 * CHURN_WEEKS), week + timedelta(days=6), "week"))
    rates = dict(zip(churn["period"].to_list(), churn["churn_rate"].to_list()))
    value = rates.get(week)
    earlier = [r for p, r in rates.items() if p < week and r is not None]
    baseline = sum(earlier) / len(earlier) if earlier else None
    threshold = x * baseline if baseline is not None else None
    crossed = value is not None and threshold is not None and value > threshold
    fired, verdict = _verdict(crossed, None, 1, "rate")
    explanation = (f"Churn in the week of {week} was {_pct(value, 1) if value is not None else 'not measurable'}"
                   + (f", against {_pct(baseline, 1)} on average over the {len(earlier)} weeks before; it fires above "
                      f"{_pct(threshold, 1)} ({x:g} times the average)" if baseline is not None else
                      ", with no earlier weeks to compare with")
                   + f". {verdict}")
    days, params = active_days(q, "$previous", "$end")
    rows = f"""
        WITH a AS ({days}),
        was AS (SELECT a.user_id, bit_or(u.devices) AS devices FROM a JOIN user_days u USING (user_id, day)
                WHERE a.day < $week GROUP BY a.user_id),
        stayed AS (SELECT DISTINCT user_id FROM a WHERE day >= $week)
        SELECT p.country, p.plan, {_devices('w.devices')} AS devices,
               CASE WHEN s.user_id IS NULL THEN 1.0 ELSE 0.0 END AS cur, $baseline AS base
        FROM was w LEFT JOIN stayed s USING (user_id) LEFT JOIN people p USING (user_id)
    """
    return Check("churn_spike", value, baseline, threshold, None, fired, explanation,
                 (rows, {**params, "previous": week - timedelta(days=7), "end": week + timedelta(days=6), "week": week,
                         "baseline": baseline or 0.0}))


def _count_spikes(store, q: Query, day: date, rules: dict[str, float | None], alpha: float) -> list[Check]:
    first = day - timedelta(days=BASELINE_DAYS)
    scope, params = event_scope(q, "e")
    params |= {"first": first, "day": day, "per_day": 1 / BASELINE_DAYS}
    counts = store.fetch(
        f"""
        SELECT count(*) FILTER (WHERE e.day = $day AND e.event_type = 'error') AS error_spike,
               count(*) FILTER (WHERE e.day < $day AND e.event_type = 'error') AS error_spike_before,
               count(*) FILTER (WHERE e.day = $day) AS traffic_surge,
               count(*) FILTER (WHERE e.day < $day) AS traffic_surge_before
        FROM events e WHERE e.day BETWEEN $first AND $day AND {scope}
        """,
        params,
    ).row(0, named=True)
    checks = []
    for rule, what in (("error_spike", "error events"), ("traffic_surge", "events")):
        x = rules[rule]
        if x is None:
            continue
        value, total = float(counts[rule]), counts[f"{rule}_before"]
        baseline = total / BASELINE_DAYS
        threshold = x * baseline
        p_value = float(poisson.sf(value - 1, baseline or 1 / BASELINE_DAYS))
        fired, verdict = _verdict(value > threshold, p_value, alpha, "count")
        explanation = (f"{_num(value)} {what} on {day}, against a daily average of {_num(baseline)} over the "
                       f"{BASELINE_DAYS} days before; it fires above {_num(threshold)} ({x:g} times the average). "
                       f"{verdict}")
        only_errors = "AND e.event_type = 'error'" if rule == "error_spike" else ""
        rows = f"""
            SELECT p.country, p.plan, [coalesce(e.device_type::VARCHAR, '{NOT_SET}')] AS devices,
                   CASE WHEN e.day = $day THEN 1.0 ELSE 0.0 END AS cur,
                   CASE WHEN e.day = $day THEN 0.0 ELSE $per_day END AS base
            FROM events e LEFT JOIN people p USING (user_id)
            WHERE e.day BETWEEN $first AND $day AND {scope} {only_errors}
        """
        checks.append(Check(rule, value, baseline, threshold, p_value, fired, explanation, (rows, params)))
    return checks


def contributors(store, check: Check) -> list[tuple[str, str, float, float]]:
    """(dimension, value, change, share of the whole change) of the segments that drove the
    check, largest first: the TOP parts across country, device and plan that pushed the way
    the rule fired (ties by dimension, then value)."""
    rows, params = check.drivers
    parts = store.fetch(
        f"""
        WITH r AS ({rows})
        SELECT 'country' AS dimension, coalesce(country, '{NOT_SET}') AS value, sum(cur) AS cur, sum(base) AS base
        FROM r GROUP BY ALL
        UNION ALL
        SELECT 'device', device, sum(cur), sum(base)
        FROM (SELECT unnest(CASE WHEN array_length(devices) = 0 THEN ['{NOT_SET}'] ELSE devices END) AS device, cur, base FROM r)
        GROUP BY ALL
        UNION ALL
        SELECT 'plan', coalesce(plan, '{NOT_SET}'), sum(cur), sum(base) FROM r GROUP BY ALL
        """,
        params,
    )
    changes = parts.with_columns(change=(pl.col("cur") - pl.col("base")).cast(pl.Float64) * check.direction)
    whole = changes.filter(pl.col("dimension") == "country")["change"].sum()
    if not whole or whole <= 0:
        return []
    top = changes.filter(pl.col("change") > 0).sort(["change", "dimension", "value"], descending=[True, False, False])
    return [(r["dimension"], r["value"], r["change"], r["change"] / whole) for r in top.head(TOP).iter_rows(named=True)]


def _describe(parts: list[tuple[str, str, float, float]]) -> str:
    return "; ".join(f"{dimension}={value} {_pct(share)}" for dimension, value, _, share in parts)


@metric(
    "alerts",
    ["rule", "fired", "value", "baseline", "threshold", "p_value", "explanation", "top_contributors"],
    options=(
        Option("date", "date", None, "the day to check (default: the last complete day)"),
        Option("rules", "thresholds", None, "each rule's threshold, or off", setting="alert_rules"),
        Option("p_value", "probability", None, "a count rule fires only when its Poisson tail is below this",
               setting="alert_p_value"),
        Option("revenue_minimum", "amount", None, "revenue_drop needs the earlier week's net revenue to reach this",
               setting="alert_revenue_minimum"),
    ),
    area="overview",
)
def alerts(store, q: Query) -> pl.DataFrame:
    """Each alert rule checked for one day: whether it fired, its figures, why, and the segments that drove it.

    Rules (thresholds from the alert_rules setting; METRICS.md has each definition):
    activity_drop, revenue_drop, failed_payment_rate, churn_spike, error_spike,
    traffic_surge, one row each by rule; a rule turned off has an empty threshold. The
    filter bar and the staff data scope apply, as on every metric.
    """
    day = alert_day(store, q)
    rules = dict(q.opt("rules"))
    alpha = float(q.opt("p_value"))
    checks: list[Check] = []
    if rules["activity_drop"] is not None:
        checks.append(_activity_drop(store, q, day, rules["activity_drop"], alpha))
    checks += _money_rules(store, q, day, rules, float(q.opt("revenue_minimum")))
    if rules["churn_spike"] is not None:
        checks.append(_churn_spike(store, q, day, rules["churn_spike"]))
    checks += _count_spikes(store, q, day, rules, alpha)
    found = {c.rule: c for c in checks}
    out = []
    for rule in RULES:
        c = found.get(rule) or Check(rule, None, None, None, None, False, "Turned off in the alert_rules setting.")
        drivers = _describe(contributors(store, c)) if c.fired and c.drivers else ""
        out.append((rule, c.fired, c.value, c.baseline, c.threshold, c.p_value, c.explanation, drivers))
    return pl.DataFrame(out, orient="row", schema={
        "rule": pl.String, "fired": pl.Boolean, "value": pl.Float64, "baseline": pl.Float64, "threshold": pl.Float64,
        "p_value": pl.Float64, "explanation": pl.String, "top_contributors": pl.String})
