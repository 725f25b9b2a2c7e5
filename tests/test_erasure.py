"""Erasure that erases: `pulse user forget` leaves no row, no quarantined raw row, no byte of the
store file and no line of the load log naming the user, and keeps them from coming back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from pulse.privacy import export_user
from pulse.store import Store

EMAIL = "ann.secret-7f3c@example.com"
NAME = "Annabel Secretname"


def run(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False, prog_name="pulse")


@pytest.fixture
def env(tmp_path):
    return {"PULSE_STORE": str(tmp_path / "pulse.duckdb"), "PULSE_CONFIG": str(tmp_path / "none.toml"), "USER": "dpo"}


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """The files a store of Ann (u1) and Bo (u2) was loaded from, with Ann's bad rows spelled every way."""
    written = {
        "users.csv": f"user_id,email,name,signup_at\nu1,{EMAIL},{NAME},2024-01-01\nu2,bo@example.com,Bo,2024-01-02\n",
        # The id's column named another way, the id padded: the loaders read it as u1.
        "late.csv": " User_ID ,signup_at\n u1 ,yesterday\nu2,never\n",
        # No id at all, only Ann's address (in another case).
        "orphan.csv": f"user_id,email,signup_at\n,{EMAIL.upper()},2024-01-01\n",
        # A quarantined row with the id and an address the users table never got.
        "other.csv": "USER_ID,Email,signup_at\nu1,ann.private@example.org,someday\n",
        "alias.csv": "user_id,email,signup_at\n,ann.private@example.org,2024-01-01\n",
        "events.csv": "event_id,user_id,ts,event_type\ne1,u1,2024-01-01T10:00:00Z,login\ne2,u1,2024-01-01T11:00:00Z,click\n"
                      "e3,u2,2024-01-02T10:00:00Z,login\n",
        "events.ndjson": '{"event_id": "e4", "user_id": "u1", "ts": "2024-01-03", "event_type": "login"}\n'
                         '{"event_id": "e5", "user_id": "u1", "ts": "garbage", "event_type": "login"}\n',
        "transactions.csv": "transaction_id,user_id,ts,kind,amount\nt1,u1,2024-01-05,purchase,19.99\n"
                            "t2,u2,2024-01-05,purchase,5\n",
        "subscriptions.csv": "subscription_id,user_id,plan,mrr,started_at\ns1,u1,pro,29,2024-01-05\n",
    }
    paths = {}
    for name, text in written.items():
        paths[name] = tmp_path / name
        paths[name].write_text(text)
    return paths


def load_all(env, files) -> None:
    for name, path in files.items():
        table = name.split(".")[0] if name.split(".")[0] in ("events", "transactions", "subscriptions") else "users"
        assert run(env, "load", table, str(path)).exit_code == 0, name


def test_forget_removes_every_row_quarantined_row_and_byte(env, files):
    load_all(env, files)
    store = Store(env["PULSE_STORE"])
    quarantined_before = store.scalar("SELECT count(*) FROM quarantine")
    assert EMAIL.encode() in store.path.read_bytes() and NAME.encode() in store.path.read_bytes()
    assert len(export_user(store, "u1")["tables"]["quarantine"]) == 6

    result = run(env, "user", "forget", "u1", "--yes")

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Erased u1: 1 users, 2 events, 1 transactions, 1 subscriptions, 6 quarantine\n"
    for table in ("users", "events", "transactions", "subscriptions", "user_days", "feature_days", "sessions", "people"):
        assert store.scalar(f"SELECT count(*) FROM {table} WHERE user_id = 'u1'") == 0, table
    # Bo is untouched: his row, his events and his one quarantined row (u2 in late.csv).
    assert store.fetch("SELECT user_id, email FROM users").rows() == [("u2", "bo@example.com")]
    assert store.scalar("SELECT count(*) FROM events") == 1
    assert store.fetch("SELECT raw FROM quarantine").rows() == [('{" User_ID ":"u2","signup_at":"never"}',)]
    assert store.scalar("SELECT count(*) FROM quarantine") == quarantined_before - 6
    data = store.path.read_bytes()
    for secret in (EMAIL, EMAIL.upper(), NAME, "ann.private@example.org", "u1,yesterday"):
        assert secret.encode() not in data, secret


