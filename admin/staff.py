"""Staff accounts: adding and changing them, signing in and out, sessions, lockout.

Passwords are hashed with argon2id (argon2-cffi: a vetted, memory-hard hash with its salt
and parameters in the encoded string) and never stored or logged in any other form.
Five failed sign-ins within 15 minutes lock an account for 15 minutes. A session is a
random token the browser keeps; the database keeps only its SHA-256, and a session idle
longer than the idle limit is over. Every sign-in, failure, lockout, sign-out and staff
change is written to the audit log.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import polars as pl
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select

from admin.db import AdminDB, utc_text
from admin.models import AuditEntry, SignInAttempt, StaffAccount, StaffSession
from admin.roles import ROLES

FAILURES_BEFORE_LOCK = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCK_TIME = timedelta(minutes=15)
MIN_PASSWORD = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HASHER = PasswordHasher()
ROSTER_COLUMNS = ("email", "role", "countries", "plans", "disabled", "locked_until_utc", "last_sign_in_utc")


class StaffError(Exception):
    """Something about an account or a sign-in the user can fix; one sentence."""


@dataclass(frozen=True)
class Staff:
    """A signed-in member of staff, as the app sees them."""

    email: str
    role: str
    countries: tuple[str, ...]
    plans: tuple[str, ...]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for what was stored as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _staff(account: StaffAccount) -> Staff:
    split = lambda text: tuple(part for part in text.split(",") if part)  # noqa: E731
    return Staff(account.email, account.role, split(account.countries), split(account.plans))


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"A password needs at least {MIN_PASSWORD} characters.")
    return _HASHER.hash(password)


def _checked_role(role: str) -> str:
    if role not in ROLES:
        raise StaffError(f"Unknown role {role!r}; use one of: {', '.join(ROLES)}.")
    return role


def _scope_text(values: tuple[str, ...] | list[str], upper: bool = False) -> str:
    return ",".join(sorted({(v.strip().upper() if upper else v.strip()) for v in values if v.strip()}))


class StaffAccounts:
    """Staff accounts and sessions in the admin database."""

    def __init__(self, db: AdminDB):
        self.db = db

    def _account(self, session, email: str) -> StaffAccount:
        account = session.scalar(select(StaffAccount).where(StaffAccount.email == email.strip().lower()))
        if account is None:
            raise StaffError(f"There is no staff account {email!r}.")
        return account

    def _audit(self, session, actor: str, action: str, detail: str = "", address: str = "") -> None:
        session.add(AuditEntry(actor=actor, action=action, detail=detail, address=address))

    # -- managing accounts ---------------------------------------------------------------------

    def _keep_an_admin(self, session, account: StaffAccount) -> None:
        """Refuse to demote or disable the last enabled admin: nobody could manage staff then."""
        if account.role != "admin" or account.disabled:
            return
        admins = session.scalar(select(func.count()).select_from(StaffAccount).where(
            StaffAccount.role == "admin", StaffAccount.disabled.is_(False)))
        if admins <= 1:
            raise StaffError(f"{account.email} is the last enabled admin; make another account an admin first.")

    def add(self, email: str, role: str, password: str, by: str, countries=(), plans=(), address: str = "") -> Staff:
        email = email.strip().lower()
        if not _EMAIL.match(email):
            raise StaffError(f"{email!r} is not an email address.")
        account = StaffAccount(email=email, role=_checked_role(role), password_hash=_checked_password(password),
                               countries=_scope_text(countries, upper=True), plans=_scope_text(plans))
        with self.db.session() as session:
            if session.scalar(select(StaffAccount).where(StaffAccount.email == email)) is not None:
                raise StaffError(f"There is already a staff account {email!r}.")
            session.add(account)
            self._audit(session, by, "staff.add", f"{email} as {role}", address)
        return _staff(account)

    def accounts(self) -> list[tuple[Staff, bool, datetime | None]]:
        """Every account with whether it is disabled and until when it is locked, by email."""
        with self.db.session() as session:
            rows = session.scalars(select(StaffAccount).order_by(StaffAccount.email)).all()
            return [(_staff(a), a.disabled, a.locked_until and _aware(a.locked_until)) for a in rows]

    def roster(self, now: datetime | None = None) -> pl.DataFrame:
        """Every account as text for a table: email, role, countries, plans ("all" when not
        limited), disabled ("yes" or empty), locked_until_utc (empty unless locked now) and
        last_sign_in_utc (empty when never)."""
        now, last = now or _now(), self.last_sign_ins()
        rows = [(member.email, member.role, ", ".join(member.countries) or "all", ", ".join(member.plans) or "all",
                 "yes" if disabled else "", utc_text(locked_until) if locked_until and locked_until > now else "",
                 utc_text(last.get(member.email)))
                for member, disabled, locked_until in self.accounts()]
        return pl.DataFrame(rows, schema=[(name, pl.String) for name in ROSTER_COLUMNS], orient="row")

    def last_sign_ins(self) -> dict[str, datetime]:
        """When each account last signed in, by email; an account that never did is absent."""
        with self.db.session() as session:
            rows = session.execute(select(SignInAttempt.email, func.max(SignInAttempt.at))
                                   .where(SignInAttempt.succeeded.is_(True)).group_by(SignInAttempt.email))
            return {email: _aware(at) for email, at in rows}

    def set_role(self, email: str, role: str, by: str, address: str = "") -> None:
        with self.db.session() as session:
            account = self._account(session, email)
            if role != "admin":
                self._keep_an_admin(session, account)
            account.role = _checked_role(role)
            self._audit(session, by, "staff.set_role", f"{account.email} to {role}", address)

    def update(self, email: str, role: str, countries, plans, by: str, address: str = "") -> None:
        """A new role (when it differs) and scope in one change."""
        with self.db.session() as session:
            current = self._account(session, email).role
        if role != current:
            self.set_role(email, role, by=by, address=address)
        self.set_scope(email, countries, plans, by=by, address=address)

    def set_scope(self, email: str, countries, plans, by: str, address: str = "") -> Staff:
        with self.db.session() as session:
            account = self._account(session, email)
            account.countries, account.plans = _scope_text(countries, upper=True), _scope_text(plans)
            self._audit(session, by, "staff.set_scope",
                        f"{account.email}: countries {account.countries or 'all'}, plans {account.plans or 'all'}",
                        address)
            return _staff(account)

    def set_disabled(self, email: str, disabled: bool, by: str, address: str = "") -> None:
        with self.db.session() as session:
            account = self._account(session, email)
            if disabled:
                self._keep_an_admin(session, account)
            account.disabled = disabled
            if disabled:  # a disabled account is signed out everywhere at once
                for open_session in session.scalars(select(StaffSession).where(
                        StaffSession.email == account.email, StaffSession.ended_at.is_(None))):
                    open_session.ended_at = _now()
            self._audit(session, by, "staff.disable" if disabled else "staff.enable", account.email, address)

    def reset_password(self, email: str, password: str, by: str, address: str = "") -> None:
        with self.db.session() as session:
            account = self._account(session, email)
            account.password_hash = _checked_password(password)
            account.locked_until = None
            self._audit(session, by, "staff.reset_password", account.email, address)

    def by_email(self, email: str) -> Staff | None:
        """The enabled account of an email an identity provider or a proxy vouched for, else None."""
        with self.db.session() as session:
            account = session.scalar(select(StaffAccount).where(StaffAccount.email == email.strip().lower()))
            return None if account is None or account.disabled else _staff(account)

    # -- signing in and out --------------------------------------------------------------------

    def sign_in(self, email: str, password: str, address: str = "", now: datetime | None = None) -> str:
        """A new session token for the right password, or one sentence saying why not."""
        now, email = now or _now(), email.strip().lower()
        # A refusal is committed (the attempt, the audit row, a lock) before it is raised.
        refusal, token = None, secrets.token_urlsafe(32)
        with self.db.session() as session:
            account = session.scalar(select(StaffAccount).where(StaffAccount.email == email))
            if account is not None and account.locked_until and _aware(account.locked_until) > now:
                self._audit(session, email, "sign_in.refused", "locked", address)
                refusal = (f"This account is locked after {FAILURES_BEFORE_LOCK} failed sign-ins until "
                           f"{_aware(account.locked_until):%H:%M} UTC; try again then.")
            else:
                refusal = self._try_password(session, account, email, password, address, now, token)
        if refusal:
            raise StaffError(refusal)
        return token

    def _try_password(self, session, account: StaffAccount | None, email: str, password: str, address: str,
                      now: datetime, token: str) -> str | None:
        """Record one attempt; the refusal sentence, or None with a session opened for `token`."""
        try:
            ok = account is not None and _HASHER.verify(account.password_hash, password)
        except (VerificationError, InvalidHashError):
            ok = False
        if ok and account.disabled:
            self._audit(session, email, "sign_in.refused", "disabled", address)
            return "This account is disabled; ask an admin to enable it."
        session.add(SignInAttempt(email=email, at=now, succeeded=ok))
        if not ok:
            self._audit(session, email, "sign_in.failed", "", address)
            session.flush()
            failures = session.scalar(select(func.count()).select_from(SignInAttempt).where(
                SignInAttempt.email == email, SignInAttempt.succeeded.is_(False), SignInAttempt.at > now - FAILURE_WINDOW))
            if account is not None and failures >= FAILURES_BEFORE_LOCK:
                account.locked_until = now + LOCK_TIME
                self._audit(session, email, "sign_in.locked", f"until {account.locked_until.isoformat()}", address)
            return "Wrong email or password."
        if _HASHER.check_needs_rehash(account.password_hash):
            account.password_hash = _HASHER.hash(password)
        session.add(StaffSession(token_hash=_token_hash(token), email=email, created_at=now, last_seen=now))
        self._audit(session, email, "sign_in", "", address)
        return None

    def current(self, token: str, idle: timedelta, now: datetime | None = None) -> Staff | None:
        """The member of staff a session token belongs to, or None when it is unknown, ended,
        idle longer than `idle`, or its account is disabled; a live session is kept alive."""
        now = now or _now()
        with self.db.session() as session:
            live = session.get(StaffSession, _token_hash(token))
            if live is None or live.ended_at is not None:
                return None
            account = session.scalar(select(StaffAccount).where(StaffAccount.email == live.email))
            if account is None or account.disabled or _aware(live.last_seen) + idle < now:
                live.ended_at = live.ended_at or now
                return None
            live.last_seen = now
            return _staff(account)

    def sign_out(self, token: str, address: str = "") -> None:
        with self.db.session() as session:
            live = session.get(StaffSession, _token_hash(token))
            if live is not None and live.ended_at is None:
                live.ended_at = _now()
                self._audit(session, live.email, "sign_out", "", address)
