"""Email to users: templates, saved segments, the suppression list, campaigns and their outbox.

A campaign is written whole before anything is sent: one outbox row per recipient, each
either `queued` with its message rendered (subject, plain text, HTML, Message-ID) or
`skipped` with the reason (no email address, no marketing consent, unsubscribed, the same
address as another recipient, outside the sender's data scope). A template that uses a
variable some recipient lacks is refused before a row is written (Jinja2's StrictUndefined
in its sandbox), never sent with a blank.

The worker (Sender) then claims one row at a time with a conditional UPDATE (queued or due
failed → sending, by this worker), so two workers, a rerun, a refresh or a double click
never send one row twice. The SMTP exchange records the row as sent just before the single
write that ends the message (the "." after DATA): a worker killed before that write left
an unfinished message the server throws away, and its row is claimed again by the next
run; killed after it, the row says sent. The only instant that can lose a message is
between that commit and that one write; none can send it twice.

A failed row is retried with backoff, three attempts in all within a run; a permanent
refusal (a 5xx reply) is not retried. A resume gives the passing failures three more. Every send, resume, template and suppression change is audited.
"""

from __future__ import annotations

import json
import re
import smtplib
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from html import escape
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote

import polars as pl
from jinja2 import StrictUndefined, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import and_, func, or_, select, update

from admin.db import AdminDB, utc_text
from admin.models import AuditEntry, Campaign, EmailTemplate, OutboxMessage, Segment, Suppression
from admin.web import UNSUBSCRIBE_PATH, sign
from admin.workers import LIVE_WORKERS, abandoned, worker_id
from pulse.settings import Settings

KINDS = ("marketing", "transactional")
STATUSES = ("queued", "sending", "sent", "failed", "skipped")
MAX_ATTEMPTS = 3
BACKOFF = (5.0, 30.0)  # seconds before the second and the third attempt within a run
LEASE = timedelta(minutes=10)  # a row another machine claimed this long ago is taken back
# A recipient's fields, as the segment_users metric gives them: a template's variables.
FIELDS = ("user_id", "email", "name", "plan", "country", "signup_at", "last_seen", "total_spent", "mrr",
          "marketing_opt_in", "timezone", "auth_provider")
SKIP_REASONS = {
    "no_email": "no email address",
    "no_consent": "no marketing consent",
    "unsubscribed": "unsubscribed",
    "out_of_scope": "outside your data scope",
}


class EmailError(Exception):
    """Something about a template, a segment or a send the user can fix; one sentence."""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _aware(moment: datetime | None) -> datetime | None:
    return moment if moment is None or moment.tzinfo else moment.replace(tzinfo=timezone.utc)


# -- templates ---------------------------------------------------------------------------------

_TEXT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_HTML = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)


@dataclass(frozen=True)
class Template:
    name: str
    subject: str
    text_body: str
    html_body: str


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


