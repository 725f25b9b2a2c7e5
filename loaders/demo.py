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
- Inside a chunk every step is vectorised over all users, days, sessions or events at
  once; the only Python loops run over a handful of "steps" (a page-view rank, a plan
  change), never over rows. Strings are made by polars gathers from small lookup tables.

Times are integer seconds since the window start (UTC midnight of the first day) until
frames are built; local times use each user's zone offset on that local day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from statistics import NormalDist
from zoneinfo import ZoneInfo

import numpy as np
import polars as pl

from pulse.schema import EVENT_TYPES, SCHEMAS, TRANSACTION_KINDS, TRANSACTION_STATUSES

DAY = 86_400
# The idle time between a user's sessions: longer than METRICS.md's 30-minute session
# timeout, so the sessions the store derives are the sessions generated here.
SESSION_GAP = 31 * 60
# Events frames are yielded in slices of at most this many rows, so the string columns of
# a chunk never exist all at once.
EVENT_SLICE = 500_000
AVG_MONTH = 365.2425 / 12 * DAY
# Choices made per event are looked up, not searched: a draw picks one of RESOLUTION
# slots of a precomputed table, so shares are exact to 1/RESOLUTION.
SLOT_BITS = 12
RESOLUTION = 1 << SLOT_BITS

# --- who the users are ------------------------------------------------------------------

# (country, IANA zone, share in percent): US about a third, then the usual SaaS long tail.
PLACES = (
    ("US", "America/New_York", 15.0), ("US", "America/Chicago", 9.0),
    ("US", "America/Denver", 3.0), ("US", "America/Los_Angeles", 8.0),
    ("GB", "Europe/London", 8.0), ("DE", "Europe/Berlin", 7.0), ("IN", "Asia/Kolkata", 6.5),
    ("FR", "Europe/Paris", 5.0), ("BR", "America/Sao_Paulo", 4.0),
    ("CA", "America/Toronto", 2.5), ("CA", "America/Vancouver", 1.5),
    ("NL", "Europe/Amsterdam", 3.0), ("AU", "Australia/Sydney", 2.2),
    ("AU", "Australia/Perth", 0.6), ("JP", "Asia/Tokyo", 2.5), ("NG", "Africa/Lagos", 2.0),
    ("ES", "Europe/Madrid", 2.0), ("MX", "America/Mexico_City", 1.5),
    ("PL", "Europe/Warsaw", 1.5), ("SE", "Europe/Stockholm", 1.5), ("IT", "Europe/Rome", 1.5),
    ("SG", "Asia/Singapore", 1.2), ("IE", "Europe/Dublin", 1.0), ("CH", "Europe/Zurich", 1.0),
    ("KE", "Africa/Nairobi", 1.0), ("ZA", "Africa/Johannesburg", 1.0),
    ("IL", "Asia/Jerusalem", 0.8), ("AR", "America/Argentina/Buenos_Aires", 0.8),
    ("AT", "Europe/Vienna", 0.7),
)
PAYSTACK_COUNTRIES = frozenset({"NG", "KE", "ZA"})
EURO_COUNTRIES = frozenset({"DE", "FR", "NL", "ES", "IT", "IE", "AT"})

# First and last names per name pool; a country not listed uses "en".
NAME_POOLS = {
    "en": ("James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William "
           "Barbara Richard Susan Joseph Jessica Thomas Sarah Chris Karen Daniel Emily "
           "Matthew Olivia Andrew Emma Ryan Sophie Jack Grace",
           "Smith Johnson Williams Brown Jones Miller Davis Wilson Anderson Taylor Thomas "
           "Moore Martin Jackson White Harris Clark Lewis Walker Hall Young King Wright "
           "Scott Green Baker Adams Campbell Evans Turner"),
    "de": ("Lukas Anna Leon Lea Felix Marie Jonas Laura Paul Lena Max Julia Elias Sarah Tim "
           "Hannah Jan Katharina Moritz Sophie",
           "Mueller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Koch "
           "Richter Klein Wolf Neumann Schwarz Zimmermann Braun Krueger Hartmann"),
    "fr": ("Louis Camille Hugo Lea Jules Manon Arthur Chloe Lucas Ines Gabriel Sarah Adam "
           "Julie Raphael Clara Thomas Emma Nathan Pauline",
           "Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon "
           "Laurent Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier"),
    "in": ("Aarav Priya Vivaan Ananya Aditya Diya Arjun Isha Rohan Kavya Rahul Sneha Vikram "
           "Pooja Karan Neha Amit Divya Sanjay Meera",
           "Sharma Patel Singh Kumar Gupta Reddy Iyer Nair Mehta Shah Joshi Rao Das Verma "
           "Agarwal Chopra Bose Menon Pillai Kapoor"),
    "pt": ("Joao Maria Pedro Ana Lucas Julia Gabriel Beatriz Mateus Larissa Rafael Camila "
           "Gustavo Fernanda Bruno Leticia Felipe Mariana Thiago Amanda",
           "Silva Santos Oliveira Souza Lima Pereira Costa Ferreira Rodrigues Almeida "
           "Nascimento Carvalho Araujo Ribeiro Gomes Martins Rocha Barbosa Cardoso Teixeira"),
    "es": ("Alejandro Lucia Daniel Sofia Pablo Martina Javier Paula Diego Valentina Carlos "
           "Elena Miguel Carmen Sergio Isabel Jorge Laura Andres Camila",
           "Garcia Rodriguez Martinez Lopez Sanchez Perez Gonzalez Fernandez Gomez Diaz "
           "Torres Ramirez Flores Romero Navarro Ruiz Morales Ortiz Castro Vargas"),
    "jp": ("Haruto Yui Sota Hina Yuto Aoi Riku Sakura Kaito Mei Ren Yuna Hiroshi Akiko "
           "Takumi Naoko Kenji Emi Daiki Ayaka",
           "Sato Suzuki Takahashi Tanaka Watanabe Ito Yamamoto Nakamura Kobayashi Kato "
           "Yoshida Yamada Sasaki Yamaguchi Matsumoto Inoue Kimura Hayashi Shimizu Mori"),
    "ng": ("Chinedu Ngozi Emeka Amaka Tunde Folake Ibrahim Aisha Oluwaseun Chiamaka Segun "
           "Funmi Yusuf Zainab Obinna Adaeze Kelechi Temitope Musa Halima",
           "Okafor Adeyemi Okonkwo Balogun Eze Abubakar Ogunleye Nwosu Bello Adebayo Chukwu "
           "Ibrahim Olawale Obi Danjuma Afolabi Onyeka Lawal Uche Akande"),
    "nl": ("Daan Emma Sem Julia Lucas Tess Finn Sophie Levi Anna Milan Sara Bram Lotte Thijs "
           "Fleur Ruben Noor Jesse Eva",
           "Jansen Bakker Visser Smit Meijer Mulder Bos Vos Peters Hendriks Dekker Brouwer "
           "Dijkstra Kok Jacobs Vermeulen Willems Hoekstra Koster Prins"),
}
COUNTRY_POOL = {"DE": "de", "AT": "de", "CH": "de", "FR": "fr", "IN": "in", "BR": "pt",
                "ES": "es", "MX": "es", "AR": "es", "JP": "jp", "NG": "ng", "NL": "nl"}
