"""One settings object, read from `pulse.toml` and `PULSE_*` environment variables.

The environment wins over the file, so a deployment can override a checked-in file
without editing it. A bad value is a `SettingsError` with one sentence naming the setting;
the command line and the web app show that sentence and stop.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from zoneinfo import ZoneInfo, available_timezones

from pulse.schema import BOOLEAN_WORDS

ROOT = Path(__file__).resolve().parent.parent


class SettingsError(Exception):
    """A setting has a value Pulse cannot use."""


@dataclass(frozen=True)
class Settings:
    # A DuckDB file, or a ClickHouse store as text: chdb://DIRECTORY or
    # clickhouse://USER:PASSWORD@HOST:PORT/DATABASE (pulse.clickhouse).
    store: Path | str = ROOT / "data" / "pulse.duckdb"
    admin_db: str = f"sqlite:///{ROOT / 'data' / 'admin.db'}"
    timezone: str = "UTC"
    currency: str = "USD"
    session_timeout: int = 30
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = field(default="", repr=False)
    smtp_security: str = "none"  # none | starttls | ssl
    smtp_sender: str = "pulse@localhost"  # From: an address, or "Name <address>"
    smtp_reply_to: str = ""
    smtp_rate: float = 0.0  # messages per second at most; 0: as fast as the server takes them
    # Where staff reach the web app, for links in emails (unsubscribe, views) and schedules.
    public_url: str = "http://localhost:8501"
    export_gzip_mb: int = 5  # an emailed CSV export larger than this is attached gzipped
    feed_seconds: int = 60  # the Overview's live feed refreshes this often
    # Alert rules (metrics.alerts) and each one's threshold; "off" turns a rule off. Given
    # pairs change those rules only: `error_spike=5,traffic_surge=off`.
    alert_rules: tuple[tuple[str, float | None], ...] = ()
    alert_p_value: float = 0.001  # a count rule fires only when its Poisson tail is below this
    alert_revenue_minimum: float = 100.0  # revenue_drop needs the earlier week to reach this
    alerts_at: str = "07:00"  # pulse scheduler evaluates the alerts daily at this local time
    # How staff sign in to the web app: accounts (the admin database's staff accounts), oidc
    # (Streamlit's st.login), proxy (a trusted header from an authenticating proxy) or none
    # (only when the app listens on localhost).
    sign_in: str = "accounts"
    # Signs the session cookie; when empty, a random key is kept in secret_key next to the store.
    secret_key: str = field(default="", repr=False)
    idle_hours: int = 8  # a signed-in session ends after this long without a page view
    proxy_header: str = "X-Forwarded-Email"  # sign_in = "proxy": the header naming the staff member
    proxy_address: str = "127.0.0.1"  # ... honoured only from this address
    # Limits that keep one view from holding the web server: seconds per query, the memory all
    # of the app's queries share, the metric cache's size and the points one chart draws.
    query_seconds: int = 30
    query_memory_mb: int = 1024
    cache_mb: int = 256
    max_points: int = 750
    # plan label -> monthly api_call limit, for the API usage table.
    api_limits: tuple[tuple[str, int], ...] = (("free", 1_000), ("trial", 5_000), ("pro", 50_000), ("enterprise", 1_000_000))

    @property
    def folder(self) -> Path:
        """Where Pulse keeps its own files beside the store (the web app's key, staged exports)."""
        if isinstance(self.store, Path):
            return self.store.parent
        if self.store.startswith("chdb://"):
            return Path(self.store[len("chdb://"):]).expanduser().resolve()
        return ROOT / "data"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


# The alert rules, and the threshold each has unless the alert_rules setting says otherwise.
ALERT_RULES: dict[str, float] = {"activity_drop": 0.30, "revenue_drop": 0.30, "failed_payment_rate": 0.10,
                                 "churn_spike": 1.5, "error_spike": 3.0, "traffic_surge": 3.0}
# The threshold of a drop or rate rule is a fraction below 1; of a spike rule a factor above 1.
_FRACTIONS = ("activity_drop", "revenue_drop", "failed_payment_rate")

_ENV = {f.name: f"PULSE_{f.name.upper()}" for f in fields(Settings)}
# A monthly limit beyond any real plan's, and well inside the 64-bit count it is compared with.
MAX_API_CALLS = 10**12
SIGN_IN_MODES = ("accounts", "oidc", "proxy", "none")
SMTP_SECURITY = ("none", "starttls", "ssl")
# Whole-number settings and their bounds.
_WHOLE = {"session_timeout": (1, 24 * 60), "smtp_port": (1, 65535), "idle_hours": (1, 24 * 30),
          "query_seconds": (1, 3600), "query_memory_mb": (128, 1024 * 1024), "cache_mb": (1, 1024 * 1024),
          "max_points": (10, 100_000), "export_gzip_mb": (1, 1024),
          "feed_seconds": (2, 3600)}


def parse_limits(value: object) -> tuple[tuple[str, int], ...]:
    """Plan → monthly API call limit pairs, sorted by plan, from `free=1000,pro=50000` or a
    TOML table; a ValueError with one sentence for a pair that is not plan=calls."""
    pairs = [f"{k}={v}" for k, v in value.items()] if isinstance(value, dict) else [
        part for part in str(value).split(",") if part.strip()]
    out = {}
    for pair in pairs:
        plan, sep, calls = pair.partition("=")
        if not sep or not plan.strip() or not calls.strip().isdigit() or not 0 < int(calls) <= MAX_API_CALLS:
            raise ValueError(f"The API limit {pair.strip()!r} is not plan=calls with a whole number from 1 to {MAX_API_CALLS}, "
                             "e.g. free=1000.")
        out[plan.strip()] = int(calls)
    if not out:
        raise ValueError("The API limits are empty; give plan=calls pairs, e.g. free=1000,pro=50000.")
    return tuple(sorted(out.items()))


def parse_alert_rules(value: object) -> tuple[tuple[str, float | None], ...]:
    """Every alert rule with its threshold (None: off), from `rule=number|off` pairs or a TOML
    table overlaid on ALERT_RULES; a ValueError with one sentence for a pair it cannot use."""
    pairs = [f"{k}={v}" for k, v in value.items()] if isinstance(value, dict) else [
        part for part in str(value).split(",") if part.strip()]
    out: dict[str, float | None] = dict(ALERT_RULES)
    for pair in pairs:
        rule, _, text = (part.strip() for part in pair.partition("="))
        if rule not in ALERT_RULES:
            raise ValueError(f"The alert rule {rule!r} does not exist; the rules are: {', '.join(ALERT_RULES)}.")
        if text.lower() in ("off", "false"):
            out[rule] = None
            continue
        low, high = (0.0, 1.0) if rule in _FRACTIONS else (1.0, 1000.0)
        try:
            number = float(text)
        except ValueError:
            number = float("nan")
        if not low < number < high:
            raise ValueError(f"The alert threshold {pair.strip()!r} is not a number between {low:g} and {high:g} "
                             f"(or off), e.g. {rule}={ALERT_RULES[rule]:g}.")
        out[rule] = number
    return tuple(out.items())


def _coerce(name: str, value: object) -> object:
    """Turn a raw file or environment value into the field's type, or say what is wrong."""
    try:
        if name == "store":
            text = str(value).strip()
            if text.startswith(("chdb://", "clickhouse://")):  # a ClickHouse store (pulse.clickhouse)
                return text
            return Path(text).expanduser()
        if name in _WHOLE:
            number = int(str(value).strip())
            low, high = _WHOLE[name]
            if not low <= number <= high:
                raise SettingsError(f"Setting {name} is {number}; give a whole number from {low} to {high}.")
            return number
        if name == "smtp_rate":
            rate = float(str(value).strip() or 0)
            if not 0 <= rate <= 10_000:
                raise SettingsError(f"Setting smtp_rate is {value!r}; give messages per second from 0 (no limit) to 10000.")
            return rate
        if name == "api_limits":
            return parse_limits(value)
        if name == "alert_rules":
            try:
                return parse_alert_rules(value)
            except ValueError as exc:
                raise SettingsError(f"Setting alert_rules: {exc}") from None
        if name in ("alert_p_value", "alert_revenue_minimum"):
            number = float(str(value).strip())
            if not (0 < number < 1 if name == "alert_p_value" else 0 <= number < 1e15):
                raise SettingsError(f"Setting {name} is {value!r}; give "
                                    + ("a probability between 0 and 1, e.g. 0.001." if name == "alert_p_value"
                                       else "an amount of at least 0 in the reporting currency."))
            return number
        return str(value).strip()
    except (TypeError, ValueError, KeyError):
        raise SettingsError(f"Setting {name} has the value {value!r}, which is not a valid {name.replace('_', ' ')}.") from None


def _validate(settings: Settings) -> Settings:
    if settings.timezone not in available_timezones():
        raise SettingsError(f"Setting timezone is {settings.timezone!r}, which is not an IANA time zone name such as Europe/Berlin.")
    if len(settings.currency) != 3 or not settings.currency.isalpha():
        raise SettingsError(f"Setting currency is {settings.currency!r}, which is not a three-letter ISO 4217 code such as USD.")
    if settings.smtp_security not in SMTP_SECURITY:
        raise SettingsError(f"Setting smtp_security is {settings.smtp_security!r}; use one of: {', '.join(SMTP_SECURITY)}.")
    if not settings.public_url.startswith(("http://", "https://")):
        raise SettingsError(f"Setting public_url is {settings.public_url!r}; give the web app's address, "
                            "such as https://pulse.example.com.")
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", settings.alerts_at):
        raise SettingsError(f"Setting alerts_at is {settings.alerts_at!r}; give a local time such as 07:00.")
    if settings.sign_in not in SIGN_IN_MODES:
        raise SettingsError(f"Setting sign_in is {settings.sign_in!r}; use one of: {', '.join(SIGN_IN_MODES)}.")
    return replace(settings, currency=settings.currency.upper(), public_url=settings.public_url.rstrip("/"),
                   alert_rules=settings.alert_rules or parse_alert_rules(""))


def load_settings(path: Path | None = None, environ: dict[str, str] | None = None) -> Settings:
    """Settings from `pulse.toml` (the current directory's, else the project's) and the environment."""
    environ = dict(os.environ if environ is None else environ)
    if path is None:
        path = Path(environ.get("PULSE_CONFIG", "pulse.toml"))
        if not path.exists():
            path = ROOT / "pulse.toml"
    values: dict[str, object] = {}
    if path.exists():
        try:
            raw = tomllib.loads(path.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path} is not valid TOML: {exc}.") from None
        unknown = sorted(set(raw) - set(_ENV))
        if unknown:
            raise SettingsError(f"{path} has unknown settings: {', '.join(unknown)}.")
        values.update(raw)
    for name, var in _ENV.items():
        if var in environ:
            values[name] = environ[var]
    coerced = {name: _coerce(name, value) for name, value in values.items()}
    if isinstance(coerced.get("store"), Path) and not coerced["store"].is_absolute():  # type: ignore[union-attr]
        coerced["store"] = Path.cwd() / coerced["store"]  # type: ignore[operator]
    return _validate(Settings(**coerced))  # type: ignore[arg-type]
