"""Staff accounts, sign-in, lockout, sessions, roles and the audit trail, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import create_engine, select, text

from admin import roles
from admin.db import AdminDB, downgrade
from admin.models import AuditEntry
from admin.staff import Staff, StaffAccounts, StaffError

PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)
IDLE = timedelta(hours=8)


@pytest.fixture
def staff(admin_db):
    return StaffAccounts(admin_db)

def audit(staff: StaffAccounts) -> list[tuple[str, str, str]]:
    with staff.db.session() as session:
        rows = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        return [(e.actor, e.action, e.detail) for e in rows]


def test_an_account_signs_in_and_its_session_knows_who_it_is(staff):
    staff.add("Ana@Example.com ", "analyst", PASSWORD, by="root", countries=["de", "AT"], plans=["pro"])
    token = staff.sign_in("ana@example.com", PASSWORD, address="10.0.0.7", now=T0)
    assert staff.current(token, IDLE, now=T0 + timedelta(hours=1)) == Staff("ana@example.com", "analyst", ("AT", "DE"), ("pro",))
    assert audit(staff) == [("root", "staff.add", "ana@example.com as analyst"), ("ana@example.com", "sign_in", "")]


def test_the_password_is_stored_only_as_an_argon2_hash(staff):
    staff.add("ana@example.com", "viewer", PASSWORD, by="root")
    with staff.db.session() as session:
        dump = " ".join(str(v) for row in session.execute(text("SELECT * FROM staff_accounts")) for v in row)
        dump += " ".join(str(v) for row in session.execute(text("SELECT * FROM audit_log")) for v in row)
    assert PASSWORD not in dump
    assert "$argon2id$" in dump


@pytest.mark.parametrize("email, role, password, message", [
    ("not-an-email", "viewer", PASSWORD, "'not-an-email' is not an email address."),
    ("b@example.com", "boss", PASSWORD, "Unknown role 'boss'; use one of: admin, analyst, billing, viewer."),
    ("b@example.com", "viewer", "short", "A password needs at least 12 characters."),
])
def test_a_bad_account_is_refused_with_one_sentence(staff, email, role, password, message):
    with pytest.raises(StaffError) as exc:
        staff.add(email, role, password, by="root")
    assert str(exc.value) == message
    assert staff.accounts() == []


def test_the_same_email_cannot_be_added_twice(staff):
    staff.add("ana@example.com", "viewer", PASSWORD, by="root")
    with pytest.raises(StaffError, match="There is already a staff account 'ana@example.com'."):
        staff.add("ANA@example.com", "admin", PASSWORD, by="root")


def test_five_failures_in_fifteen_minutes_lock_the_account_for_fifteen_minutes(staff):
    staff.add("ana@example.com", "viewer", PASSWORD, by="root")
    for minute in range(5):  # failures at 09:00 ... 09:04; the fifth locks until 09:19
        with pytest.raises(StaffError, match="Wrong email or password."):
            staff.sign_in("ana@example.com", "wrong password!", now=T0 + timedelta(minutes=minute))
    with pytest.raises(StaffError) as exc:  # even the right password is refused while locked
        staff.sign_in("ana@example.com", PASSWORD, now=T0 + timedelta(minutes=10))
    assert str(exc.value) == "This account is locked after 5 failed sign-ins until 09:19 UTC; try again then."
    assert staff.sign_in("ana@example.com", PASSWORD, now=T0 + timedelta(minutes=19, seconds=1))
    actions = [a for _, a, _ in audit(staff)]
    assert actions == ["staff.add", *["sign_in.failed"] * 5, "sign_in.locked", "sign_in.refused", "sign_in"]


def test_failures_spread_over_more_than_fifteen_minutes_do_not_lock(staff):
    staff.add("ana@example.com", "viewer", PASSWORD, by="root")
    for minute in (0, 4, 8, 12, 16, 20):  # never five within any 15 minutes
        with pytest.raises(StaffError, match="Wrong email or password."):
            staff.sign_in("ana@example.com", "wrong password!", now=T0 + timedelta(minutes=minute))
    assert staff.sign_in("ana@example.com", PASSWORD, now=T0 + timedelta(minutes=21))


def test_an_unknown_email_gets_the_same_answer_as_a_wrong_password(staff):
    with pytest.raises(StaffError) as exc:
        staff.sign_in("nobody@example.com", PASSWORD, now=T0)
    assert str(exc.value) == "Wrong email or password."


def test_a_session_ends_after_the_idle_time_and_on_sign_out(staff):
    staff.add("ana@example.com", "billing", PASSWORD, by="root")
    token = staff.sign_in("ana@example.com", PASSWORD, now=T0)
    assert staff.current(token, IDLE, now=T0 + timedelta(hours=7)) is not None   # keeps it alive until 16:00
    assert staff.current(token, IDLE, now=T0 + timedelta(hours=14, minutes=59)) is not None
    assert staff.current(token, IDLE, now=T0 + timedelta(hours=23)) is None      # idle 8 h 1 min
    assert staff.current(token, IDLE, now=T0 + timedelta(hours=23, minutes=1)) is None
    other = staff.sign_in("ana@example.com", PASSWORD, now=T0)
    staff.sign_out(other)
    assert staff.current(other, IDLE, now=T0) is None
    assert staff.current("made-up-token", IDLE, now=T0) is None


def test_disabling_signs_out_and_refuses_until_enabled(staff):
    staff.add("ana@example.com", "analyst", PASSWORD, by="root")
    token = staff.sign_in("ana@example.com", PASSWORD, now=T0)
    staff.set_disabled("ana@example.com", True, by="root")
    assert staff.current(token, IDLE, now=T0) is None
    with pytest.raises(StaffError, match="This account is disabled; ask an admin to enable it."):
        staff.sign_in("ana@example.com", PASSWORD, now=T0)
    staff.set_disabled("ana@example.com", False, by="root")
    assert staff.sign_in("ana@example.com", PASSWORD, now=T0)


def test_role_scope_and_password_changes_take_effect_and_are_audited(staff):
    staff.add("ana@example.com", "viewer", PASSWORD, by="root")
    staff.set_role("ana@example.com", "billing", by="root")
    staff.set_scope("ana@example.com", ["de"], [], by="root")
    staff.reset_password("ana@example.com", "a brand new passphrase", by="root")
    with pytest.raises(StaffError, match="Wrong email or password."):
        staff.sign_in("ana@example.com", PASSWORD, now=T0)
    token = staff.sign_in("ana@example.com", "a brand new passphrase", now=T0)
    assert staff.current(token, IDLE, now=T0) == Staff("ana@example.com", "billing", ("DE",), ())
    assert audit(staff)[1:4] == [
        ("root", "staff.set_role", "ana@example.com to billing"),
        ("root", "staff.set_scope", "ana@example.com: countries DE, plans all"),
        ("root", "staff.reset_password", "ana@example.com"),
    ]
    with pytest.raises(StaffError, match="There is no staff account 'bob@example.com'."):
        staff.set_role("bob@example.com", "admin", by="root")


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(staff):
    staff.add("root@example.com", "admin", PASSWORD, by="setup")
    staff.add("ana@example.com", "admin", PASSWORD, by="setup")
    staff.set_disabled("ana@example.com", True, by="root@example.com")
    last = "root@example.com is the last enabled admin; make another account an admin first."
    for change in (lambda: staff.set_role("root@example.com", "analyst", by="root@example.com"),
                   lambda: staff.set_disabled("root@example.com", True, by="root@example.com")):
        with pytest.raises(StaffError, match=last):
            change()
    assert [(s.email, s.role, disabled) for s, disabled, _ in staff.accounts()] == [
        ("ana@example.com", "admin", True), ("root@example.com", "admin", False)]
    staff.set_disabled("ana@example.com", False, by="root@example.com", address="10.0.0.7")
    staff.set_role("root@example.com", "analyst", by="ana@example.com")  # another admin is left now
    assert audit(staff)[-2:] == [("root@example.com", "staff.enable", "ana@example.com"),
                                 ("ana@example.com", "staff.set_role", "root@example.com to analyst")]


def test_the_migration_goes_down_cleanly(tmp_path):
    url = f"sqlite:///{tmp_path / 'admin.db'}"
    db = AdminDB(url)
    db.engine.dispose()
    downgrade(url, "0001")
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    engine.dispose()
    assert "staff_accounts" not in tables and "audit_log" in tables


# -- roles -----------------------------------------------------------------------------------------

EXPECTED_PAGES = {
    "admin": set(roles.PAGES),
    "analyst": {"overview", "activity", "retention", "purchases", "revenue", "user", "data", "explore", "views",
                "annotations", "exports", "sql"},
    "billing": {"overview", "purchases", "revenue", "user", "views", "annotations"},
    "viewer": {"overview", "activity", "retention", "purchases", "revenue", "views", "annotations"},
}
EXPECTED_ACTIONS = {
    "admin": set(roles.ACTIONS),
    "analyst": {"download_csv", "see_personal", "see_user_money", "see_user_activity", "schedule_exports",
                "annotate", "set_goals"},
    "billing": {"download_csv", "see_personal", "see_user_money"},
    "viewer": set(),
}


@pytest.mark.parametrize("role", roles.ROLES)
@pytest.mark.parametrize("page", roles.PAGES)
def test_every_role_and_page(role, page):
    assert roles.may_open(role, page) == (page in EXPECTED_PAGES[role])


@pytest.mark.parametrize("role", roles.ROLES)
@pytest.mark.parametrize("action", roles.ACTIONS)
def test_every_role_and_action(role, action):
    assert roles.may(role, action) == (action in EXPECTED_ACTIONS[role])