# Reserved domains (RFC 2606 / RFC 6761): demo addresses can never reach a real inbox,
# even if someone sends a campaign from a demo store.
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "acme.example",
                 "globex.example", "initech.example", "hooli.example", "umbrella.example")
AUTH_PROVIDERS = (("email", 45), ("google", 38), ("github", 12), ("gitlab", 3), ("bitbucket", 2))
MARKETING_OPT_IN = 0.4

# (device_type, os, browser, share): browsers only where they exist on that os.
DEVICES = (
    ("desktop", "Windows", "Chrome", 60 * .34), ("desktop", "Windows", "Edge", 60 * .14),
    ("desktop", "Windows", "Firefox", 60 * .06), ("desktop", "macOS", "Chrome", 60 * .18),
    ("desktop", "macOS", "Safari", 60 * .14), ("desktop", "macOS", "Firefox", 60 * .03),
    ("desktop", "Linux", "Chrome", 60 * .07), ("desktop", "Linux", "Firefox", 60 * .04),
    ("mobile", "iOS", "Safari", 32 * .44), ("mobile", "iOS", "Chrome", 32 * .08),
    ("mobile", "Android", "Chrome", 32 * .36), ("mobile", "Android", "Samsung Internet", 32 * .12),
    ("tablet", "iOS", "Safari", 6 * .62), ("tablet", "Android", "Chrome", 6 * .28),
    ("tablet", "Android", "Samsung Internet", 6 * .10),
    ("other", "Linux", "Chrome", 2 * .5), ("other", "Android", "Chrome", 2 * .3),
    ("other", "Linux", "Firefox", 2 * .2),
)
# Some desktop users also open the product on their phone, for a share of their sessions.
SECOND_DEVICE_USERS = 0.35
SECOND_DEVICE_SESSIONS = 0.2

# --- how they behave ------------------------------------------------------------------

# Three kinds of user, as retention curves show them: tourists leave within days, casual
# users within weeks, a core stays. Indexed by segment everywhere below.
TOURIST, CASUAL, CORE = 0, 1, 2
SEGMENT_SHARES = (0.42, 0.33, 0.25)
ACTIVE_BETA = ((2.0, 3.0), (2.0, 3.5), (6.0, 3.0))  # per-user daily activity, Beta(a, b)
EXTRA_SESSIONS = (0.25, 0.4, 0.8)  # mean extra sessions on an active day (Poisson)
API_USERS = (0.01, 0.07, 0.22)  # share of users who call the API
RESURRECT = (0.2, 0.2, 0.0)  # share of non-core users who come back after a gap
RESURRECT_ACTIVITY = 0.8
# Activity on day j of a stint is p * (PLATEAU + (1 - PLATEAU) * exp(-j / DECAY_DAYS)):
# keen at first, settling to a habit.
PLATEAU, DECAY_DAYS = 0.45, 10.0
WEEKLY = np.array([1.0, 1.0, 1.0, 1.0, 0.95, 0.38, 0.32])  # Monday first: a B2B product
# Local hour weights for starting a session: working hours on weekdays, flatter weekends.
HOURS_WEEKDAY = np.array([0.6, 0.35, 0.2, 0.15, 0.15, 0.25, 0.6, 1.6, 3.6, 6.2, 7.6, 7.8,
                          6.0, 6.8, 7.6, 7.4, 6.4, 5.0, 3.6, 3.0, 3.0, 2.6, 1.9, 1.1])
HOURS_WEEKEND = np.array([1.0, 0.6, 0.35, 0.2, 0.2, 0.25, 0.4, 0.8, 1.6, 2.6, 3.4, 3.8,
                          3.8, 3.6, 3.4, 3.3, 3.2, 3.2, 3.4, 3.6, 3.6, 3.0, 2.2, 1.5])
SIGNUP_GROWTH_PER_MONTH = 0.09
SIGNUP_WEEKEND = 0.6

# Sessions: web sessions (1 event when bouncing), the signup session, API sessions.
WEB, SIGNUP, API = 0, 1, 2
BOUNCE = 0.18
SESSION_EVENTS = ((2, 9.0, 80), (4, 6.0, 80), (3, 30.0, 400))  # per kind: base + NB mean, cap
GAP_MEDIAN_S = (22.0, 22.0, 3.0)  # per kind: median seconds between events (log-normal)
GAP_SIGMA = 1.0
GAP_MAX_S = 1500  # < 30 minutes: a session never splits in two
API_DAY_SHARE = 0.7  # of an API user's active days that include API sessions
EXTRA_API_SESSIONS = 0.8
LOGIN_SHARE, LOGOUT_SHARE = 0.3, 0.12

PAGE_VIEW, FEATURE_USE, API_CALL, LOGIN, LOGOUT, ERROR, CUSTOM = map(
    EVENT_TYPES.index, ("page_view", "feature_use", "api_call", "login", "logout", "error", "custom"))
