"""The demo business's world: who its users are, how they behave and what they pay.

Plain constants and tuples, nothing computed: the simulation turns them into arrays and
lookup tables where it uses them. Tuples indexed by segment, session kind or plan state
follow the codes defined next to them.
"""

from __future__ import annotations

from decimal import Decimal

from pulse.schema import EVENT_TYPES, TRANSACTION_KINDS, TRANSACTION_STATUSES

# The idle time between a user's sessions: longer than METRICS.md's 30-minute session
# timeout, so the sessions the store derives are the sessions generated here.
SESSION_GAP = 31 * 60

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
WEEKLY = (1.0, 1.0, 1.0, 1.0, 0.95, 0.38, 0.32)  # Monday first: a B2B product
# Local hour weights for starting a session: working hours on weekdays, flatter weekends.
HOURS_WEEKDAY = (0.6, 0.35, 0.2, 0.15, 0.15, 0.25, 0.6, 1.6, 3.6, 6.2, 7.6, 7.8,
                 6.0, 6.8, 7.6, 7.4, 6.4, 5.0, 3.6, 3.0, 3.0, 2.6, 1.9, 1.1)
HOURS_WEEKEND = (1.0, 0.6, 0.35, 0.2, 0.2, 0.25, 0.4, 0.8, 1.6, 2.6, 3.4, 3.8,
                 3.8, 3.6, 3.4, 3.3, 3.2, 3.2, 3.4, 3.6, 3.6, 3.0, 2.2, 1.5)
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
