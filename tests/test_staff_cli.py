"""`pulse staff`, `pulse audit` and the demo admin through Click's CliRunner, on SQLite and PostgreSQL:
exact output, exit codes, and what the admin database holds afterwards."""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import build_store

from admin.db import AdminDB
from admin.staff import StaffAccounts, StaffError
from cli.main import main
from pulse.store import Store

PASSWORD = "correct horse battery"
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=timezone.utc)


@pytest.fixture
def env(admin_url, tmp_path):
    """Settings of an isolated install: its own store, admin database and no pulse.toml."""
    return {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml"), "USER": "root",
            "PULSE_ADMIN_DB": admin_url}

@pytest.fixture
def accounts(env):
    """The same admin database, as the web app sees it."""
    db = AdminDB(env["PULSE_ADMIN_DB"])
    yield StaffAccounts(db)
    db.engine.dispose()


def run(env, *args, input=None):
    return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False, prog_name="pulse")


def add(env, email, role, *args, password=PASSWORD):
    result = run(env, "staff", "add", email, "--role", role, "--password-stdin", *args, input=password + "\n")
    assert result.exit_code == 0, result.stderr
    return result


def timeless(output: str) -> str:
    """Output with each time written by the database replaced by the same number of characters."""
    return re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", "YYYY-MM-DD hh:mm:ss", output)


def test_an_account_added_from_standard_input_is_listed_and_can_sign_in(env, accounts):
    result = add(env, "Ana@Example.com", "analyst", "--country", "de", "--country", "AT", "--plan", "pro")
    assert (result.stdout, result.stderr) == ("Added ana@example.com as analyst (countries: AT, DE; plans: pro).\n", "")
    accounts.sign_in("ana@example.com", PASSWORD, now=T0)

    listed = run(env, "staff", "list")

    assert (listed.exit_code, listed.stderr) == (0, "")
    assert listed.stdout == (
        "┏━━━━━━━━━━━━━━━━━┳━━━━━━━━━┳━━━━━━━━━━━┳━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━┓\n"
        "┃ email           ┃ role    ┃ countries ┃ plans ┃ disabled ┃ locked until (UTC) ┃ last sign-in (UTC)  ┃\n"
        "┡━━━━━━━━━━━━━━━━━╇━━━━━━━━━╇━━━━━━━━━━━╇━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━┩\n"
        "│ ana@example.com │ analyst │ AT, DE    │ pro   │          │                    │ 2026-11-02 09:00:00 │\n"
        "└─────────────────┴─────────┴───────────┴───────┴──────────┴────────────────────┴─────────────────────┘\n"
    )


def test_no_accounts_yet_says_how_to_add_one(env):
    result = run(env, "staff", "list")
    assert (result.exit_code, result.stdout) == (
        0, "There are no staff accounts yet: add one with `pulse staff add EMAIL --role ROLE`.\n")


def test_the_password_is_asked_twice_and_a_mismatch_is_asked_again(env, accounts):
    refused = run(env, "staff", "add", "ana@example.com", "--role", "viewer", input=f"{PASSWORD}\nsomething else here\n")
    assert (refused.exit_code, refused.stdout) == (1, "")
    assert refused.stderr == ("Password: \nRepeat for confirmation: \nError: The two entered values do not match.\n"
                              "Password: \n\npulse: No password was given; nothing was changed.\n")
    assert accounts.accounts() == []

    added = run(env, "staff", "add", "ana@example.com", "--role", "viewer",
                input=f"{PASSWORD}\nsomething else here\n{PASSWORD}\n{PASSWORD}\n")
    assert (added.exit_code, added.stdout) == (0, "Added ana@example.com as viewer (countries: all; plans: all).\n")
    assert accounts.sign_in("ana@example.com", PASSWORD)


