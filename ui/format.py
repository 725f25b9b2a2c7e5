"""How a value reads on screen: column labels, money with its currency, percentages, counts,
durations, days, weeks and months. Cards, tables and charts all format through here, so a
figure reads the same wherever it is shown.

One format per kind of date: a day is 2026-10-01, a week "Week of Sep 28", a month "Oct 2026"
(momentJS twins for st.dataframe in DATE_FORMATS). An empty value is "—" (EMPTY), never
"None".
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal

import polars as pl

from ui import cache

EMPTY = "—"
WORD_JOINER = "\u2060"  # invisible; breaks the shortcodes and autolinks markdown would make of a value
SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹"}

LABELS = {
    "period": "Period", "date": "Date", "dau": "DAU", "wau": "WAU", "mau": "MAU", "arr": "ARR", "mrr": "MRR",
    "arpu": "ARPU", "ltv": "LTV", "nrr": "NRR", "grr": "GRR", "user_id": "User", "os": "OS",
    "avg_duration_s": "Average length", "median_duration_s": "Median length", "avg_session_s": "Average session",
    "kpi": "Figure", "value": "Value", "previous": "Previous range", "change": "Change", "ts": "Time (UTC)",
    "stickiness": "Stickiness (DAU ÷ MAU)", "engagement_score": "Engagement score (0–100)",
    "cumulative_users": "Users signed up by then", "sessions_per_user": "Sessions per user (average)",
    "bucket": "Session length", "usage_count": "Uses", "unique_users": "Users", "adoption_rate": "Adoption",
    "last_used": "Last used", "conversion_from_start": "From the first step",
    "conversion_from_previous": "From the step before", "median_seconds_from_previous": "Median time from the step before",
    "name": "Step", "step": "#", "api_calls": "API calls", "limit": "Monthly limit", "share": "Share",
    "period_offset": "Periods later", "cohort_size": "Cohort size", "rate": "Retained (share)",
    "active_previous": "Active the period before", "churned": "Not back", "churn_rate": "Churn rate",
    "active_days_prev_14": "Active days, the 14 before", "active_days_last_14": "Active days, last 14",
    "last_seen": "Last seen", "recency_days": "Days since last purchase", "frequency": "Frequency (orders / 30 days)",
    "total_spent": "Total spent (net)", "avg_order_value": "Average order value", "first_purchase": "First purchase",
    "last_purchase": "Last purchase", "refund_count": "Refunds", "refunded_amount": "Refunded",
    "failed_amount": "Failed amount", "failed_rate": "Failure rate", "transaction_id": "Transaction ID",
    "product_name": "Product", "median_days_to_convert": "Median days", "conversion_rate": "Conversion",
    "customer_churn_rate": "Customer churn", "signup_at": "Signed up", "started_at": "Started (UTC)",
    "ended_at": "Ended (UTC)", "subscription_id": "Subscription ID", "from_plan": "From plan", "to_plan": "To plan",
    "weekday": "Weekday", "hour": "Hour", "events": "Events", "type": "Type", "detail": "Detail", "time_utc": "Time (UTC)", "actor": "Who", "action": "Action", "address": "From", "amount": "Amount",
    "transactions": "Transactions", "auth_provider": "Signs in with", "device_type": "Device",
    "day_1": "Day 1", "day_7": "Day 7", "day_14": "Day 14", "day_30": "Day 30", "day_60": "Day 60", "day_90": "Day 90",
}

ABBREVIATIONS = {"mrr": "MRR", "arr": "ARR", "arpu": "ARPU", "ltv": "LTV", "nrr": "NRR", "grr": "GRR", "api": "API", "id": "ID"}

# Header tooltips: what a column counts, where its label alone leaves room for doubt.
HELP = {
    "frequency": "Orders per 30 days: orders × 30 ÷ the days from the first purchase to the end date.",
    "recency_days": "Days from the last purchase to the end date.",
    "median_days_to_convert": "Median days from the start of a trial to its first paid period.",
    "stickiness": "DAU ÷ MAU: the share of the month's users who were active that day.",
    "period_offset": "Periods after the cohort's own.",
    "total_spent": "Net of refunds, in the reporting currency.",
}

# Why a cell can be empty, per column: the tooltip of a column that shows "—".
WHY_EMPTY = {
    "bounce_rate": "no sessions to count",
    "change": "no change to show: the previous range was 0 or empty",
    "avg_duration_s": "no sessions", "median_duration_s": "no sessions", "sessions_per_user": "no sessions",
    "avg_order_value": "no orders", "failed_rate": "no payments", "conversion_rate": "no trials",
    "median_days_to_convert": "no trial converted", "median_seconds_from_previous": "nobody reached this step",
    "conversion_from_previous": "nobody reached the step before", "conversion_from_start": "nobody entered the funnel",
    "amount": "not a payment", "ended_at": "still running", "cancel_reason": "none given",
    "rate": "not observable yet", "churn_rate": "nobody active the period before",
    "nrr": "no MRR at the month's start", "grr": "no MRR at the month's start", "ltv": "no churn to divide by",
    "customer_churn_rate": "no customers at the month's start", "gross_mrr_churn": "no MRR at the month's start",
    "net_mrr_churn": "no MRR at the month's start", "arpu": "no paying customers", "adoption_rate": "nobody active",
    "last_seen": "never active", "email": "not given", "name": "not given", "plan": "no plan", "country": "unknown",
    "category": "none given", "provider": "none given", "product_name": "none given", "payment_method": "none given",
    "first_purchase": "no purchase", "last_purchase": "no purchase", "recency_days": "no purchase",
    "frequency": "no purchase", "avg_lifetime_days": "nobody has gone quiet",
    "median_lifetime_days": "nobody has gone quiet", "engagement_score": "nobody active",
}
WHY_EMPTY.update({f"day_{n}": "not observable yet: the day has not come, or the data ends before it"
                  for n in (1, 7, 14, 30, 60, 90)})

# Codes the data uses, in words (values of these columns, and of `value` when a breakdown's
# dimension is one of them). Names the data brings (plans, features, pages) stay as they are.
# Each page's title, by its file's name in pages/ (the navigation's, and a saved view's page).
PAGE_TITLES = {"overview": "Overview", "activity": "Activity", "retention": "Retention", "purchases": "Purchases",
               "revenue": "Revenue", "user": "User lookup", "views": "Views", "annotations": "Annotations",
               "explore": "Explore", "data": "Data", "exports": "Exports", "sql": "SQL", "definitions": "Definitions",
               "admin_email": "Email", "staff": "Staff", "audit": "Audit log"}

CODES = {
    "device_type": {"desktop": "Desktop", "mobile": "Mobile", "tablet": "Tablet", "other": "Other"},
    "kind": {"purchase": "Purchase", "subscription": "Subscription", "refund": "Refund", "signup": "Signup",
             "large_payment": "Large payment", "failed_payment": "Failed payment", "cancellation": "Cancellation",
             "error": "Error"},
    "status": {"succeeded": "Succeeded", "failed": "Failed", "pending": "Pending", "trial": "On a trial",
               "active": "Paying", "cancelled": "Cancelled", "free": "Free",
               "queued": "Queued", "sending": "Sending", "sent": "Sent", "skipped": "Skipped",
               "done": "Done", "retrying": "Retrying", "running": "Running"},
    "state": {"active": "Active", "paused": "Paused"},
    "page": PAGE_TITLES,
    "range": {"yesterday": "Yesterday", "last_7_days": "Last 7 days", "last_30_days": "Last 30 days",
              "last_full_week": "Last full week (Monday to Sunday)", "last_full_month": "Last full month",
              "month_to_date": "Month to date (to yesterday)", "year_to_date": "Year to date (to yesterday)",
              "last_N_days": "Last N days"},
    "type": {"email": "Email", "event": "Event", "session": "Session", "purchase": "Purchase", "refund": "Refund",
             "failed_payment": "Failed payment", "pending_payment": "Pending payment", "plan_change": "Plan change"},
    "trend": {"increasing": "Rising", "stable": "Stable", "decreasing": "Falling"},
    "rule": {"activity_drop": "Activity drop", "revenue_drop": "Revenue drop", "failed_payment_rate": "Failed payment rate",
             "churn_spike": "Churn spike", "error_spike": "Error spike", "traffic_surge": "Traffic surge"},
    "weekday": dict(enumerate(["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"])),
    "event_type": {"page_view": "Page view", "feature_use": "Feature use", "api_call": "API call", "login": "Login",
                   "logout": "Logout", "error": "Error", "custom": "Custom"},
}

DURATIONS = ("avg_duration_s", "median_duration_s", "avg_session_s", "median_seconds_from_previous")
DATE_FORMATS = {"day": "YYYY-MM-DD", "week": "[Week of] MMM D", "month": "MMM YYYY"}
UNITS = {"day": "days", "week": "weeks", "month": "months"}


def label(column: str) -> str:
    """A column's human name: known names, else its words capitalised, abbreviations upper-cased."""
    if column in LABELS:
        return LABELS[column]
    words = [ABBREVIATIONS.get(word, word) for word in column.split("_")]
    text = " ".join(words)
    return text[0].upper() + text[1:] if text else text


