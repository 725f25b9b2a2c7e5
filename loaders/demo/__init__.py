"""Demo data: a deterministic, streaming generator of a believable SaaS business.

The demo is what a new install, a screenshot and a benchmark see, so it must look like a
real product in every dashboard (growing signups, retention curves that drop and
flatten, sessions with real paths, an MRR that moves for reasons) and it must scale to
hundreds of millions of events. Both shape the code:

- Users are generated in chunks of `batch_users`. Each chunk draws from its own
  `numpy.random.Generator`, seeded from (seed, chunk index), and everything a chunk needs
  from outside it (the calendar, the signup curve, time zones) is derived from the
  arguments alone. So the output is a pure function of the arguments, and memory is
  bounded by one chunk however many users are asked for.
- Inside a chunk every step is vectorised, never a loop over rows (see `simulation`).

The modules:

- `params`: the world, as plain constants: places, names, devices, segments, pages and
  links, features, products, plans, prices and rates.
- `sampler`: the vectorised sampling kit, which knows nothing of SaaS: weighted picks,
  ragged arrays, slot tables, name pickers, decay curves.
- `simulation`: behaviour and billing of one chunk of users (activity, sessions, events,
  subscriptions, transactions) and the frames built from them.
- here: `generate` and `estimate_events`, the only names the rest of Pulse uses.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import polars as pl

from loaders.demo.params import (
    API,
    API_DAY_SHARE,
    BOUNCE,
    DECAY_DAYS,
    EXTRA_API_SESSIONS,
    PLATEAU,
    RESURRECT_ACTIVITY,
    SIGNUP,
    WEB,
    WEEKLY,
)
from loaders.demo.sampler import decay_sum
from loaders.demo.simulation import Counters, Window, chunk_tables, cumulative_signups, draw_users, mean_events

# estimate_events draws this many users; its sampling error is well under 2 %.
ESTIMATE_SAMPLE = 8000


def generate(users: int, days: int, seed: int = 1, end: dt.date | None = None,
             batch_users: int = 5000, now: dt.datetime | None = None) -> Iterator[tuple[str, pl.DataFrame]]:
    """Yields (table_name, frame) batches; table_name in users/events/transactions/subscriptions;
    each frame has exactly pulse.schema.SCHEMAS[table_name] columns and dtypes.

    Data covers [end - days + 1, end] in UTC (end defaults to today, UTC), and nothing
    after `now` (default: this moment), so a demo generated today ends now, its last day
    partial as real data is: rows after it are not made, and a subscription that would end
    later is still running. Each chunk of `batch_users` users yields its users,
    subscriptions and transactions, then its events in slices of at most EVENT_SLICE rows.
    The same arguments give the same frames.
    """
    if users < 0 or days < 1 or batch_users < 1:
        raise ValueError("demo data needs users >= 0, days >= 1 and batch_users >= 1")
    now = now or dt.datetime.now(dt.UTC).replace(tzinfo=None)
    window = Window.of(seed, days, end or now.date())
    counters = Counters()
    for chunk, first in enumerate(range(0, users, batch_users)):
        rng = np.random.default_rng([seed, chunk])
        people = draw_users(rng, first, min(batch_users, users - first), users, window.signup_cdf)
        for table, frame in chunk_tables(rng, people, window, counters):
            yield table, _until(table, frame, now)


# The column that dates a row of each table; a row dated after `now` has not happened yet.
_WHEN = {"users": "signup_at", "events": "ts", "transactions": "ts", "subscriptions": "started_at"}


def _until(table: str, frame: pl.DataFrame, now: dt.datetime) -> pl.DataFrame:
    """The rows of `frame` that have happened by `now`; a period ending later is still running."""
    frame = frame.filter(pl.col(_WHEN[table]) <= now)
    if table == "subscriptions":
        later = pl.col("ended_at") > now
        frame = frame.with_columns(pl.when(later).then(None).otherwise(pl.col(c)).alias(c)
                                   for c in ("ended_at", "cancel_reason"))
    return frame


def estimate_events(users: int, days: int) -> int:
    """Expected number of events for these arguments (within ~15%), so a benchmark can pick
    `users` for a target event count.

    Draws a fixed sample of users with the generator's own code and adds up, per user, the
    expected events of each day they may be active; no event is made.
    """
    sample = draw_users(np.random.default_rng(0), 0, ESTIMATE_SAMPLE, ESTIMATE_SAMPLE,
                        cumulative_signups(days))
    remaining = days - sample.day0
    stint1 = np.minimum(sample.life1, remaining)
    stint2 = np.where(sample.resurrects, np.clip(
        np.minimum(sample.start2 + sample.life2, remaining) - sample.start2, 0, None), 0)
    active_days = 1 + sample.activity * np.mean(WEEKLY) * (
        decay_sum(1, stint1, PLATEAU, DECAY_DAYS) + RESURRECT_ACTIVITY * decay_sum(0, stint2, PLATEAU, DECAY_DAYS))
    web = BOUNCE + (1 - BOUNCE) * mean_events(WEB)
    per_day = ((1 + sample.extra_sessions) * web
               + sample.api_user * API_DAY_SHARE * (1 + EXTRA_API_SESSIONS) * mean_events(API))
    per_user = active_days * per_day + mean_events(SIGNUP) - web
    return round(users * float(per_user.mean()))