WEB_EVENT_MIX = ((PAGE_VIEW, 0.56), (FEATURE_USE, 0.34), (CUSTOM, 0.085), (ERROR, 0.015))
API_ERRORS = 0.015

PAGES = ("/", "/pricing", "/signup", "/docs", "/docs/getting-started", "/docs/api",
         "/dashboard", "/dashboard/reports", "/dashboard/reports/new", "/dashboard/projects",
         "/integrations", "/settings", "/settings/team", "/billing", "/changelog",
         "/blog/launch-week", "/blog/product-analytics-guide", "/blog/pricing-update")
# The site map: from each page, where people go next.
LINKS = {
    "/": {"/pricing": .3, "/docs": .15, "/dashboard": .35, "/blog/launch-week": .1, "/signup": .1},
    "/pricing": {"/signup": .3, "/dashboard": .35, "/": .15, "/docs": .1, "/billing": .1},
    "/signup": {"/dashboard": .9, "/": .1},
    "/docs": {"/docs/getting-started": .45, "/docs/api": .35, "/dashboard": .15, "/": .05},
    "/docs/getting-started": {"/docs/api": .35, "/dashboard": .45, "/docs": .2},
    "/docs/api": {"/docs": .3, "/dashboard": .4, "/settings": .15, "/docs/getting-started": .15},
    "/dashboard": {"/dashboard/reports": .4, "/dashboard/projects": .2, "/settings": .1,
                   "/integrations": .08, "/docs": .07, "/billing": .05, "/changelog": .05,
                   "/dashboard/reports/new": .05},
    "/dashboard/reports": {"/dashboard/reports/new": .3, "/dashboard": .4,
                           "/dashboard/projects": .2, "/settings": .1},
    "/dashboard/reports/new": {"/dashboard/reports": .7, "/dashboard": .3},
    "/dashboard/projects": {"/dashboard": .5, "/dashboard/reports": .35, "/settings/team": .15},
    "/integrations": {"/dashboard": .5, "/settings": .3, "/docs/api": .2},
    "/settings": {"/settings/team": .3, "/billing": .3, "/dashboard": .4},
    "/settings/team": {"/settings": .4, "/dashboard": .6},
    "/billing": {"/pricing": .35, "/dashboard": .45, "/settings": .2},
    "/changelog": {"/dashboard": .6, "/blog/launch-week": .2, "/": .2},
    "/blog/launch-week": {"/": .4, "/pricing": .2, "/dashboard": .2,
                          "/blog/product-analytics-guide": .2},
    "/blog/product-analytics-guide": {"/": .4, "/pricing": .2, "/dashboard": .2,
                                      "/blog/pricing-update": .2},
    "/blog/pricing-update": {"/pricing": .5, "/": .2, "/dashboard": .3},
}
ENTRY_PAGES = {"/dashboard": .52, "/dashboard/reports": .1, "/": .12, "/docs": .06,
               "/docs/api": .04, "/blog/launch-week": .02, "/blog/product-analytics-guide": .03,
               "/blog/pricing-update": .01, "/pricing": .03, "/settings": .03,
               "/changelog": .02, "/billing": .02}
# A signup session walks entry > /signup > /dashboard, then wanders like any other.
SIGNUP_ENTRY_PAGES = {"/": .5, "/pricing": .3, "/blog/product-analytics-guide": .1, "/docs": .1}
REFERRERS = (("google.com", 52), ("news.ycombinator.com", 12), ("twitter.com", 12),
             ("linkedin.com", 9), ("github.com", 9), ("reddit.com", 6))
REFERRED_ENTRIES = 0.45  # of sessions that enter at a public page

# (name, category, share of users who adopt it, weight of use once adopted,
#  (renamed to, at this fraction of the window) or None). A renamed feature stops being
# used at that point and its users move to the new one: "unused features" shows the old,
# "feature usage" shows the new one rising.
FEATURES = (
    ("create_report", "reporting", .85, 10.0, None),
    ("custom_dashboard", "reporting", .45, 6.0, None),
    ("saved_filters", "reporting", .40, 4.0, None),
    ("legacy_charts", "reporting", .50, 5.0, ("chart_builder", .55)),
    ("schedule_report", "reporting", .20, 3.0, None),
    ("export_pdf", "reporting", .15, 2.0, None),
    ("share_link", "collaboration", .50, 5.0, None),
    ("comments", "collaboration", .30, 3.0, None),
    ("team_invite", "collaboration", .30, 2.0, None),
    ("mentions", "collaboration", .10, 1.5, None),
    ("slack_integration", "integrations", .20, 2.0, None),
    ("webhooks", "integrations", .08, 2.0, None),
    ("zapier", "integrations", .06, 1.5, None),
    ("salesforce_sync", "integrations", .03, 3.0, None),
    ("alerts", "automation", .35, 3.0, None),
    ("weekly_digest", "automation", .25, 1.5, ("smart_digest", .40)),
    ("workflows", "automation", .07, 4.0, None),
    ("api_keys", "admin", .12, 1.0, None),
    ("role_management", "admin", .07, 1.0, None),
    ("audit_log", "admin", .04, 1.0, None),
    ("sso_setup", "admin", .02, 0.5, None),
)
ADOPTION_BY_SEGMENT = (0.5, 1.0, 1.4)
CATEGORIES = ("reporting", "collaboration", "integrations", "automation", "admin")
CUSTOM_EVENTS = (("export_csv", 3.0), ("search", 2.5), ("invite_sent", 2.0),
                 ("report_shared", 2.0), ("onboarding_completed", 1.2),
                 ("upgrade_clicked", 0.6), ("feedback_submitted", 0.3))
ERRORS = (("ValidationError", 3.0), ("HTTP 500", 3.0), ("TimeoutError", 2.5),
          ("ChunkLoadError", 1.5), ("HTTP 429", 1.0))
API_ENDPOINTS = (("GET /v1/items", 30), ("POST /v1/events", 20), ("GET /v1/items/{id}", 18),
                 ("POST /v1/items", 10), ("GET /v1/reports", 8), ("GET /v1/reports/{id}", 5),
                 ("PATCH /v1/items/{id}", 4), ("DELETE /v1/items/{id}", 2),
                 ("GET /v1/users", 2), ("POST /v1/exports", 1))

