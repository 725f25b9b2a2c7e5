"""Incremental derived tables (issue 16): whatever sequence of loads built a store — in order,
out of order, overlapping, repeated — its user-days, sessions and people equal one full
rebuild of the same rows (pulse rebuild)."""

from __future__ import annotations

import random
import shutil
import uuid
from datetime import date, datetime, timedelta

import polars as pl
from conftest import _CHDB_HOME, frame, new_store
from polars.testing import assert_frame_equal

from pulse.clickhouse import ClickHouseStore
from pulse.schema import SCHEMAS
from pulse.store import Store

KEYS = {"user_days": ["user_id", "day"], "day_users": ["day"], "feature_days": ["user_id", "day", "feature"], "sessions": ["user_id", "session_no"],
        "people": ["user_id"]}


def derived(store: Store) -> dict[str, pl.DataFrame]:
    return {table: store.fetch(f"SELECT * FROM {table}").sort(keys) for table, keys in KEYS.items()}


def load(store: Store, **tables: list[dict]) -> None:
    with store.writer("test") as writer:
        for table, rows in tables.items():
            writer.stage(table, frame(table, rows))


def assert_same_as_rebuilt(store: Store) -> dict[str, pl.DataFrame]:
    """The derived tables as the loads left them equal a full rebuild of the same rows (done on
    a copy, so the next load goes on from the incremental tables; on ClickHouse, a database
    loaded with the store's input rows in one load)."""
    incremental = derived(store)
    if isinstance(store, ClickHouseStore):
        copy: Store = ClickHouseStore.chdb(_CHDB_HOME[0], f"{store.database}_full", like=store)
        copy.drop()  # type: ignore[attr-defined]
        with copy.writer("rebuild") as writer:
            for table, schema in SCHEMAS.items():
                writer.stage(table, store.fetch(f"SELECT {', '.join(schema)} FROM {table}").cast(schema))  # type: ignore[arg-type]
    else:
        copy = Store(store.path.with_name(f"rebuilt-{uuid.uuid4().hex[:6]}.duckdb"), session_timeout=store.session_timeout)
        shutil.copyfile(store.path, copy.path)
        with copy.writer("rebuild") as writer:
            writer.rebuild()
    rebuilt = derived(copy)
    for table in KEYS:
        assert_frame_equal(incremental[table], rebuilt[table], check_row_order=True), table
    return rebuilt


def ev(event_id: str, user: str, ts: str, page: str | None = None, kind: str = "page_view", device: str = "desktop") -> dict:
    """An event; a feature_use is of the feature named after the page, with a category, no
    category or no properties at all, by its id."""
    row = {"event_id": event_id, "user_id": user, "ts": ts, "event_type": kind, "page_path": page, "device_type": device}
    if kind == "feature_use":
        row["event_name"] = f"f{page}"
        row["properties"] = [None, '{"category": "core"}', '{"category": "extra"}', '{"x": 1}'][sum(map(ord, event_id)) % 4]
    return row


def test_a_late_event_joins_two_sessions(tmp_path, engine):
    store = new_store(tmp_path / "pulse.duckdb", engine)
    load(store, events=[ev("a1", "u", "2026-03-02 10:00", "/"), ev("a2", "u", "2026-03-02 10:50", "/pricing")])
    assert store.fetch("SELECT count(*) AS n FROM sessions")["n"][0] == 2
    load(store, events=[ev("a3", "u", "2026-03-02 10:25", "/docs")])  # 25 min after the first, 25 before the second
    sessions = assert_same_as_rebuilt(store)["sessions"]
    assert sessions.select("session_no", "events", "entry_page", "exit_page", "path").rows() == [
        (1, 3, "/", "/pricing", "/ > /docs > /pricing")]


def test_a_late_event_before_the_first_session_renumbers_the_ones_after(tmp_path, engine):
    store = new_store(tmp_path / "pulse.duckdb", engine)
    load(store, events=[ev("b1", "u", "2026-03-02 10:00", "/a"), ev("b2", "u", "2026-03-03 10:00", "/b")])
    load(store, events=[ev("b0", "u", "2026-03-01 09:00", "/z")])
    sessions = assert_same_as_rebuilt(store)["sessions"]
    assert sessions.select("session_no", "entry_page").rows() == [(1, "/z"), (2, "/a"), (3, "/b")]


def test_a_late_event_between_two_sessions_makes_one_of_its_own(tmp_path, engine):
    store = new_store(tmp_path / "pulse.duckdb", engine)
    load(store, events=[ev("c1", "u", "2026-03-02 10:00", "/a"), ev("c3", "u", "2026-03-02 14:00", "/c")])
    load(store, events=[ev("c2", "u", "2026-03-02 12:00", "/b"), ev("c4", "u", "2026-03-02 14:10", "/d")])
    sessions = assert_same_as_rebuilt(store)["sessions"]
    assert sessions.select("session_no", "path").rows() == [(1, "/a"), (2, "/b"), (3, "/c > /d")]


