"""Every metric's CSV export on fixed demo data, written to a folder or compared with one.

A refactor must not change a single exported byte. Run this before the change (on the old
commit) and after it, then compare:

    python bench/exports.py write /tmp/before        # on the old code
    python bench/exports.py compare /tmp/before      # on the new code: lists every difference

The data is the demo business (seed 7, 400 users, 120 days ending 2026-10-31) in two stores:
UTC/USD with a 30-minute session timeout, and America/New_York/EUR with 20 minutes, so the
local-day and currency paths are both exercised. Each metric is exported by day, week and
month with its default options, with each filter, and with every other value of each of
its choice and bool options.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from loaders.load import load_demo  # noqa: E402
from metrics import registry  # noqa: E402
from pulse.export import to_csv  # noqa: E402
from pulse.query import QueryError, make_query  # noqa: E402
from pulse.store import Store  # noqa: E402

END = date(2026, 10, 31)
STORES = {"utc": ("UTC", "USD", 30), "ny": ("America/New_York", "EUR", 20)}
INTERVALS = ("day", "week", "month")
FILTERS = ({}, {"country": "US"}, {"device_type": "mobile"}, {"plan": "pro"})
# Options a metric cannot run without, as a page would pass them.
REQUIRED = {"steps": "/,/pricing,/signup", "text": "an"}


def build(folder: Path) -> dict[str, Store]:
    stores = {}
    for name, (tz, currency, timeout) in STORES.items():
        store = Store(folder / name / "pulse.duckdb", tz, currency, timeout)
        load_demo(store, users=400, days=120, seed=7, end=END)
        stores[name] = store
    return stores


def variants(metric: registry.Metric, store: Store) -> list[dict[str, str]]:
    """Option sets to export: the defaults, each filter, each other choice and bool value."""
    base: dict[str, str] = {}
    for option in metric.options:
        if option.name in REQUIRED:
            base[option.name] = REQUIRED[option.name]
        if option.name == "user_id":
            base["user_id"] = store.scalar("SELECT user_id FROM user_days GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")
    out = [base | f for f in FILTERS]
    for option in metric.options:
        if option.name == "event_type":  # declared as text by older versions, so named here
            out += [base | {"event_type": e} for e in ("page_view", "feature_use", "api_call", "login")]
        elif option.kind == "choice":
            out += [base | {option.name: c} for c in option.choices if c != option.default]
        elif option.kind == "bool":
            out.append(base | {option.name: str(not option.default).lower()})
    return out


def exports(stores: dict[str, Store]) -> dict[str, str]:
    """file name -> CSV text (or the error sentence) for every store, metric, interval, variant."""
    out = {}
    start = END - timedelta(days=89)
    for store_name, store in stores.items():
        # The data page's metrics list the store's own bookkeeping (load ids, times of loads).
        for metric in [m for m in registry.all_metrics() if m.area != "data"]:
            for interval in INTERVALS:
                for options in variants(metric, store):
                    label = ",".join(f"{k}={v}" for k, v in sorted(options.items())) or "default"
                    key = f"{store_name}__{metric.name}__{interval}__{label}".replace("/", "%")
                    try:
                        q = make_query(start, END, interval, options)
                        out[key] = to_csv(registry.run(metric.name, store, q))
                    except QueryError as exc:
                        out[key] = f"error: {exc}\n"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["write", "compare"])
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        current = exports(build(Path(work)))
    if args.action == "write":
        args.folder.mkdir(parents=True, exist_ok=True)
        for key, text in current.items():
            (args.folder / f"{key}.csv").write_text(text)
        digest = hashlib.sha256("".join(current[k] for k in sorted(current)).encode()).hexdigest()
        print(f"Wrote {len(current)} exports to {args.folder} (sha256 of all: {digest[:16]}).")
        return
    before = {p.stem: p.read_text() for p in args.folder.glob("*.csv")}
    missing, added = sorted(set(before) - set(current)), sorted(set(current) - set(before))
    changed = sorted(k for k in set(before) & set(current) if before[k] != current[k])
    for key in missing:
        print(f"missing now: {key}")
    for key in added:
        print(f"new now: {key}")
    for key in changed:
        print(f"differs: {key}")
    same = len(set(before) & set(current)) - len(changed)
    print(f"{same} of {len(before)} exports byte-identical; {len(changed)} differ, {len(missing)} missing, {len(added)} new.")
    raise SystemExit(1 if changed or missing or added else 0)


if __name__ == "__main__":
    main()