# --- money ----------------------------------------------------------------------------

# Plan states. CANCELLED has no subscription row: the subscription ended, and may resume.
FREE, TRIAL, PRO_MONTHLY, PRO_ANNUAL, ENTERPRISE, ENTERPRISE_PLUS, CANCELLED = range(7)
PLAN_LABELS = ("free", "trial", "pro", "pro", "enterprise", "enterprise")
PLAN_MRR = tuple(Decimal(v) for v in ("0", "0", "29", "24.1667", "199", "499"))
BILLING_MONTHS = (0, 0, 1, 12, 1, 1)
TRIAL_SHARE, TRIAL_DAYS = 0.4, 14
TRIAL_CONVERTS = (0.03, 0.25, 0.7)
ANNUAL_SHARE = 0.25
FREE_UPGRADES = (0.005, 0.06, 0.25)
TO_ENTERPRISE = (0.0, 0.03, 0.2)
ENTERPRISE_PLUS_SHARE = 0.3
CANCEL_MONTHS = {PRO_MONTHLY: (4, 10, 36), ENTERPRISE: (12, 24, 48)}  # mean months to cancel
DOWNGRADES = 0.3
REACTIVATES = 0.12  # cancelled subscriptions won back months later
CANCEL_REASONS = (("too_expensive", 35), ("missing_feature", 25),
                  ("switched_competitor", 15), ("no_longer_needed", 25))

# (product_id, product_name, category, provider, price in cents, purchase weight).
# The first four are the paid plans, in plan order from PRO_MONTHLY.
PRODUCTS = (
    ("plan_pro_monthly", "Lumen Pro (monthly)", "service", "Lumen", 2900, 0),
    ("plan_pro_annual", "Lumen Pro (annual)", "service", "Lumen", 29000, 0),
    ("plan_enterprise", "Lumen Enterprise", "service", "Lumen", 19900, 0),
    ("plan_enterprise_plus", "Lumen Enterprise Plus", "service", "Lumen", 49900, 0),
    ("cmp_credits_10", "Compute credits (10 h)", "compute", "Nimbus Compute", 1200, 14),
    ("cmp_credits_100", "Compute credits (100 h)", "compute", "Nimbus Compute", 9900, 5),
    ("cmp_gpu_burst", "GPU burst pack", "compute", "Nimbus Compute", 4900, 3),
    ("sto_100gb", "Storage 100 GB", "storage", "Blockstore", 500, 16),
    ("sto_1tb", "Storage 1 TB", "storage", "Blockstore", 4000, 5),
    ("sto_backup", "Backup vault", "storage", "Blockstore", 1500, 6),
    ("net_cdn_1tb", "CDN egress 1 TB", "network", "Fastlane CDN", 2000, 7),
    ("net_dedicated_ip", "Dedicated IP", "network", "Fastlane CDN", 800, 5),
    ("net_domain", "Custom domain", "network", "Registrly", 1400, 6),
    ("app_templates", "Report template pack", "application", "Appforge", 1900, 8),
    ("app_salesforce", "Salesforce connector", "application", "Appforge", 3900, 4),
    ("app_white_label", "White-label theme", "application", "Lumen", 5900, 2),
    ("svc_onboarding", "Onboarding session", "service", "Lumen", 15000, 2),
    ("svc_priority_support", "Priority support (1 month)", "service", "Lumen", 7900, 3),
    ("svc_data_audit", "Data audit", "service", "Brightpath Consulting", 45000, 1),
)
PURCHASES_PER_ACTIVE_DAY = (0.01, 0.015, 0.02)
PURCHASE, SUBSCRIPTION, REFUND = map(TRANSACTION_KINDS.index, ("purchase", "subscription", "refund"))
SUCCEEDED, FAILED, PENDING = map(TRANSACTION_STATUSES.index, ("succeeded", "failed", "pending"))
CHARGE_FAILS = 0.03
REFUNDED = 0.035
PENDING_DAYS, PENDING_SHARE = 3, 0.3
CURRENCIES = ("USD", "EUR", "GBP")
LOCAL_CURRENCY = 0.12  # of users in the euro area or the UK, who pay in EUR or GBP
PAYMENT_METHODS = ("card", "wallet", "paystack", "manual")
PAYMENT_MIX = ((74, 15, 1, 10), (25, 5, 70, 0))  # elsewhere; PAYSTACK_COUNTRIES

# estimate_events draws this many users; its sampling error is well under 2 %.
ESTIMATE_SAMPLE = 8000


def generate(users: int, days: int, seed: int = 1, end: dt.date | None = None,
             batch_users: int = 5000) -> Iterator[tuple[str, pl.DataFrame]]:
    """Yields (table_name, frame) batches; table_name in users/events/transactions/subscriptions;
    each frame has exactly pulse.schema.SCHEMAS[table_name] columns and dtypes.

    Data covers [end - days + 1, end] in UTC (end defaults to today, UTC). Each chunk of
    `batch_users` users yields its users, subscriptions and transactions, then its events
    in slices of at most EVENT_SLICE rows. The same arguments give the same frames.
    """
    if users < 0 or days < 1 or batch_users < 1:
        raise ValueError("demo data needs users >= 0, days >= 1 and batch_users >= 1")
    window = _Window.of(seed, days, end or dt.datetime.now(dt.UTC).date())
    counters = _Counters()
    for chunk, first in enumerate(range(0, users, batch_users)):
        rng = np.random.default_rng([seed, chunk])
        people = _draw_users(rng, first, min(batch_users, users - first), users, window.signup_cdf)
        yield from _chunk(rng, people, window, counters)


