"""DuckDB beside ClickHouse (chDB, in process) on the same rows: load rate and each page.

    python bench/engines.py                      # 10M events
    python bench/engines.py --events 1000000
    python bench/engines.py --reuse              # keep both stores from an earlier run

Generates the demo business (seed 7, 365 days ending yesterday: whole days, so both engines
hold the same rows) into bench/out/engines-N/pulse.duckdb and into chDB beside it
(bench/out/engines-N/chdb), each in a child process: the load rate includes generation,
checks, merge and the derived tables, peak memory is the child's maximum RSS. Then each
page's metric calls at its default view, recorded from a run of the page on the DuckDB store
(bench/page_calls.py), are made on each engine: fresh in a new process (the store opened,
nothing cached) and warm (the median of five runs).
"""

from __future__ import annotations

import argparse
import json
import pickle
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import page_calls  # noqa: E402  (bench/page_calls.py)

DAYS = 365
ENGINES = ("duckdb", "chdb")


def open_store(engine: str, folder: Path):
    from pulse.store import Store

    if engine == "duckdb":
        return Store(folder / "pulse.duckdb")
    from pulse.clickhouse import ClickHouseStore

    return ClickHouseStore.chdb(folder / "chdb")


def child_load(engine: str, folder: Path, events: int) -> dict:
    from loaders import demo
    from loaders.load import load_demo

    users = max(1, round(events / demo.estimate_events(1000, DAYS) * 1000))
    store = open_store(engine, folder)
    began = time.perf_counter()
    result = load_demo(store, users=users, days=DAYS, seed=7, end=date.today() - timedelta(days=1))
    seconds = time.perf_counter() - began
    stored = result.reports["events"].stored
    return {"events": stored, "users": users, "seconds": seconds, "events_per_s": stored / seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def child_warm(engine: str, folder: Path, page: str) -> dict:
    calls_file = folder / f"calls-{page}.pickle"
    if not calls_file.exists():
        calls_file.write_bytes(pickle.dumps(page_calls.record(folder / "pulse.duckdb", page, 30)))
    calls = pickle.loads(calls_file.read_bytes())
    store = open_store(engine, folder)
    page_calls.replay(store, calls)  # the first run warms the process
    seconds = []
    for _ in range(5):
        began = time.perf_counter()
        page_calls.replay(store, calls)
        seconds.append(time.perf_counter() - began)
    return {"warm": statistics.median(seconds), "calls": len(calls)}


def child_fresh(engine: str, folder: Path, page: str) -> dict:
    import importlib

    importlib.import_module("metrics.registry")  # before the clock starts, as a server has it
    calls = pickle.loads((folder / f"calls-{page}.pickle").read_bytes())
    began = time.perf_counter()
    page_calls.replay(open_store(engine, folder), calls)
    return {"fresh": time.perf_counter() - began}


def run_child(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed: {proc.stderr.strip()[-800:] or proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--reuse", action="store_true", help="keep both stores from an earlier run")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, engine, folder, *rest = args.child
        work = {"load": lambda: child_load(engine, Path(folder), int(rest[0])),
                "warm": lambda: child_warm(engine, Path(folder), rest[0]),
                "fresh": lambda: child_fresh(engine, Path(folder), rest[0])}[kind]
        print(json.dumps(work()))
        return

    folder = ROOT / "bench" / "out" / f"engines-{args.events}"
    if not (args.reuse and (folder / "pulse.duckdb").exists()):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        print(f"{'load':10} {'events':>12} {'seconds':>8} {'events/s':>10} {'peak MB':>8}")
        for engine in ENGINES:
            load = run_child("load", engine, str(folder), str(args.events))
            print(f"{engine:10} {load['events']:12,} {load['seconds']:8.1f} {load['events_per_s']:10,.0f} "
                  f"{load['peak_mb']:8,.0f}", flush=True)
    for calls in folder.glob("calls-*.pickle"):
        calls.unlink()
    print("each page as drawn at its default view (last 30 days, by day), ms: fresh (new process) / warm (median of 5)")
    print(f"{'page':10} {'calls':>5} " + " ".join(f"{engine + ' fresh':>12} {engine + ' warm':>11}" for engine in ENGINES))
    for page in page_calls.PAGES:
        row = {}
        for engine in ENGINES:
            row[engine] = run_child("warm", engine, str(folder), page) | run_child("fresh", engine, str(folder), page)
        print(f"{page:10} {row['duckdb']['calls']:5} " + " ".join(
            f"{row[e]['fresh'] * 1000:12,.0f} {row[e]['warm'] * 1000:11,.0f}" for e in ENGINES), flush=True)


if __name__ == "__main__":
    main()
