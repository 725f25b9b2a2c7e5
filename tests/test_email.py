"""Email to users through a real SMTP server on loopback (aiosmtpd), on SQLite and PostgreSQL:
templates, who is skipped and why, the messages the server actually received, failures,
resuming, and two workers on one campaign."""

from __future__ import annotations

import threading
from datetime import datetime
from decimal import Decimal

import pytest
from smtp_server import Inbox, free_port, start
from sqlalchemy import select

from admin.email import (
    Campaigns,
    EmailError,
    Sender,
    Suppressions,
    Template,
    Templates,
    html_to_text,
    plan,
    render,
    to_self,
)
from admin.models import AuditEntry
from pulse.settings import Settings

KEY = b"test-key"


@pytest.fixture
def db(admin_db):
    return admin_db

def settings(port: int, **more) -> Settings:
    return Settings(smtp_host="127.0.0.1", smtp_port=port, smtp_sender="Pulse Team <team@pulse.example>",
                    smtp_reply_to="help@pulse.example", public_url="https://pulse.example", **more)


def person(user_id: str, email: str | None, name: str | None = None, opt_in: bool = True, **more) -> dict:
    return {"user_id": user_id, "email": email, "name": name, "plan": "pro", "country": "DE",
            "signup_at": datetime(2026, 3, 1, 9, 30), "last_seen": datetime(2026, 11, 20, 8, 0),
            "total_spent": Decimal("120.50"), "mrr": Decimal("29.00"), "marketing_opt_in": opt_in,
            "timezone": None, "auth_provider": "email"} | more


WELCOME = Template("welcome", "Hallo {{ first_name }}, your {{ plan }} plan",
                   "Hi {{ name }},\nyou have spent {{ total_spent }} since {{ signup_date }}.\n",
                   "<html><body><p>Hi <b>{{ name }}</b>,</p><p>see <a href=\"https://pulse.example/x\">this</a></p>"
                   "</body></html>")


def test_a_template_renders_the_users_fields_and_escapes_them_in_html():
    rendered = render(WELCOME, person("u1", "jo@example.com", "Jörg <b>Müller</b>"))
    assert rendered.subject == "Hallo Jörg, your pro plan"
    assert rendered.text == "Hi Jörg <b>Müller</b>,\nyou have spent 120.50 since 2026-03-01.\n"
    assert rendered.html == ("<html><body><p>Hi <b>Jörg &lt;b&gt;Müller&lt;/b&gt;</b>,</p><p>see "
                             "<a href=\"https://pulse.example/x\">this</a></p></body></html>")


def test_a_variable_the_recipient_lacks_is_an_error_never_a_blank():
    with pytest.raises(EmailError) as caught:
        render(WELCOME, person("u7", "x@example.com", name=None))
    assert str(caught.value) == ("The template uses 'first_name', which user u7 does not have; write "
                                 "{{ first_name | default('…') }} to give a default.")
    fine = Template("t", "Hi {{ first_name | default('there') }}", "{{ unknown_field | default('') }}.", "")
    assert render(fine, person("u7", "x@example.com")).subject == "Hi there"


@pytest.mark.parametrize(("template", "message"), [
    (Template("t", "{{ ''.__class__.__mro__ }}", "x", ""),
     "The template does something templates may not do (access to attribute '__class__' of 'str' object is unsafe.)."),
    (Template("t", "Hi {{ name ", "x", ""), "The subject has a mistake on line 1: unexpected end of template, "
                                             "expected 'end of print statement'.."),
    (Template("t", " ", "x", ""), "Give the template a subject."),
    (Template("t", "Hi", "", " "), "Write a plain-text body, an HTML body, or both."),
])
def test_a_broken_or_hostile_template_is_one_sentence(template, message):
    with pytest.raises(EmailError) as caught:
        render(template, person("u1", "a@example.com", "Ann"))
    assert str(caught.value) == message


def test_the_html_body_gets_a_plain_text_fallback():
    html = ("<html><head><style>p {color: red}</style></head><body><h1>News</h1><p>Two   things:</p>"
            "<ul><li>one</li><li>two</li></ul><p>Read <a href=\"https://x.example/a\">more</a>.</p></body></html>")
    assert html_to_text(html) == "News\n\nTwo things:\n\n• one\n• two\n\nRead more (https://x.example/a).\n"
    assert render(Template("t", "s", "", html), person("u1", "a@example.com")).text == html_to_text(html)