def test_a_late_event_becomes_its_sessions_entry_page(tmp_path, engine):
    store = new_store(tmp_path / "pulse.duckdb", engine)
    load(store, events=[ev("d2", "u", "2026-03-02 10:10", "/pricing"), ev("d3", "u", "2026-03-02 10:20", "/signup")])
    load(store, events=[ev("d1", "u", "2026-03-02 10:00", "/")])
    sessions = assert_same_as_rebuilt(store)["sessions"]
    assert sessions.select("session_no", "entry_page", "start_ts").rows() == [(1, "/", datetime(2026, 3, 2, 10, 0))]


def test_a_repeated_load_changes_nothing(tmp_path, engine):
    store = new_store(tmp_path / "pulse.duckdb", engine)
    rows = [ev("e1", "u", "2026-03-02 10:00", "/"), ev("e2", "v", "2026-03-02 11:00", "/")]
    load(store, events=rows)
    before = derived(store)
    version = store.version()
    load(store, events=rows)  # the same events again: duplicates, nothing to publish
    assert store.version() == version
    after = assert_same_as_rebuilt(store)
    for table in KEYS:
        assert_frame_equal(before[table], after[table])


def test_an_event_for_a_user_who_only_had_transactions(tmp_path, engine):
    store = new_store(tmp_path / "pulse.duckdb", engine)
    load(store, transactions=[{"transaction_id": "t1", "user_id": "p", "ts": "2026-03-01 08:00", "kind": "purchase",
                               "amount": "9.00"}])
    assert store.fetch("SELECT first_seen FROM people WHERE user_id = 'p'")["first_seen"][0] is None
    load(store, events=[{**ev("f1", "p", "2026-03-03 09:00", "/"), "country_code": "DE"}])
    people = assert_same_as_rebuilt(store)["people"]
    assert people.select("user_id", "signup_at", "first_seen", "country").rows() == [
        ("p", datetime(2026, 3, 1, 8, 0), datetime(2026, 3, 3, 9, 0), "DE")]


def test_a_transaction_moved_to_another_user_changes_both(tmp_path, engine):
    store = new_store(tmp_path / "pulse.duckdb", engine)
    txn = {"transaction_id": "t1", "user_id": "p", "ts": "2026-03-01 08:00", "kind": "purchase", "amount": "9.00"}
    load(store, transactions=[txn])
    load(store, transactions=[{**txn, "user_id": "q"}])
    people = assert_same_as_rebuilt(store)["people"]
    assert people["user_id"].to_list() == ["q"]  # p has no row left anywhere