def code(kind: str, value: object) -> str:
    """A code of the data (a device type, a transaction kind or status, …) in words."""
    if value is None:
        return EMPTY
    return CODES.get(kind, {}).get(value, str(value))


def currency() -> str:
    return cache.store().currency


def money(value: float | Decimal | None, code: str | None = None) -> str:
    if value is None:
        return EMPTY
    code = code or currency()
    text = f"{abs(float(value)):,.2f}"
    sign = "-" if float(value) < 0 else ""
    return f"{sign}{SYMBOLS[code]}{text}" if code in SYMBOLS else f"{sign}{text} {code}"


def pct(value: float | None, digits: int = 1) -> str:
    return EMPTY if value is None else f"{value * 100:.{digits}f}%"


def number(value: float | Decimal | None) -> str:
    if value is None:
        return EMPTY
    return f"{int(value):,}" if float(value) == int(value) else f"{float(value):,.1f}"


def decimal(value: float | None, unit: str = "") -> str:
    """One decimal always (a score of 75.0, 4.0 days), with an optional unit after it."""
    return EMPTY if value is None else f"{value:,.1f}{unit}"


def days(value: float | None) -> str:
    return decimal(value, " days")


def duration(seconds: float | None) -> str:
    """4m 53s; 1h 02m past the hour; 45s under a minute."""
    if seconds is None:
        return EMPTY
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"


