"""The store's guarantees, proved with real files and real processes."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import build_store, frame
from polars.testing import assert_frame_equal

from pulse.store import Store, StoreError

ROOT = Path(__file__).resolve().parent.parent


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def events(n: int, start: int = 0, user: str = "u1") -> list[dict]:
    return [
        {"event_id": f"e{i}", "user_id": user, "ts": datetime(2024, 1, 1 + (i % 28), 12, i % 60), "event_type": "login"}
        for i in range(start, start + n)
    ]


def test_tables_have_proper_types(tmp_path):
    store = build_store(
        tmp_path / "pulse.duckdb",
        transactions=[{"transaction_id": "t1", "user_id": "u1", "ts": "2024-01-01 10:00", "kind": "purchase", "amount": "19.99"}],
        subscriptions=[{"subscription_id": "s1", "user_id": "u1", "plan": "pro", "mrr": "24.1667", "started_at": "2024-01-01 00:00"}],
    )
    types = dict(store.fetch(
        "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns "
        "WHERE table_name IN ('events', 'transactions', 'subscriptions')"
    ).iter_rows())
    assert types["events.ts"] == "TIMESTAMP"
    assert types["events.event_type"].startswith("ENUM")
    assert types["events.day"] == "DATE"
    assert types["transactions.amount"] == "DECIMAL(18,4)"
    assert types["transactions.kind"].startswith("ENUM")
    assert types["subscriptions.mrr"] == "DECIMAL(18,4)"
    assert store.scalar("SELECT amount FROM transactions") == Decimal("19.9900")


def test_local_day_and_hour_follow_the_reporting_timezone(tmp_path):
    # 23:30 UTC on Jan 1 is 00:30 on Jan 2 in Berlin (UTC+1); 22:59 UTC stays on Jan 1.
    store = build_store(
        tmp_path / "pulse.duckdb", timezone="Europe/Berlin",
        events=[
            {"event_id": "a", "user_id": "u1", "ts": "2024-01-01 23:30", "event_type": "login"},
            {"event_id": "b", "user_id": "u1", "ts": "2024-01-01 22:59", "event_type": "login"},
        ],
    )
    assert store.fetch("SELECT event_id, day, hour FROM events ORDER BY event_id").rows() == [
        ("a", date(2024, 1, 2), 0),
        ("b", date(2024, 1, 1), 23),
    ]


def test_rows_are_stored_in_time_order(tmp_path):
    store = build_store(tmp_path / "pulse.duckdb", events=[events(1, 5)[0], events(1, 1)[0]])
    with store.writer("second") as w:
        w.stage("events", frame("events", [events(1, 0)[0], events(1, 3)[0]]))
    ids = store.fetch("SELECT event_id FROM events").to_series().to_list()  # physical order
    assert ids == ["e0", "e1", "e3", "e5"]


def test_loading_the_same_rows_twice_changes_nothing(tmp_path):
    rows = events(3)
    store = build_store(tmp_path / "pulse.duckdb", events=rows, users=[{"user_id": "u1", "signup_at": "2024-01-01 00:00"}])
    before, version = digest(store.path), store.version()
    with store.writer("again") as w:
        w.stage("events", frame("events", rows))
        w.stage("users", frame("users", [{"user_id": "u1", "signup_at": "2024-01-01 00:00"}]))
    assert (w.reports["events"].stored, w.reports["events"].duplicates) == (0, 3)
    assert (w.reports["users"].stored, w.reports["users"].updated, w.reports["users"].duplicates) == (0, 0, 1)
    assert digest(store.path) == before and store.version() == version


def test_a_later_user_row_updates_and_a_repeated_event_is_kept_once(tmp_path):
    store = build_store(tmp_path / "pulse.duckdb", users=[{"user_id": "u1", "signup_at": "2024-01-01 00:00", "plan": "free"}])
    with store.writer("update") as w:
        w.stage("users", frame("users", [
            {"user_id": "u1", "signup_at": "2024-01-01 00:00", "plan": "pro"},
            {"user_id": "u2", "signup_at": "2024-01-02 00:00"},
        ]))
        w.stage("events", frame("events", [events(1)[0], events(1)[0]]))
    assert (w.reports["users"].stored, w.reports["users"].updated) == (1, 1)
    assert (w.reports["events"].stored, w.reports["events"].duplicates) == (1, 1)
    assert store.fetch("SELECT user_id, plan FROM users ORDER BY 1").rows() == [("u1", "pro"), ("u2", None)]


def test_a_failed_load_leaves_the_store_byte_for_byte(tmp_path):
    store = build_store(tmp_path / "pulse.duckdb", events=events(3))
    before = digest(store.path)
    with pytest.raises(RuntimeError):
        with store.writer("doomed") as w:
            w.stage("events", frame("events", events(5, 100)))
            raise RuntimeError("the file went away")
    assert digest(store.path) == before
    assert list(store.path.parent.glob("*.next-*")) == []


def test_derived_tables_are_rebuilt_with_the_data(tmp_path):
    store = build_store(tmp_path / "pulse.duckdb", events=events(2))
    assert store.fetch("SELECT user_id, day, events FROM user_days ORDER BY day").rows() == [
        ("u1", date(2024, 1, 1), 1), ("u1", date(2024, 1, 2), 1)]
    with store.writer("more") as w:
        w.stage("events", frame("events", events(1, 2)))
    assert store.scalar("SELECT count(*) FROM user_days") == 3
    assert store.scalar("SELECT count(*) FROM sessions") == 3
    assert store.info().version == 2


def test_a_missing_store_is_a_clear_error(tmp_path):
    with pytest.raises(StoreError, match="There is no store at .* run `pulse demo` or `pulse load`"):
        Store(tmp_path / "none.duckdb").fetch("SELECT 1")


KILLABLE_LOAD = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{root!r}, {tests!r}]
    from conftest import frame
    from pulse.store import Store
    store = Store({path!r})
    rows = [{{"event_id": f"k{{i}}", "user_id": "u9", "ts": f"2024-02-01 10:{{i % 60:02d}}", "event_type": "login"}}
            for i in range(2000)]
    with store.writer("killed") as w:
        w.stage("events", frame("events", rows))
        w.finish = (lambda original: lambda: (print("finishing", flush=True), time.sleep({pause}), original())[2])(w.finish)
        print("staged", flush=True)
    print("published", flush=True)
    """
)