class _Text(HTMLParser):
    """HTML as readable plain text: blocks on their own lines, list items bulleted, links
    followed by their address, no scripts or styles."""

    BLOCKS = {"p", "div", "br", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "ul", "ol", "hr", "blockquote"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skip = 0
        self.href: str | None = None

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self.skip += 1
        elif tag in self.BLOCKS:
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n• ")
        elif tag == "a":
            self.href = dict(attrs).get("href")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self.skip = max(0, self.skip - 1)
        elif tag in self.BLOCKS or tag in ("h1", "h2", "h3", "p"):
            self.parts.append("\n")
        elif tag == "a" and self.href:
            if self.href.startswith(("http://", "https://", "mailto:")):
                self.parts.append(f" ({self.href.removeprefix('mailto:')})")
            self.href = None

    def handle_data(self, data):
        if not self.skip:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """The plain-text fallback of an HTML body."""
    parser = _Text()
    parser.feed(html)
    parser.close()
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"


def _variables(fields: dict[str, Any]) -> dict[str, Any]:
    """A recipient's fields as template variables: a missing value is absent, so a template
    that uses it fails (StrictUndefined) instead of printing a blank or "None"."""
    out = {}
    for name, value in fields.items():
        if value is None or (isinstance(value, str) and not value.strip()):
            continue
        if isinstance(value, datetime):
            value = value.strftime("%Y-%m-%d %H:%M")
        out[name] = value
    if "signup_at" in out:
        out["signup_date"] = str(out["signup_at"])[:10]
    if "name" in out:
        out["first_name"] = str(out["name"]).split()[0]
    return out


def check(template: Template) -> None:
    """Refuse a template with a syntax mistake, an empty subject or no body at all."""
    if not template.name.strip():
        raise EmailError("Give the template a name.")
    if not template.subject.strip():
        raise EmailError("Give the template a subject.")
    if not template.text_body.strip() and not template.html_body.strip():
        raise EmailError("Write a plain-text body, an HTML body, or both.")
    for part, source in (("subject", template.subject), ("plain-text body", template.text_body),
                         ("HTML body", template.html_body)):
        try:
            (_HTML if part == "HTML body" else _TEXT).parse(source)
        except TemplateSyntaxError as exc:
            raise EmailError(f"The {part} has a mistake on line {exc.lineno}: {exc.message}.") from None


def render(template: Template, fields: dict[str, Any], extra: dict[str, Any] | None = None) -> Rendered:
    """The template for one recipient, or one sentence naming the variable they lack."""
    check(template)
    variables = _variables(fields) | (extra or {})
    who = fields.get("user_id") or fields.get("email") or "this recipient"
    parts = []
    for env, source in ((_TEXT, template.subject), (_TEXT, template.text_body), (_HTML, template.html_body)):
        try:
            parts.append(env.from_string(source).render(variables) if source.strip() else "")
        except UndefinedError as exc:
            match = re.search(r"'([^']+)' is undefined", str(exc))
            name = match.group(1) if match else str(exc)
            raise EmailError(f"The template uses {name!r}, which user {who} does not have; write "
                             f"{{{{ {name} | default('…') }}}} to give a default.") from None
        except SecurityError as exc:
            raise EmailError(f"The template does something templates may not do ({exc}).") from None
    subject, text, html = parts
    subject = " ".join(subject.split())  # one line: no header can be smuggled in
    if not text.strip():
        text = html_to_text(html)
    return Rendered(subject, text, html)


class Templates:
    """Email templates in the admin database."""

    def __init__(self, db: AdminDB):
        self.db = db

    def names(self) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(EmailTemplate.name).order_by(EmailTemplate.name)))

    def get(self, name: str) -> Template:
        with self.db.session() as session:
            row = session.scalar(select(EmailTemplate).where(EmailTemplate.name == name))
            if row is None:
                raise EmailError(f"There is no email template {name!r}.")
            return Template(row.name, row.subject, row.text_body, row.html_body)

    def listing(self) -> pl.DataFrame:
        with self.db.session() as session:
            rows = [(t.name, t.subject, "yes" if t.html_body.strip() else "", t.updated_by, utc_text(t.updated_at))
                    for t in session.scalars(select(EmailTemplate).order_by(EmailTemplate.name))]
        return pl.DataFrame(rows, schema=[(c, pl.String) for c in ("name", "subject", "html", "updated_by",
                                                                      "updated_at_utc")], orient="row")

    def save(self, template: Template, by: str, address: str = "", replacing: str | None = None) -> None:
        """Add a template, or change the one named `replacing` (which may rename it)."""
        template = Template(template.name.strip(), template.subject, template.text_body, template.html_body)
        check(template)
        with self.db.session() as session:
            clash = session.scalar(select(EmailTemplate).where(EmailTemplate.name == template.name))
            row = clash if replacing is None else session.scalar(select(EmailTemplate).where(EmailTemplate.name == replacing))
            if replacing is None and clash is not None:
                raise EmailError(f"There is already a template {template.name!r}; pick another name.")
            if replacing is not None and row is None:
                raise EmailError(f"There is no email template {replacing!r}.")
            if replacing is not None and clash is not None and clash is not row:
                raise EmailError(f"There is already a template {template.name!r}; pick another name.")
            if row is None:
                row = EmailTemplate(name=template.name)
                session.add(row)
            row.name, row.subject, row.text_body, row.html_body = (template.name, template.subject, template.text_body,
                                                                    template.html_body)
            row.updated_by, row.updated_at = by, _now()
            session.add(AuditEntry(actor=by, action="email.template.save",
                                   detail=template.name if replacing in (None, template.name)
                                   else f"{replacing} renamed {template.name}", address=address))

    def duplicate(self, name: str, new_name: str, by: str, address: str = "") -> None:
        original = self.get(name)
        self.save(Template(new_name, original.subject, original.text_body, original.html_body), by, address)

    def delete(self, name: str, by: str, address: str = "") -> None:
        with self.db.session() as session:
            row = session.scalar(select(EmailTemplate).where(EmailTemplate.name == name))
            if row is None:
                raise EmailError(f"There is no email template {name!r}.")
            session.delete(row)
            session.add(AuditEntry(actor=by, action="email.template.delete", detail=name, address=address))


