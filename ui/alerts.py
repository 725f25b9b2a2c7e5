"""The Overview's Alerts section: what fired on the day and why, every rule's figures, the
signed-in member of staff's subscriptions, and the history of past firings."""

from __future__ import annotations

from datetime import date

import polars as pl

import streamlit as st

from admin.alerts import Alerts
from metrics.alerts import RULES
from pulse.measures import NOT_SET
from pulse.query import Query
from ui import auth, cache
from ui import components as ui
from ui import format as fmt

RATES = ("failed_payment_rate", "churn_spike")
MONEY = ("revenue_drop",)


def alerts() -> Alerts:
    return Alerts(auth.access().accounts.db)


def day_checked(q: Query) -> date:
    """The range's last day, or the last complete day when the range reaches past it."""
    last = cache.info().last_complete_day()
    return q.end if last is None else min(q.end, last)


def _figure(rule: str, value: float | None) -> str:
    if value is None:
        return fmt.EMPTY
    if rule in RATES:
        return fmt.pct(value)
    return fmt.money(value) if rule in MONEY else fmt.number(value)


def drivers(text: str) -> str:
    """`country=DE 62 %; device=mobile 48 %; plan=(none) 20 %` (the metric's column) in words:
    "Country DE 62 %, Mobile 48 %, No plan 20 %"."""
    parts = []
    for part in filter(None, text.split("; ")):
        pair, _, share = part.rpartition(" ")[0].rpartition(" ")
        dimension, _, value = pair.partition("=")
        if value == NOT_SET:
            named = f"No {dimension}"
        else:
            named = fmt.code("device_type", value) if dimension == "device" else f"{dimension.capitalize()} {value}"
        parts.append(f"{named} {share} %")
    return ", ".join(parts)


def _shown(checks: pl.DataFrame) -> pl.DataFrame:
    """The checks as the page shows them: rule names in words, each figure in its rule's unit."""
    rows = [{"Rule": fmt.code("rule", r["rule"]), "Status": "Fired" if r["fired"] else
             ("Off" if r["threshold"] is None else "Quiet"),
             **{name.capitalize(): _figure(r["rule"], r[name]) for name in ("value", "baseline", "threshold")},
             "Poisson p": fmt.EMPTY if r["p_value"] is None else f"{r['p_value']:.2g}",
             "Why": r["explanation"], "Driven by": drivers(r["top_contributors"]) or fmt.EMPTY}
            for r in checks.iter_rows(named=True)]
    return pl.DataFrame(rows, schema={c: pl.String for c in ("Rule", "Status", "Value", "Baseline", "Threshold", "Poisson p",
                                                                "Why", "Driven by")})


def alerts_section(q: Query) -> None:
    day = day_checked(q)
    checks = cache.metric("alerts", q, date=day)
    fired = checks.filter(pl.col("fired"))
    st.caption(f"Checked for {fmt.code('weekday', day.weekday())} {day}"
               + (" (the last complete day)" if day < q.end else "")
               + ". Each rule's threshold is in the settings; a count rule also has to be unlikely by chance. "
                 "The filter bar applies.")
    if fired.is_empty():
        st.success(f"No alert fired on {day}: every rule is within its threshold.", icon=":material/check_circle:")
    for r in fired.iter_rows(named=True):
        driven = f"  \nDriven by: {fmt.text(drivers(r['top_contributors']))}" if r["top_contributors"] else ""
        st.warning(f"**{fmt.code('rule', r['rule'])}** · {fmt.text(r['explanation'])}{driven}",
                 icon=":material/notifications_active:")
    if not fired.is_empty():
        st.caption("Driven by: the country, device and plan values behind most of the change, with their share of it; "
                   "a share above 100 % means other values moved the other way.")
    with st.expander(f"Every rule checked for {day}"):
        st.dataframe(_shown(checks), hide_index=True, width="stretch",
                     column_config={"Why": st.column_config.TextColumn(width="large")})
        ui.download(checks, "alerts", key="alerts_download", file_name=f"alerts_{day}")
    _subscriptions()
    with st.expander("Past firings"):
        _history()


def _subscriptions() -> None:
    who = auth.staff().email
    if "@" not in who:
        return
    mine = alerts().subscribed(who)
    chosen = st.multiselect("Email me when these fire (and when they stop)", RULES, default=sorted(mine),
                            format_func=lambda rule: fmt.code("rule", rule), key="alert_subscriptions",
                            placeholder="None yet: pick the rules to be emailed about",
                            help="A firing is mailed once per rule and day when the scheduler checks the alerts "
                                 f"each morning at {cache.settings().alerts_at} ({cache.settings().timezone}).")
    if set(chosen) != mine and st.button("Save my alert emails", icon=":material/notifications:"):
        service = alerts()
        for rule in set(chosen) - mine:
            service.subscribe(rule, who, **auth.acting())
        for rule in mine - set(chosen):
            service.unsubscribe(rule, who, **auth.acting())
        ui.done(f"You will get email for {len(chosen)} alert rule{'s' if len(chosen) != 1 else ''}.")


def _history() -> None:
    past = alerts().history()
    if past.is_empty():
        st.caption("No firing is recorded yet. The scheduler records each morning's check of the alerts.")
        return
    shown = past.with_columns(
        rule=pl.col("rule").replace_strict({rule: fmt.code("rule", rule) for rule in RULES}, default=pl.col("rule")),
        top_contributors=pl.col("top_contributors").map_elements(drivers, return_dtype=pl.String),
        mailed=pl.when(pl.col("mailed") == "").then(None).otherwise(pl.lit("Yes"))).select(
        "day", "rule", "top_contributors", "mailed", "explanation")
    ui.table(shown, "alert_history", key="alerts_history", labels={"top_contributors": "Driven by", "mailed": "Emailed"},
             empty={"mailed": "nobody subscribed"})
