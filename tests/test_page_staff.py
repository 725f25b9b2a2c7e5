"""The Staff page (AppTest): adding an account, changing its role, scope and password,
disabling it, and the refusals, each checked in the admin database and the audit log."""

from __future__ import annotations

import pytest
from conftest import build_store, open_page, shown
from sqlalchemy import select

from admin.db import AdminDB
from admin.models import AuditEntry
from admin.staff import StaffAccounts

PASSWORD = "correct horse battery"


@pytest.fixture
def store_path(tmp_path):
    path = tmp_path / "pulse.duckdb"
    build_store(path, users=[{"user_id": "u1", "signup_at": "2024-01-02 09:00", "country": "DE", "plan": "pro"},
                             {"user_id": "u2", "signup_at": "2024-01-03 09:00", "country": "AT", "plan": "free"}])
    return path


@pytest.fixture
def accounts(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'staff.db'}"
    monkeypatch.setenv("PULSE_ADMIN_DB", url)
    db = AdminDB(url)
    yield StaffAccounts(db)
    db.engine.dispose()


def trail(accounts) -> list[tuple[str, str, str]]:
    with accounts.db.session() as session:
        return [(e.actor, e.action, e.detail) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def roster(accounts) -> list[tuple]:
    return accounts.roster().select("email", "role", "countries", "plans", "disabled").rows()


def test_an_admin_adds_changes_and_disables_an_account(store_path, accounts, monkeypatch):
    at = open_page(store_path, monkeypatch, "staff")
    assert not at.exception
    assert at.info[0].value == "There are no staff accounts yet; add the first below."
    assert [m.options for m in at.multiselect[:2]] == [["AT", "DE"], ["free", "pro"]]

    email, password, again = at.text_input[0], at.text_input[1], at.text_input[2]
    email.input("Ana@Example.com")
    at.selectbox[0].select("analyst")
    at.multiselect[0].select("DE")
    password.input(PASSWORD)
    again.input("something else entirely")
    at.button(key="FormSubmitter:staff_add-Add").click().run()
    assert [shown(e.value) for e in at.error] == ["The two passwords differ; type the same password twice."]
    assert roster(accounts) == []

    at.text_input[2].input(PASSWORD)
    at.button(key="FormSubmitter:staff_add-Add").click().run()
    assert [s.value for s in at.success] == ["Added ana@example.com as analyst."]
    assert roster(accounts) == [("ana@example.com", "analyst", "DE", "all", "")]

    # The second tab: the account's role and scope, its password, disabling it.
    at.selectbox(key="staff_pick").select("ana@example.com").run()
    role, countries, plans = at.selectbox[2], at.multiselect[2], at.multiselect[3]
    assert (role.value, countries.value, plans.value) == ("analyst", ["DE"], [])
    role.select("billing")
    countries.select("AT")
    plans.select("pro")
    at.button(key="FormSubmitter:staff_role_ana@example.com-Save role and scope").click().run()
    assert [s.value for s in at.success] == ["Saved the role and scope of ana@example.com."]
    assert roster(accounts) == [("ana@example.com", "billing", "AT, DE", "pro", "")]

    at.text_input[3].input("short")
    at.text_input[4].input("short")
    at.button(key="FormSubmitter:staff_password_ana@example.com-Set the password").click().run()
    assert [shown(e.value) for e in at.error] == ["A password needs at least 12 characters."]

    at.button(key="staff_disable").click().run()
    assert [s.value for s in at.success] == ["Disabled ana@example.com; its sessions have ended."]
    assert roster(accounts) == [("ana@example.com", "billing", "AT, DE", "pro", "yes")]
    assert at.button(key="staff_enable").label == "Enable this account"

    # sign_in = "none" in the tests: the local admin is the one who acted.
    assert trail(accounts) == [
        ("local", "staff.add", "ana@example.com as analyst"),
        ("local", "staff.set_role", "ana@example.com to billing"),
        ("local", "staff.set_scope", "ana@example.com: countries AT,DE, plans pro"),
        ("local", "staff.disable", "ana@example.com"),
    ]


def test_the_last_admin_cannot_be_demoted_from_the_page(store_path, accounts, monkeypatch):
    accounts.add("root@example.com", "admin", PASSWORD, by="setup")
    at = open_page(store_path, monkeypatch, "staff")
    at.selectbox(key="staff_pick").select("root@example.com").run()
    at.selectbox[2].select("viewer")
    at.button(key="FormSubmitter:staff_role_root@example.com-Save role and scope").click().run()
    assert [shown(e.value) for e in at.error] == [
        "root@example.com is the last enabled admin; make another account an admin first."]
    assert roster(accounts) == [("root@example.com", "admin", "all", "all", "")]
