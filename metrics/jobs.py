"""What a scheduled export needs from the metrics: checking a schedule's metric and options
before it is saved, writing one run's file, and the page that shows each metric."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from metrics import registry
from metrics.files import write_export
from pulse.query import make_query



def check(metric_name: str, interval: str, options: dict[str, str]) -> None:
    """One sentence (QueryError) for an unknown metric, interval or option, before saving."""
    metric = registry.get(metric_name)
    today = date.today()
    metric.typed(make_query(today - timedelta(days=6), today, interval, options))


def export(store, job: Any, path: Path) -> int:
    """Write one run's file (`job`: admin.schedules.Job) exactly as `pulse export` would for
    the resolved range, within the owner's data scope; the number of rows."""
    metric = registry.get(job.metric)
    q = make_query(job.start, job.end, job.interval, dict(job.options)).scoped(job.countries, job.plans)
    rows, _ = write_export(store, metric, q, path, job.format)
    return rows


def pages() -> dict[str, str]:
    """The app page (its file name in pages/) showing each metric: areas are named after their
    pages, and the Overview is the app's first page, at its root."""
    return {m.name: "" if m.area == "overview" else m.area for m in registry.all_metrics()}
