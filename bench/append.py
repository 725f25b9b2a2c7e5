"""What appending a day costs: the store's latest events again, moved past its end under new
ids, written as one Parquet file and loaded with every check into a copy of the store, end
to end, publish included (issue 16: at most 5 s at 10M events, 15 s at 100M). A chDB store is
appended to in place.

    python bench/append.py bench/out/10000000/pulse.duckdb            # ~300,000 events
    python bench/append.py STORE --events 100000
    python bench/append.py chdb://bench/out/engines-10000000/chdb     # a ClickHouse (chDB) store

The latest whole days holding at least --events events are taken, so the appended rows have
the store's own mix of users, sessions and features.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("store", help="a DuckDB file, or chdb://DIRECTORY")
    parser.add_argument("--events", type=int, default=300_000)
    args = parser.parse_args()

    import polars as pl

    from loaders.load import load_files
    from pulse.store import Store, clone_file

    chdb = args.store.startswith("chdb://")
    source = Path(args.store.removeprefix("chdb://")).resolve()
    with tempfile.TemporaryDirectory(prefix="pulse-append-", dir=source.parent) as scratch:
        if chdb:  # appended in place: a copied chDB directory does not open (its tables' paths are its own)
            from pulse.clickhouse import ClickHouseStore

            store: Store = ClickHouseStore.chdb(source)
        else:
            copy = Path(scratch) / "pulse.duckdb"
            clone_file(source, copy)
            store = Store(copy)
        days = store.fetch("SELECT day, count(*) AS events FROM events GROUP BY day ORDER BY day DESC")
        taken = days.filter(pl.col("events").cum_sum().shift(1, fill_value=0) < args.events)
        first, last = taken["day"].min(), taken["day"].max()
        rows = store.fetch("SELECT * EXCLUDE (day, hour) FROM events WHERE day BETWEEN $first AND $last",
                           {"first": first, "last": last})
        shift = timedelta(days=(last - first).days + 1)
        rows = rows.with_columns((pl.lit("append:") + pl.col("event_id")).alias("event_id"), pl.col("ts") + shift)
        file = Path(scratch) / "events.parquet"
        rows.write_parquet(file)
        before = store.scalar("SELECT count(*) FROM events")
        began = time.perf_counter()
        result = load_files(store, "events", [file])
        seconds = time.perf_counter() - began
        stored = result.reports["events"].stored
        target = 15 if before > 31_600_000 else 5
        print(f"appended {stored:,} events ({first} – {last} again, {shift.days} day{'s' if shift.days > 1 else ''} later) to a {before:,}-event "
              f"store: {seconds:.1f} s end to end, checks and publish included (target <= {target} s)")


if __name__ == "__main__":
    main()
