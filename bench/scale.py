"""Pulse at scale (issue 16): 100M demo events loaded the way data arrives, then timed.

    python bench/scale.py                                  # 100M events, 12 loads (hours)
    python bench/scale.py --events 2000000 --loads 4       # a quick check of the whole run
    python bench/scale.py --reuse                          # keep what an earlier run made
    python bench/scale.py --phase time                     # one phase only (resumes)

Phases, each in child processes whose peak memory (maximum RSS) is recorded:

- generate: the demo business (365 days ending END, seed 7, users picked by
  `estimate_events` for --events) streamed batch by batch into Parquet files under
  OUT/files/: load-01 … load-K hold consecutive time slices of the first 364 days (events
  and transactions by ts, users by signup_at, subscriptions by started_at), `append` holds
  the last day. One file per generator batch and slice; one batch in memory at a time.
- load: the K slices in time order, one load each (all four tables in one `run_load`,
  read and checked as `load_files` reads and checks files), each in a fresh process.
- append: the held-back last day as one more load: seconds end to end including the copy
  and publish, and the copy + fsync of the store file alone (what publishing costs).
- time: every registered metric, fresh (first call in a new process) and warm (median of
  --runs calls), at the default view (last 30 days, by day) and over the last 365 days;
  every page as drawn at that view (bench/page_calls.py: its metric calls recorded from a
  run of the page, then replayed in a new process as fresh and again as warm).
  Reads use the web app's limits (query_seconds, query_memory_mb) unless --unlimited.

Progress is kept in OUT/state.json, so an interrupted run resumes where it stopped
(`--reuse`, or `--phase X`); a child's stderr is kept in OUT/logs/.
Targets (issue 16): append one day to the 100M store <= 15 s (10M: <= 5 s); at 100M every
page's metrics at the default view <= 1 s warm, <= 2 s fresh; at 10M every metric over
365 days <= 300 ms warm; peak memory < 4 GB throughout.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
bench_run = importlib.util.module_from_spec(_spec)
sys.modules["bench_run"] = bench_run  # its dataclasses look their module up there
_spec.loader.exec_module(bench_run)  # type: ignore[union-attr]
page_calls = bench_run.page_calls

DAYS = 365
SEED = 7
END = date(2026, 11, 28)
NOW = datetime(2026, 11, 28, 23, 59, 59, 999_999)
FIRST = END - timedelta(days=DAYS - 1)
SLICED_DAYS = DAYS - 1  # the last day is held back for the append
TABLES = ("users", "subscriptions", "transactions", "events")  # the order a load stages them
WHEN = {"users": "signup_at", "subscriptions": "started_at", "transactions": "ts", "events": "ts"}
APPEND = "append"

MEMORY_TARGET_MB = 4096
PAGE_WARM_TARGET = 1.0
PAGE_FRESH_TARGET = 2.0
METRIC_WARM_TARGET = 0.3


def slice_name(index: int, loads: int) -> str:
    return APPEND if index == loads else f"load-{index + 1:02d}"


def slice_days(index: int, loads: int) -> tuple[date, date]:
    """First and last day of load `index` (0-based); the same split `generate` uses."""
    if index == loads:
        return END, END
    first = next(d for d in range(SLICED_DAYS) if d * loads // SLICED_DAYS == index)
    last = max(d for d in range(SLICED_DAYS) if d * loads // SLICED_DAYS == index)
    return FIRST + timedelta(days=first), FIRST + timedelta(days=last)


# -- children ----------------------------------------------------------------------------------


def _peak_mb() -> dict:
    return {"peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "children_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}


def child_generate(out: Path, events: int, loads: int) -> dict:
    """Stream the demo into Parquet files per time slice; never more than one batch held."""
    import polars as pl

    from loaders import demo

    users = max(1, round(events / demo.estimate_events(1000, DAYS) * 1000))
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    names = [slice_name(i, loads) for i in range(loads + 1)]
    for name in names:
        (partial / name).mkdir(parents=True)
    rows = {name: dict.fromkeys(TABLES, 0) for name in names}
    files = {name: 0 for name in names}
    counter = dict.fromkeys(TABLES, 0)
    started = time.perf_counter()
    for table, frame in demo.generate(users, DAYS, seed=SEED, end=END, now=NOW):
        day = (pl.col(WHEN[table]).dt.date() - pl.lit(FIRST)).dt.total_days()
        index = (pl.when(day >= SLICED_DAYS).then(loads)
                 .otherwise(day.clip(0, SLICED_DAYS - 1) * loads // SLICED_DAYS)).alias("_slice")
        n = counter[table]
        counter[table] += 1
        for (i,), part in frame.with_columns(index).partition_by("_slice", as_dict=True).items():
            name = names[i]
            part.drop("_slice").write_parquet(partial / name / f"{table}-{n:05d}.parquet")
            rows[name][table] += part.height
            files[name] += 1
        del frame
        print(f"{table} batch {n}: {sum(r['events'] for r in rows.values()):,} events so far", file=sys.stderr, flush=True)
    # A day of data arrives as a file per table, not as the generator's many batches: the
    # held-back day is merged into one file each (per-file checks cost ~70 ms a file).
    import duckdb

    day = partial / names[loads]
    for table in TABLES:
        parts = sorted(day.glob(f"{table}-*.parquet"))
        if len(parts) > 1:
            duckdb.sql(f"COPY (SELECT * FROM read_parquet({[str(p) for p in parts]!r})) "
                       f"TO '{day / f'{table}-all.parquet'}' (FORMAT parquet)")
            for part in parts:
                part.unlink()
            files[names[loads]] -= len(parts) - 1
    seconds = time.perf_counter() - started
    size = sum(p.stat().st_size for p in partial.rglob("*.parquet"))
    shutil.rmtree(out, ignore_errors=True)
    partial.rename(out)
    return {"users_asked": users, "seconds": seconds, "rows": rows, "files": files,
            "events": sum(r["events"] for r in rows.values()), "files_mb": size / 2**20, **_peak_mb()}


def child_load(store_path: Path, slice_dir: Path, label: str, publish_test: bool) -> dict:
    """One load of every table's files in `slice_dir`, read and checked as load_files does."""
    from loaders import files
    from loaders.load import run_load
    from pulse.store import Store

    store = Store(store_path)
    paths = {t: sorted(slice_dir.glob(f"{t}-*.parquet")) for t in TABLES}
    counts = [files.file_rows(p, "parquet") for t in TABLES for p in paths[t]]
    total = None if None in counts else sum(counts)

    def batches():
        for table in TABLES:
            for path in paths[table]:
                files.require_file(path)
        for table in TABLES:
            for path in paths[table]:
                for frame, first_row in files.read_batches(path, table):
                    yield table, frame, str(path.resolve()), first_row

    started = time.perf_counter()
    result = run_load(store, f"{label}: {', '.join(TABLES)} from {slice_dir}", batches(), total=total)
    seconds = time.perf_counter() - started
    out = {"seconds": seconds, "reports": {t: vars(r) for t, r in result.reports.items()},
           "files": sum(len(p) for p in paths.values()), "store_mb": store_path.stat().st_size / 2**20}
    if publish_test:
        # What publishing alone costs: the writer copies the store file, and fsyncs the copy it publishes.
        copy = store_path.with_name(store_path.name + ".publish-test")
        began = time.perf_counter()
        shutil.copyfile(store_path, copy)
        with open(copy, "rb+") as fh:
            os.fsync(fh.fileno())
        out["copy_fsync_seconds"] = time.perf_counter() - began
        copy.unlink()
    return out | _peak_mb()


