"""How fresh the store is (always visible), and what to do when there is no store yet."""

from __future__ import annotations

from datetime import datetime, timezone

import streamlit as st

from ui import cache


def ago(moment: datetime) -> str:
    seconds = int((datetime.now(timezone.utc) - moment).total_seconds())
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


def freshness() -> None:
    info = cache.info()
    settings = cache.settings()
    loaded = ago(info.last_load) if info.last_load else "never"
    span = f"{info.first_day} → {info.last_day}" if info.first_day else "no events yet"
    st.sidebar.caption(
        f":material/database: Data {span}  \n"
        f"Last load {loaded} · {info.rows['events']:,} events · {info.rows['users']:,} users  \n"
        f"Days in {info.timezone} · money in {info.currency}"
    )
    if not info.derived_current or (info.timezone, info.currency, info.session_timeout) != (
            settings.timezone, settings.currency, settings.session_timeout):
        st.sidebar.warning(
            "The store was built with other settings (timezone, currency or session timeout) or by an "
            "older Pulse than this one; run `pulse rebuild` (or load new data) to bring it up to date.", icon=":material/sync_problem:"
        )


def no_data() -> None:
    st.title("Welcome to Pulse")
    st.info(f"There is no data yet: the store `{cache.store().label}` does not exist.", icon=":material/database:")
    st.markdown(
        """
**Try it on demo data** — a believable SaaS business, generated and loaded in under a minute:

```
pulse demo --users 2000 --days 180
```

**Or load your own** users, events, transactions and subscriptions (CSV, Parquet or NDJSON):

```
pulse load users users.csv
pulse load events events.ndjson
pulse load-sql --url postgresql://… --table transactions --source-table billing.charges
```

Then reload this page. The README lists every column each table takes.
"""
    )