def estimate_events(users: int, days: int) -> int:
    """Expected number of events for these arguments (within ~15%), so a benchmark can pick
    `users` for a target event count.

    Draws a fixed sample of users with the generator's own code and adds up, per user, the
    expected events of each day they may be active; no event is made.
    """
    sample = _draw_users(np.random.default_rng(0), 0, ESTIMATE_SAMPLE, ESTIMATE_SAMPLE,
                         _signup_cdf(days))
    remaining = days - sample.day0
    stint1 = np.minimum(sample.life1, remaining)
    stint2 = np.where(sample.resurrects, np.clip(
        np.minimum(sample.start2 + sample.life2, remaining) - sample.start2, 0, None), 0)
    active_days = 1 + sample.activity * WEEKLY.mean() * (
        _decay_sum(1, stint1) + RESURRECT_ACTIVITY * _decay_sum(0, stint2))
    web = BOUNCE + (1 - BOUNCE) * _mean_events(WEB)
    per_day = ((1 + sample.extra_sessions) * web
               + sample.api_user * API_DAY_SHARE * (1 + EXTRA_API_SESSIONS) * _mean_events(API))
    per_user = active_days * per_day + _mean_events(SIGNUP) - web
    return round(users * float(per_user.mean()))


# --- the calendar ---------------------------------------------------------------------


@dataclass(frozen=True)
class _Window:
    """What every chunk shares, derived from the arguments alone (never from a chunk)."""

    days: int
    epoch_s: int  # UTC seconds of the first day's midnight
    weekday0: int  # weekday of the first day, 0 = Monday
    signup_cdf: np.ndarray  # cumulative share of signups by local day
    offsets: np.ndarray  # [place, local day 0..days]: UTC offset in seconds at local noon
    switch_day: np.ndarray  # per feature: the day it is renamed (days + 1: never)

    @classmethod
    def of(cls, seed: int, days: int, end: dt.date) -> _Window:
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
                   signup_cdf=_signup_cdf(days, start.weekday(), signup_rng),
                   offsets=offsets, switch_day=np.array(switch))

    @property
    def seconds(self) -> int:
        return self.days * DAY


