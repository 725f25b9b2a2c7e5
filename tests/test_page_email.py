"""The Email page (AppTest): recipients from filters, skipped counts, the preview, sending a
campaign to a real SMTP server on loopback, the history, templates and the suppression list."""

from __future__ import annotations

import time

import pytest
from conftest import build_store, open_page, shown
from smtp_server import Inbox, start

from admin.db import AdminDB
from admin.email import Campaigns, Suppressions, Template, Templates

USERS = [
    {"user_id": "u1", "email": "ann@example.com", "name": "Ann Öberg", "signup_at": "2026-01-05 09:00",
     "country": "DE", "plan": "pro", "marketing_opt_in": True},
    {"user_id": "u2", "email": "bob@example.com", "name": "Bob", "signup_at": "2026-01-06 09:00", "country": "DE",
     "plan": "pro", "marketing_opt_in": False},
    {"user_id": "u3", "email": None, "name": "Cy", "signup_at": "2026-01-07 09:00", "country": "AT", "plan": "pro",
     "marketing_opt_in": True},
    {"user_id": "u4", "email": "dee@example.com", "name": "Dee", "signup_at": "2026-01-08 09:00", "country": "AT",
     "plan": "free", "marketing_opt_in": True},
]
EVENTS = [{"event_id": f"e{n}", "user_id": u, "ts": "2026-02-01 10:00", "event_type": "page_view"}
          for n, u in enumerate(["u1", "u2", "u3", "u4"])]


@pytest.fixture
def setup(tmp_path, monkeypatch):
    path = tmp_path / "pulse.duckdb"
    build_store(path, users=USERS, events=EVENTS)
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    db = AdminDB(url)
    Templates(db).save(Template("news", "News for {{ first_name }}", "Hi {{ name }}, you are on {{ plan }}.\n",
                                "<p>Hi <b>{{ name }}</b></p>"), by="test")
    box = Inbox()
    controller = start(box)
    env = {"PULSE_ADMIN_DB": url, "PULSE_SMTP_HOST": "127.0.0.1", "PULSE_SMTP_PORT": str(controller.port)}
    yield path, db, box, env
    controller.stop()
    db.engine.dispose()


def test_filters_preview_and_send_reach_only_consenting_users(setup, monkeypatch):
    path, db, box, env = setup
    at = open_page(path, monkeypatch, "admin_email", env, range="custom", start="2026-01-01", end="2026-02-01")
    assert not at.exception, at.exception
    at.selectbox(key="seg_plan").select("pro").run()
    assert not at.exception, at.exception
    cards = {m.label: m.value for m in at.metric}
    assert cards == {"Will receive it": "1", "Skipped": "2"}
    assert [shown(c.value) for c in at.caption if c.value.startswith("Skipped")] == [
        "Skipped: 1 no marketing consent; 1 no email address."]
    assert [shown(m.value) for m in at.markdown if m.value.startswith("**Subject")] == ["**Subject:** News for Ann"]
    assert at.code[0].value.startswith("Hi Ann Öberg, you are on pro.\n\n--\nUnsubscribe: http://localhost:8501/unsubscribe?t=")

    at.checkbox(key="email_sure").check().run()
    at.button(key="email_send").click().run()
    assert not at.exception, at.exception
    deadline = time.monotonic() + 30
    while not box.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    assert [rcpt for _, rcpt in box.envelopes] == [["ann@example.com"]]
    history = Campaigns(db).history()
    assert history.select("sent_by", "template", "kind", "recipients", "sent", "skipped").rows() == [
        ("local", "news", "marketing", "plan=pro", 1, 2)]
    # The user's timeline shows the email, among what they did.
    sent_at = Campaigns(db).sent_to("u1")["ts"][0]
    user = open_page(path, monkeypatch, "user", env, user="u1", range="custom", start="2026-01-01",
                     end=sent_at.date().isoformat())
    assert not user.exception, user.exception
    timeline = user.dataframe[-1].value
    assert timeline[["type", "detail"]].values.tolist()[:2] == [
        ["Email", "Email: News for Ann (marketing)"], ["Event", "Page view"]]


def test_a_transactional_send_needs_a_reason_and_reaches_everyone_with_an_address(setup, monkeypatch):
    path, db, box, env = setup
    at = open_page(path, monkeypatch, "admin_email", env)
    at.segmented_control(key="email_kind").set_value("transactional").run()
    cards = {m.label: m.value for m in at.metric}
    assert cards == {"Will receive it": "3", "Skipped": "1"}
    at.checkbox(key="email_sure").check().run()
    at.button(key="email_send").click().run()
    assert [shown(e.value) for e in at.error] == [
        "A transactional email goes to users without marketing consent; say why (--reason)."]
    assert Campaigns(db).history().is_empty()


def test_handed_over_ids_templates_and_the_suppression_list(setup, monkeypatch):
    path, db, box, env = setup
    at = open_page(path, monkeypatch, "admin_email", env)
    at.segmented_control(key="email_source").set_value("User ids").run()
    at.text_area(key="email_ids_text").input("u1, u4\nnobody").run()
    assert {m.label: m.value for m in at.metric} == {"Will receive it": "2", "Skipped": "0"}

    Suppressions(db).add("dee@example.com", "asked", by="test")
    at.run()
    assert {m.label: m.value for m in at.metric} == {"Will receive it": "1", "Skipped": "1"}

    # A template with a mistake is refused with one sentence; nothing is saved.
    at.selectbox(key="tpl_pick").select("news").run()
    form_inputs = [t for t in at.text_input if t.label == "Subject"]
    form_inputs[0].input("Hi {{ name ")
    at.button(key="FormSubmitter:tpl_form_news-Save").click().run()
    assert [shown(e.value) for e in at.error] == [
        "The subject has a mistake on line 1: unexpected end of template, expected 'end of print statement'.."]
    assert Templates(db).get("news").subject == "News for {{ first_name }}"


def test_email_this_user_hands_the_user_to_the_email_page(setup, monkeypatch):
    path, db, box, env = setup
    at = open_page(path, monkeypatch, "user", env, user="u1", range="custom", start="2026-01-01", end="2026-02-01")
    at.button(key="email-this-user").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Email"
    assert at.text_area(key="email_ids_text").value == "u1"
    assert {m.label: m.value for m in at.metric} == {"Will receive it": "1", "Skipped": "0"}
