"""Exports: metrics delivered on a schedule to folders and inboxes, whole and on time."""

from zoneinfo import available_timezones

import streamlit as st

from admin.schedules import CATCH_UP, DEFAULT_PATTERN, FORMATS, RANGES
from metrics import registry
from ui import cache
from ui import components as ui
from ui import exports
from ui import format as fmt

CRON_PRESETS = {"0 7 * * *": "Every day at 07:00", "0 7 * * 1": "Mondays at 07:00",
                "0 7 1 * *": "The 1st of every month at 07:00", "0 * * * *": "Every hour", "custom": "Custom"}
CATCH_UP_WORDS = {"latest": "Run the latest missed once", "all": "Run every missed one", "none": "Skip what was missed"}
INTERVALS = {"day": "Day", "week": "Week", "month": "Month"}
ZONES = sorted(available_timezones())

st.title("Exports")
st.caption("A metric's table, exported on a schedule to a folder or by email: whole (no row limit), for whole days "
           "before each run in the schedule's timezone, within the owner's data scope, and logged. Files are written "
           "in one step, so nobody opens half a file.")
ui.notice()
every = exports.schedules().listing()
if every.is_empty():
    st.info("No schedules yet. Make one below, or press “Schedule this” beside any table's download.",
            icon=":material/schedule_send:")
else:
    ui.table(every, "schedules", key="schedules", hide=("format", "owner"),
             codes={"range": "range", "state": "state", "last_outcome": "status"},
             labels={"name": "Name", "destinations": "To", "state": "State", "next_run_utc": "Next run (UTC)",
                     "last_run_utc": "Last run (UTC)", "last_outcome": "Outcome"})

handed = st.session_state.get(exports.HANDED)
metrics = [m.name for m in registry.all_metrics() if not m.internal]
new, change, history = st.tabs(["New schedule", "Change a schedule", "Run history"])

with new:
    if handed:
        st.info(f"From the table you scheduled: {fmt.text(handed['metric'])}.", icon=":material/table:")
    with st.form("schedule_new", border=False):
        name = st.text_input("Name", placeholder="e.g. Weekly revenue for finance")
        with st.container(horizontal=True):
            metric = st.selectbox("Metric", metrics, index=metrics.index(handed["metric"]) if handed else 0)
            interval = st.selectbox("Interval", list(INTERVALS), format_func=INTERVALS.get,
                                    index=list(INTERVALS).index(handed["interval"]) if handed else 0)
            fmt_choice = st.selectbox("Format", FORMATS)
        options_text = st.text_input("Options and filters (KEY=VALUE, comma-separated)",
                                     value=", ".join(f"{k}={v}" for k, v in (handed or {}).get("options", {}).items()),
                                     placeholder="e.g. country=DE, plan=pro")
        with st.container(horizontal=True):
            range_name = st.selectbox("Range", [*RANGES, "last_N_days"], format_func=fmt.CODES["range"].get)
            days = st.number_input("N (for last N days)", min_value=1, max_value=3660, value=14)
        with st.container(horizontal=True):
            preset = st.selectbox("When", list(CRON_PRESETS), format_func=CRON_PRESETS.get)
            cron = st.text_input("Custom cron (minute hour day month weekday)", placeholder="30 6 * * 1-5")
            tz = st.selectbox("Timezone", ZONES, index=ZONES.index(cache.settings().timezone))
        with st.container(horizontal=True):
            folder = st.text_input("Folder", placeholder="/mnt/finance/pulse")
            pattern = st.text_input("File name in the folder", value=DEFAULT_PATTERN)
        emails = st.text_input("Email to (comma-separated)", placeholder="finance@example.com")
        catch_up = st.selectbox("After downtime", CATCH_UP, format_func=CATCH_UP_WORDS.get)
        if st.form_submit_button("Create", type="primary"):
            exports.create(name, metric, interval, options_text, range_name, days, cron if preset == "custom" else preset,
                           tz, fmt_choice, folder, pattern, emails, catch_up)

with change:
    if every.is_empty():
        st.caption("No schedules yet.")
    else:
        picked = st.selectbox("Schedule", every["name"].to_list(), key="schedule_pick")
        chosen = exports.schedules().get(picked)
        with st.container(horizontal=True):
            if st.button("Run now", icon=":material/play_arrow:", key="schedule_run", type="primary"):
                exports.run_now(picked)
            if chosen["paused"]:
                if st.button("Resume", icon=":material/resume:", key="schedule_resume"):
                    ui.attempt(f"Resumed {picked}.", exports.schedules().set_paused, picked, False)
            elif st.button("Pause", icon=":material/pause:", key="schedule_pause"):
                ui.attempt(f"Paused {picked}.", exports.schedules().set_paused, picked, True)
            with st.popover("Delete", icon=":material/delete:"):
                st.write(f"Delete {fmt.text(picked)} and its run log? Files already written stay.")
                if st.button("Delete", key="schedule_delete", type="primary"):
                    ui.attempt(f"Deleted {picked}.", exports.schedules().delete, picked)
        with st.form(f"schedule_edit_{picked}", border=False):
            with st.container(horizontal=True):
                cron_edit = st.text_input("Cron", value=chosen["cron"])
                tz_edit = st.selectbox("Timezone", ZONES, index=ZONES.index(chosen["timezone"]))
                range_edit = st.text_input("Range", value=chosen["range"])
            options_edit = st.text_input("Options and filters", value=", ".join(f"{k}={v}" for k, v in
                                                                                 chosen["options"].items()))
            if st.form_submit_button("Save"):
                exports.edit(picked, cron_edit, tz_edit, range_edit, options_edit)

with history:
    runs = exports.schedules().runs()
    if runs.is_empty():
        st.caption("No runs yet.")
    else:
        ui.table(runs.drop("run"), "schedule_runs", key="schedule_runs", codes={"outcome": "status"},
                 labels={"occurrence_utc": "Due (UTC)", "started_utc": "Started (UTC)", "finished_utc": "Finished (UTC)",
                         "destinations": "Delivered to"})
        done = runs.filter(runs["outcome"] == "done")
        if not done.is_empty():
            shown_as = {r["run"]: f"{r['schedule']} · {r['occurrence_utc']} UTC" for r in done.iter_rows(named=True)}
            run_id = st.selectbox("File of a run", list(shown_as), format_func=shown_as.get, key="schedule_file")
            exports.offer_file(run_id)
