"""Warm speed of the trend builder at 10M events: a 30-day trend broken down by device_type,
and property discovery, each beside DuckDB running the equivalent plain SQL on raw events.

    python bench/explore.py                    # the store bench/export_memory.py built
    python bench/explore.py --store PATH

Prints the median of 5 warm runs (one unmeasured run first). Targets: a trend with a breakdown
at most 500 ms, property_keys and field_values at most 300 ms each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_STORE = ROOT / "bench" / "out" / "export" / "pulse.duckdb"
RUNS = 5


def warm(fn) -> float:
    fn()
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    from metrics import registry
    from pulse.query import make_query
    from pulse.store import Store

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE)
    args = parser.parse_args()
    if not args.store.exists():
        sys.exit(f"No store at {args.store}: run `python bench/export_memory.py --no-old` first.")
    store = Store(args.store)
    last = store.scalar("SELECT max(day) FROM events")
    first = last - timedelta(days=29)
    days = {"start": first, "end": last}

    def metric(name, **options):
        q = make_query(first, last, "day", options)
        return lambda: registry.run(name, store, q)

    def plain(sql):
        return lambda: store.fetch(sql, days)

    cases = [
        ("trend total by device_type", metric("trend", breakdown="device_type"),
         plain("SELECT day, device_type, count(*) FROM events WHERE day BETWEEN $start AND $end GROUP BY ALL")),
        ("trend unique_users by device_type", metric("trend", math="unique_users", breakdown="device_type"),
         plain("SELECT day, device_type, count(DISTINCT user_id) FROM events WHERE day BETWEEN $start AND $end GROUP BY ALL")),
        ("trend /pricing users by device, DE, compare",
         metric("trend", event="page_view", path="/pricing", math="unique_users", breakdown="device_type",
                where="country=DE", compare="true"),
         plain("SELECT e.day, e.device_type, count(DISTINCT e.user_id) FROM events e JOIN people p USING (user_id) "
               "WHERE e.day BETWEEN $start - 30 AND $end AND e.event_type = 'page_view' AND e.page_path = '/pricing' "
               "AND p.country = 'DE' GROUP BY ALL")),
        ("property_keys", metric("property_keys"),
         plain("SELECT j.key, json_type(j.value), j.value ->> '$', count(*) FROM events e, json_each(e.properties) j "
               "WHERE e.day BETWEEN $start AND $end AND e.properties IS NOT NULL GROUP BY ALL")),
        ("field_values", metric("field_values"),
         plain("SELECT event_type, event_name, page_path, device_type, browser, os, country_code, referrer, count(*) "
               "FROM events WHERE day BETWEEN $start AND $end GROUP BY GROUPING SETS ((event_type), (event_name), "
               "(page_path), (device_type), (browser), (os), (country_code), (referrer))")),
    ]
    events = store.scalar("SELECT count(*) FROM events")
    print(f"{events:,} events; range {first} .. {last}; median of {RUNS} warm runs")
    print(f"{'case':48} {'pulse ms':>9} {'plain SQL ms':>13}")
    for name, ours, theirs in cases:
        print(f"{name:48} {warm(ours) * 1000:9.1f} {warm(theirs) * 1000:13.1f}")


if __name__ == "__main__":
    main()
