"""Pulse's benchmark: load throughput, every metric fresh and warm, peak memory.

    python bench/run.py                      # 1M and 10M events
    python bench/run.py --events 1000000     # one size
    python bench/run.py --reuse              # keep stores from an earlier run

For each size it generates the demo business into bench/out/<size>/pulse.duckdb in a
child process (load throughput includes generation, checks, merge and the derived tables;
peak memory is the child's maximum RSS), then times every registered metric on the
default page view (the last 30 days of data, by day): "fresh" is the first call in a new
process (store opened, nothing cached), "warm" the median of five calls after that.
Targets (DESIGN.md / the issues): load >= 500,000 events/s at 10M; each metric <= 300 ms warm;
each page's metrics together <= 1 s warm; a user page <= 300 ms.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import page_calls  # noqa: E402  (bench/page_calls.py)

OUT = ROOT / "bench" / "out"
DAYS = 365

# The options each page passes by default, where a metric needs one.
PAGE_OPTIONS: dict[str, dict[str, str]] = {
    "funnel": {"steps": "/,/pricing,/signup"},
    "breakdown": {"dimension": "device_type"},
    "revenue_breakdown": {"dimension": "category"},
    "retention": {"periods": "8"},
    "retention_by": {"dimension": "plan"},
    "user_search": {"text": "an"},
    "events_list": {"limit": "100"},  # the Activity page shows a page of 100; an export streams every row
}


def child_load(path: Path, events: int) -> dict:
    """Runs in a child process: generate + load, report time and peak memory."""
    from loaders import demo
    from loaders.load import load_demo
    from pulse.store import Store

    users = max(1, round(events / demo.estimate_events(1000, DAYS) * 1000))
    store = Store(path)
    started = time.perf_counter()
    result = load_demo(store, users=users, days=DAYS, seed=7)
    seconds = time.perf_counter() - started
    stored = result.reports["events"].stored
    return {
        "users": users,
        "events": stored,
        "seconds": seconds,
        "events_per_s": stored / seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "store_mb": path.stat().st_size / 2**20,
    }


def default_query(store, name: str):
    from metrics import registry
    from pulse.query import make_query

    last = store.info().last_day
    options = dict(PAGE_OPTIONS.get(name, {}))
    if "period" in {o.name for o in registry.get(name).options if o.required}:  # a chart point's users
        options["period"] = last.isoformat()
    if "user_id" in {o.name for o in registry.get(name).options}:
        options["user_id"] = store.scalar("SELECT user_id FROM user_days GROUP BY 1 ORDER BY count(*) DESC LIMIT 1")
    return registry.get(name).typed(make_query(last - timedelta(days=29), last, "day", options))


def fresh_and_warm(call: Callable[[], object], warm_runs: int) -> dict:
    """Seconds of the first call, and the median of `warm_runs` calls after it (None without)."""
    started = time.perf_counter()
    call()
    fresh = time.perf_counter() - started
    warm = []
    for _ in range(warm_runs):
        started = time.perf_counter()
        call()
        warm.append(time.perf_counter() - started)
    return {"fresh": fresh, "warm": statistics.median(warm) if warm else None}


def child_time(path: Path, names: list[str], warm_runs: int) -> dict:
    """Runs in a child process: the first call of each metric, then warm calls."""
    from metrics import registry
    from pulse.store import Store

    store = Store(path)
    out = {}
    for name in names:
        q = default_query(store, name)
        out[name] = fresh_and_warm(lambda: registry.run(name, store, q), warm_runs)
    return out


def child_page(path: Path, page: str, warm_runs: int) -> dict:
    """Runs in two child processes: the page's calls recorded and timed warm, then fresh
    in a new process (bench/page_calls.py)."""
    calls_file = path.with_name(f"calls-{page}.pickle")
    return page_calls.warm(path, page, 30, warm_runs, calls_file)


def run_child(args: list[str]) -> dict:
    proc = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"benchmark child failed: {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def bench_size(events: int, reuse: bool) -> None:
    from metrics.registry import all_metrics

    path = OUT / f"{events}" / "pulse.duckdb"
    if not (reuse and path.exists()):
        shutil.rmtree(path.parent, ignore_errors=True)
        path.parent.mkdir(parents=True)
        load = run_child(["--child-load", str(path), str(events)])
        print(f"\n== {load['events']:,} events, {load['users']:,} users, {DAYS} days ==")
        print(f"load: {load['seconds']:.1f} s, {load['events_per_s']:,.0f} events/s (target 500,000), "
              f"peak memory {load['peak_mb']:,.0f} MB, store {load['store_mb']:,.0f} MB")
    else:
        print(f"\n== reusing {path} ==")
    metrics = all_metrics()
    names = [m.name for m in metrics]
    # One fresh process per metric: its first call pays for opening the store, as a new page would.
    fresh = {name: run_child(["--child-time", str(path), name, "0"])[name]["fresh"] for name in names}
    warm = run_child(["--child-time", str(path), ",".join(names), "5"])
    print(f"{'metric':28} {'area':14} {'fresh ms':>9} {'warm ms':>9}")
    for m in metrics:
        flag = "  > 300 ms" if warm[m.name]["warm"] > 0.3 else ""
        print(f"{m.name:28} {m.area:14} {fresh[m.name] * 1000:9.1f} {warm[m.name]['warm'] * 1000:9.1f}{flag}")
    areas: dict[str, float] = {}
    for m in metrics:
        areas[m.area] = areas.get(m.area, 0.0) + warm[m.name]["warm"]
    print("sum of each area's metrics, warm (pages draw some of them, and some of other areas): " +
          ", ".join(f"{area} {seconds * 1000:.0f} ms" for area, seconds in sorted(areas.items())))
    print("each page as drawn at its default view (fresh: its metric calls in a new process; "
          "warm: its metric calls again, median of 5; target 1,000 ms warm):")
    for page in page_calls.PAGES:
        r = run_child(["--child-page", str(path), page, "5"])
        r["fresh"] = run_child(["--child-fresh", str(path), str(path.with_name(f"calls-{page}.pickle"))])
        print(f"  {page:10} fresh {r['fresh'] * 1000:6.0f} ms, warm {r['warm'] * 1000:6.0f} ms  ({len(r['calls'])} metric calls)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, action="append", help="events per size (repeatable)")
    parser.add_argument("--reuse", action="store_true", help="reuse stores from an earlier run")
    parser.add_argument("--child-load", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--child-time", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-page", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-fresh", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_load:
        print(json.dumps(child_load(Path(args.child_load[0]), int(args.child_load[1]))))
        return
    if args.child_fresh:
        print(json.dumps(page_calls.fresh(Path(args.child_fresh[0]), Path(args.child_fresh[1]))))
        return
    if args.child_page:
        path, page, runs = args.child_page
        print(json.dumps(child_page(Path(path), page, int(runs))))
        return
    if args.child_time:
        path, names, runs = args.child_time
        print(json.dumps(child_time(Path(path), names.split(","), int(runs))))
        return
    for events in args.events or [1_000_000, 10_000_000]:
        bench_size(events, args.reuse)


if __name__ == "__main__":
    main()
