"""The behaviour and billing simulation of one chunk of users, and the frames it yields.

Every step is vectorised over all users, days, sessions or events of the chunk at once;
the only Python loops run over a handful of "steps" (a page-view rank, a plan change),
never over rows. Strings are made by polars gathers from small lookup tables, built on
first use.

Times are integer seconds since the window start (UTC midnight of the first day) until
frames are built; local times use each user's zone offset on that local day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from loaders.demo.params import (
    ACTIVE_BETA, ADOPTION_BY_SEGMENT, ANNUAL_SHARE, API, API_CALL, API_DAY_SHARE, API_ENDPOINTS, API_ERRORS, API_USERS,
    AUTH_PROVIDERS, BILLING_MONTHS, BOUNCE, CANCEL_MONTHS, CANCEL_REASONS, CANCELLED, CASUAL, CATEGORIES, CHARGE_FAILS,
    COUNTRY_POOL, CURRENCIES, CUSTOM, CUSTOM_EVENTS, DECAY_DAYS, DEVICES, DOWNGRADES, EMAIL_DOMAINS, ENTERPRISE,
    ENTERPRISE_PLUS, ENTERPRISE_PLUS_SHARE, ENTRY_PAGES, ERROR, ERRORS, EURO_COUNTRIES, EXTRA_API_SESSIONS,
    EXTRA_SESSIONS, FAILED, FEATURE_USE, FEATURES, FREE, FREE_UPGRADES, GAP_MAX_S, GAP_MEDIAN_S, GAP_SIGMA,
    HOURS_WEEKDAY, HOURS_WEEKEND, LINKS, LOCAL_CURRENCY, LOGIN, LOGIN_SHARE, LOGOUT, LOGOUT_SHARE, MARKETING_OPT_IN,
    NAME_POOLS, PAGE_VIEW, PAGES, PAYMENT_METHODS, PAYMENT_MIX, PAYSTACK_COUNTRIES, PENDING, PENDING_DAYS,
    PENDING_SHARE, PLACES, PLAN_LABELS, PLAN_MRR, PLATEAU, PRO_ANNUAL, PRO_MONTHLY, PRODUCTS, PURCHASE,
    PURCHASES_PER_ACTIVE_DAY, REACTIVATES, REFERRED_ENTRIES, REFERRERS, REFUND, REFUNDED, RESURRECT, RESURRECT_ACTIVITY,
    SECOND_DEVICE_SESSIONS, SECOND_DEVICE_USERS, SEGMENT_SHARES, SESSION_EVENTS, SESSION_GAP, SIGNUP,
    SIGNUP_ENTRY_PAGES, SIGNUP_GROWTH_PER_MONTH, SIGNUP_WEEKEND, SUBSCRIPTION, SUCCEEDED, TO_ENTERPRISE, TOURIST, TRIAL,
    TRIAL_CONVERTS, TRIAL_DAYS, TRIAL_SHARE, WEB, WEB_EVENT_MIX, WEEKLY,
)
from loaders.demo.sampler import RESOLUTION, Names, Table, cumulative, decay, normal_quantiles, pick, ragged, slots
from pulse.schema import EVENT_TYPES, SCHEMAS, TRANSACTION_KINDS, TRANSACTION_STATUSES

DAY = 86_400
AVG_MONTH = 365.2425 / 12 * DAY
# Events frames are yielded in slices of at most this many rows, so the string columns of
# a chunk never exist all at once.
EVENT_SLICE = 500_000


# --- the calendar ---------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """What every chunk shares, derived from the arguments alone (never from a chunk)."""

    days: int
    epoch_s: int  # UTC seconds of the first day's midnight
    weekday0: int  # weekday of the first day, 0 = Monday
    signup_cdf: np.ndarray  # cumulative share of signups by local day
    offsets: np.ndarray  # [place, local day 0..days]: UTC offset in seconds at local noon
    switch_day: np.ndarray  # per feature: the day it is renamed (days + 1: never)

    @classmethod
    def of(cls, seed: int, days: int, end: dt.date) -> Window:
        start = end - dt.timedelta(days=days - 1)
        zones = [ZoneInfo(zone) for _, zone, _ in PLACES]
        noons = [dt.datetime.combine(start + dt.timedelta(days=k), dt.time(12))
                 for k in range(days + 1)]
        offsets = np.array([[zone.utcoffset(noon).total_seconds() for noon in noons]
                            for zone in zones], dtype=np.int64)
        switch = [int(renamed[1] * days) if renamed else days + 1 for *_, renamed in FEATURES]
        signup_rng = np.random.default_rng([seed, 1 << 40])  # a stream no chunk uses
        return cls(days=days,
                   epoch_s=int(dt.datetime.combine(start, dt.time(), dt.UTC).timestamp()),
                   weekday0=start.weekday(),
                   signup_cdf=cumulative_signups(days, start.weekday(), signup_rng),
                   offsets=offsets, switch_day=np.array(switch))

    @property
    def seconds(self) -> int:
        return self.days * DAY


def cumulative_signups(days: int, weekday0: int | None = None,
                       rng: np.random.Generator | None = None) -> np.ndarray:
    """Cumulative share of signups by day: exponential growth, fewer at weekends, and
    (given a generator) day-to-day noise plus a launch spike every four months or so.
    With neither it is the expected curve, for estimate_events."""
    day = np.arange(days)
    weight = np.exp(np.log1p(SIGNUP_GROWTH_PER_MONTH) / 30.44 * day)
    if weekday0 is not None:
        weight *= np.where((weekday0 + day) % 7 >= 5, SIGNUP_WEEKEND, 1.0)
    if rng is not None:
        weight *= rng.lognormal(0.0, 0.15, days)
        for spike in rng.integers(0, days, days // 120):
            weight[spike:spike + 4] *= np.array([3.0, 1.8, 1.3, 1.1])[:days - spike]
    return cumulative(weight)


# --- users ----------------------------------------------------------------------------


@dataclass
class _Users:
    """One chunk of users: how they behave (all estimate_events needs), then their ids,
    where they are and when they signed up (set by _place)."""

    index: np.ndarray  # global 0-based user number
    day0: np.ndarray  # local day of signup
    segment: np.ndarray
    activity: np.ndarray  # chance of being active on a day, before decay and weekday
    life1: np.ndarray  # days the first stint lasts, counting the signup day
    resurrects: np.ndarray
    start2: np.ndarray  # day (since signup) a resurrected user comes back
    life2: np.ndarray
    extra_sessions: np.ndarray
    api_user: np.ndarray
    place: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    signup_s: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    ids: pl.Series = field(default_factory=lambda: pl.Series(dtype=pl.String))  # u000001, ...


def draw_users(rng: np.random.Generator, first: int, n: int, total: int,
               signup_cdf: np.ndarray) -> _Users:
    """Users first .. first+n-1 of `total`. Signups are stratified over the window (user i
    near quantile i/total of the signup curve), so user numbers rise with signup time,
    like database ids."""
    quantile = (first + np.arange(n) + rng.random(n)) / total
    segment = pick(rng, SEGMENT_SHARES, n)
    a, b = np.array(ACTIVE_BETA).T
    lives = np.select([segment == TOURIST, segment == CASUAL],
                      [rng.geometric(0.45, n), 3 + rng.exponential(30.0, n)],
                      30 + rng.exponential(900.0, n))
    return _Users(
        index=first + np.arange(n),
        day0=np.searchsorted(signup_cdf, quantile, side="right"),
        segment=segment,
        activity=rng.beta(a[segment], b[segment]),
        life1=lives.astype(np.int64),
        resurrects=rng.random(n) < np.array(RESURRECT)[segment],
        start2=(lives + 14 + rng.exponential(45.0, n)).astype(np.int64),
        life2=(2 + rng.exponential(25.0, n)).astype(np.int64),
        extra_sessions=np.array(EXTRA_SESSIONS)[segment] * rng.lognormal(0.0, 0.3, n),
        api_user=rng.random(n) < np.array(API_USERS)[segment],
    )


def _place(rng: np.random.Generator, people: _Users, window: Window) -> None:
    """Gives each user an id, a place (country and zone) and a signup instant: a local
    hour of the signup day, moved by a day where the zone pushes it out of the window."""
    people.ids = "u" + pl.Series(people.index + 1).cast(pl.String).str.zfill(6)
    people.place = pick(rng, [share for *_, share in PLACES], len(people.index))
    weekend = (window.weekday0 + people.day0) % 7 >= 5
    signup = (people.day0 * DAY + _local_seconds(rng, weekend)
              - window.offsets[people.place, people.day0])
    early, late = signup < 0, signup >= window.seconds
    people.signup_s = signup + (early.astype(np.int64) - late) * DAY
    people.day0 = people.day0 + early - late


def _local_seconds(rng: np.random.Generator, weekend: np.ndarray) -> np.ndarray:
    """A local time of day (seconds) from the daily rhythm of a weekday or weekend."""
    hour = _hours().pick(slots(rng, len(weekend)), weekend)
    return hour * 3600 + rng.integers(0, 3600, len(weekend))


# --- a chunk --------------------------------------------------------------------------


@dataclass
class Counters:
    """Running numbers behind event, session and transaction ids, across chunks."""

    event: int = 0
    session: int = 0
    transaction: int = 0


def chunk_tables(rng: np.random.Generator, people: _Users, window: Window,
                 counters: Counters) -> Iterator[tuple[str, pl.DataFrame]]:
    """All four tables for one chunk of users. Activity comes first: purchases happen
    during sessions, and paying stops some time after a user stops showing up."""
    _place(rng, people, window)
    day_user, day = _active_days(rng, people, window)
    sessions = _sessions(rng, people, window, day_user, day)
    events = _events(rng, people, window, sessions)
    periods = _subscriptions(rng, people, window)
    active_days = np.bincount(day_user, minlength=len(people.index))
    charges = _transactions(rng, people, window, periods, sessions.user[events.session],
                            events.ts, active_days)
    running = periods["end"] < 0
    plan_now = np.full(len(people.index), FREE)  # a cancelled user is back on free
    plan_now[periods["user"][running]] = periods["plan"][running]

    yield "users", _users_frame(rng, people, plan_now, window)
    yield "subscriptions", _subscriptions_frame(people, window, periods)
    yield "transactions", _transactions_frame(people, window, charges, counters)
    yield from _events_frames(people, window, sessions, events, counters)


# --- activity -------------------------------------------------------------------------


def _active_days(rng: np.random.Generator, people: _Users,
                 window: Window) -> tuple[np.ndarray, np.ndarray]:
    """(user, local day) of every day a user is active: always the signup day, then each
    day of a stint with a chance that decays from keen to a habit, lower at weekends."""
    remaining = window.days + 1 - people.day0  # east of UTC the last local day is in too
    first_days = np.minimum(people.life1, remaining)
    second_days = np.where(people.resurrects, np.clip(
        np.minimum(people.start2 + people.life2, remaining) - people.start2, 0, None), 0)
    user1, since1 = ragged(first_days)
    user2, since2 = ragged(second_days)
    user = np.concatenate([user1, user2])
    since = np.concatenate([since1, since2])
    day = people.day0[user] + np.concatenate([since1, since2 + people.start2[user2]])
    weekly = np.array(WEEKLY)[(window.weekday0 + day) % 7]
    chance = (people.activity[user] * decay(since, PLATEAU, DECAY_DAYS) * weekly
              * np.concatenate([np.ones(len(user1)), np.full(len(user2), RESURRECT_ACTIVITY)]))
    chance[np.flatnonzero(since1 == 0)] = 1.0
    active = rng.random(len(chance)) < chance
    return user[active], day[active]


@dataclass
class _Sessions:
    """A chunk's sessions, sorted by user, then start."""

    user: np.ndarray
    kind: np.ndarray
    start: np.ndarray  # seconds, as drawn: _events moves them apart
    device: np.ndarray  # index into DEVICES