# -- segments and the suppression list ---------------------------------------------------------


class Segments:
    """Saved recipient sets: the segment_users options by name."""

    def __init__(self, db: AdminDB):
        self.db = db

    def names(self) -> list[str]:
        with self.db.session() as session:
            return list(session.scalars(select(Segment.name).order_by(Segment.name)))

    def get(self, name: str) -> dict[str, str]:
        with self.db.session() as session:
            row = session.scalar(select(Segment).where(Segment.name == name))
            if row is None:
                raise EmailError(f"There is no saved segment {name!r}.")
            return json.loads(row.definition)

    def save(self, name: str, definition: dict[str, str], by: str, address: str = "") -> None:
        name = name.strip()
        if not name:
            raise EmailError("Give the segment a name.")
        with self.db.session() as session:
            row = session.scalar(select(Segment).where(Segment.name == name))
            if row is None:
                row = Segment(name=name)
                session.add(row)
            row.definition, row.updated_by, row.updated_at = json.dumps(definition, sort_keys=True), by, _now()
            session.add(AuditEntry(actor=by, action="email.segment.save", detail=f"{name}: {describe(definition)}",
                                   address=address))

    def delete(self, name: str, by: str, address: str = "") -> None:
        with self.db.session() as session:
            row = session.scalar(select(Segment).where(Segment.name == name))
            if row is None:
                raise EmailError(f"There is no saved segment {name!r}.")
            session.delete(row)
            session.add(AuditEntry(actor=by, action="email.segment.delete", detail=name, address=address))


def describe(definition: dict[str, str]) -> str:
    """A segment in words, for the history and the audit log."""
    return ", ".join(f"{key}={value}" for key, value in sorted(definition.items())) or "every user"


class Suppressions:
    """Addresses that get no marketing mail."""

    def __init__(self, db: AdminDB):
        self.db = db

    def addresses(self) -> set[str]:
        with self.db.session() as session:
            return set(session.scalars(select(Suppression.email)))

    def listing(self) -> pl.DataFrame:
        with self.db.session() as session:
            rows = [(s.email, s.reason, s.added_by, utc_text(s.added_at))
                    for s in session.scalars(select(Suppression).order_by(Suppression.added_at.desc()))]
        return pl.DataFrame(rows, schema=[(c, pl.String) for c in ("email", "reason", "added_by", "added_at_utc")],
                            orient="row")

    def add(self, email: str, reason: str, by: str, address: str = "") -> bool:
        """Suppress an address; False when it was already."""
        email = email.strip().lower()
        if "@" not in email:
            raise EmailError(f"{email!r} is not an email address.")
        with self.db.session() as session:
            if session.get(Suppression, email) is not None:
                return False
            session.add(Suppression(email=email, reason=reason, added_by=by))
            session.add(AuditEntry(actor=by, action="email.suppress", detail=f"{email}: {reason}", address=address))
        return True

    def remove(self, email: str, by: str, address: str = "") -> None:
        email = email.strip().lower()
        with self.db.session() as session:
            row = session.get(Suppression, email)
            if row is None:
                raise EmailError(f"{email} is not on the suppression list.")
            session.delete(row)
            session.add(AuditEntry(actor=by, action="email.unsuppress", detail=email, address=address))


