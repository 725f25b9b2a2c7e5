"""The Exports page's helpers: schedules in the admin database, running one now, and the
hand-over from a table's "Schedule this"."""

from __future__ import annotations

import streamlit as st

from admin.schedules import Runner, ScheduleError, Schedules
from metrics import jobs, registry
from metrics.recipients import parse_where
from pulse.query import Query, QueryError
from ui import auth, cache

HANDED = "schedule_this"


def schedules() -> Schedules:
    return Schedules(auth.access().accounts.db)


def runner() -> Runner:
    store = cache.store()
    return Runner(auth.access().accounts.db, cache.settings(), lambda job, path: jobs.export(store, job, path),
                  jobs.pages())


def schedule_this(name: str, q: Query | None, key: str) -> None:
    """A button beside a table's download that opens the Exports page with its metric,
    interval, options and filters filled in."""
    if q is None or name not in registry.REGISTRY or not auth.allowed("schedule_exports"):
        return
    if st.button("Schedule this", icon=":material/schedule_send:", key=f"schedule-{key}"):
        used = st.session_state.get("metric_queries", {}).get(name, q)
        metric = registry.get(name)
        options = {k: metric.option(k).show(v) for k, v in used.options if v not in (None, "", ())
                   and k in {o.name for o in metric.options} and v != metric.option(k).default}
        st.session_state[HANDED] = {"metric": name, "interval": used.interval,
                                    "options": dict(used.filters) | options}
        st.switch_page("pages/exports.py")


def _pairs(text: str) -> dict[str, str]:
    return parse_where(text) if text.strip() else {}


def create(name: str, metric: str, interval: str, options_text: str, range_name: str, days: int, cron: str, tz: str,
           fmt: str, folder: str, pattern: str, emails: str, catch_up: str) -> None:
    """Check and add a schedule owned by the signed-in member of staff; say why not, here."""
    from ui import components as ui

    try:
        options = _pairs(options_text)
        jobs.check(metric, interval, options)
    except QueryError as exc:
        ui.refused(exc)
        return
    destinations = ([{"folder": folder.strip(), "pattern": pattern.strip() or None}] if folder.strip() else []) + (
        [{"email": [e.strip() for e in emails.split(",") if e.strip()]}] if emails.strip() else [])
    range_name = f"last_{days}_days" if range_name == "last_N_days" else range_name
    try:
        schedules().add(name, auth.staff().email, metric, interval, options, range_name, cron, tz, fmt, destinations,
                        catch_up, **auth.acting())
    except ScheduleError as exc:
        ui.refused(exc)
        return
    st.session_state.pop(HANDED, None)
    ui.done(f"Created the schedule {name.strip()}.")


def edit(name: str, cron: str, tz: str, range_name: str, options_text: str) -> None:
    from ui import components as ui

    try:
        options = _pairs(options_text)
        current = schedules().get(name)
        jobs.check(current["metric"], current["interval"], options)
        schedules().update(name, cron=cron, timezone=tz, range=range_name, options=options, **auth.acting())
    except (QueryError, ScheduleError) as exc:
        ui.refused(exc)
        return
    ui.done(f"Saved {name}.")


def run_now(name: str) -> None:
    from ui import components as ui

    with st.spinner(f"Running {name}…"):
        try:
            outcome = runner().run_now(name, **auth.acting())
        except ScheduleError as exc:
            ui.refused(exc)
            return
    if outcome.status == "done":
        ui.done(f"Ran {name}: {outcome.rows:,} rows delivered.")
    ui.refused(f"{name} did not complete ({outcome.status}): {outcome.error}")


def offer_file(run_id: int) -> None:
    """A run's file, downloadable while it is still in its folder."""
    path = schedules().delivered_file(run_id)
    if path is None:
        st.caption("This run's file is no longer in its folder (or it went by email only).")
        return
    st.download_button(f"Download {path.name}", path.read_bytes(), file_name=path.name, key=f"run-file-{run_id}",
                       icon=":material/download:", on_click=auth.record, args=("download", str(path)))