def make_store(path: Path, unlimited: bool):
    from pulse.settings import Settings
    from pulse.store import Store

    if unlimited:
        return Store(path)
    return Store(path, query_seconds=Settings.query_seconds, query_memory_mb=Settings.query_memory_mb)


def query_for(store, name: str, days: int):
    """bench/run.py's default query for the metric, its range widened to the last `days` days."""
    q = bench_run.default_query(store, name)
    return q if days == 30 else dataclasses.replace(q, start=q.end - timedelta(days=days - 1))


def _error(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"[:300]


def child_metrics(path: Path, days: int, names: list[str], runs: int, unlimited: bool) -> dict:
    """Each metric's first call in this process, then the median of `runs` more."""
    from metrics import registry

    store = make_store(path, unlimited)
    out = {}
    for name in names:
        try:
            q = query_for(store, name, days)
            out[name] = bench_run.fresh_and_warm(lambda: registry.run(name, store, q), runs)
        except Exception as exc:  # a failure at scale is a finding: record it, time the rest
            out[name] = {"error": _error(exc)}
    return {"metrics": out, **_peak_mb()}


def child_page(path: Path, days: int, page: str, runs: int) -> dict:
    """A page as drawn at its default view (bench/page_calls.py): its metric calls recorded
    and replayed warm; they are kept beside the store for the fresh run (child_fresh).
    Pages read with the web app's settings, so its read limits apply."""
    try:
        result = page_calls.warm(path, page, days, runs, calls_file(path, page, days))
    except Exception as exc:
        result = {"error": _error(exc)}
    return result | _peak_mb()


def child_fresh(path: Path, days: int, page: str) -> dict:
    """The page's recorded calls once in a new process: the first person after a start."""
    try:
        result = {"fresh": page_calls.fresh(path, calls_file(path, days=days, page=page))}
    except Exception as exc:
        result = {"error": _error(exc)}
    return result | _peak_mb()


def calls_file(path: Path, page: str, days: int) -> Path:
    return path.with_name(f"calls-{page}-{days}d.pickle")


# -- the parent --------------------------------------------------------------------------------


class Run:
    def __init__(self, args: argparse.Namespace):
        self.events = args.events
        self.loads = args.loads
        self.runs = args.runs
        self.unlimited = args.unlimited
        self.out = Path(args.out or ROOT / "bench" / "out" / f"scale-{args.events}").resolve()
        self.files = self.out / "files"
        self.store = self.out / "pulse.duckdb"
        self.state_path = self.out / "state.json"
        self.state: dict = {}

    # state -------------------------------------------------------------------------------

    def load_state(self) -> None:
        if self.state_path.exists():
            self.state = json.loads(self.state_path.read_text())
            if (self.state.get("events_asked"), self.state.get("loads")) != (self.events, self.loads):
                raise SystemExit(f"{self.out} holds a run of --events {self.state.get('events_asked')} --loads "
                                 f"{self.state.get('loads')}; use another --out, or run without --reuse to start over.")
        self.state.setdefault("events_asked", self.events)
        self.state.setdefault("loads", self.loads)
        self.state.setdefault("load", {})

    def save(self) -> None:
        tmp = self.state_path.with_name("state.json.tmp")
        tmp.write_text(json.dumps(self.state, indent=1, default=str))
        os.replace(tmp, self.state_path)

    def wipe(self) -> None:
        """Start over: remove only what this benchmark makes in OUT."""
        for name in ("files", "files.partial", "logs", ".tmp", "state.json"):
            target = self.out / name
            if target.is_dir():
                shutil.rmtree(target)
            else:
                target.unlink(missing_ok=True)
        for stale in self.out.glob("pulse.duckdb*"):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink()

    # children ----------------------------------------------------------------------------

    def child(self, tag: str, args: list[str]) -> dict:
        """Run `python bench/scale.py ARGS` with OUT as its directory (so a reader's spill lands
        there); return its JSON, or {"error": ...}. Records wall seconds, the child's peak RSS
        as the kernel saw it (VmHWM, also when it is killed) and the largest spill on disk."""
        logs = self.out / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with open(logs / f"{tag}.out", "w") as stdout, open(logs / f"{tag}.err", "w") as stderr:
            started = time.perf_counter()
            proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args],
                                    stdout=stdout, stderr=stderr, cwd=self.out)
            hwm = spill = 0.0
            while proc.poll() is None:
                hwm = max(hwm, _vm_hwm_mb(proc.pid))
                spill = max(spill, self.spill_mb())
                time.sleep(0.2)
            wall = time.perf_counter() - started
        text = (logs / f"{tag}.out").read_text().strip()
        if proc.returncode != 0 or not text:
            err = (logs / f"{tag}.err").read_text().strip().splitlines()
            reason = err[-1] if err else ""
            if proc.returncode < 0:
                reason = f"killed by signal {-proc.returncode}" + (" (out of memory?)" if proc.returncode == -9 else "") + \
                    (f"; last: {reason}" if reason else "")
            return {"error": reason or f"exit {proc.returncode}", "wall_seconds": wall, "hwm_mb": hwm,
                    "spill_mb": spill, "log": str(logs / f"{tag}.err")}
        result = json.loads(text.splitlines()[-1])
        result.update(wall_seconds=wall, hwm_mb=hwm, spill_mb=spill)
        return result

    def spill_mb(self) -> float:
        total = 0
        for top in (self.out / ".tmp", self.store.with_name(self.store.name + ".tmp")):
            if top.is_dir():
                for dirpath, _, names in os.walk(top):
                    for n in names:
                        try:
                            total += os.path.getsize(os.path.join(dirpath, n))
                        except OSError:
                            pass
        return total / 2**20

    # phases ------------------------------------------------------------------------------

    def generate(self) -> None:
        print(f"\n== generate: ~{self.events:,} events, {DAYS} days to {END}, seed {SEED}, "
              f"{self.loads} loads + the last day ==", flush=True)
        self.state.pop("generate", None)
        self.save()
        g = self.child("generate", ["--child-generate", str(self.files), str(self.events), str(self.loads)])
        self.state["generate"] = g
        self.save()
        if "error" in g:
            raise SystemExit(f"generation failed: {g['error']} (see {g['log']})")
        print(f"{g['events']:,} events of {g['users_asked']:,} users in {sum(g['files'].values()):,} Parquet files "
              f"({g['files_mb']:,.0f} MB) in {g['seconds']:.1f} s ({g['events'] / g['seconds']:,.0f} events/s); "
              f"peak memory {_peak(g):,.0f} MB", flush=True)
        held = g["rows"][APPEND]
        print(f"held back for the append ({END}): " + ", ".join(f"{held[t]:,} {t}" for t in TABLES), flush=True)

    def load(self) -> bool:
        if "generate" not in self.state or not self.files.is_dir():
            raise SystemExit(f"No generated files in {self.files}: run --phase generate first.")
        print(f"\n== load: {self.loads} loads in time order, each in a new process ==", flush=True)
        ran = False
        for i in range(self.loads):
            name = slice_name(i, self.loads)
            done = self.state["load"].get(name)
            if done and "error" not in done:
                print(_load_line(name, i, self.loads, done) + "  (earlier run)", flush=True)
                continue
            r = self.child(name, ["--child-load", str(self.store), str(self.files / name), name, "0"])
            ran = True
            self.state["load"][name] = r
            self.save()
            print(_load_line(name, i, self.loads, r), flush=True)
            if "error" in r:
                raise SystemExit(f"load {name} failed: {r['error']} (see {r['log']}); the published store is the one "
                                 "before it. Fix and resume with --phase load.")
        loads = [self.state["load"][slice_name(i, self.loads)] for i in range(self.loads)]
        events = sum(r["reports"]["events"]["stored"] for r in loads)
        seconds = sum(r["seconds"] for r in loads)
        wall = sum(r["wall_seconds"] for r in loads)
        print(f"all loads: {events:,} events in {seconds:.1f} s ({events / seconds:,.0f} events/s; "
              f"{wall:.1f} s wall with process start), peak memory {max(_peak(r) for r in loads):,.0f} MB, "
              f"largest spill {max(r['spill_mb'] for r in loads):,.0f} MB, store {loads[-1]['store_mb']:,.0f} MB", flush=True)
        return ran

    def append(self) -> bool:
        if len([r for r in self.state["load"].values() if "error" not in r]) < self.loads:
            raise SystemExit("The loads are not all done: run --phase load first.")
        if "append" in self.state and "error" not in self.state["append"]:
            print("\n== append: done in an earlier run ==")
            self.print_append(self.state["append"])
            return False
        print(f"\n== append: the last day ({END}) as one more load ==", flush=True)
        r = self.child(APPEND, ["--child-load", str(self.store), str(self.files / APPEND), APPEND, "1"])
        self.state["append"] = r
        self.save()
        if "error" in r:
            raise SystemExit(f"the append failed: {r['error']} (see {r['log']})")
        self.print_append(r)
        return True

    def print_append(self, r: dict) -> None:
        rep = r["reports"]
        before = sum(x["reports"]["events"]["stored"] for x in self.state["load"].values())
        print(f"appended {rep['events']['stored']:,} events (+{rep['users']['stored']:,} users, "
              f"{rep['subscriptions']['stored']:,} subscriptions, {rep['transactions']['stored']:,} transactions) "
              f"to a {before:,}-event store: {r['seconds']:.1f} s end to end including publish "
              f"({r['wall_seconds']:.1f} s with process start), target {self.append_target():.0f} s "
              f"[{'met' if r['seconds'] <= self.append_target() else 'MISSED'}]", flush=True)
        print(f"  publishing alone (copy the store file + fsync): {r['copy_fsync_seconds']:.1f} s; "
              f"store file {r['store_mb']:,.0f} MB; peak memory {_peak(r):,.0f} MB, largest spill {r['spill_mb']:,.0f} MB",
              flush=True)

    def time(self) -> None:
        if not self.store.exists():
            raise SystemExit(f"No store at {self.store}: run the loads first.")
        from metrics.registry import AREAS, all_metrics

        metrics = all_metrics()
        names = [m.name for m in metrics]
        limits = "no read limits" if self.unlimited else "the web app's read limits"
        print(f"\n== time: {len(names)} metrics and {len(page_calls.PAGES)} pages, default view (30 days) and 365 days, "
              f"fresh and warm (median of {self.runs}), {limits} ==", flush=True)
        flags = ["--unlimited"] if self.unlimited else []
        views = {30: "30d", 365: "365d"}
        res: dict = {"metrics": {}, "pages": {}, "peaks": {}, "seconds": {}}
        for days, view in views.items():
            began = time.perf_counter()
            fresh = {}
            for name in names:  # one new process per metric: its first call opens the store, as a new page would
                r = self.child(f"fresh-{view}-{name}", ["--child-metrics", str(self.store), str(days), name, "0", *flags])
                res["peaks"][f"fresh-{view}-{name}"] = _peak(r)
                fresh[name] = r.get("metrics", {}).get(name, {"error": r.get("error")})
            warm = self.child(f"warm-{view}", ["--child-metrics", str(self.store), str(days), ",".join(names),
                                               str(self.runs), *flags])
            res["peaks"][f"warm-{view}"] = _peak(warm)
            for name in names:
                f, w = fresh[name], warm.get("metrics", {}).get(name, {"error": warm.get("error")})
                res["metrics"].setdefault(name, {})[view] = {
                    "fresh": f.get("fresh"), "warm": w.get("warm"),
                    "error": f.get("error") or w.get("error")}
            for page in page_calls.PAGES:
                r = self.child(f"page-{view}-{page}", ["--child-page", str(self.store), str(days), page, str(self.runs)])
                if "error" not in r:
                    r |= {k: v for k, v in self.child(f"fresh-{view}-{page}", [
                        "--child-fresh", str(self.store), str(days), page]).items() if k in ("fresh", "error")}
                res["peaks"][f"page-{view}-{page}"] = _peak(r)
                res["pages"].setdefault(page, {})[view] = {k: r.get(k) for k in ("fresh", "warm", "error", "calls")}
            res["seconds"][view] = time.perf_counter() - began
        self.state["time"] = res
        self.save()
        self.print_time(metrics, AREAS)

    def print_time(self, metrics, areas) -> None:
        res = self.state["time"]
        print(f"\n{'metric':28} {'area':10} {'30d fresh':>10} {'30d warm':>9} {'365d fresh':>11} {'365d warm':>10}  (ms)")
        for m in metrics:
            r = res["metrics"].get(m.name)
            if r is None:
                continue
            a, b = r["30d"], r["365d"]
            flag = _flags(a, b, [("30d", "warm", METRIC_WARM_TARGET), ("365d", "warm", METRIC_WARM_TARGET)])
            print(f"{m.name:28} {m.area:10} {_ms(a['fresh']):>10} {_ms(a['warm']):>9} {_ms(b['fresh']):>11} "
                  f"{_ms(b['warm']):>10}{flag}")
        print(f"\n{'page, as drawn':28} {'30d fresh':>10} {'30d warm':>9} {'365d fresh':>11} {'365d warm':>10}  (ms)")
        for page in page_calls.PAGES:
            r = res["pages"].get(page)
            if r is None:
                continue
            a, b = r["30d"], r["365d"]
            flag = _flags(a, b, [("30d", "warm", PAGE_WARM_TARGET), ("30d", "fresh", PAGE_FRESH_TARGET)])
            print(f"{page:28} {_ms(a['fresh']):>10} {_ms(a['warm']):>9} {_ms(b['fresh']):>11} {_ms(b['warm']):>10}{flag}")
        sums = {}
        for m in metrics:
            r = res["metrics"].get(m.name)
            for view in ("30d", "365d"):
                for kind in ("fresh", "warm"):
                    if r and r[view][kind] is not None:
                        key = (m.area, view, kind)
                        sums[key] = sums.get(key, 0.0) + r[view][kind]
        print("sum of each area's metrics (per-metric figures; fresh = each metric in its own new process): ")
        for area in areas:
            print(f"  {area:12} " + ", ".join(f"{view} {kind} {sums.get((area, view, kind), 0) * 1000:,.0f} ms"
                                              for view in ("30d", "365d") for kind in ("fresh", "warm")))
        print("time phase took " + ", ".join(f"{v} {s / 60:.1f} min" for v, s in res["seconds"].items()))

    # summary -----------------------------------------------------------------------------

    def append_target(self) -> float:
        return 15.0 if self.events > 31_600_000 else 5.0  # nearer (in ratio) 100M than 10M

    def summary(self) -> None:
        st = self.state
        size = f"{self.events:,}"
        indicative = "" if any(0.8 <= self.events / n <= 1.25 for n in (10_000_000, 100_000_000)) else \
            f" (indicative: targets are set at 10M/100M, this run is {size} events)"
        print(f"\n== summary: --events {size} --loads {self.loads}{indicative} ==")
        peaks: list[tuple[float, str]] = []

        def verdict(ok: bool | None, failures: bool = False) -> str:
            if failures:
                return "MISSED: some failed"
            return "n/a" if ok is None else ("met" if ok else "MISSED")

        g = st.get("generate")
        if g and "error" not in g:
            print(f"generate: {g['events']:,} events in {g['seconds']:.0f} s ({g['files_mb']:,.0f} MB of Parquet)")
            peaks.append((_peak(g), "generate"))
        loads = [st["load"][k] for k in sorted(st["load"])]
        if loads:
            good = [r for r in loads if "error" not in r]
            for r in loads:
                peaks.append((_peak(r), "load"))
            if good:
                events = sum(r["reports"]["events"]["stored"] for r in good)
                seconds = sum(r["seconds"] for r in good)
                print(f"loads: {len(good)}/{self.loads} done, {events:,} events in {seconds:.0f} s "
                      f"({events / seconds:,.0f} events/s; issue 16's load target 500,000 events/s at 10M), "
                      f"slowest load {max(r['seconds'] for r in good):.1f} s, "
                      f"largest spill {max(r['spill_mb'] for r in good):,.0f} MB")
            for name, r in st["load"].items():
                if "error" in r:
                    print(f"load {name} FAILED: {r['error']}")
        a = st.get("append")
        if a:
            peaks.append((_peak(a), "append"))
            if "error" in a:
                print(f"append one day: FAILED: {a['error']}")
            else:
                target = self.append_target()
                print(f"append one day ({a['reports']['events']['stored']:,} events): {a['seconds']:.1f} s end to end "
                      f"incl. publish (target <= {target:.0f} s) [{verdict(a['seconds'] <= target)}]; "
                      f"copy + fsync of the {a['store_mb']:,.0f} MB store alone {a['copy_fsync_seconds']:.1f} s")
        t = st.get("time")
        if t:
            for tag, mb in t["peaks"].items():
                peaks.append((mb, tag))
            pages = t["pages"]
            failed = [(k, v, x["error"]) for k, r in pages.items() for v, x in r.items() if x["error"]]
            for kind, target in (("warm", PAGE_WARM_TARGET), ("fresh", PAGE_FRESH_TARGET)):
                timed = {k: r["30d"][kind] for k, r in pages.items() if r["30d"][kind] is not None}
                if timed:
                    worst = max(timed, key=timed.get)
                    over = sorted(k for k, s in timed.items() if s > target)
                    print(f"every page's metrics, default view, {kind}: worst {worst} {timed[worst] * 1000:,.0f} ms "
                          f"(target <= {target * 1000:,.0f} ms at 100M) [{verdict(not over, bool(failed))}]"
                          + (f"; over: {', '.join(over)}" if over else ""))
            for k, v, e in failed:
                print(f"page {k} ({v}) FAILED: {e}")
            ms = t["metrics"]
            timed = {k: r["365d"]["warm"] for k, r in ms.items() if r["365d"]["warm"] is not None}
            failed_m = sorted(k for k, r in ms.items() if r["365d"]["error"] or r["30d"]["error"])
            if timed:
                worst = max(timed, key=timed.get)
                over = sorted(k for k, s in timed.items() if s > METRIC_WARM_TARGET)
                print(f"every metric over 365 days, warm: worst {worst} {timed[worst] * 1000:,.0f} ms, "
                      f"{len(over)} of {len(ms)} over 300 ms (target <= 300 ms at 10M) [{verdict(not over, bool(failed_m))}]"
                      + (f"; over: {', '.join(over)}" if over else ""))
            for k in failed_m:
                print(f"metric {k} FAILED: {ms[k]['365d']['error'] or ms[k]['30d']['error']}")
        busy = {p: v for p, v in st.get("loadavg", {}).items() if max(v) > (os.cpu_count() or 1)}
        if busy:
            print(f"note: the machine ({os.cpu_count()} cores) was busy with other work, which inflates the figures: "
                  "load average " + ", ".join(f"{p} {a:.1f} → {b:.1f}" for p, (a, b) in busy.items()))
        if peaks:
            mb, where = max(peaks)
            print(f"peak memory of any process: {mb:,.0f} MB ({where}) (target < {MEMORY_TARGET_MB:,} MB) "
                  f"[{verdict(mb < MEMORY_TARGET_MB)}]")