# -- campaigns -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """What a send would do: each recipient queued with its message, or skipped with why."""

    queued: list[tuple[dict[str, Any], Rendered | None]]  # None: not rendered (a preview)
    skipped: list[tuple[str, str, str]]  # user_id, email, reason

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for _, _, reason in self.skipped:
            out[reason] = out.get(reason, 0) + 1
        return out


def unsubscribe_url(settings: Settings, key: bytes, email: str) -> str:
    return f"{settings.public_url}{UNSUBSCRIBE_PATH}?t={quote(sign(email.lower(), key))}"


def plan(template: Template, recipients: Iterable[dict[str, Any]], kind: str, suppressed: set[str],
         out_of_scope: Iterable[str] = (), unsubscribe: Callable[[str], str] | None = None,
         preview: int | None = None) -> Planned:
    """Who a campaign reaches and what each gets, before anything is written; a template a
    recipient cannot fill is one sentence (EmailError) here.

    With `preview`, only the first `preview` recipients' messages are rendered (the others'
    are None): the rest are checked once per pattern of missing fields, which is all that
    decides whether a template fails for them — a page can show a large segment at once."""
    if kind not in KINDS:
        raise EmailError(f"Unknown kind of email {kind!r}; use marketing or transactional.")
    queued, skipped, seen, checked = [], [], {}, set()
    for user_id in sorted(set(out_of_scope)):
        skipped.append((user_id, "", SKIP_REASONS["out_of_scope"]))
    for fields in recipients:
        email = (fields.get("email") or "").strip()
        if not email or "@" not in email:
            skipped.append((fields["user_id"], email, SKIP_REASONS["no_email"]))
            continue
        if kind == "marketing" and not fields.get("marketing_opt_in"):
            skipped.append((fields["user_id"], email, SKIP_REASONS["no_consent"]))
            continue
        if kind == "marketing" and email.lower() in suppressed:
            skipped.append((fields["user_id"], email, SKIP_REASONS["unsubscribed"]))
            continue
        if email.lower() in seen:
            skipped.append((fields["user_id"], email, f"same address as user {seen[email.lower()]}"))
            continue
        seen[email.lower()] = fields["user_id"]
        extra = {"unsubscribe_url": unsubscribe(email)} if kind == "marketing" and unsubscribe else {}
        if preview is not None and len(queued) >= preview:
            missing = frozenset(name for name, value in fields.items() if name not in _variables({name: value}))
            if missing not in checked:
                render(template, fields, extra)
                checked.add(missing)
            queued.append((fields, None))
            continue
        rendered = render(template, fields, extra)
        if extra and extra["unsubscribe_url"] not in rendered.text:
            rendered = _with_footer(rendered, extra["unsubscribe_url"])
        queued.append((fields, rendered))
    return Planned(queued, skipped)


def _with_footer(rendered: Rendered, url: str) -> Rendered:
    """Marketing mail always says how to stop it, even when the template forgot to."""
    text = rendered.text.rstrip("\n") + f"\n\n--\nUnsubscribe: {url}\n"
    html = rendered.html
    if html.strip():
        footer = f'<p style="font-size:12px;color:#888"><a href="{escape(url)}">Unsubscribe</a></p>'
        html = html.replace("</body>", footer + "</body>") if "</body>" in html else html + footer
    return Rendered(rendered.subject, text, html)



