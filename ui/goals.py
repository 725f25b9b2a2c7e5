"""Goals on the Overview: each goal's progress, its projection and status, and (for the roles
that may set goals) the form that sets one and the button that deletes one.

Progress is computed by metrics.goals on the data up to the store's last complete day, and
kept per store version (ui.cache.goal_progress), so a rerun of the page recomputes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import streamlit as st

from admin.db import AdminDatabaseError
from admin.goals import GoalError, Goals
from admin.models import Goal
from metrics.goals import MEASURES, Progress
from pulse.query import Query
from ui import auth, cache, charts
from ui import components as ui
from ui import format as fmt

STATUSES = {  # status: (badge text, colour, icon)
    "ahead": ("Ahead", "green", ":material/trending_up:"),
    "on track": ("On track", "blue", ":material/check:"),
    "behind": ("Behind", "orange", ":material/trending_down:"),
    "reached": ("Reached", "green", ":material/flag:"),
    "missed": ("Missed", "red", ":material/flag:"),
    "": ("No projection", "gray", ":material/help:"),
}


def goals() -> Goals:
    return Goals(auth.access().accounts.db, MEASURES)


def figure(kind: str, value: float) -> str:
    """A goal's figure: money to the cent, a count as a whole number (a projection is a float)."""
    return fmt.money(value) if kind == "money" else fmt.number(round(value))


def _change(message: str, action: Callable, *args: object, **kwargs: object) -> None:
    """Change goals as the signed-in member of staff (audited with who and from where): the page
    reruns and says `message`, or says here why not."""
    try:
        action(*args, **kwargs, **auth.acting())
    except (GoalError, AdminDatabaseError) as exc:
        ui.refused(exc)
    else:
        ui.done(message)


def card(goal: Goal, p: Progress, may_change: bool) -> None:
    """One goal: its number, status, progress bar, projection, note, chart and method."""
    spec, kind = p.spec, p.spec.kind
    text, colour, icon = STATUSES[p.status]
    with st.container(border=True):
        with st.container(horizontal=True, vertical_alignment="center"):
            st.markdown(f"**{fmt.text(spec.label)}**")
            st.badge(text, color=colour, icon=icon)
        st.markdown(fmt.text(f"{figure(kind, p.current)} → {figure(kind, p.target)} by {fmt.day(p.due)}"))
        when = fmt.period(p.history.current_period, spec.interval)
        now = when if p.history.current_complete else f"{when} so far"
        st.progress(p.share, text=fmt.text(f"{fmt.pct(p.current / p.target, 0)} of the target ({now})"))
        if p.projection is not None:
            st.caption(fmt.text(f"Projected for {fmt.period(p.due_period, spec.interval)}: "
                                f"{figure(kind, p.projection.point)} (80 % interval {figure(kind, p.projection.low)} "
                                f"to {figure(kind, p.projection.high)})."))
        if goal.note:
            st.caption(fmt.text(goal.note))
        ui.chart(charts.goal(p), key=f"goal-chart-{goal.id}")
        st.caption(fmt.text(p.method))
        if may_change and st.button("Delete this goal", icon=":material/delete:", key=f"goal-delete-{goal.id}"):
            _change(f"Deleted the goal for {spec.label}.", goals().delete, goal.id)


def form(today: date) -> None:
    """The "Set a goal" form: a measure, a target (reach at least), a due date after today, a note."""
    with st.expander("Set a goal", icon=":material/flag:"):
        with st.form("goal-form", border=False):
            measure = st.selectbox("Number", list(MEASURES), format_func=lambda name: MEASURES[name].label)
            target = st.number_input("Target: at least", min_value=0.0, value=None, step=1.0,
                                     placeholder="e.g. 50000", help=f"Money in {fmt.currency()}.")
            due = st.date_input("By", value=today + timedelta(days=90), min_value=today + timedelta(days=1),
                                format="YYYY-MM-DD")
            note = st.text_input("Note", placeholder="Optional: why this number")
            if st.form_submit_button("Set the goal", type="primary"):
                _change(f"Set a goal for {MEASURES[measure].label}.", goals().add, measure, target, due, note,
                        today=today)


def goals_section(q: Query) -> None:
    """Every goal as a card, two to a row, soonest due first; then the form, for those who may set goals.

    Goals count the whole business within the viewer's data scope: the filter bar's dates,
    country, device and plan do not apply, and the page says so when filters are set.
    """
    ui.notice()
    may_change = auth.allowed("set_goals")
    info = cache.info()
    today = info.today()
    try:
        listed = goals().all()
    except AdminDatabaseError as exc:
        ui.refused(exc)
        return
    until = info.last_complete_day(today)
    if not listed:
        st.caption("No goals yet." + (" Set one below: a number, a target and a date." if may_change else ""))
    elif until is None:
        st.info("The store holds no complete day of activity yet, so there is nothing to measure goals on.",
                icon=":material/info:")
    else:
        if q.filters:
            st.caption("Goals count the whole business: the filter bar's country, device and plan do not apply here.")
        for start in range(0, len(listed), 2):
            for column, goal in zip(st.columns(2), listed[start:start + 2]):
                with column:
                    card(goal, cache.goal_progress(q, goal, until), may_change)
    if may_change:
        form(today)