@pytest.mark.parametrize("args, stdin, code, message", [
    (["staff", "add", "ANA@example.com", "--role", "admin", "--password-stdin"], PASSWORD, 1,
     "There is already a staff account 'ana@example.com'."),
    (["staff", "add", "bo@example.com", "--role", "admin", "--password-stdin"], "too short", 1,
     "A password needs at least 12 characters."),
    (["staff", "add", "bo", "--role", "admin", "--password-stdin"], PASSWORD, 1, "'bo' is not an email address."),
    (["staff", "add", "bo@example.com", "--role", "boss", "--password-stdin"], PASSWORD, 2,
     "Invalid value for '--role': 'boss' is not one of 'admin', 'analyst', 'billing', 'viewer'. "
     "See `pulse staff add --help`."),
    (["staff", "set-role", "ana@example.com", "boss"], None, 2,
     "Invalid value for 'ROLE': 'boss' is not one of 'admin', 'analyst', 'billing', 'viewer'. "
     "See `pulse staff set-role --help`."),
    (["staff", "set-role", "bo@example.com", "admin"], None, 1, "There is no staff account 'bo@example.com'."),
    (["staff", "set-scope", "bo@example.com", "--country", "DE"], None, 1, "There is no staff account 'bo@example.com'."),
    (["staff", "disable", "bo@example.com"], None, 1, "There is no staff account 'bo@example.com'."),
    (["staff", "enable", "bo@example.com"], None, 1, "There is no staff account 'bo@example.com'."),
    (["staff", "reset-password", "bo@example.com", "--password-stdin"], PASSWORD, 1,
     "There is no staff account 'bo@example.com'."),
    (["staff", "reset-password", "ana@example.com", "--password-stdin"], "", 1,
     "A password needs at least 12 characters."),
    (["audit", "--since", "2026-13-01"], None, 2, "The --since date '2026-13-01' is not a date; use YYYY-MM-DD, e.g. 2024-03-01."),
])
def test_a_refusal_is_one_line_and_changes_nothing(env, accounts, args, stdin, code, message):
    add(env, "ana@example.com", "viewer")
    before = accounts.accounts()

    result = run(env, *args, input=None if stdin is None else stdin + "\n")

    assert (result.exit_code, result.stderr, result.stdout) == (code, f"pulse: {message}\n", "")
    assert accounts.accounts() == before
    assert accounts.sign_in("ana@example.com", PASSWORD)


def test_every_change_shows_in_the_list_and_in_the_audit_log(env, accounts):
    add(env, "ana@example.com", "viewer")
    assert run(env, "staff", "set-role", "ana@example.com", "billing").stdout == "ana@example.com now has the role billing.\n"
    assert run(env, "staff", "set-scope", "ana@example.com", "--country", "de", "--plan", "pro", "--plan", "free").stdout == \
        "ana@example.com now sees countries: DE; plans: free, pro.\n"
    assert run(env, "staff", "set-scope", "ana@example.com", "--country", "fr").stdout == \
        "ana@example.com now sees countries: FR; plans: all.\n"
    assert run(env, "staff", "disable", "ana@example.com", "--by", "dpo@example.com").stdout == \
        "Disabled ana@example.com; its sessions have ended.\n"
    with pytest.raises(StaffError, match="This account is disabled"):
        accounts.sign_in("ana@example.com", PASSWORD)

    listed = run(env, "staff", "list").stdout
    assert listed.splitlines()[3] == \
        "│ ana@example.com │ billing │ FR        │ all   │ yes      │                    │                    │"

    assert run(env, "staff", "enable", "ana@example.com").stdout == "Enabled ana@example.com.\n"
    reset = run(env, "staff", "reset-password", "ana@example.com", "--password-stdin", input="a brand new passphrase\n")
    assert reset.stdout == "Set a new password for ana@example.com.\n"
    assert accounts.sign_in("ana@example.com", "a brand new passphrase")
    assert run(env, "staff", "list").stdout.splitlines()[3].startswith(
        "│ ana@example.com │ billing │ FR        │ all   │          │                    │ 20")

    logged = run(env, "audit")

    assert (logged.exit_code, logged.stderr) == (0, "")
    # Newest first; the actor is --by, else $USER; the web app's sign-in records itself.
    assert timeless(logged.stdout) == (
        "┏━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━┳━━━━━━━━━━━━━━┓\n"
        "┃ time (UTC)          ┃ actor           ┃ action               ┃ detail                                        ┃ address      ┃\n"
        "┡━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━━━┩\n"
        "│ YYYY-MM-DD hh:mm:ss │ ana@example.com │ sign_in              │                                               │              │\n"
        "│ YYYY-MM-DD hh:mm:ss │ root            │ staff.reset_password │ ana@example.com                               │ command line │\n"
        "│ YYYY-MM-DD hh:mm:ss │ root            │ staff.enable         │ ana@example.com                               │ command line │\n"
        "│ YYYY-MM-DD hh:mm:ss │ ana@example.com │ sign_in.refused      │ disabled                                      │              │\n"
        "│ YYYY-MM-DD hh:mm:ss │ dpo@example.com │ staff.disable        │ ana@example.com                               │ command line │\n"
        "│ YYYY-MM-DD hh:mm:ss │ root            │ staff.set_scope      │ ana@example.com: countries FR, plans all      │ command line │\n"
        "│ YYYY-MM-DD hh:mm:ss │ root            │ staff.set_scope      │ ana@example.com: countries DE, plans free,pro │ command line │\n"
        "│ YYYY-MM-DD hh:mm:ss │ root            │ staff.set_role       │ ana@example.com to billing                    │ command line │\n"
        "│ YYYY-MM-DD hh:mm:ss │ root            │ staff.add            │ ana@example.com as viewer                     │ command line │\n"
        "└─────────────────────┴─────────────────┴──────────────────────┴───────────────────────────────────────────────┴──────────────┘\n"
    )

    def actions(*args):
        result = run(env, "audit", *args)
        assert result.exit_code == 0, result.stderr
        return [line.split("│")[3].strip() for line in result.stdout.splitlines() if line.startswith("│ ")]

    assert actions("--action", "staff.set") == ["staff.set_scope", "staff.set_scope", "staff.set_role"]
    assert actions("--actor", "dpo@example.com") == ["staff.disable"]
    today = datetime.now(timezone.utc).date().isoformat()
    assert actions("--since", today, "--action", "sign_in") == ["sign_in", "sign_in.refused"]
    assert run(env, "audit", "--since", "2199-12-31").stdout == "No audit entries match.\n"
    assert run(env, "audit", "--limit", "2").stdout.endswith("│\n└" + "┴".join(
        "─" * width for width in (21, 17, 22, 17, 14)) + "┘\n… and older entries (use --limit or --csv).\n")