class Campaigns:
    """Campaigns and their outbox in the admin database."""

    def __init__(self, db: AdminDB):
        self.db = db

    def create(self, campaign_id: str, template: Template, planned: Planned, kind: str, reason: str, segment: str,
               sender: str, by: str, address: str = "") -> bool:
        """Write a campaign and every recipient's row at once; False (and nothing written) when
        a campaign with this id exists already: a rerun, a refresh or a second click."""
        if kind not in (*KINDS, "test"):
            raise EmailError(f"Unknown kind of email {kind!r}; use marketing or transactional.")
        if kind == "transactional" and not reason.strip():
            raise EmailError("A transactional email goes to users without marketing consent; say why (--reason).")
        domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
        if any(rendered is None for _, rendered in planned.queued):
            raise ValueError("a preview's plan cannot be sent: plan again without preview")
        with self.db.session() as session:
            if session.get(Campaign, campaign_id) is not None:
                return False
            session.add(Campaign(id=campaign_id, created_by=by, template=template.name, subject=template.subject,
                                 kind=kind, reason=reason.strip(), segment=segment))
            session.flush()
            for fields, rendered in planned.queued:
                session.add(OutboxMessage(
                    campaign_id=campaign_id, user_id=fields["user_id"], email=fields["email"].strip(),
                    name=fields.get("name") or "", status="queued", reason="", subject=rendered.subject,
                    text_body=rendered.text, html_body=rendered.html, attempts=0, claimed_by="",
                    message_id=make_msgid(idstring=campaign_id[:8], domain=domain)))
            for user_id, email, why in planned.skipped:
                session.add(OutboxMessage(campaign_id=campaign_id, user_id=user_id, email=email, name="",
                                          status="skipped", reason=why, subject="", text_body="", html_body="",
                                          attempts=0, claimed_by="", message_id=""))
            detail = (f"campaign {campaign_id}: template {template.name}, {kind}, {len(planned.queued)} queued, "
                      f"{len(planned.skipped)} skipped; recipients: {segment}" + (f"; reason: {reason}" if reason else ""))
            session.add(AuditEntry(actor=by, action="email.test" if kind == "test" else "email.send",
                                   detail=detail, address=address))
        return True

    def counts(self, campaign_id: str) -> dict[str, int]:
        with self.db.session() as session:
            if session.get(Campaign, campaign_id) is None:
                raise EmailError(f"There is no campaign {campaign_id!r}; `pulse email status` with no id lists them.")
            rows = session.execute(select(OutboxMessage.status, func.count()).where(
                OutboxMessage.campaign_id == campaign_id).group_by(OutboxMessage.status))
            found = dict(rows.all())
        return {status: found.get(status, 0) for status in STATUSES}

    def history(self, limit: int = 200) -> pl.DataFrame:
        """Campaigns newest first, with their counts by status."""
        counts = (select(OutboxMessage.campaign_id, OutboxMessage.status, func.count().label("n"))
                  .group_by(OutboxMessage.campaign_id, OutboxMessage.status))
        with self.db.session() as session:
            campaigns = session.scalars(select(Campaign).order_by(Campaign.created_at.desc(), Campaign.id).limit(limit)).all()
            by_status: dict[str, dict[str, int]] = {}
            for campaign_id, status, n in session.execute(counts):
                by_status.setdefault(campaign_id, {})[status] = n
            rows = [(c.id, utc_text(c.created_at), c.created_by, c.template, c.kind, c.segment,
                     *(by_status.get(c.id, {}).get(s, 0) for s in STATUSES)) for c in campaigns]
        schema = [(c, pl.String) for c in ("campaign", "created_at_utc", "sent_by", "template", "kind", "recipients")]
        schema += [(s, pl.Int64) for s in STATUSES]
        return pl.DataFrame(rows, schema=schema, orient="row")

    def recipients(self, campaign_id: str, status: str | None = None) -> pl.DataFrame:
        query = select(OutboxMessage).where(OutboxMessage.campaign_id == campaign_id).order_by(OutboxMessage.id)
        if status:
            query = query.where(OutboxMessage.status == status)
        with self.db.session() as session:
            rows = [(m.user_id, m.email, m.status, m.reason, m.attempts, m.message_id, utc_text(m.sent_at))
                    for m in session.scalars(query)]
        return pl.DataFrame(rows, schema=[("user_id", pl.String), ("email", pl.String), ("status", pl.String),
                                          ("reason", pl.String), ("attempts", pl.Int64), ("message_id", pl.String),
                                          ("sent_at_utc", pl.String)], orient="row")

    def sent_to(self, user_id: str) -> pl.DataFrame:
        """The emails sent to one user (for their timeline): time, subject, campaign and kind."""
        with self.db.session() as session:
            rows = session.execute(
                select(OutboxMessage.sent_at, OutboxMessage.subject, Campaign.id, Campaign.kind)
                .join(Campaign, Campaign.id == OutboxMessage.campaign_id)
                .where(OutboxMessage.user_id == user_id, OutboxMessage.status == "sent", Campaign.kind != "test")
                .order_by(OutboxMessage.sent_at)).all()
        return pl.DataFrame([(_aware(at).replace(tzinfo=None), subject, cid, kind) for at, subject, cid, kind in rows],
                            schema=[("ts", pl.Datetime("us")), ("subject", pl.String), ("campaign", pl.String),
                                    ("kind", pl.String)], orient="row")

    def resume(self, campaign_id: str, by: str, address: str = "") -> int:
        """Give the rows that failed for a passing reason (a server down, a 4xx reply) three
        more attempts; a recipient the server refused for good (5xx) stays failed. The rows
        queued again; the Sender does the sending."""
        counts = self.counts(campaign_id)
        with self.db.session() as session:
            again = session.execute(
                update(OutboxMessage).where(OutboxMessage.campaign_id == campaign_id, OutboxMessage.status == "failed",
                                            OutboxMessage.permanent.is_(False))
                .values(status="queued", attempts=0, next_attempt_at=None)
                .execution_options(synchronize_session=False)).rowcount
            session.add(AuditEntry(actor=by, action="email.resume",
                                   detail=f"campaign {campaign_id}: {counts['queued'] + again} to send "
                                          f"({again} failed before)", address=address))
        return again