def test_a_plan_skips_whom_it_must_and_says_why():
    people = [
        person("u1", "ann@example.com", "Ann"),
        person("u2", None, "Bob"),
        person("u3", "cy@example.com", "Cy", opt_in=False),
        person("u4", "Dee@Example.com", "Dee"),
        person("u5", "ANN@example.com", "Ann again"),
        person("u6", "  ", "Eve"),
    ]
    planned = plan(WELCOME, people, "marketing", suppressed={"dee@example.com"}, out_of_scope=["u9"],
                   unsubscribe=lambda email: f"https://pulse.example/unsubscribe?t={email}")
    assert [fields["user_id"] for fields, _ in planned.queued] == ["u1"]
    assert planned.skipped == [
        ("u9", "", "outside your data scope"),
        ("u2", "", "no email address"),
        ("u3", "cy@example.com", "no marketing consent"),
        ("u4", "Dee@Example.com", "unsubscribed"),
        ("u5", "ANN@example.com", "same address as user u1"),
        ("u6", "", "no email address"),
    ]
    # Marketing mail says how to stop it even when the template does not.
    assert planned.queued[0][1].text.endswith("\n\n--\nUnsubscribe: https://pulse.example/unsubscribe?t=ann@example.com\n")
    # Transactional mail ignores consent and the suppression list, but not a missing address.
    transactional = plan(WELCOME, people, "transactional", suppressed={"dee@example.com"})
    assert [fields["user_id"] for fields, _ in transactional.queued] == ["u1", "u3", "u4"]
    assert transactional.counts() == {"no email address": 2, "same address as user u1": 1}


def test_a_preview_renders_a_few_but_still_finds_the_recipient_a_template_fails_for():
    people = [person(f"u{n:02d}", f"u{n:02d}@example.com", f"User {n}") for n in range(60)]
    people.append(person("u99", "u99@example.com", name=None))
    planned = plan(WELCOME, people[:60], "transactional", set(), preview=5)
    assert [rendered is not None for _, rendered in planned.queued] == [True] * 5 + [False] * 55
    with pytest.raises(EmailError, match="The template uses 'first_name', which user u99 does not have"):
        plan(WELCOME, people, "transactional", set(), preview=5)
    with pytest.raises(ValueError, match="a preview's plan cannot be sent"):
        Campaigns(None).create("c", WELCOME, planned, "transactional", "why", "all", "team@pulse.example", by="x")


def campaign(db, people, kind="marketing", reason="", campaign_id="c1", suppressed=frozenset()):
    planned = plan(WELCOME, people, kind, set(suppressed), unsubscribe=lambda email: f"https://pulse.example/u/{email}")
    assert Campaigns(db).create(campaign_id, WELCOME, planned, kind, reason, "plan=pro", "team@pulse.example",
                                by="admin@example.com", address="10.0.0.7")
    return planned


