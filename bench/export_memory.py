"""Peak memory of exporting every event: `pulse export events_list` against the old whole-frame way.

    python bench/export_memory.py                         # builds bench/out/export/pulse.duckdb (~10M events) once
    python bench/export_memory.py --store PATH            # an existing store (built there if missing)
    python bench/export_memory.py --events 1000000        # a smaller store, for a quick look
    python bench/export_memory.py --no-old                # only the streamed export

The store is the demo business over 365 days, as bench/run.py builds it. The export covers
every day of the store, and runs in a child process as a user would run it (`pulse export
events_list --start ... --end ... --out FILE`); its wall time, rows and peak RSS are printed
beside the same table written the old way, `to_csv(metric.func(store, q))` in one piece, in
another child (skipped when the machine has less than OLD_WAY_NEEDS_GB available). Target:
a 10-million-row export under 1 GB of peak memory, byte-identical to the old way's file.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DEFAULT_STORE = ROOT / "bench" / "out" / "export" / "pulse.duckdb"
DAYS = 365
TIME = Path("/usr/bin/time")
# The old way holds the frame and its CSV text at once: several GB at 10M events.
OLD_WAY_NEEDS_GB = 8

OLD_WAY = """
import sys
from metrics import registry
from pulse.export import to_csv
from pulse.query import make_query
from pulse.store import Store

store_path, start, end, out = sys.argv[1:]
metric = registry.get("events_list")
text = to_csv(metric.func(Store(store_path), make_query(start, end)))
with open(out, "w", encoding="utf-8") as fh:
    fh.write(text)
print(f"Wrote {text.count(chr(10)) - 1:,} rows to {out}.", file=sys.stderr)
"""


def build(path: Path, events: int) -> None:
    from loaders import demo
    from loaders.load import load_demo
    from pulse.store import Store

    users = max(1, round(events / demo.estimate_events(1000, DAYS) * 1000))
    print(f"Building {path}: {users:,} users over {DAYS} days (about {events:,} events); this takes minutes.", flush=True)
    started, shown = time.perf_counter(), [0.0]

    def progress(done: int, total: int | None) -> None:
        if time.perf_counter() - shown[0] >= 10:
            shown[0] = time.perf_counter()
            print(f"  {done:,} of ~{total or 0:,} events generated, {shown[0] - started:.0f} s", flush=True)

    path.parent.mkdir(parents=True, exist_ok=True)
    result = load_demo(Store(path), users=users, days=DAYS, seed=7, progress=progress)
    print(f"  stored {result.reports['events'].stored:,} events in {time.perf_counter() - started:.0f} s", flush=True)


def measured(command: list[str], env: dict[str, str]) -> dict:
    """Run a child; its wall time, peak RSS (MB) and stderr."""
    started = time.perf_counter()
    if TIME.exists():
        done = subprocess.run([str(TIME), "-v", *command], env=env, capture_output=True, text=True)
        peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr).group(1))
    else:
        done = subprocess.run(command, env=env, capture_output=True, text=True)
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # the largest child so far
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return {"seconds": seconds, "peak_mb": peak_kb / 1024, "stderr": done.stderr}


def available_gb() -> float:
    with open("/proc/meminfo") as fh:
        info = dict(line.split(":", 1) for line in fh)
    return int(info["MemAvailable"].split()[0]) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--store", type=Path, default=DEFAULT_STORE, help="the store to export (built there if missing)")
    parser.add_argument("--events", type=int, default=10_000_000, help="about how many events a new store gets")
    parser.add_argument("--no-old", action="store_true", help="skip the old whole-frame export")
    args = parser.parse_args()

    from pulse.store import Store

    if not args.store.exists():
        build(args.store, args.events)
    store = Store(args.store)
    info = store.info()
    start, end = info.first_day.isoformat(), info.last_day.isoformat()
    print(f"Store {args.store}: {info.rows['events']:,} events, {start} to {end}", flush=True)

    work = Path(tempfile.mkdtemp(prefix="pulse-export-bench-"))
    env = os.environ | {"PULSE_STORE": str(args.store), "PULSE_CONFIG": str(work / "none.toml"),
                        "PULSE_ADMIN_DB": f"sqlite:///{work / 'admin.db'}", "PYTHONPATH": str(ROOT)}
    pulse = shutil.which("pulse", path=str(Path(sys.executable).parent)) or "pulse"
    try:
        streamed_file = work / "streamed.csv"
        streamed = measured([pulse, "export", "events_list", "--start", start, "--end", end, "--out", str(streamed_file)],
                            env)
        rows = int(re.search(r"Wrote ([\d,]+) rows", streamed["stderr"]).group(1).replace(",", ""))
        size = streamed_file.stat().st_size / 2**20
        print(f"streamed (pulse export):  {rows:,} rows, {size:,.0f} MB file, {streamed['seconds']:.1f} s, "
              f"peak RSS {streamed['peak_mb']:,.0f} MB", flush=True)

        if args.no_old:
            return
        if available_gb() < OLD_WAY_NEEDS_GB:
            print(f"old way skipped: {available_gb():.1f} GB available, it needs about {OLD_WAY_NEEDS_GB} GB")
            return
        old_file = work / "old.csv"
        old = measured([sys.executable, "-c", OLD_WAY, str(args.store), start, end, str(old_file)], env)
        old_rows = int(re.search(r"Wrote ([\d,]+) rows", old["stderr"]).group(1).replace(",", ""))
        print(f"old way (to_csv, whole):  {old_rows:,} rows, {old_file.stat().st_size / 2**20:,.0f} MB file, "
              f"{old['seconds']:.1f} s, peak RSS {old['peak_mb']:,.0f} MB")
        print("files byte-identical:", filecmp.cmp(streamed_file, old_file, shallow=False))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
