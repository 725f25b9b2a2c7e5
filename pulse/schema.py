"""The typed shape of the four input tables (DATA.md), shared by every loader.

Every loader — files, SQL sources, the demo generator — hands the store polars frames with
exactly these columns and dtypes. Timestamps are naive UTC microseconds; money is a
decimal, never a float. Columns the store derives (local day, hour) are not here: the
store computes them on write, in the reporting timezone.
"""

from __future__ import annotations

from datetime import date

import polars as pl

MONEY = pl.Decimal(18, 4)
TS = pl.Datetime("us")

# The days Pulse supports, in UTC and in the reporting timezone alike: a timestamp outside
# them is quarantined and a query outside them refused, so a local day always exists and
# a period's end (up to a month later) still fits every date type on the way.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2199, 12, 31)
SUPPORTED_DAYS = f"{FIRST_DAY} to {LAST_DAY}"

SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "users": {
        "user_id": pl.String,
        "email": pl.String,
        "name": pl.String,
        "signup_at": TS,
        "country": pl.String,
        "timezone": pl.String,
        "auth_provider": pl.String,
        "plan": pl.String,
        "marketing_opt_in": pl.Boolean,
    },
    "events": {
        "event_id": pl.String,
        "user_id": pl.String,
        "ts": TS,
        "event_type": pl.String,
        "event_name": pl.String,
        "page_path": pl.String,
        "session_id": pl.String,
        "device_type": pl.String,
        "browser": pl.String,
        "os": pl.String,
        "country_code": pl.String,
        "referrer": pl.String,
        "properties": pl.String,  # a JSON object as text
    },
    "transactions": {
        "transaction_id": pl.String,
        "user_id": pl.String,
        "ts": TS,
        "kind": pl.String,
        "status": pl.String,
        "amount": MONEY,
        "currency": pl.String,
        "product_id": pl.String,
        "product_name": pl.String,
        "category": pl.String,
        "provider": pl.String,
        "payment_method": pl.String,
        "plan": pl.String,
        "refund_of": pl.String,
    },
    "subscriptions": {
        "subscription_id": pl.String,
        "user_id": pl.String,
        "plan": pl.String,
        "mrr": MONEY,
        "started_at": TS,
        "ended_at": TS,
        "cancel_reason": pl.String,
    },
}

# The columns that identify a row: a later load of the same key is a duplicate or an update.
KEYS: dict[str, tuple[str, ...]] = {
    "users": ("user_id",),
    "events": ("event_id",),
    "transactions": ("transaction_id",),
    "subscriptions": ("subscription_id", "started_at"),
}

REQUIRED: dict[str, tuple[str, ...]] = {
    "users": ("user_id", "signup_at"),
    "events": ("event_id", "user_id", "ts", "event_type"),
    "transactions": ("transaction_id", "user_id", "ts", "kind", "amount"),
    "subscriptions": ("subscription_id", "user_id", "plan", "mrr", "started_at"),
}

EVENT_TYPES = ("page_view", "feature_use", "api_call", "login", "logout", "error", "custom")
DEVICE_TYPES = ("desktop", "mobile", "tablet", "other")
TRANSACTION_KINDS = ("purchase", "subscription", "refund")
TRANSACTION_STATUSES = ("succeeded", "failed", "pending")

TABLES = tuple(SCHEMAS)


# The one boolean vocabulary, for input files, settings and metric options alike (any case).
BOOLEAN_WORDS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}