def to_self(template: Template, fields: dict[str, Any], staff_email: str) -> Planned:
    """The template rendered for one user, addressed to the member of staff alone."""
    rendered = render(template, fields, {"unsubscribe_url": "(your unsubscribe link)"})
    return Planned([({"user_id": fields["user_id"], "email": staff_email, "name": ""},
                     Rendered(f"[Test] {rendered.subject}", rendered.text, rendered.html))], [])


def new_campaign_id() -> str:
    return uuid.uuid4().hex[:12]


# -- sending ---------------------------------------------------------------------------------------

def connect(settings: Settings) -> smtplib.SMTP:
    """An open, greeted (and, per the settings, encrypted and logged-in) SMTP connection, or
    SMTPFailure with one sentence."""
    s = settings
    where = f"{s.smtp_host}:{s.smtp_port}"
    try:
        if s.smtp_security == "ssl":
            smtp = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=30, context=ssl.create_default_context())
        else:
            smtp = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=30)
            if s.smtp_security == "starttls":
                smtp.starttls(context=ssl.create_default_context())
        # Commands go out as small writes; without this, Nagle's algorithm holds each one
        # for the server's delayed ACK (40 ms a message on Linux).
        smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        smtp.ehlo_or_helo_if_needed()
        if s.smtp_user:
            smtp.login(s.smtp_user, s.smtp_password)
    except smtplib.SMTPAuthenticationError as exc:
        raise SMTPFailure(f"the SMTP server {where} refused the user name and password: "
                          f"{_reply(exc.smtp_code, exc.smtp_error)}", permanent=False) from None
    except (smtplib.SMTPException, OSError) as exc:
        raise SMTPFailure(f"cannot reach the SMTP server {where}: {exc.__class__.__name__}: {exc}",
                          permanent=False) from None
    return smtp


def deliver(settings: Settings, message: EmailMessage) -> None:
    """Send one message (a scheduled export, a notice to staff) on a connection of its own;
    EmailError with the reason when it does not go."""
    try:
        smtp = connect(settings)
    except SMTPFailure as exc:
        raise EmailError(f"The email was not sent: {exc.reason}.") from None
    try:
        refused = smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused as exc:
        raise EmailError("The email was not sent: " + "; ".join(
            f"{address}: {_reply(code, text)}" for address, (code, text) in exc.recipients.items()) + ".") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise EmailError(f"The email was not sent: {exc.__class__.__name__}: {exc}.") from None
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
    if refused:
        raise EmailError("The email did not reach " + ", ".join(sorted(refused)) + ".")


def notice(settings: Settings, to: list[str], subject: str, body: str) -> EmailMessage:
    """A plain-text message from Pulse to members of staff (an alert, a failed schedule)."""
    name, address = sender_address(settings)
    msg = EmailMessage()
    msg["From"] = formataddr((name, address))
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = formatdate()
    msg["Message-ID"] = make_msgid(domain=address.rpartition("@")[2] or None)
    msg.set_content(body)
    return msg