def test_audit_csv_neutralises_formulas_and_the_table_shows_text_as_text(env, tmp_path):
    add(env, "=cmd@example.com", "viewer", "--by", "=HYPERLINK(1)")
    add(env, "bo@example.com", "viewer", "--by", "[/bold]\x1b[2J")
    target = tmp_path / "audit.csv"

    written = run(env, "audit", "--csv", str(target))

    assert (written.exit_code, written.stdout, written.stderr) == (0, "", f"Wrote 2 audit entries to {target}.\n")
    assert timeless(target.read_text()) == (
        "time_utc,actor,action,detail,address\n"
        "YYYY-MM-DD hh:mm:ss,[/bold]\x1b[2J,staff.add,bo@example.com as viewer,command line\n"
        "YYYY-MM-DD hh:mm:ss,'=HYPERLINK(1),staff.add,'=cmd@example.com as viewer,command line\n"
    )
    # Not rich markup (a stray closing tag would stop the command) and no escape reaches the terminal.
    rows = [line for line in run(env, "audit").stdout.splitlines() if line.startswith("│ ")]
    assert [row.split("│")[2:4] for row in rows] == [[" [/bold]?[2J   ", " staff.add "], [" =HYPERLINK(1) ", " staff.add "]]


def test_exports_and_personal_data_requests_are_audited_and_an_erasure_names_only_the_hash(env, tmp_path):
    build_store(Path(env["PULSE_STORE"]), users=[{"user_id": "u1", "signup_at": "2026-11-01 09:00", "country": "DE"}],
                events=[{"event_id": "e1", "user_id": "u1", "event_type": "page_view", "ts": "2026-11-02 10:00"}])
    assert run(env, "export", "active_users", "--start", "2026-11-01", "--end", "2026-11-02", "--option", "country=DE",
               "--by", "cfo@example.com").stdout == "period,active_users\n2026-11-01,0\n2026-11-02,1\n"
    target = tmp_path / "u1.json"
    assert run(env, "user", "export", "u1", "--out", str(target)).exit_code == 0
    forgot = run(env, "user", "forget", "u1", "--yes", "--by", "dpo@example.com")
    assert forgot.stdout == "Erased u1: 1 users, 1 events, 0 transactions, 0 subscriptions, 0 quarantine\n"

    rows = [[cell.strip() for cell in line.split("│")[2:6]]
            for line in run(env, "audit").stdout.splitlines() if line.startswith("│ ")]

    hashed = Store(Path(env["PULSE_STORE"])).load_log()[-1]["erased_user"]
    assert rows == [
        ["dpo@example.com", "user.forget", f"user {hashed}: 1 users, 1 events, 0 transactions, 0 subscriptions, "
                                           "0 quarantine", "command line"],
        ["root", "user.export", f"u1 to {target}", "command line"],
        ["cfo@example.com", "export", "active_users 2026-11-01..2026-11-02 by day with country=DE: 2 rows to stdout",
         "command line"],
    ]
    assert "u1" not in rows[0][2]