def test_forget_replaces_the_id_in_the_load_log_and_records_the_erasure(env, files):
    load_all(env, files)
    log = Path(env["PULSE_STORE"] + ".loads.jsonl")
    log.write_text(log.read_text() + '{"source": "a line cut short", "erased_user": "u1", "x": \n')

    assert run(env, "user", "forget", "u1", "--yes", "--by", "dpo@example.com").exit_code == 0

    store = Store(env["PULSE_STORE"])
    [hashed] = store.fetch("SELECT id_hash FROM erased_users").to_series().to_list()
    assert len(hashed) == 64 and hashed != "u1"
    text = log.read_text()
    assert '"u1"' not in text and "forget u1" not in text
    assert json.loads(text.splitlines()[-2]) == f'{{"source": "a line cut short", "erased_user": "{hashed}", "x": '
    entry = json.loads(text.splitlines()[-1])
    assert {k: entry[k] for k in ("source", "outcome", "erased_user", "actor")} == {
        "source": f"forget {hashed}", "outcome": "erased", "erased_user": hashed, "actor": "dpo@example.com"}


def test_a_later_load_of_an_erased_user_is_quarantined_without_its_values(env, files):
    load_all(env, files)
    assert run(env, "user", "forget", "u1", "--yes").exit_code == 0
    store = Store(env["PULSE_STORE"])
    before = store.scalar("SELECT count(*) FROM quarantine")

    for name, table in (("users.csv", "users"), ("events.csv", "events")):
        result = run(env, "load", table, str(files[name]))
        assert result.exit_code == 0

    assert store.fetch("SELECT user_id FROM users").rows() == [("u2",)]
    assert store.scalar("SELECT count(*) FROM quarantine") == before + 3
    erased = store.fetch("SELECT source, row_number, raw FROM quarantine WHERE rule = 'erased user' ORDER BY 1, 2").rows()
    assert erased == [
        (str(files["events.csv"].resolve()), 1, None),
        (str(files["events.csv"].resolve()), 2, None),  # a click too, but "erased user" comes first
        (str(files["users.csv"].resolve()), 1, None),
    ]
    assert EMAIL.encode() not in store.path.read_bytes()
    # Loading the same files again keeps the quarantine as it is and publishes nothing.
    published = store.path.read_bytes()
    assert run(env, "load", "users", str(files["users.csv"])).exit_code == 0
    assert store.path.read_bytes() == published


def test_allow_erased_lets_a_returning_user_in(env, files):
    load_all(env, files)
    assert run(env, "user", "forget", "u1", "--yes").exit_code == 0

    result = run(env, "load", "users", str(files["users.csv"]), "--allow-erased")

    assert result.exit_code == 0
    store = Store(env["PULSE_STORE"])
    assert store.fetch("SELECT user_id, email FROM users ORDER BY 1").rows() == [("u1", EMAIL), ("u2", "bo@example.com")]
    assert store.scalar("SELECT count(*) FROM quarantine WHERE rule = 'erased user'") == 0


def test_an_erased_user_from_a_database_is_quarantined_too(env, files, tmp_path):
    import sqlite3

    load_all(env, files)
    assert run(env, "user", "forget", "u1", "--yes").exit_code == 0
    database = tmp_path / "app.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE accounts (user_id TEXT, signup_at TEXT)")
        connection.executemany("INSERT INTO accounts VALUES (?, ?)", [(" u1 ", "2024-01-01"), ("u3", "2024-01-01")])

    result = run(env, "load-sql", "--url", f"sqlite:///{database}", "--table", "users", "--source-table", "accounts")

    assert result.exit_code == 0
    store = Store(env["PULSE_STORE"])
    assert store.fetch("SELECT user_id FROM users ORDER BY 1").rows() == [("u2",), ("u3",)]
    erased = store.fetch("SELECT row_number, rule, raw FROM quarantine WHERE rule = 'erased user'").rows()
    assert erased == [(1, "erased user", None)]


def test_forgetting_a_user_known_only_from_the_quarantine(env, tmp_path):
    bad = tmp_path / "users.csv"
    bad.write_text(f"user_id,email,signup_at\nu7,{EMAIL},never\nu8,bo@example.com,2024-01-01\n")
    assert run(env, "load", "users", str(bad)).exit_code == 0

    result = run(env, "user", "forget", "u7", "--yes")

    assert result.stdout == "Erased u7: 0 users, 0 events, 0 transactions, 0 subscriptions, 1 quarantine\n"
    store = Store(env["PULSE_STORE"])
    assert store.scalar("SELECT count(*) FROM quarantine") == 0
    assert store.fetch("SELECT user_id FROM users").rows() == [("u8",)]
    assert EMAIL.encode() not in store.path.read_bytes()