def _sessions(rng: np.random.Generator, people: _Users, window: Window,
              day_user: np.ndarray, day: np.ndarray) -> _Sessions:
    """Sessions of each active day: 1 + Poisson web sessions at local hours drawn from the
    daily rhythm, plus API sessions for API users. On the signup day the first session
    starts at the signup instant and the others follow it."""
    n_days = len(day)
    web = 1 + np.minimum(rng.poisson(people.extra_sessions[day_user]), 5)
    api = np.where(people.api_user[day_user] & (rng.random(n_days) < API_DAY_SHARE),
                   1 + np.minimum(rng.poisson(EXTRA_API_SESSIONS, n_days), 4), 0)
    owner, position = ragged(web + api)
    user, local_day = day_user[owner], day[owner]
    signup_day = local_day == people.day0[user]
    kind = np.where(position < web[owner], WEB, API)
    kind[signup_day & (position == 0)] = SIGNUP

    weekend = (window.weekday0 + local_day) % 7 >= 5
    start = (local_day * DAY + _local_seconds(rng, weekend)
             - window.offsets[people.place[user], local_day])
    later = (people.signup_s[user] + SESSION_GAP
             + rng.exponential(3 * 3600, len(user)).astype(np.int64))
    start = np.where(signup_day, np.where(kind == SIGNUP, people.signup_s[user], later), start)
    inside = np.flatnonzero(start < window.seconds)
    order = inside[np.argsort(user[inside] * (1 << 40) + start[inside])]  # user, then start
    user, kind, start = user[order], kind[order], start[order]

    n = len(people.index)
    device_type = np.array([device for device, *_ in DEVICES])
    mobiles = np.flatnonzero(device_type == "mobile")
    primary = pick(rng, [share for *_, share in DEVICES], n)
    phone = mobiles[pick(rng, [DEVICES[i][3] for i in mobiles], n)]
    has_phone = (device_type[primary] == "desktop") & (rng.random(n) < SECOND_DEVICE_USERS)
    on_phone = has_phone[user] & (kind == WEB) & (rng.random(len(user)) < SECOND_DEVICE_SESSIONS)
    return _Sessions(user=user, kind=kind, start=start,
                     device=np.where(on_phone, phone[user], primary[user]))