def test_an_export_whose_audit_entry_cannot_be_written_writes_nothing(env, tmp_path):
    build_store(Path(env["PULSE_STORE"]), users=[{"user_id": "u1", "signup_at": "2026-11-01 09:00"}])
    target = tmp_path / "dau.csv"
    down = env | {"PULSE_ADMIN_DB": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    for args in (["export", "active_users", "--out", str(target)], ["user", "export", "u1", "--out", str(target)],
                 ["user", "forget", "u1", "--yes"]):
        result = run(down, *args)
        assert (result.exit_code, result.stdout, result.stderr) == (
            1, "", "pulse: The admin database at postgresql+psycopg://nobody@127.0.0.1:1/none cannot be reached: "
                   "OperationalError.\n"), args
    assert not target.exists()
    assert Store(Path(env["PULSE_STORE"])).scalar("SELECT count(*) FROM users") == 1


SIGN_IN = re.compile(r"Sign in as admin@example\.com with password (\S+)\n")
EXISTS = ("Staff accounts exist already; `pulse staff reset-password admin@example.com` sets a new password "
          "for the demo admin.\n")


def test_demo_creates_the_admin_and_prints_its_password_once(env, accounts):
    first = run(env, "demo", "--users", "5", "--days", "2", "--if-empty")

    assert (first.exit_code, first.stderr) == (0, "")
    password = SIGN_IN.search(first.stdout).group(1)
    assert first.stdout.endswith(f"Sign in as admin@example.com with password {password}\n")
    assert len(password) >= 12 and first.stdout.count(password) == 1
    assert accounts.sign_in("admin@example.com", password)
    assert [(s.email, s.role) for s, _, _ in accounts.accounts()] == [("admin@example.com", "admin")]

    again = run(env, "demo", "--users", "5", "--days", "2", "--if-empty")

    assert (again.exit_code, again.stderr) == (0, "")
    assert again.stdout == f"The store {env['PULSE_STORE']} already exists; leaving it as it is.\n" + EXISTS
    assert timeless(run(env, "audit", "--action", "staff").stdout).splitlines()[3] == (
        "│ YYYY-MM-DD hh:mm:ss │ pulse demo │ staff.add │ admin@example.com as admin │ command line │")


def test_demo_on_an_existing_store_still_creates_the_first_admin(env, accounts):
    build_store(Path(env["PULSE_STORE"]), users=[{"user_id": "u1", "signup_at": "2024-01-01 09:00"}])

    result = run(env, "demo", "--if-empty")

    assert result.exit_code == 0
    opening = f"The store {env['PULSE_STORE']} already exists; leaving it as it is.\nSign in as admin@example.com with password "
    assert result.stdout.startswith(opening) and result.stdout.count("\n") == 2
    assert accounts.sign_in("admin@example.com", result.stdout[len(opening):-1])


def test_demo_with_staff_accounts_creates_no_admin(env, accounts):
    add(env, "ana@example.com", "admin")
    result = run(env, "demo", "--users", "5", "--days", "2")
    assert result.exit_code == 0 and result.stdout.endswith("┘\n" + EXISTS) and "with password" not in result.stdout
    assert [s.email for s, _, _ in accounts.accounts()] == ["ana@example.com"]


@pytest.mark.parametrize("args", [["staff", "list"], ["audit"], ["demo", "--users", "5", "--days", "2"]])
def test_an_unreachable_admin_database_is_one_line(tmp_path, args):
    env = {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml"),
           "PULSE_ADMIN_DB": "postgresql+psycopg://nobody@127.0.0.1:1/none"}
    result = run(env, *args)
    assert (result.exit_code, result.stdout, result.stderr) == (
        1, "", "pulse: The admin database at postgresql+psycopg://nobody@127.0.0.1:1/none cannot be reached: OperationalError.\n")
    assert not (tmp_path / "pulse.duckdb").exists()  # the demo stops before its long load
