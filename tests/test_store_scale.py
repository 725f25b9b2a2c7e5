"""The store's guarantees again, on a store of a few million events (tests/test_store.py
proves them on a handful): a failed or killed load leaves the published file byte for
byte, readers see the old or the new version and never an error while a load publishes,
and two loads started together run one after the other."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from loaders.load import load_demo
from pulse.store import Store

ROOT = Path(__file__).resolve().parent.parent

# A week of the store's own latest events again, a week later, under new ids: what a
# day's load of a live business looks like, to a store of this size.
NEXT_WEEK = textwrap.dedent(
    """
    import sys, time
    sys.path[:0] = [{root!r}]
    import polars as pl
    from pulse.store import Store
    store = Store({path!r})
    week = store.fetch("SELECT * EXCLUDE (day, hour) FROM events WHERE day > (SELECT max(day) - 7 FROM events)")
    week = week.with_columns((pl.lit({tag!r}) + pl.col("event_id")).alias("event_id"), pl.col("ts") + pl.duration(days=7))
    with store.writer({tag!r}) as w:
        w.stage("events", week)
        print("staged", week.height, flush=True)
        w.finish = (lambda original: lambda: (print("finishing", flush=True), time.sleep({pause}), original())[2])(w.finish)
    print("published", flush=True)
    """
)


def digest(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(2**24):
            sha.update(chunk)
    return sha.hexdigest()


@pytest.fixture(scope="module")
def millions(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("millions") / "pulse.duckdb"
    load_demo(Store(path), users=7000, days=365, seed=3)
    return path


@pytest.fixture
def store(millions, tmp_path) -> Store:
    path = tmp_path / "pulse.duckdb"
    shutil.copyfile(millions, path)
    return Store(path)


def next_week(store: Store, tag: str, pause: float = 0.0) -> subprocess.Popen:
    script = NEXT_WEEK.format(root=str(ROOT), path=str(store.path), tag=tag, pause=pause)
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)


def test_the_store_holds_millions_of_events(store):
    assert store.scalar("SELECT count(*) FROM events") > 2_000_000


def test_a_failed_load_leaves_millions_byte_for_byte(store):
    before = digest(store.path)
    with pytest.raises(RuntimeError):
        with store.writer("doomed") as w:
            w.stage("events", store.fetch("SELECT * EXCLUDE (day, hour) FROM events LIMIT 100000"))
            raise RuntimeError("the file went away")
    assert digest(store.path) == before
    assert list(store.path.parent.glob("*.next-*")) == []


@pytest.mark.parametrize("pause", [0.0, 2.0])
def test_a_killed_load_leaves_millions_unchanged(store, pause):
    before, count = digest(store.path), store.scalar("SELECT count(*) FROM events")
    proc = next_week(store, "killed:", pause)
    assert proc.stdout.readline().startswith("staged")
    assert proc.stdout.readline().strip() == "finishing"
    time.sleep(pause / 2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert digest(store.path) == before
    assert store.scalar("SELECT count(*) FROM events") == count
    finished = next_week(store, "after:")  # the next load sweeps the killed one's copy and spill
    assert finished.communicate()[0].splitlines()[-1] == "published"
    assert list(store.path.parent.glob("*.next-*")) == [] and not store.path.with_name("pulse.duckdb.tmp").exists()


def test_readers_see_the_old_or_the_new_millions_never_an_error(store):
    before = store.scalar("SELECT count(*) FROM events")
    seen, errors, stop = set(), [], threading.Event()

    def read() -> None:
        reader = Store(store.path)
        while not stop.is_set():
            try:
                seen.add(reader.scalar("SELECT count(*) FROM events"))
            except Exception as exc:  # any error at all fails the test
                errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    proc = next_week(store, "read:")
    out = proc.communicate()[0].splitlines()
    added = int(out[0].split()[1])
    deadline = time.monotonic() + 20
    while before + added not in seen and not errors and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    thread.join()
    assert errors == []
    assert seen == {before, before + added}


def test_two_loads_of_millions_started_together_are_serialised(store):
    before = store.scalar("SELECT count(*) FROM events")
    procs = [next_week(store, tag) for tag in ("first:", "second:")]
    outs = [p.communicate()[0].splitlines() for p in procs]
    assert [p.returncode for p in procs] == [0, 0]
    added = [int(out[0].split()[1]) for out in outs]
    assert store.scalar("SELECT count(*) FROM events") == before + sum(added)
    assert [store.scalar("SELECT count(*) FROM events WHERE starts_with(event_id, ?)", [tag])
            for tag in ("first:", "second:")] == added