def moment(ts: datetime | None) -> str:
    return f"{ts:%Y-%m-%d %H:%M} UTC" if ts else EMPTY


def plural(count: int, word: str, words: str | None = None) -> str:
    """'1 order', '7 orders', '1,204 users'."""
    return f"{count:,} {word if count == 1 else words or word + 's'}"


def day(value: date) -> str:
    return f"{value:%Y-%m-%d}"


def week(value: date) -> str:
    return f"Week of {value:%b} {value.day}"


def month(value: date) -> str:
    return f"{value:%b %Y}"


def period(value: date, interval: str) -> str:
    """The period starting at `value` as its label: 2026-10-01, Week of Sep 28, Oct 2026."""
    return {"day": day, "week": week, "month": month}[interval](value)


def in_period(start: date, interval: str) -> str:
    """The period starting at `start` as words after a noun: 'on 2024-01-08', 'in the week of Jan 8',
    'in January 2024'."""
    if interval == "week":
        return f"in the week of {start:%b} {start.day}"
    if interval == "month":
        return f"in {start:%B %Y}"
    return f"on {day(start)}"


def span(start: date, end: date) -> str:
    return f"{day(start)} – {day(end)}"


def widened(start: date, end: date, range_start: date, range_end: date, interval: str) -> str | None:
    """How a range was widened to whole periods, or None when it was not:
    '2026-09-28 – 2026-11-01, whole weeks (the range widened from 2026-10-01 – 2026-10-31)'."""
    if (range_start, range_end) == (start, end):
        return None
    return f"{span(range_start, range_end)}, whole {UNITS[interval]} (the range widened from {span(start, end)})"


def plain(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame as charts and tables take it: exact money (Decimal) as floats. Only the screen
    rounds this way; downloads keep the exact values."""
    return frame.with_columns(pl.col(c).cast(pl.Float64) for c, t in frame.schema.items() if isinstance(t, pl.Decimal))


def text(value: object) -> str:
    """A value from the data, a link or a message, to be placed in markdown (a heading, a caption,
    a message) and read exactly as written: every markdown character is escaped, and the
    colons, @ and www. that Streamlit would turn into icons, emoji, colours or links are
    broken up by an invisible joiner. Nothing from the data is ever markup."""
    escaped = re.sub(r"([\\`*_{}\[\]()<>#+\-.!|~$&\"'=])", r"\\\1", str(value))
    return (escaped.replace(":", ":" + WORD_JOINER).replace("@", "@" + WORD_JOINER)
            .replace("www\\.", "www" + WORD_JOINER + "\\."))


PERSONAL = ("email", "name")


def masked(frame: pl.DataFrame) -> pl.DataFrame:
    """Emails and names shown to a role that may not see them: the first letter of each part
    and the email's domain, so rows stay tellable apart (m•••@hooli.example, M••• B•••)."""
    dots = "\u2022" * 3
    return frame.with_columns(
        pl.col(c).str.replace_all(r"([^\s@._-])[^\s@._-]*", "${1}" + dots) if c == "name" else
        pl.col(c).str.extract(r"^(.)", 1) + dots + pl.col(c).str.extract(r"(@.*)$", 1).fill_null("")
        for c in PERSONAL if c in frame.columns and frame.schema[c] == pl.String
    )
