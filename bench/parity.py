"""ClickHouse parity on the demo business: every registered metric's export, byte for byte.

    python bench/parity.py                      # 1M events, seed 7
    python bench/parity.py --events 200000

Loads the demo business into a DuckDB store and into a chDB store (both kept in
bench/out/parity-EVENTS/), each through its own engine's load, asks every metric of both at its page's
view (bench/run.py's default query: the last 30 days, by day) and over the last 365 days, and compares the CSV
exports (pulse.export.to_csv) byte for byte. Prints one line per difference and the count;
exit 1 when any differs. The load log is left out: it is each store's own record of its own
loads (when each began, its id), not a figure of the data.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
DAYS = 365


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    import dataclasses

    from run import default_query  # bench/run.py: each metric's page view

    from loaders import demo
    from loaders.load import load_demo
    from metrics import registry
    from pulse.clickhouse import ClickHouseStore
    from pulse.export import to_csv
    from pulse.store import Store

    out = ROOT / "bench" / "out" / f"parity-{args.events}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    duck = Store(out / "pulse.duckdb")
    users = max(1, round(args.events / demo.estimate_events(1000, DAYS) * 1000))
    began = time.perf_counter()
    # Ending yesterday, whole days: a demo ending today stops at the moment it is generated,
    # so the two loads would hold different last events.
    end = date.today() - timedelta(days=1)
    stored = load_demo(duck, users=users, days=DAYS, seed=args.seed, end=end).reports["events"].stored
    print(f"DuckDB: {stored:,} events of {users:,} users loaded in {time.perf_counter() - began:.1f} s", flush=True)
    chdb = ClickHouseStore.chdb(out / "chdb", like=duck)
    began = time.perf_counter()
    load_demo(chdb, users=users, days=DAYS, seed=args.seed, end=end)
    print(f"chDB: the same loaded in {time.perf_counter() - began:.1f} s", flush=True)

    differ = same = 0
    for days in (30, DAYS):
        for m in registry.all_metrics():
            if m.name == "load_log":
                continue
            q = default_query(duck, m.name)
            q = dataclasses.replace(q, start=q.end - timedelta(days=days - 1))
            try:
                expected = to_csv(registry.run(m.name, duck, q))
                got = to_csv(registry.run(m.name, chdb, q))
            except Exception as exc:  # a metric that fails on one engine is a difference
                print(f"  {m.name} ({days} days): failed on ClickHouse: {str(exc).splitlines()[0][:160]}")
                differ += 1
                continue
            if got == expected:
                same += 1
            else:
                lines = [(a, b) for a, b in zip(expected.splitlines(), got.splitlines()) if a != b]
                first = lines[0] if lines else ("(rows)", f"{len(expected.splitlines())} against {len(got.splitlines())}")
                print(f"  {m.name} ({days} days): differs, first: {first[0][:70]!r} against {first[1][:70]!r}")
                differ += 1
    print(f"{same} of {same + differ} exports identical byte for byte ({differ} differ)")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
    main()