def _vm_hwm_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _peak(r: dict) -> float:
    """A child's peak memory: its own maximum RSS (or the kernel's high-water mark sampled by
    the parent, when it died before telling), or a process it started, whichever is larger."""
    return max(r.get("peak_mb") or 0.0, r.get("hwm_mb") or 0.0, r.get("children_peak_mb") or 0.0)


def _flags(a: dict, b: dict, limits: list[tuple[str, str, float]]) -> str:
    """What a row of 30-day (a) and 365-day (b) figures missed or failed, for the end of its line.
    `limits` are (view, fresh or warm, target seconds)."""
    views = {"30d": a, "365d": b}
    flags = [f"{view} {kind} > {_target(target)}" for view, kind, target in limits
             if views[view][kind] is not None and views[view][kind] > target]
    flags += [f"{view} FAILED: {x['error']}" for view, x in views.items() if x["error"]]
    return "  " + "; ".join(flags) if flags else ""


def _target(seconds: float) -> str:
    return f"{seconds:g} s" if seconds >= 1 else f"{seconds * 1000:g} ms"


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:,.0f}"


def _load_line(name: str, i: int, loads: int, r: dict) -> str:
    first, last = slice_days(i, loads)
    if "error" in r:
        return f"{name} ({first} – {last}): FAILED after {r['wall_seconds']:.1f} s, peak memory {_peak(r):,.0f} MB: {r['error']}"
    rep = r["reports"]
    ev = rep.get("events", {}).get("stored", 0)
    others = ", ".join(f"{rep[t]['stored']:,} {t}" for t in TABLES[:-1] if t in rep)
    quarantined = sum(x["quarantined"] for x in rep.values())
    return (f"{name} ({first} – {last}): {ev:,} events (+{others}) in {r['seconds']:.1f} s "
            f"({ev / r['seconds']:,.0f} events/s), peak memory {_peak(r):,.0f} MB, spill {r['spill_mb']:,.0f} MB, "
            f"store {r['store_mb']:,.0f} MB" + (f", {quarantined:,} quarantined" if quarantined else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000_000, help="events to generate (default 100M)")
    parser.add_argument("--out", help="directory for the files and the store (default bench/out/scale-EVENTS)")
    parser.add_argument("--loads", type=int, default=12, help="loads the first 364 days arrive in (default 12)")
    parser.add_argument("--reuse", action="store_true", help="keep what an earlier run made; do only what is missing")
    parser.add_argument("--phase", choices=("generate", "load", "append", "time", "all"), default="all")
    parser.add_argument("--runs", type=int, default=5, help="warm calls per metric and page (median; default 5)")
    parser.add_argument("--unlimited", action="store_true", help="time reads without the web app's limits")
    parser.add_argument("--child-generate", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--child-load", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-metrics", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-page", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--child-fresh", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_generate:
        out, events, loads = args.child_generate
        print(json.dumps(child_generate(Path(out), int(events), int(loads))))
        return
    if args.child_load:
        store, folder, label, publish = args.child_load
        print(json.dumps(child_load(Path(store), Path(folder), label, publish == "1")))
        return
    if args.child_metrics:
        path, days, names, runs = args.child_metrics
        print(json.dumps(child_metrics(Path(path), int(days), names.split(","), int(runs), args.unlimited)))
        return
    if args.child_fresh:
        path, days, page = args.child_fresh
        print(json.dumps(child_fresh(Path(path), int(days), page)))
        return
    if args.child_page:
        path, days, page, runs = args.child_page
        print(json.dumps(child_page(Path(path), int(days), page, int(runs))))
        return
    if args.loads < 1 or args.loads > SLICED_DAYS or args.events < 1:
        parser.error("--events must be positive and --loads between 1 and 364")

    run = Run(args)
    run.out.mkdir(parents=True, exist_ok=True)
    if args.phase == "all" and not args.reuse:
        run.wipe()
    run.load_state()
    began = time.perf_counter()
    phases = ("generate", "load", "append", "time") if args.phase == "all" else (args.phase,)
    if args.phase == "all" and args.reuse and run.store.exists() and not run.state["load"]:
        print(f"\n== reusing the store at {run.store} (no record of its loads): timing only ==")
        phases = ("time",)
    took = {}
    try:
        for phase in phases:
            started = time.perf_counter()
            if phase == "generate" and args.phase == "all" and "error" not in run.state.get("generate", {"error": 1}) \
                    and run.files.is_dir():
                print("\n== generate: done in an earlier run ==")
            else:
                before = os.getloadavg()[0]
                if getattr(run, phase)() is not False:
                    # Other work on the machine inflates every figure: say how busy it was.
                    run.state.setdefault("loadavg", {})[phase] = [before, os.getloadavg()[0]]
                    run.save()
            took[phase] = time.perf_counter() - started
    finally:
        run.summary()
        if took:
            print("phases took " + ", ".join(f"{p} {s / 60:.1f} min" for p, s in took.items())
                  + f"; in all {(time.perf_counter() - began) / 60:.1f} min")


if __name__ == "__main__":
    main()