def test_twenty_seeded_random_loads_equal_one_rebuild(tmp_path, engine):
    """Events of 12 users over 6 days (across a month's end), in 20 loads: shuffled, overlapping (a third of each load
    repeats earlier events), late by up to days, several at the same instant; transactions and
    profile updates in between. Checked after every load."""
    rng = random.Random(16)
    store = new_store(tmp_path / "pulse.duckdb", engine, session_timeout=30)
    start = datetime(2026, 2, 26)  # across a month's end: ClickHouse rewrites whole months
    pages, devices, kinds = ["/", "/pricing", "/docs", "/signup", None], ["desktop", "mobile", "tablet", None], [
        "page_view", "page_view", "feature_use", "feature_use", "login", "error"]
    made: list[dict] = []
    for n in range(20):
        fresh = []
        for _ in range(rng.randint(5, 40)):
            moment = start + timedelta(minutes=rng.randrange(0, 6 * 24 * 60, rng.choice([1, 7, 20])))
            fresh.append(ev(f"e{len(made) + len(fresh)}", f"u{rng.randrange(12)}", moment.isoformat(sep=" "),
                            rng.choice(pages), rng.choice(kinds), rng.choice(devices)))
        again = rng.sample(made, min(len(made), len(fresh) // 3))
        batch = fresh + again
        rng.shuffle(batch)
        made += fresh
        tables: dict[str, list[dict]] = {"events": batch}
        if n % 4 == 1:
            tables["transactions"] = [{"transaction_id": f"t{rng.randrange(6)}", "user_id": f"u{rng.randrange(14)}",
                                       "ts": (start + timedelta(hours=rng.randrange(140))).isoformat(sep=" "),
                                       "kind": "purchase", "amount": "5.00"}]
        if n % 5 == 2:
            tables["users"] = [{"user_id": f"u{rng.randrange(14)}", "email": f"x{n}@example.com",
                                "signup_at": (start - timedelta(days=rng.randrange(3))).isoformat(sep=" "),
                                "country": rng.choice(["DE", "US"]), "plan": rng.choice(["free", "pro"])}]
        load(store, **tables)
        assert_same_as_rebuilt(store)
    assert store.fetch("SELECT count(*) AS n FROM sessions")["n"][0] > 50


def random_events(seed: int, n: int) -> list[dict]:
    """Events of 15 users over 3 days with ties at the same instant, odd microseconds, missing
    pages and devices, and repeated pages."""
    rng = random.Random(seed)
    start = datetime(2026, 3, 1)
    return [ev(f"r{i:04d}", f"u{rng.randrange(15)}",
               (start + timedelta(minutes=rng.randrange(0, 3 * 24 * 60, rng.choice([1, 10, 45])),
                                  microseconds=rng.choice([0, rng.randrange(10**8)]))).isoformat(sep=" "),
               rng.choice(["/", "/a", "/a", "/b", None]), rng.choice(["page_view", "page_view", "login", "error"]),
               rng.choice(["desktop", "mobile", None])) for i in range(n)]


def test_the_load_time_sessions_equal_the_sql_definition(tmp_path):
    """The sessions table (sessionised in polars at load time) equals sessions_select, the SQL
    the metrics run for another timeout, on awkward data."""
    from pulse.derived import sessions_select

    store = Store(tmp_path / "pulse.duckdb")
    load(store, events=random_events(3, 600))
    table = store.fetch("SELECT * FROM sessions").sort(KEYS["sessions"])
    assert_frame_equal(store.fetch(sessions_select(30)).sort(KEYS["sessions"]), table)
    assert table.height > 40


def test_sessionising_in_buckets_gives_the_same_sessions(tmp_path, monkeypatch):
    from pulse import derived as derived_sql

    one = Store(tmp_path / "one.duckdb")
    load(one, events=random_events(4, 500))
    monkeypatch.setattr(derived_sql, "BUCKET_EVENTS", 60)  # 9 buckets of users
    many = Store(tmp_path / "many.duckdb")
    load(many, events=random_events(4, 500))
    for table, frame in derived(many).items():
        assert_frame_equal(frame, derived(one)[table]), table
    assert derived(many)["sessions"].height > 40


def test_a_store_from_an_older_pulse_is_read_the_slower_way_until_its_next_load(tmp_path):
    import duckdb

    from conftest import q
    from metrics import registry

    store = Store(tmp_path / "pulse.duckdb")
    load(store, events=[ev("o1", "u", "2026-03-02 10:00", "/"), ev("o0", "v", "2026-03-03 10:00", "/")])
    questions = [("dau_wau_mau", q("2026-03-01", "2026-03-04")), ("retention", q("2026-03-01", "2026-03-04")),
                 ("day_n_retention", q("2026-03-01", "2026-03-04"))]
    answers = [registry.run(name, store, query) for name, query in questions]
    shutil.copyfile(store.path, tmp_path / "older.duckdb")
    store = Store(tmp_path / "older.duckdb")
    con = duckdb.connect(str(store.path))  # as Pulse before the load kept first, last and next days
    con.execute("ALTER TABLE people DROP COLUMN first_day")
    con.execute("ALTER TABLE user_days DROP COLUMN next_day")
    con.execute("DELETE FROM meta WHERE key = 'derived_version'")
    con.close()
    assert store.info().derived_current is False  # the app says: run pulse rebuild
    for (name, query), answer in zip(questions, answers):
        assert_frame_equal(registry.run(name, store, query), answer), name
    load(store, events=[ev("o2", "u", "2026-03-05 10:00", "/")])
    assert store.info().derived_current is True
    assert store.fetch("SELECT first_day, last_day FROM people WHERE user_id = 'u'").rows() == [
        (date(2026, 3, 2), date(2026, 3, 5))]


def test_the_kept_feature_days_answer_as_the_events_do(tmp_path, monkeypatch):
    """feature_usage, feature_adoption and unused_features read feature_days; on the events
    (a device filter, or an older store) they give the same frames."""
    from conftest import q
    from metrics import registry

    store = Store(tmp_path / "pulse.duckdb")
    rows = random_events(5, 700)
    for i, row in enumerate(rows):
        if i % 3 == 0:
            row |= {"event_type": "feature_use", "event_name": f"f{i % 5}",
                    "properties": [None, '{"category": "core"}', '{"category": "extra"}', '{"x": 1}'][i % 4]}
    load(store, events=rows)
    questions = [("feature_usage", q("2026-03-02", "2026-03-03")), ("feature_adoption", q("2026-03-01", "2026-03-03")),
                 ("unused_features", q("2026-03-03", "2026-03-03"))]
    kept = [registry.run(name, store, query) for name, query in questions]
    monkeypatch.setattr(store, "derived_current", lambda: False)
    for (name, query), frame in zip(questions, kept):
        assert_frame_equal(registry.run(name, store, query), frame), name
    assert kept[0].height >= 4 and set(kept[0]["category"]) == {"core", "extra", "Uncategorized"}