def test_a_campaign_arrives_whole_with_its_headers_and_encodings(db, inbox):
    campaign(db, [person("u1", "jo@example.com", "Jörg Müller"), person("u2", "ann@example.com", "Ann Lee"),
                  person("u3", "cy@example.com", "Cy", opt_in=False)])

    counts = Sender(db, settings(inbox.port), KEY).send("c1")

    assert counts == {"queued": 0, "sending": 0, "sent": 2, "failed": 0, "skipped": 1}
    assert [envelope for envelope in inbox.envelopes] == [("team@pulse.example", ["jo@example.com"]),
                                                          ("team@pulse.example", ["ann@example.com"])]
    jo = inbox.messages[0]
    assert jo["Subject"] == "Hallo Jörg, your pro plan"
    assert jo["To"] == "Jörg Müller <jo@example.com>"
    assert jo["From"] == "Pulse Team <team@pulse.example>"
    assert jo["Reply-To"] == "help@pulse.example"
    assert jo.get_content_type() == "multipart/alternative"
    plain, html = jo.get_body(("plain",)), jo.get_body(("html",))
    assert plain.get_content().replace("\r\n", "\n") == ("Hi Jörg Müller,\nyou have spent 120.50 since 2026-03-01.\n\n--\n"
                                   "Unsubscribe: https://pulse.example/u/jo@example.com\n")
    assert html.get_content().startswith("<html><body><p>Hi <b>Jörg Müller</b>,</p>")
    assert plain.get_content_charset() == html.get_content_charset() == "utf-8"
    assert jo["List-Unsubscribe"].startswith("<https://pulse.example/unsubscribe?t=jo%40example.com.")
    assert jo["List-Unsubscribe"].endswith(">, <mailto:team@pulse.example?subject=unsubscribe>")
    assert jo["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # The raw header is RFC 2047 encoded: the names travel as ASCII.
    assert "=?utf-8?" in jo.as_string().split("\n\n")[0].lower() or "=?UTF-8?" in jo.as_string()
    outbox = Campaigns(db).recipients("c1")
    assert outbox.select("user_id", "email", "status", "reason", "attempts").rows() == [
        ("u1", "jo@example.com", "sent", "", 1), ("u2", "ann@example.com", "sent", "", 1),
        ("u3", "cy@example.com", "skipped", "no marketing consent", 0)]
    assert outbox["message_id"].to_list()[:2] == [jo["Message-ID"], inbox.messages[1]["Message-ID"]]
    assert all(m.endswith("@pulse.example>") for m in outbox["message_id"].to_list()[:2])


def test_transactional_mail_has_no_unsubscribe_header_and_needs_a_reason(db, inbox):
    with pytest.raises(EmailError, match="A transactional email goes to users without marketing consent; say why"):
        campaign(db, [person("u1", "jo@example.com", "Jo")], kind="transactional")
    campaign(db, [person("u1", "jo@example.com", "Jo", opt_in=False)], kind="transactional",
             reason="Security notice: password reset")
    assert Sender(db, settings(inbox.port), KEY).send("c1")["sent"] == 1
    assert inbox.messages[0]["List-Unsubscribe"] is None
    with db.session() as session:
        assert session.scalars(select(AuditEntry.detail).where(AuditEntry.action == "email.send")).one() == (
            "campaign c1: template welcome, transactional, 1 queued, 0 skipped; recipients: plan=pro; "
            "reason: Security notice: password reset")


def test_the_same_campaign_id_twice_writes_and_sends_once(db, inbox):
    people = [person("u1", "jo@example.com", "Jo"), person("u2", "ann@example.com", "Ann")]
    campaign(db, people)
    planned = plan(WELCOME, people, "marketing", set())
    assert Campaigns(db).create("c1", WELCOME, planned, "marketing", "", "plan=pro", "team@pulse.example", by="x") is False
    Sender(db, settings(inbox.port), KEY).send("c1")
    Sender(db, settings(inbox.port), KEY).send("c1")  # a rerun finds nothing queued
    assert [e[1] for e in inbox.envelopes] == [["jo@example.com"], ["ann@example.com"]]


def test_a_server_that_is_down_fails_every_row_and_a_resume_sends_them(db):
    campaign(db, [person("u1", "jo@example.com", "Jo"), person("u2", "ann@example.com", "Ann")])
    port = free_port()  # nothing listens here

    counts = Sender(db, settings(port), KEY, backoff=(0, 0), max_wait=0).send("c1")

    assert counts == {"queued": 0, "sending": 0, "sent": 0, "failed": 2, "skipped": 0}
    failed = Campaigns(db).recipients("c1")
    assert failed["attempts"].to_list() == [3, 3]  # three tries each, then left failed
    assert set(failed["reason"].to_list()) == {
        f"cannot reach the SMTP server 127.0.0.1:{port}: ConnectionRefusedError: [Errno 111] Connection refused"}

    box = Inbox()
    controller = start(box, port)
    try:
        assert Campaigns(db).resume("c1", by="admin@example.com") == 2  # three more tries each
        assert Sender(db, settings(port), KEY).send("c1")["sent"] == 2
    finally:
        controller.stop()
    assert [e[1] for e in box.envelopes] == [["jo@example.com"], ["ann@example.com"]]


def test_a_refused_recipient_is_failed_with_the_reply_and_not_retried(db):
    box = Inbox(refuse={"ann@example.com"})
    controller = start(box)
    try:
        campaign(db, [person("u1", "jo@example.com", "Jo"), person("u2", "ann@example.com", "Ann"),
                      person("u3", "cy@example.com", "Cy")])
        counts = Sender(db, settings(controller.port), KEY, backoff=(0, 0)).send("c1")
        assert Sender(db, settings(controller.port), KEY).send("c1") == counts  # a resume: nothing left to send
    finally:
        controller.stop()
    assert counts == {"queued": 0, "sending": 0, "sent": 2, "failed": 1, "skipped": 0}
    assert Campaigns(db).recipients("c1", "failed").select("user_id", "reason", "attempts").rows() == [
        ("u2", "550 5.1.1 No such mailbox here", 1)]
    assert Campaigns(db).resume("c1", by="admin@example.com") == 0  # refused for good: not tried again
    assert [e[1] for e in box.envelopes] == [["jo@example.com"], ["cy@example.com"]]


def test_two_workers_on_one_campaign_send_each_recipient_once(db, inbox):
    people = [person(f"u{n:03d}", f"user{n:03d}@example.com", f"User {n}") for n in range(120)]
    campaign(db, people)
    workers = [threading.Thread(target=Sender(db, settings(inbox.port), KEY).send, args=("c1",)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    received = sorted(address for _, rcpt in inbox.envelopes for address in rcpt)
    assert received == sorted(p["email"] for p in people)
    assert Campaigns(db).counts("c1")["sent"] == 120


def test_a_test_send_goes_to_the_staff_member_only(db, inbox):
    planned = to_self(WELCOME, person("u1", "jo@example.com", "Jo"), "admin@example.com")
    Campaigns(db).create("t1", WELCOME, planned, "test", "", "test send of welcome for user u1", "team@pulse.example",
                         by="admin@example.com")
    Sender(db, settings(inbox.port), KEY).send("t1")
    assert [e[1] for e in inbox.envelopes] == [["admin@example.com"]]
    assert inbox.messages[0]["Subject"] == "[Test] Hallo Jo, your pro plan"
    assert Campaigns(db).sent_to("u1").is_empty()  # a test is not in the user's timeline


def test_templates_segments_and_suppressions_are_kept_and_audited(db):
    templates = Templates(db)
    templates.save(WELCOME, by="admin@example.com")
    with pytest.raises(EmailError, match="There is already a template 'welcome'; pick another name."):
        templates.save(WELCOME, by="admin@example.com")
    templates.duplicate("welcome", "welcome 2", by="admin@example.com")
    templates.save(Template("welcome v2", "New {{ name }}", "x", ""), by="admin@example.com", replacing="welcome 2")
    assert templates.names() == ["welcome", "welcome v2"]
    assert templates.get("welcome v2") == Template("welcome v2", "New {{ name }}", "x", "")
    templates.delete("welcome", by="admin@example.com")
    with pytest.raises(EmailError, match="There is no email template 'welcome'."):
        templates.get("welcome")
    suppressions = Suppressions(db)
    assert suppressions.add("Jo@Example.com", "asked by phone", by="admin@example.com")
    assert not suppressions.add("jo@example.com", "again", by="admin@example.com")
    assert suppressions.addresses() == {"jo@example.com"}
    suppressions.remove("jo@example.com", by="admin@example.com")
    with db.session() as session:
        trail = [(e.action, e.detail) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert trail == [
        ("email.template.save", "welcome"),
        ("email.template.save", "welcome 2"),
        ("email.template.save", "welcome 2 renamed welcome v2"),
        ("email.template.delete", "welcome"),
        ("email.suppress", "jo@example.com: asked by phone"),
        ("email.unsuppress", "jo@example.com"),
    ]


def test_the_rate_limit_spaces_the_messages(db, inbox):
    import time

    campaign(db, [person(f"u{n}", f"u{n}@example.com", f"User {n}") for n in range(6)])
    began = time.monotonic()
    assert Sender(db, settings(inbox.port, smtp_rate=10.0), KEY).send("c1")["sent"] == 6
    assert time.monotonic() - began >= 0.5  # six messages at 10 a second: five gaps of 0.1 s at least