@dataclass
class _Events:
    """A chunk's events, sorted by user, then time, as codes. The last sessions may run
    past the window's end."""

    session: np.ndarray
    ts: np.ndarray  # microseconds since the window start
    type: np.ndarray  # index into EVENT_TYPES
    name: np.ndarray  # index into _event_names()
    page: np.ndarray  # 1 + index into PAGES (0: none)
    referrer: np.ndarray  # 1 + index into REFERRERS (0: none)
    properties: np.ndarray  # index into _event_labels()["properties"] (0: none)


def _events(rng: np.random.Generator, people: _Users, window: Window,
            s: _Sessions) -> _Events:
    """The events of every session: how many, when (which also lays the sessions out
    without overlap), of which type, and what each is: page, feature, endpoint, error.
    Sessions that run past the window's end keep their late events; frames drop them."""
    count = np.empty(len(s.user), dtype=np.int64)
    for kind in (WEB, SIGNUP, API):
        mine = s.kind == kind
        count[mine] = _event_counts(rng, kind, int(mine.sum()))
    count[(s.kind == WEB) & (rng.random(len(count)) < BOUNCE)] = 1
    session = np.repeat(np.arange(len(count)), count)
    first = np.cumsum(count) - count
    last = first + count - 1

    gap = _gaps().pick(slots(rng, len(session)), np.repeat(s.kind, count))
    offset = np.cumsum(gap, dtype=np.int64) - gap
    offset -= np.repeat(offset[first], count)
    start = _lay_out(s.user, s.start, offset[last])
    jitter = rng.integers(0, 1_000_000, len(session))
    jitter[first] = 0  # a session starts on the second: the signup session at signup_at
    ts = (np.repeat(start, count) + offset) * 1_000_000 + jitter

    etype = _event_types(rng, s.kind, count, first, last)
    choice = slots(rng, len(session))  # each event's one categorical draw
    name = _names_by_type().pick(choice, etype)
    page, referrer = _walk_pages(rng, s.kind, etype, session, first, choice)
    properties = np.zeros(len(session), dtype=np.int32)
    feature = np.flatnonzero(etype == FEATURE_USE)
    name[feature], properties[feature] = _features(
        rng, people, window, s.user[session[feature]], choice[feature],
        ts[feature] // (DAY * 1_000_000), gap[feature])

    return _Events(session=session, ts=ts, type=etype, name=name, page=page,
                   referrer=referrer, properties=properties)


def _event_counts(rng: np.random.Generator, kind: int, n: int) -> np.ndarray:
    """Events per session: a base plus a negative binomial (dispersion 1.5) capped far in
    its tail, so mean_events is its mean."""
    base, mean, cap = SESSION_EVENTS[kind]
    return base + np.minimum(rng.negative_binomial(1.5, 1.5 / (1.5 + mean), n), cap)


def mean_events(kind: int) -> float:
    base, mean, _ = SESSION_EVENTS[kind]
    return base + mean


def _lay_out(user: np.ndarray, drawn: np.ndarray, duration: np.ndarray) -> np.ndarray:
    """Session starts, moved as little as needed for each to begin more than SESSION_GAP
    after the same user's previous one ends.

    start_k = max(drawn_k, start_{k-1} + duration_{k-1} + gap) unrolls to
    C_k + max_{j<=k}(drawn_j - C_j), C being the running sum of duration + gap within the
    user: one cumulative maximum, kept per user by lifting each user above the previous.
    """
    step = duration + SESSION_GAP
    before = np.cumsum(step) - step
    before -= before[np.searchsorted(user, user)]
    slack = drawn - before
    low = slack.min()
    lift = user * (slack.max() - low + 1)
    return before + np.maximum.accumulate(slack - low + lift) - lift + low


def _event_types(rng: np.random.Generator, session_kind: np.ndarray, count: np.ndarray,
                 first: np.ndarray, last: np.ndarray) -> np.ndarray:
    """Web events mix pages, features, custom events and rare errors; a web session opens
    on a page (after a login, sometimes) and may close with a logout; the signup session
    opens with its three pages; API sessions are API calls and a few errors."""
    api = np.repeat(session_kind == API, count)
    etype = _event_mix().pick(slots(rng, len(api)), api)
    n = len(session_kind)
    browsing = session_kind != API
    logs_in = (session_kind == WEB) & (count >= 2) & (rng.random(n) < LOGIN_SHARE)
    logs_out = browsing & (count >= 3) & (rng.random(n) < LOGOUT_SHARE)
    signup = np.flatnonzero(session_kind == SIGNUP)
    etype[first[browsing]] = PAGE_VIEW
    etype[first[logs_in] + 1] = PAGE_VIEW
    etype[np.concatenate([first[signup] + 1, first[signup] + 2])] = PAGE_VIEW
    etype[first[logs_in]] = LOGIN
    etype[last[logs_out]] = LOGOUT
    return etype


def _walk_pages(rng: np.random.Generator, session_kind: np.ndarray, etype: np.ndarray,
                session: np.ndarray, first: np.ndarray,
                choice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Page and referrer codes: each session walks the site map one page view at a time,
    all sessions at the same step at once; an entry at a public page is sometimes referred."""
    views = np.flatnonzero(etype == PAGE_VIEW)
    per_session = np.bincount(session[views], minlength=len(session_kind))
    offset = np.cumsum(per_session) - per_session  # of each session's first view in `views`
    u = choice[views]
    signup = session_kind == SIGNUP
    current = np.zeros(len(session_kind), dtype=np.int16)
    walked = np.empty(len(views), dtype=np.int16)
    walking = np.flatnonzero(per_session)
    entry_pages, links = _entry_pages(), _links()
    signup_path = {1: PAGES.index("/signup"), 2: PAGES.index("/dashboard")}
    step = 0
    while len(walking):
        at = offset[walking] + step  # the step-th view of every session still walking
        if step == 0:
            nxt = entry_pages.pick(u[at], signup[walking])
        else:
            nxt = links.pick(u[at], current[walking])
        if step in signup_path:
            nxt = np.where(signup[walking], signup_path[step], nxt)
        current[walking] = nxt
        walked[at] = nxt
        step += 1
        walking = walking[per_session[walking] > step]
    page = np.zeros(len(session), dtype=np.int16)
    page[views] = walked + 1
    entry = offset[per_session > 0]
    public = np.array([page == "/" or page.startswith(("/docs", "/blog", "/changelog", "/pricing"))
                       for page in PAGES])
    entries, public = views[entry], public[walked[entry]]
    referred = entries[public & (rng.random(len(entries)) < REFERRED_ENTRIES)]
    referrer = np.zeros(len(session), dtype=np.int16)
    referrer[referred] = 1 + pick(rng, [share for _, share in REFERRERS], len(referred))
    return page, referrer


def _features(rng: np.random.Generator, people: _Users, window: Window, user: np.ndarray,
              choice: np.ndarray, day: np.ndarray,
              duration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Name and properties codes of feature_use events: one of the user's adopted features
    (weighted by that user's taste), renamed from its switch day, with the time until
    the next event as its duration."""
    n = len(people.index)
    names, category, adoption, weight, renames = zip(*FEATURES)
    chance = np.minimum(np.array(adoption) * np.array(ADOPTION_BY_SEGMENT)[people.segment][:, None], 1)
    adopted = rng.random((n, len(FEATURES))) < chance
    adopted[:, 0] |= ~adopted.any(axis=1)  # everyone who uses any feature makes reports
    taste = np.cumsum(adopted * np.array(weight) * rng.lognormal(0.0, 0.5, adopted.shape), axis=1)
    shares = (taste / taste[:, -1:]).astype(np.float32)
    u = ((choice + 0.5) / RESOLUTION).astype(np.float32)
    feature = np.count_nonzero(shares[user] < u[:, None], axis=1)
    codes = _event_names()
    before = np.array([codes.index(name) for name in names])
    after = np.array([codes.index(rename[0] if rename else name) for name, rename in zip(names, renames)])
    name = np.where(day >= window.switch_day[feature], after[feature], before[feature])
    category_code = np.array([CATEGORIES.index(c) for c in category])
    return name, 1 + category_code[feature] * GAP_MAX_S + duration - 1


# --- subscriptions and transactions ---------------------------------------------------


def _subscriptions(rng: np.random.Generator, people: _Users,
                   window: Window) -> dict[str, np.ndarray]:
    """Every user's plan periods, sorted by user and start: user, plan, start, end (-1
    while running) and reason (-1, or the cancel reason). A small state machine, stepped
    once per plan change for all users at once; changes after the window stay unknown."""
    n = len(people.index)
    life_end = (people.day0 + np.where(people.resurrects, people.start2 + people.life2,
                                       people.life1)) * DAY
    plan = np.where(rng.random(n) < TRIAL_SHARE, TRIAL, FREE)
    start = people.signup_s.copy()
    rows = []
    who = np.arange(n)
    while len(who):
        when, nxt, reason = _next_plan(rng, plan[who], start[who], people.segment[who],
                                       life_end[who], window)
        stays = when >= window.seconds
        end = np.where(stays, -1, when).astype(np.int64)
        recorded = plan[who] != CANCELLED
        rows.append((who[recorded], plan[who][recorded], start[who][recorded],
                     end[recorded], np.where(stays, -1, reason)[recorded]))
        who = who[~stays]
        plan[who] = nxt[~stays]
        start[who] = end[~stays]
    user, plan, start, end, reason = (np.concatenate(column) for column in zip(*rows))
    order = np.lexsort((start, user))
    return {"user": user[order], "plan": plan[order], "start": start[order],
            "end": end[order], "reason": reason[order]}


def _next_plan(rng: np.random.Generator, plan: np.ndarray, start: np.ndarray,
               segment: np.ndarray, life_end: np.ndarray,
               window: Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """When each user's plan next changes (inf: never), to what, and the cancel reason.

    Trials end after 14 days (some convert earlier); free users may upgrade while they
    still use the product; paying users cancel (soon after they stop using it, at the
    latest) or move between pro and enterprise; cancellations and downgrades take effect
    at the next renewal; some cancelled users are won back months later (those no longer
    using the product cancel again soon).
    """
    n = len(plan)
    start_f = start.astype(np.float64)
    when = np.full(n, np.inf)
    nxt = np.full(n, CANCELLED)
    reason = np.full(n, -1)
    to_pro = np.where(rng.random(n) < ANNUAL_SHARE, PRO_ANNUAL, PRO_MONTHLY)

    trial = plan == TRIAL
    converts = rng.random(n) < np.array(TRIAL_CONVERTS)[segment]
    early = converts & (rng.random(n) < 0.35)
    length = np.where(early, rng.uniform(1, TRIAL_DAYS - 1, n), TRIAL_DAYS) * DAY
    when[trial] = (start_f + length)[trial]
    nxt[trial] = np.where(converts, to_pro, FREE)[trial]

    upgrade_at = start_f + DAY + rng.exponential(75 * DAY, n)
    upgrades = ((plan == FREE) & (rng.random(n) < np.array(FREE_UPGRADES)[segment])
                & (upgrade_at < life_end))
    when[upgrades] = upgrade_at[upgrades]
    nxt[upgrades] = to_pro[upgrades]

    back_at = start_f + 45 * DAY + rng.exponential(100 * DAY, n)
    returns = (plan == CANCELLED) & (rng.random(n) < REACTIVATES)
    when[returns] = back_at[returns]
    nxt[returns] = PRO_MONTHLY

    pro = (plan == PRO_MONTHLY) | (plan == PRO_ANNUAL)
    enterprise = (plan == ENTERPRISE) | (plan == ENTERPRISE_PLUS)
    mean_cancel = np.where(pro, np.array(CANCEL_MONTHS[PRO_MONTHLY])[segment],
                           np.array(CANCEL_MONTHS[ENTERPRISE])[segment]) * AVG_MONTH
    decides = np.maximum(start_f, np.minimum(start_f + rng.exponential(mean_cancel),
                                             life_end + rng.exponential(21 * DAY, n)))
    grow_at = np.where(pro & (rng.random(n) < np.array(TO_ENTERPRISE)[segment]),
                       start_f + DAY + rng.exponential(150 * DAY, n), np.inf)
    shrinks = enterprise & (rng.random(n) < DOWNGRADES)
    shrink_decided = start_f + rng.exponential(200 * DAY, n)
    bigger = np.where(rng.random(n) < ENTERPRISE_PLUS_SHARE, ENTERPRISE_PLUS, ENTERPRISE)
    cancel_reason = pick(rng, [share for _, share in CANCEL_REASONS], n)

    paying = np.flatnonzero(pro | enterprise)
    months = np.array(BILLING_MONTHS)[plan[paying]]
    cancel_at = _next_renewal(start[paying], months, decides[paying], window)
    shrink_at = np.where(shrinks[paying], _next_renewal(start[paying], months,
                                                        shrink_decided[paying], window), np.inf)
    move_at = np.minimum(grow_at[paying], shrink_at)
    moves = move_at < cancel_at
    when[paying] = np.where(moves, move_at, cancel_at)
    nxt[paying] = np.where(moves, np.where(pro, bigger, PRO_MONTHLY)[paying], CANCELLED)
    reason[paying] = np.where(moves, -1, cancel_reason[paying])
    return when, nxt, reason


def _next_renewal(anchor: np.ndarray, months: np.ndarray, after: np.ndarray,
                  window: Window) -> np.ndarray:
    """The first billing anniversary of `anchor` (every `months` months) strictly after
    `after`: when a cancellation or downgrade decided at `after` takes effect."""
    k = np.maximum(1, ((after - anchor) // (months * AVG_MONTH)).astype(np.int64) + 1)
    k = np.where(_add_months(anchor, k * months, window) <= after, k + 1, k)
    k = np.where((k > 1) & (_add_months(anchor, (k - 1) * months, window) > after), k - 1, k)
    return _add_months(anchor, k * months, window).astype(np.float64)


def _add_months(seconds: np.ndarray, months: np.ndarray, window: Window) -> np.ndarray:
    """`seconds` plus `months` calendar months: same day of the month (or the month's last
    day) and time of day, as billing systems renew."""
    instant = (window.epoch_s + seconds).astype("datetime64[s]")
    month = instant.astype("datetime64[M]")
    into = (instant - month.astype("datetime64[s]")).astype(np.int64)
    target = month + months.astype("timedelta64[M]")
    length = ((target + 1).astype("datetime64[D]")
              - target.astype("datetime64[D]")).astype(np.int64)
    day = np.minimum(into // DAY, length - 1)
    return (target.astype("datetime64[s]").astype(np.int64) - window.epoch_s
            + day * DAY + into % DAY)


def _transactions(rng: np.random.Generator, people: _Users, window: Window,
                  periods: dict[str, np.ndarray], event_user: np.ndarray,
                  event_ts: np.ndarray, active_days: np.ndarray) -> dict[str, np.ndarray]:
    """Charges for every paid period (on each monthly or yearly anniversary of its start),
    one-off purchases made during a session, then failures and their retries, pending
    charges in the last days, and refunds of purchases. One row per transaction, with
    `refund_of` the row refunded (-1: none)."""
    paid = periods["plan"] >= PRO_MONTHLY
    start, plan = periods["start"][paid], periods["plan"][paid]
    end = np.where(periods["end"][paid] < 0, window.seconds, periods["end"][paid])
    months = np.array(BILLING_MONTHS)[plan]
    owner, k = ragged((end - start) // (months * 28 * DAY) + 1)
    charged_at = _add_months(start[owner], k * months[owner], window)
    due = charged_at < end[owner]
    owner = owner[due]

    buys = rng.poisson(np.array(PURCHASES_PER_ACTIVE_DAY)[people.segment] * active_days)
    buyer = np.repeat(np.arange(len(buys)), buys)
    first = np.searchsorted(event_user, buyer)
    seen = np.searchsorted(event_user, buyer, side="right") - first
    during = first + (rng.random(len(buyer)) * seen).astype(np.int64)
    bought_at = np.minimum(event_ts[during] // 1_000_000 + rng.integers(5, 90, len(buyer)),
                           window.seconds - 1)
    bought = pick(rng, [p[5] for p in PRODUCTS], len(buyer))
    quantity = np.where(rng.random(len(buyer)) < 0.15, rng.integers(2, 5, len(buyer)), 1)

    price_cents = np.array([price for *_, price, _ in PRODUCTS])
    charge = {
        "user": np.concatenate([periods["user"][paid][owner], buyer]),
        "ts": np.concatenate([charged_at[due], bought_at]),
        "kind": np.concatenate([np.full(len(owner), SUBSCRIPTION), np.full(len(buyer), PURCHASE)]),
        "product": np.concatenate([plan[owner] - PRO_MONTHLY, bought]),
        "cents": np.concatenate([price_cents[plan[owner] - PRO_MONTHLY],
                                 price_cents[bought] * quantity]),
        "plan": np.concatenate([plan[owner], np.full(len(buyer), -1)]),
    }
    fails = rng.random(len(charge["ts"])) < CHARGE_FAILS
    retry_at = charge["ts"] + DAY + rng.integers(0, 3 * DAY, len(fails))
    retried = np.flatnonzero(fails & (retry_at < window.seconds))
    rows = np.concatenate([np.arange(len(fails)), retried])  # the charge behind each row
    ts = np.concatenate([charge["ts"], retry_at[retried]])
    status = np.where(np.concatenate([fails, np.zeros(len(retried), bool)]), FAILED, SUCCEEDED)
    status[(status == SUCCEEDED) & (ts >= window.seconds - PENDING_DAYS * DAY)
           & (rng.random(len(rows)) < PENDING_SHARE)] = PENDING

    refundable = np.flatnonzero((charge["kind"][rows] == PURCHASE) & (status == SUCCEEDED))
    refund_at = ts[refundable] + 3600 + rng.exponential(8 * DAY, len(refundable)).astype(np.int64)
    chosen = (rng.random(len(refundable)) < REFUNDED) & (refund_at < window.seconds)
    refunded = refundable[chosen]
    cents = charge["cents"][rows]
    refund_cents = np.where(rng.random(len(refunded)) < 0.2, cents[refunded] // 2, cents[refunded])

    n = len(people.index)
    country = _countries()[people.place]
    euro = np.isin(country, list(EURO_COUNTRIES))
    local = (euro | (country == "GB")) & (rng.random(n) < LOCAL_CURRENCY)
    currency = np.where(local, np.where(euro, 1, 2), 0)
    method = np.where(np.isin(country, list(PAYSTACK_COUNTRIES)), pick(rng, PAYMENT_MIX[1], n),
                      pick(rng, PAYMENT_MIX[0], n))
    source = np.concatenate([rows, rows[refunded]])
    user = charge["user"][source]
    return {
        "user": user,
        "ts": np.concatenate([ts, refund_at[chosen]]),
        "kind": np.concatenate([charge["kind"][rows], np.full(len(refunded), REFUND)]),
        "status": np.concatenate([status, np.full(len(refunded), SUCCEEDED)]),
        "cents": np.concatenate([cents, refund_cents]),
        "product": charge["product"][source],
        "plan": np.concatenate([charge["plan"][rows], np.full(len(refunded), -1)]),
        "refund_of": np.concatenate([np.full(len(rows), -1), refunded]),
        "currency": currency[user],
        "method": method[user],
    }


# --- frames ---------------------------------------------------------------------------


def _users_frame(rng: np.random.Generator, people: _Users, plan_now: np.ndarray,
                 window: Window) -> pl.DataFrame:
    """Names from the pool of the user's country; the email's local part ends with the
    user number, so addresses are unique."""
    n = len(people.index)
    pools = list(NAME_POOLS)
    pool = np.array([pools.index(COUNTRY_POOL.get(country, "en")) for country in _countries()])[people.place]
    first = Names.of([firsts for firsts, _ in NAME_POOLS.values()]).pick(rng.random(n), pool)
    last = Names.of([lasts for _, lasts in NAME_POOLS.values()]).pick(rng.random(n), pool)
    names = pl.DataFrame({"first": first, "last": last, "style": rng.integers(0, 3, n),
                          "number": people.index + 1})
    given, family = pl.col("first").str.to_lowercase(), pl.col("last").str.to_lowercase()
    local = (pl.when(pl.col("style") == 0).then(pl.concat_str(given, pl.lit("."), family))
             .when(pl.col("style") == 1).then(pl.concat_str(given.str.slice(0, 1), family))
             .otherwise(pl.concat_str(given, pl.lit("_"), family.str.slice(0, 1))))
    domain = pl.Series(EMAIL_DOMAINS).gather(rng.integers(0, len(EMAIL_DOMAINS), n))
    frame = names.select(
        user_id=people.ids,
        email=pl.concat_str(local, pl.col("number").cast(pl.String), pl.lit("@"), pl.lit(domain)),
        name=pl.concat_str(pl.col("first"), pl.lit(" "), pl.col("last")),
        signup_at=_timestamps(people.signup_s * 1_000_000, window),
        country=pl.Series(_countries()).gather(people.place),
        timezone=pl.Series([zone for _, zone, _ in PLACES]).gather(people.place),
        auth_provider=pl.Series([a for a, _ in AUTH_PROVIDERS]).gather(
            pick(rng, [share for _, share in AUTH_PROVIDERS], n)),
        plan=pl.Series(PLAN_LABELS).gather(plan_now),
        marketing_opt_in=pl.Series(rng.random(n) < MARKETING_OPT_IN),
    )
    return _exact(frame, "users")


def _subscriptions_frame(people: _Users, window: Window,
                         periods: dict[str, np.ndarray]) -> pl.DataFrame:
    """One subscription per user (sub_ and the user's number), one row per plan period."""
    running = periods["end"] < 0
    return _exact(pl.DataFrame({
        "subscription_id": "sub_" + people.ids.gather(periods["user"]).str.slice(1),
        "user_id": people.ids.gather(periods["user"]),
        "plan": pl.Series(PLAN_LABELS).gather(periods["plan"]),
        "mrr": pl.Series(PLAN_MRR, dtype=SCHEMAS["subscriptions"]["mrr"]).gather(periods["plan"]),
        "started_at": _timestamps(periods["start"] * 1_000_000, window),
        "ended_at": _with_nulls(_timestamps(periods["end"] * 1_000_000, window), running),
        "cancel_reason": _lookup([r for r, _ in CANCEL_REASONS], periods["reason"]),
    }), "subscriptions")


def _transactions_frame(people: _Users, window: Window, t: dict[str, np.ndarray],
                        counters: Counters) -> pl.DataFrame:
    """Rows sorted by user and time, numbered in that order; refund_of names the number."""
    order = np.lexsort((t["ts"], t["user"]))
    moved_to = np.empty_like(order)
    moved_to[order] = np.arange(len(order))
    t = {column: values[order] for column, values in t.items()}
    first = counters.transaction
    counters.transaction += len(order)
    refund_of = np.where(t["refund_of"] < 0, -1, first + moved_to[t["refund_of"]])
    product = t["product"]
    products = [pl.Series(column) for column in list(zip(*PRODUCTS))[:4]]
    return _exact(pl.DataFrame({
        "transaction_id": "t" + pl.Series(first + np.arange(len(order))).cast(pl.String),
        "user_id": people.ids.gather(t["user"]),
        "ts": _timestamps(t["ts"] * 1_000_000, window),
        "kind": pl.Series(TRANSACTION_KINDS).gather(t["kind"]),
        "status": pl.Series(TRANSACTION_STATUSES).gather(t["status"]),
        "amount": (pl.Series(t["cents"]).cast(pl.Decimal(18, 4)) / 100),
        "currency": pl.Series(CURRENCIES).gather(t["currency"]),
        "product_id": products[0].gather(product),
        "product_name": products[1].gather(product),
        "category": products[2].gather(product),
        "provider": products[3].gather(product),
        "payment_method": pl.Series(PAYMENT_METHODS).gather(t["method"]),
        "plan": _lookup(PLAN_LABELS, t["plan"]),
        "refund_of": _with_nulls("t" + pl.Series(refund_of).cast(pl.String), refund_of < 0),
    }), "transactions")


def _events_frames(people: _Users, window: Window, s: _Sessions, e: _Events,
                   counters: Counters) -> Iterator[tuple[str, pl.DataFrame]]:
    """Events inside the window, in slices. Every text column is a gather from a small
    lookup table, all in one select, which polars runs in parallel."""
    session_ids = "s" + pl.Series(counters.session + np.arange(len(s.user))).cast(pl.String)
    counters.session += len(s.user)
    countries = pl.Series(_countries()).gather(people.place)
    labels = _event_labels()
    end = (window.epoch_s + window.seconds) * 1_000_000
    for lo in range(0, len(e.ts), EVENT_SLICE):
        part = slice(lo, lo + EVENT_SLICE)
        session = e.session[part]
        codes = pl.DataFrame({
            "ts": window.epoch_s * 1_000_000 + e.ts[part],
            "user": s.user[session], "session": session, "device": s.device[session],
            "type": e.type[part], "name": e.name[part], "page": e.page[part],
            "referrer": e.referrer[part], "properties": e.properties[part],
        }).filter(pl.col("ts") < end)
        number = pl.int_range(pl.len()) + counters.event
        counters.event += codes.height
        device = pl.col("device")
        yield "events", _exact(codes.select(
            event_id=pl.format("e{}", number),
            user_id=pl.lit(people.ids).gather(pl.col("user")),
            ts=pl.col("ts").cast(pl.Datetime("us")),
            event_type=pl.lit(labels["event_type"]).gather(pl.col("type")),
            event_name=pl.lit(labels["event_name"]).gather(pl.col("name")),
            page_path=pl.lit(labels["page_path"]).gather(pl.col("page")),
            session_id=pl.lit(session_ids).gather(pl.col("session")),
            device_type=pl.lit(labels["device_type"]).gather(device),
            os=pl.lit(labels["os"]).gather(device),
            browser=pl.lit(labels["browser"]).gather(device),
            country_code=pl.lit(countries).gather(pl.col("user")),
            referrer=pl.lit(labels["referrer"]).gather(pl.col("referrer")),
            properties=pl.lit(labels["properties"]).gather(pl.col("properties")),
        ), "events")


def _exact(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """The table's columns, in schema order, with the schema's dtypes."""
    return frame.select(pl.col(column).cast(dtype) for column, dtype in SCHEMAS[table].items())


def _timestamps(micros: np.ndarray, window: Window) -> pl.Series:
    """Naive UTC timestamps from microseconds since the window start."""
    return pl.Series(window.epoch_s * 1_000_000 + micros).cast(pl.Datetime("us"))


def _with_nulls(series: pl.Series, missing: np.ndarray) -> pl.Series:
    return series.scatter(np.flatnonzero(missing), None)


def _lookup(labels: Sequence[str], codes: np.ndarray) -> pl.Series:
    """labels[code] as text; code -1 is null."""
    return pl.Series([None, *labels], dtype=pl.String).gather(codes + 1)


# --- lookup tables, built on first use from the parameters ------------------------------


@cache
def _countries() -> np.ndarray:
    """Per place, its country."""
    return np.array([country for country, _, _ in PLACES])


@cache
def _hours() -> Table:
    """Local hours at which sessions start: row 0 on weekdays, row 1 at weekends."""
    return Table.of([(HOURS_WEEKDAY, range(24)), (HOURS_WEEKEND, range(24))], np.int64)


@cache
def _gaps() -> Table:
    """Seconds between events, per session kind: log-normal around its median, 1 s ..
    GAP_MAX_S, so a session never pauses for 30 minutes."""
    z = normal_quantiles()
    return Table(np.concatenate([
        np.minimum(median * np.exp(GAP_SIGMA * z), GAP_MAX_S - 1).astype(np.int16) + 1
        for median in GAP_MEDIAN_S]))


@cache
def _event_mix() -> Table:
    """Event types: row 0 in web sessions, row 1 in API sessions."""
    return Table.of([([share for _, share in WEB_EVENT_MIX], [t for t, _ in WEB_EVENT_MIX]),
                     ([1 - API_ERRORS, API_ERRORS], [API_CALL, ERROR])], np.int8)


@cache
def _entry_pages() -> Table:
    """The first page of a session: row 0 for any session, row 1 for a signup session."""
    return Table.of([(list(pages.values()), [PAGES.index(page) for page in pages])
                     for pages in (ENTRY_PAGES, SIGNUP_ENTRY_PAGES)], np.int16)


@cache
def _links() -> Table:
    """The next page, in the row of the current one."""
    return Table.of([(list(LINKS[page].values()), [PAGES.index(to) for to in LINKS[page]])
                     for page in PAGES], np.int16)


# The event types whose name is drawn from a table of their own.
_NAMED = {CUSTOM: CUSTOM_EVENTS, ERROR: ERRORS, API_CALL: API_ENDPOINTS}


@cache
def _event_names() -> tuple[str, ...]:
    """Every event_name: the event types first (the name of page_view, login, logout), then
    features, their new names, custom events, errors and API endpoints."""
    return (*EVENT_TYPES, *(name for name, *_ in FEATURES),
            *(renamed[0] for *_, renamed in FEATURES if renamed),
            *(name for table in _NAMED.values() for name, _ in table))


@cache
def _names_by_type() -> Table:
    """Per event type, the name each draw picks: fixed (features are named later) or weighted."""
    names = _event_names()
    return Table.of([
        ([share for _, share in _NAMED[t]], [names.index(name) for name, _ in _NAMED[t]])
        if t in _NAMED else ([1.0], [t]) for t in range(len(EVENT_TYPES))], np.int16)


@cache
def _event_labels() -> dict[str, pl.Series]:
    """The text of each coded events column, by column name; code 0 of an optional column
    is null."""
    device_type, os, browser = (pl.Series(column) for column in list(zip(*DEVICES))[:3])
    return {
        "event_type": pl.Series(EVENT_TYPES),
        "event_name": pl.Series(_event_names()),
        "page_path": pl.Series([None, *PAGES], dtype=pl.String),
        "device_type": device_type,
        "os": os,
        "browser": browser,
        "referrer": pl.Series([None, *(site for site, _ in REFERRERS)], dtype=pl.String),
        # Every possible properties object, so events only gather: (category, duration 1..GAP_MAX_S).
        "properties": pl.Series(
            [None, *(f'{{"category": "{category}", "duration": {seconds}}}'
                     for category in CATEGORIES for seconds in range(1, GAP_MAX_S + 1))],
            dtype=pl.String),
    }