def _signup_cdf(days: int, weekday0: int | None = None,
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
    return _cumulative(weight)


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


def _draw_users(rng: np.random.Generator, first: int, n: int, total: int,
                signup_cdf: np.ndarray) -> _Users:
    """Users first .. first+n-1 of `total`. Signups are stratified over the window (user i
    near quantile i/total of the signup curve), so user numbers rise with signup time,
    like database ids."""
    quantile = (first + np.arange(n) + rng.random(n)) / total
    segment = _pick(rng, SEGMENT_SHARES, n)
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


def _place(rng: np.random.Generator, people: _Users, window: _Window) -> None:
    """Gives each user an id, a place (country and zone) and a signup instant: a local
    hour of the signup day, moved by a day where the zone pushes it out of the window."""
    people.ids = "u" + pl.Series(people.index + 1).cast(pl.String).str.zfill(6)
    people.place = _pick(rng, [share for *_, share in PLACES], len(people.index))
    weekend = (window.weekday0 + people.day0) % 7 >= 5
    signup = (people.day0 * DAY + _local_seconds(rng, weekend)
              - window.offsets[people.place, people.day0])
    early, late = signup < 0, signup >= window.seconds
    people.signup_s = signup + (early.astype(np.int64) - late) * DAY
    people.day0 = people.day0 + early - late


# --- a chunk --------------------------------------------------------------------------


@dataclass
class _Counters:
    """Running numbers behind event, session and transaction ids, across chunks."""

    event: int = 0
    session: int = 0
    transaction: int = 0


def _chunk(rng: np.random.Generator, people: _Users, window: _Window,
           counters: _Counters) -> Iterator[tuple[str, pl.DataFrame]]:
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
                 window: _Window) -> tuple[np.ndarray, np.ndarray]:
    """(user, local day) of every day a user is active: always the signup day, then each
    day of a stint with a chance that decays from keen to a habit, lower at weekends."""
    remaining = window.days + 1 - people.day0  # east of UTC the last local day is in too
    first_days = np.minimum(people.life1, remaining)
    second_days = np.where(people.resurrects, np.clip(
        np.minimum(people.start2 + people.life2, remaining) - people.start2, 0, None), 0)
    user1, since1 = _ragged(first_days)
    user2, since2 = _ragged(second_days)
    user = np.concatenate([user1, user2])
    since = np.concatenate([since1, since2])
    day = people.day0[user] + np.concatenate([since1, since2 + people.start2[user2]])
    chance = (people.activity[user] * _decay(since) * WEEKLY[(window.weekday0 + day) % 7]
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


def _sessions(rng: np.random.Generator, people: _Users, window: _Window,
              day_user: np.ndarray, day: np.ndarray) -> _Sessions:
    """Sessions of each active day: 1 + Poisson web sessions at local hours drawn from the
    daily rhythm, plus API sessions for API users. On the signup day the first session
    starts at the signup instant and the others follow it."""
    n_days = len(day)
    web = 1 + np.minimum(rng.poisson(people.extra_sessions[day_user]), 5)
    api = np.where(people.api_user[day_user] & (rng.random(n_days) < API_DAY_SHARE),
                   1 + np.minimum(rng.poisson(EXTRA_API_SESSIONS, n_days), 4), 0)
    owner, position = _ragged(web + api)
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
    primary = _pick(rng, [share for *_, share in DEVICES], n)
    phone = _MOBILES[_pick(rng, [DEVICES[i][3] for i in _MOBILES], n)]
    has_phone = (_DEVICE_KIND[primary] == "desktop") & (rng.random(n) < SECOND_DEVICE_USERS)
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
    name: np.ndarray  # index into _NAME_LIST
    page: np.ndarray  # index into _PAGE_PATHS (0: none)
    referrer: np.ndarray  # index into _REFERRERS (0: none)
    properties: np.ndarray  # index into _PROPERTIES (0: none)


def _events(rng: np.random.Generator, people: _Users, window: _Window,
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

    gap = _GAPS.pick(_slots(rng, len(session)), np.repeat(s.kind, count))
    offset = np.cumsum(gap, dtype=np.int64) - gap
    offset -= np.repeat(offset[first], count)
    start = _lay_out(s.user, s.start, offset[last])
    jitter = rng.integers(0, 1_000_000, len(session))
    jitter[first] = 0  # a session starts on the second: the signup session at signup_at
    ts = (np.repeat(start, count) + offset) * 1_000_000 + jitter

    etype = _event_types(rng, s.kind, count, first, last)
    choice = _slots(rng, len(session))  # each event's one categorical draw
    name = _NAMES_BY_TYPE.pick(choice, etype)
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
    its tail, so _mean_events is its mean."""
    base, mean, cap = SESSION_EVENTS[kind]
    return base + np.minimum(rng.negative_binomial(1.5, 1.5 / (1.5 + mean), n), cap)


def _mean_events(kind: int) -> float:
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
    etype = _EVENT_MIX.pick(_slots(rng, len(api)), api)
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
    step = 0
    while len(walking):
        at = offset[walking] + step  # the step-th view of every session still walking
        if step == 0:
            nxt = _ENTRY_PAGES.pick(u[at], signup[walking])
        else:
            nxt = _LINKS.pick(u[at], current[walking])
        if step in _SIGNUP_PATH:
            nxt = np.where(signup[walking], _SIGNUP_PATH[step], nxt)
        current[walking] = nxt
        walked[at] = nxt
        step += 1
        walking = walking[per_session[walking] > step]
    page = np.zeros(len(session), dtype=np.int16)
    page[views] = walked + 1
    entry = offset[per_session > 0]
    entries, public = views[entry], _PUBLIC[walked[entry]]
    referred = entries[public & (rng.random(len(entries)) < REFERRED_ENTRIES)]
    referrer = np.zeros(len(session), dtype=np.int16)
    referrer[referred] = 1 + _pick(rng, [share for _, share in REFERRERS], len(referred))
    return page, referrer


def _features(rng: np.random.Generator, people: _Users, window: _Window, user: np.ndarray,
              choice: np.ndarray, day: np.ndarray,
              duration: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Name and properties codes of feature_use events: one of the user's adopted features
    (weighted by that user's taste), renamed from its switch day, with the time until
    the next event as its duration."""
    n = len(people.index)
    chance = np.minimum(_FEATURE_ADOPTION * np.array(ADOPTION_BY_SEGMENT)[people.segment][:, None], 1)
    adopted = rng.random((n, len(FEATURES))) < chance
    adopted[:, 0] |= ~adopted.any(axis=1)  # everyone who uses any feature makes reports
    taste = np.cumsum(adopted * _FEATURE_WEIGHT * rng.lognormal(0.0, 0.5, adopted.shape), axis=1)
    shares = (taste / taste[:, -1:]).astype(np.float32)
    u = ((choice + 0.5) / RESOLUTION).astype(np.float32)
    feature = np.count_nonzero(shares[user] < u[:, None], axis=1)
    renamed = day >= window.switch_day[feature]
    name = np.where(renamed, _FEATURE_AFTER[feature], _FEATURE_BEFORE[feature])
    return name, 1 + _FEATURE_CATEGORY[feature] * GAP_MAX_S + duration - 1


# --- subscriptions and transactions ---------------------------------------------------


def _subscriptions(rng: np.random.Generator, people: _Users,
                   window: _Window) -> dict[str, np.ndarray]:
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
               window: _Window) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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
    cancel_reason = _pick(rng, [share for _, share in CANCEL_REASONS], n)

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
                  window: _Window) -> np.ndarray:
    """The first billing anniversary of `anchor` (every `months` months) strictly after
    `after`: when a cancellation or downgrade decided at `after` takes effect."""
    k = np.maximum(1, ((after - anchor) // (months * AVG_MONTH)).astype(np.int64) + 1)
    k = np.where(_add_months(anchor, k * months, window) <= after, k + 1, k)
    k = np.where((k > 1) & (_add_months(anchor, (k - 1) * months, window) > after), k - 1, k)
    return _add_months(anchor, k * months, window).astype(np.float64)


def _add_months(seconds: np.ndarray, months: np.ndarray, window: _Window) -> np.ndarray:
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


def _transactions(rng: np.random.Generator, people: _Users, window: _Window,
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
    owner, k = _ragged((end - start) // (months * 28 * DAY) + 1)
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
    bought = _pick(rng, [p[5] for p in PRODUCTS], len(buyer))
    quantity = np.where(rng.random(len(buyer)) < 0.15, rng.integers(2, 5, len(buyer)), 1)

    charge = {
        "user": np.concatenate([periods["user"][paid][owner], buyer]),
        "ts": np.concatenate([charged_at[due], bought_at]),
        "kind": np.concatenate([np.full(len(owner), SUBSCRIPTION), np.full(len(buyer), PURCHASE)]),
        "product": np.concatenate([plan[owner] - PRO_MONTHLY, bought]),
        "cents": np.concatenate([_PRICE_CENTS[plan[owner] - PRO_MONTHLY],
                                 _PRICE_CENTS[bought] * quantity]),
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
    country = _COUNTRY[people.place]
    euro = np.isin(country, list(EURO_COUNTRIES))
    local = (euro | (country == "GB")) & (rng.random(n) < LOCAL_CURRENCY)
    currency = np.where(local, np.where(euro, 1, 2), 0)
    method = np.where(np.isin(country, list(PAYSTACK_COUNTRIES)), _pick(rng, PAYMENT_MIX[1], n),
                      _pick(rng, PAYMENT_MIX[0], n))
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
                 window: _Window) -> pl.DataFrame:
    """Names from the pool of the user's country; the email's local part ends with the
    user number, so addresses are unique."""
    n = len(people.index)
    pool = _NAME_POOL[people.place]
    first = _FIRST_NAMES.pick(rng.random(n), pool)
    last = _LAST_NAMES.pick(rng.random(n), pool)
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
        country=pl.Series(_COUNTRY).gather(people.place),
        timezone=pl.Series([zone for _, zone, _ in PLACES]).gather(people.place),
        auth_provider=pl.Series([a for a, _ in AUTH_PROVIDERS]).gather(
            _pick(rng, [share for _, share in AUTH_PROVIDERS], n)),
        plan=pl.Series(PLAN_LABELS).gather(plan_now),
        marketing_opt_in=pl.Series(rng.random(n) < MARKETING_OPT_IN),
    )
    return _exact(frame, "users")


def _subscriptions_frame(people: _Users, window: _Window,
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


def _transactions_frame(people: _Users, window: _Window, t: dict[str, np.ndarray],
                        counters: _Counters) -> pl.DataFrame:
    """Rows sorted by user and time, numbered in that order; refund_of names the number."""
    order = np.lexsort((t["ts"], t["user"]))
    moved_to = np.empty_like(order)
    moved_to[order] = np.arange(len(order))
    t = {column: values[order] for column, values in t.items()}
    first = counters.transaction
    counters.transaction += len(order)
    refund_of = np.where(t["refund_of"] < 0, -1, first + moved_to[t["refund_of"]])
    product = t["product"]
    return _exact(pl.DataFrame({
        "transaction_id": "t" + pl.Series(first + np.arange(len(order))).cast(pl.String),
        "user_id": people.ids.gather(t["user"]),
        "ts": _timestamps(t["ts"] * 1_000_000, window),
        "kind": pl.Series(TRANSACTION_KINDS).gather(t["kind"]),
        "status": pl.Series(TRANSACTION_STATUSES).gather(t["status"]),
        "amount": (pl.Series(t["cents"]).cast(pl.Decimal(18, 4)) / 100),
        "currency": pl.Series(CURRENCIES).gather(t["currency"]),
        "product_id": _PRODUCT_COLUMNS[0].gather(product),
        "product_name": _PRODUCT_COLUMNS[1].gather(product),
        "category": _PRODUCT_COLUMNS[2].gather(product),
        "provider": _PRODUCT_COLUMNS[3].gather(product),
        "payment_method": pl.Series(PAYMENT_METHODS).gather(t["method"]),
        "plan": _lookup(PLAN_LABELS, t["plan"]),
        "refund_of": _with_nulls("t" + pl.Series(refund_of).cast(pl.String), refund_of < 0),
    }), "transactions")


def _events_frames(people: _Users, window: _Window, s: _Sessions, e: _Events,
                   counters: _Counters) -> Iterator[tuple[str, pl.DataFrame]]:
    """Events inside the window, in slices. Every text column is a gather from a small
    lookup table, all in one select, which polars runs in parallel."""
    session_ids = "s" + pl.Series(counters.session + np.arange(len(s.user))).cast(pl.String)
    counters.session += len(s.user)
    countries = pl.Series(_COUNTRY).gather(people.place)
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
            event_type=pl.lit(_EVENT_TYPE_COLUMN).gather(pl.col("type")),
            event_name=pl.lit(_NAME_COLUMN).gather(pl.col("name")),
            page_path=pl.lit(_PAGE_PATHS).gather(pl.col("page")),
            session_id=pl.lit(session_ids).gather(pl.col("session")),
            device_type=pl.lit(_DEVICE_COLUMNS[0]).gather(device),
            os=pl.lit(_DEVICE_COLUMNS[1]).gather(device),
            browser=pl.lit(_DEVICE_COLUMNS[2]).gather(device),
            country_code=pl.lit(countries).gather(pl.col("user")),
            referrer=pl.lit(_REFERRERS).gather(pl.col("referrer")),
            properties=pl.lit(_PROPERTIES).gather(pl.col("properties")),
        ), "events")


def _exact(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    """The table's columns, in schema order, with the schema's dtypes."""
    return frame.select(pl.col(column).cast(dtype) for column, dtype in SCHEMAS[table].items())


def _timestamps(micros: np.ndarray, window: _Window) -> pl.Series:
    """Naive UTC timestamps from microseconds since the window start."""
    return pl.Series(window.epoch_s * 1_000_000 + micros).cast(pl.Datetime("us"))


def _with_nulls(series: pl.Series, missing: np.ndarray) -> pl.Series:
    return series.scatter(np.flatnonzero(missing), None)


def _lookup(labels: Sequence[str], codes: np.ndarray) -> pl.Series:
    """labels[code] as text; code -1 is null."""
    return pl.Series([None, *labels], dtype=pl.String).gather(codes + 1)


# --- small numeric tools --------------------------------------------------------------


def _ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i, positions 0 .. counts[i]-1, flattened: (owner i, position)."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)


def _cumulative(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Cumulative shares of `weights`, ending at exactly 1."""
    cumulative = np.cumsum(np.asarray(weights, dtype=np.float64))
    cumulative /= cumulative[-1]
    cumulative[-1] = 1.0
    return cumulative


def _pick(rng: np.random.Generator, weights: Sequence[float], n: int) -> np.ndarray:
    """n indices drawn with the given weights."""
    return np.searchsorted(_cumulative(weights), rng.random(n), side="right")


def _decay(since: np.ndarray) -> np.ndarray:
    return PLATEAU + (1 - PLATEAU) * np.exp(-since / DECAY_DAYS)


def _decay_sum(first: int, end: np.ndarray) -> np.ndarray:
    """Sum of _decay(j) for j in [first, end): a plateau plus a geometric series."""
    n = np.maximum(end - first, 0)
    ratio = np.exp(-1 / DECAY_DAYS)
    return PLATEAU * n + (1 - PLATEAU) * ratio ** first * (1 - ratio ** n) / (1 - ratio)


def _local_seconds(rng: np.random.Generator, weekend: np.ndarray) -> np.ndarray:
    """A local time of day (seconds) from the daily rhythm of a weekday or weekend."""
    hour = _HOURS.pick(_slots(rng, len(weekend)), weekend)
    return hour * 3600 + rng.integers(0, 3600, len(weekend))


@dataclass(frozen=True)
class _Table:
    """Weighted choices by lookup (see RESOLUTION): one row of slots per table row."""

    slots: np.ndarray  # [row * RESOLUTION + slot]: the option's value

    @classmethod
    def of(cls, rows: Sequence[tuple[Sequence[float], Sequence[int]]],
           dtype: type[np.integer]) -> _Table:
        """From (weights, values) per row; a small dtype makes lookups cheaper."""
        middle = (np.arange(RESOLUTION) + 0.5) / RESOLUTION
        return cls(np.concatenate([
            np.asarray(values, dtype=dtype)[np.searchsorted(_cumulative(weights), middle,
                                                            side="right")]
            for weights, values in rows]))

    def pick(self, slot: np.ndarray, row: np.ndarray | None = None) -> np.ndarray:
        """The value in each drawn slot (see _slots), in its row (default: the first)."""
        return self.slots[slot if row is None else (row.astype(np.intp) << SLOT_BITS) | slot]


def _slots(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uniform draws of a _Table slot."""
    return rng.integers(0, RESOLUTION, n)


@dataclass(frozen=True)
class _Names:
    """Names of every pool in one column; a draw picks uniformly within the user's pool."""

    column: pl.Series
    start: np.ndarray  # per pool
    size: np.ndarray

    @classmethod
    def of(cls, pools: Sequence[str]) -> _Names:
        names = [pool.split() for pool in pools]
        size = np.array([len(pool) for pool in names])
        return cls(pl.Series([name for pool in names for name in pool]),
                   np.cumsum(size) - size, size)

    def pick(self, u: np.ndarray, pool: np.ndarray) -> pl.Series:
        return self.column.gather(self.start[pool] + (u * self.size[pool]).astype(np.int64))


def _gap_slots(median: float, z: np.ndarray) -> np.ndarray:
    """Seconds between events, log-normal around `median` (z: standard normal quantiles
    of the slots' midpoints): 1 s .. GAP_MAX_S, so a session never pauses for 30 minutes."""
    return np.minimum(median * np.exp(GAP_SIGMA * z), GAP_MAX_S - 1).astype(np.int16) + 1


# --- lookup tables, built once from the data above --------------------------------------

_COUNTRY = np.array([country for country, _, _ in PLACES])
_NAME_POOL = np.array([list(NAME_POOLS).index(COUNTRY_POOL.get(country, "en"))
                       for country in _COUNTRY])
_FIRST_NAMES = _Names.of([firsts for firsts, _ in NAME_POOLS.values()])
_LAST_NAMES = _Names.of([lasts for _, lasts in NAME_POOLS.values()])
_DEVICE_KIND = np.array([device for device, *_ in DEVICES])
_DEVICE_COLUMNS = [pl.Series(column) for column in list(zip(*DEVICES))[:3]]
_MOBILES = np.flatnonzero(_DEVICE_KIND == "mobile")
_HOURS = _Table.of([(HOURS_WEEKDAY, range(24)), (HOURS_WEEKEND, range(24))], np.int64)
_Z = np.array([NormalDist().inv_cdf((slot + 0.5) / RESOLUTION) for slot in range(RESOLUTION)])
_GAPS = _Table(np.concatenate([_gap_slots(median, _Z) for median in GAP_MEDIAN_S]))

_PAGE_INDEX = {page: i for i, page in enumerate(PAGES)}
_PAGE_PATHS = pl.Series([None, *PAGES], dtype=pl.String)
_PUBLIC = np.array([page == "/" or page.startswith(("/docs", "/blog", "/changelog", "/pricing"))
                    for page in PAGES])
_ENTRY_PAGES = _Table.of([(list(pages.values()), [_PAGE_INDEX[page] for page in pages])
                          for pages in (ENTRY_PAGES, SIGNUP_ENTRY_PAGES)], np.int16)
_LINKS = _Table.of([(list(LINKS[page].values()), [_PAGE_INDEX[to] for to in LINKS[page]])
                    for page in PAGES], np.int16)
_SIGNUP_PATH = {1: _PAGE_INDEX["/signup"], 2: _PAGE_INDEX["/dashboard"]}
_REFERRERS = pl.Series([None, *(site for site, _ in REFERRERS)], dtype=pl.String)

_EVENT_MIX = _Table.of([([share for _, share in WEB_EVENT_MIX], [t for t, _ in WEB_EVENT_MIX]),
                        ([1 - API_ERRORS, API_ERRORS], [API_CALL, ERROR])], np.int8)
_EVENT_TYPE_COLUMN = pl.Series(EVENT_TYPES)
# Every event_name: the event types first (the name of page_view, login, logout), then
# features, their new names, custom events, errors and API endpoints.
_NAMED = {CUSTOM: CUSTOM_EVENTS, ERROR: ERRORS, API_CALL: API_ENDPOINTS}
_NAME_LIST = [*EVENT_TYPES, *(name for name, *_ in FEATURES),
              *(renamed[0] for *_, renamed in FEATURES if renamed),
              *(name for table in _NAMED.values() for name, _ in table)]
_NAME_COLUMN = pl.Series(_NAME_LIST)
# Per event type, the name each draw picks: fixed (features are named later) or weighted.
_NAMES_BY_TYPE = _Table.of([
    ([share for _, share in _NAMED[t]], [_NAME_LIST.index(name) for name, _ in _NAMED[t]])
    if t in _NAMED else ([1.0], [t]) for t in range(len(EVENT_TYPES))], np.int16)
_FEATURE_BEFORE = np.array([_NAME_LIST.index(name) for name, *_ in FEATURES])
_FEATURE_AFTER = np.array([_NAME_LIST.index(renamed[0] if renamed else name)
                           for name, *_, renamed in FEATURES])
_FEATURE_CATEGORY = np.array([CATEGORIES.index(category) for _, category, *_ in FEATURES])
_FEATURE_ADOPTION = np.array([adoption for _, _, adoption, _, _ in FEATURES])
_FEATURE_WEIGHT = np.array([weight for _, _, _, weight, _ in FEATURES])
# Every possible properties object, so events only gather: (category, duration 1..GAP_MAX_S).
_PROPERTIES = pl.Series(
    [None, *(f'{{"category": "{category}", "duration": {seconds}}}'
             for category in CATEGORIES for seconds in range(1, GAP_MAX_S + 1))],
    dtype=pl.String)

_PRICE_CENTS = np.array([price for *_, price, _ in PRODUCTS])
_PRODUCT_COLUMNS = [pl.Series(column) for column in list(zip(*PRODUCTS))[:4]]