def sender_address(settings: Settings) -> tuple[str, str]:
    """(display name, address) of the From: header."""
    name, address = parseaddr(settings.smtp_sender)
    return name or "Pulse", address or settings.smtp_sender


class SMTPFailure(Exception):
    def __init__(self, reason: str, permanent: bool):
        super().__init__(reason)
        self.reason, self.permanent = reason, permanent


def _reply(code: int, message: bytes | str) -> str:
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return f"{code} {' '.join(text.split())}"


class Sender:
    """Sends a campaign's queued (and due failed) rows through SMTP, one claimed row at a time."""

    def __init__(self, db: AdminDB, settings: Settings, key: bytes, backoff: tuple[float, ...] = BACKOFF,
                 max_wait: float = 120.0):
        self.db, self.settings, self.key = db, settings, key
        self.backoff, self.max_wait = backoff, max_wait
        self.worker = worker_id()
        self._smtp: smtplib.SMTP | None = None

    # claiming

    def _reclaim(self, campaign_id: str) -> int:
        """Put rows abandoned in `sending` back in the queue; how many."""
        now = _now()
        with self.db.session() as session:
            stale = [m for m in session.scalars(select(OutboxMessage).where(
                OutboxMessage.campaign_id == campaign_id, OutboxMessage.status == "sending"))
                if abandoned(m.claimed_by, m.claimed_at, now, LEASE)]
            for message in stale:
                message.status, message.claimed_by, message.claimed_at = "queued", "", None
            return len(stale)

    def _due(self, now: datetime):
        return or_(OutboxMessage.status == "queued",
                   and_(OutboxMessage.status == "failed", OutboxMessage.attempts < MAX_ATTEMPTS,
                        OutboxMessage.permanent.is_(False), OutboxMessage.next_attempt_at <= now))

    def _claim(self, campaign_id: str) -> OutboxMessage | None:
        while True:
            now = _now()
            with self.db.session() as session:
                row_id = session.scalar(select(OutboxMessage.id).where(
                    OutboxMessage.campaign_id == campaign_id, self._due(now)).order_by(OutboxMessage.id).limit(1))
                if row_id is None:
                    return None
                claimed = session.execute(
                    update(OutboxMessage).where(OutboxMessage.id == row_id, self._due(now))
                    .values(status="sending", claimed_by=self.worker, claimed_at=now,
                            attempts=OutboxMessage.attempts + 1)
                    .execution_options(synchronize_session=False)).rowcount
                if claimed == 1:
                    session.flush()
                    return session.get(OutboxMessage, row_id, populate_existing=True)
            # another worker took it between the two statements: look again

    def _next_due(self, campaign_id: str) -> datetime | None:
        with self.db.session() as session:
            return _aware(session.scalar(select(func.min(OutboxMessage.next_attempt_at)).where(
                OutboxMessage.campaign_id == campaign_id, OutboxMessage.status == "failed",
                OutboxMessage.attempts < MAX_ATTEMPTS, OutboxMessage.permanent.is_(False))))

    def _finish(self, row_id: int, **values) -> None:
        with self.db.session() as session:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id, OutboxMessage.claimed_by == self.worker)
                            .values(**values).execution_options(synchronize_session=False))

    # SMTP

    def _connection(self) -> smtplib.SMTP:
        if self._smtp is None:
            self._smtp = connect(self.settings)
        return self._smtp

    def _close(self) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (smtplib.SMTPException, OSError):
                pass
            self._smtp = None

    def message(self, row: OutboxMessage, kind: str) -> EmailMessage:
        msg = EmailMessage()
        name, address = sender_address(self.settings)
        msg["From"] = formataddr((name, address))
        msg["To"] = Address(display_name=row.name or "", addr_spec=row.email)
        if self.settings.smtp_reply_to:
            msg["Reply-To"] = self.settings.smtp_reply_to
        msg["Subject"] = row.subject
        msg["Date"] = formatdate(localtime=False)
        msg["Message-ID"] = row.message_id
        if kind == "marketing":
            url = unsubscribe_url(self.settings, self.key, row.email)
            msg["List-Unsubscribe"] = f"<{url}>, <mailto:{address}?subject=unsubscribe>"
            msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(row.text_body, charset="utf-8", cte="quoted-printable")
        if row.html_body.strip():
            msg.add_alternative(row.html_body, subtype="html", charset="utf-8", cte="quoted-printable")
        return msg

    def _transmit(self, row: OutboxMessage, kind: str) -> None:
        """One message over the open connection; the row is recorded as sent just before the
        write that completes it (see the module's docstring)."""
        reused = self._smtp is not None
        smtp = self._connection()
        sender = sender_address(self.settings)[1]
        data = self.message(row, kind).as_bytes(policy=SMTP_POLICY)
        try:
            try:
                code, reply = smtp.mail(sender)
            except (smtplib.SMTPServerDisconnected, OSError):
                if not reused:
                    raise
                self._close()  # the server closed an idle connection: one fresh try
                smtp = self._connection()
                code, reply = smtp.mail(sender)
            if code != 250:
                smtp.rset()
                raise SMTPFailure(_reply(code, reply), permanent=code >= 500)
            code, reply = smtp.rcpt(row.email)
            if code not in (250, 251):
                smtp.rset()
                raise SMTPFailure(_reply(code, reply), permanent=code >= 500)
            smtp.putcmd("data")
            code, reply = smtp.getreply()
            if code != 354:
                smtp.rset()
                raise SMTPFailure(_reply(code, reply), permanent=code >= 500)
            body = smtplib._quote_periods(data)
            smtp.send(body if body.endswith(b"\r\n") else body + b"\r\n")
            self._finish(row.id, status="sent", sent_at=_now(), reason="")
            smtp.send(b".\r\n")
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self._close()
            raise SMTPFailure(f"the SMTP server closed the connection: {exc}", permanent=False) from None
        try:
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError):
            self._close()  # it had the whole message; whether it kept it, only it knows: never sent twice
            return
        if code != 250:
            self._finish(row.id, status="failed", sent_at=None, reason=_reply(code, reply),
                         **self._retry(row.attempts, permanent=code >= 500))

    def _retry(self, attempts: int, permanent: bool) -> dict:
        if permanent or attempts >= MAX_ATTEMPTS:
            return {"next_attempt_at": None, "attempts": max(attempts, 1), "permanent": permanent}
        wait = self.backoff[min(attempts, len(self.backoff)) - 1] if self.backoff else 0
        return {"next_attempt_at": _now() + timedelta(seconds=wait), "permanent": False}

    def send(self, campaign_id: str, progress: Callable[[dict[str, int]], None] | None = None,
             stop: threading.Event | None = None) -> dict[str, int]:
        """Send what is queued (and failed rows as their backoff comes due, waiting up to
        max_wait for one); the campaign's counts by status when nothing more is due."""
        campaigns = Campaigns(self.db)
        with self.db.session() as session:
            campaign = session.get(Campaign, campaign_id)
            if campaign is None:
                raise EmailError(f"There is no campaign {campaign_id!r}.")
            kind = campaign.kind
        LIVE_WORKERS.add(self.worker)
        try:
            self._reclaim(campaign_id)
            gap = 1 / self.settings.smtp_rate if self.settings.smtp_rate else 0
            last = 0.0
            while not (stop and stop.is_set()):
                row = self._claim(campaign_id)
                if row is None:
                    due = self._next_due(campaign_id)
                    if due is None or (due - _now()).total_seconds() > self.max_wait:
                        break
                    time.sleep(max(0.0, (due - _now()).total_seconds()))
                    continue
                if gap:
                    time.sleep(max(0.0, last + gap - time.monotonic()))
                    last = time.monotonic()
                try:
                    self._transmit(row, kind)
                except SMTPFailure as exc:
                    self._finish(row.id, status="failed", sent_at=None, reason=exc.reason,
                                 **self._retry(row.attempts, exc.permanent))
                if progress:
                    progress(campaigns.counts(campaign_id))
        finally:
            self._close()
            LIVE_WORKERS.discard(self.worker)
        return campaigns.counts(campaign_id)