@pytest.mark.parametrize("pause", [0.0, 0.3, 3.0])
def test_a_killed_load_leaves_the_store_unchanged(tmp_path, pause):
    """SIGKILL at different moments of a load: before publishing, the store is untouched;
    the next load sweeps up the killed load's private copy."""
    store = build_store(tmp_path / "pulse.duckdb", events=events(3))
    before = digest(store.path)
    script = KILLABLE_LOAD.format(root=str(ROOT), tests=str(ROOT / "tests"), path=str(store.path), pause=pause)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "staged"
    assert proc.stdout.readline().strip() == "finishing"
    time.sleep(pause / 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert digest(store.path) == before
    assert store.scalar("SELECT count(*) FROM events") == 3
    with store.writer("after the kill") as w:
        w.stage("events", frame("events", events(1, 50)))
    assert store.scalar("SELECT count(*) FROM events") == 4
    assert list(store.path.parent.glob("*.next-*")) == []


def test_readers_see_the_old_or_the_new_version_never_an_error(tmp_path):
    store = build_store(tmp_path / "pulse.duckdb", events=events(10))
    seen, errors, stop = set(), [], threading.Event()

    def read() -> None:
        reader = Store(store.path)
        while not stop.is_set():
            try:
                seen.add((reader.scalar("SELECT count(*) FROM events"), reader.scalar("SELECT count(*) FROM user_days") > 0))
            except Exception as exc:  # any error at all fails the test
                errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    for k in range(1, 6):
        with store.writer(f"load {k}") as w:
            w.stage("events", frame("events", events(10, 100 * k)))
    deadline = time.monotonic() + 20  # a busy machine may starve the reader thread for a while
    while (60, True) not in seen and not errors and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    assert errors == []
    assert {count for count, _ in seen} <= {10, 20, 30, 40, 50, 60}
    assert (60, True) in seen


CONCURRENT_LOAD = textwrap.dedent(
    """
    import sys
    sys.path[:0] = [{root!r}, {tests!r}]
    from conftest import frame
    from pulse.store import Store
    store = Store({path!r})
    rows = [{{"event_id": f"{prefix}{{i}}", "user_id": "{prefix}", "ts": "2024-03-01 10:00", "event_type": "login"}}
            for i in range(5000)]
    with store.writer("{prefix}") as w:
        w.stage("events", frame("events", rows))
    """
)


def test_two_loads_started_together_are_serialised(tmp_path):
    """Without the lock each load would copy the same version and the last publish would
    drop the other's rows."""
    store = build_store(tmp_path / "pulse.duckdb", events=events(1))
    procs = [
        subprocess.Popen([sys.executable, "-c", CONCURRENT_LOAD.format(root=str(ROOT), tests=str(ROOT / "tests"), path=str(store.path), prefix=p)])
        for p in ("a", "b")
    ]
    assert [p.wait() for p in procs] == [0, 0]
    counts = store.fetch("SELECT user_id, count(*) AS n FROM events GROUP BY 1 ORDER BY 1")
    assert_frame_equal(counts, pl.DataFrame({"user_id": ["a", "b", "u1"], "n": [5000, 5000, 1]}))
    assert store.info().version == 3


def test_the_private_copy_is_the_store_byte_for_byte_however_it_is_made(tmp_path, monkeypatch):
    """A load's private copy: a reflink where the file system has them, else copy_file_range,
    else a plain copy; each is the whole file, byte for byte (a file bigger than one chunk)."""
    import fcntl

    from pulse import store as store_module

    source = tmp_path / "source"
    source.write_bytes(os.urandom(3 * 2**20) + b"tail")
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    ways = []
    for refuse in ((), ("ioctl",), ("ioctl", "copy_file_range")):
        for name in refuse:
            target = fcntl if name == "ioctl" else os
            monkeypatch.setattr(target, name, lambda *a, **k: (_ for _ in ()).throw(OSError(95, "not supported")))
        copy = tmp_path / f"copy-{len(refuse)}"
        ways.append(store_module.clone_file(source, copy))
        assert hashlib.sha256(copy.read_bytes()).hexdigest() == expected
        monkeypatch.undo()
    assert ways[1:] == ["copy_file_range", "copy"]
    assert ways[0] in ("reflink", "copy_file_range")  # ext4 and tmpfs have no reflinks
