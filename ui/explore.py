"""The Explore page's helpers: the question in the URL, one series' pickers, the trend's
options, and its frame shaped for a chart."""

from __future__ import annotations

import json

import polars as pl

import streamlit as st

from metrics import registry
from ui import cache
from ui import components as ui
from ui import format as fmt
from ui import url

LETTERS = "ABC"
MATH_WORDS = {"total": "Count", "unique_users": "Unique users", "per_user": "Count per user",
              "sessions": "Sessions", "sum": "Sum of", "avg": "Average of", "median": "Median of", "p90": "90th percentile of",
              "min": "Minimum of", "max": "Maximum of"}
SOURCE_WORDS = {"events": "Events", "transactions": "Transactions"}
CHARTS = {"line": "Line", "bar": "Bars", "stacked": "Stacked bars", "number": "Big number", "table": "Table"}
NONE = "(none)"


def _choices(option: str) -> tuple[str, ...]:
    return registry.get("trend").option(option).choices


def saved_series() -> list[dict[str, str]]:
    """The series the URL holds (a JSON list), else one: unique users of any event."""
    try:
        series = json.loads(st.query_params.get("series", "") or "[]")
    except ValueError:
        series = []
    if not isinstance(series, list) or not all(isinstance(s, dict) for s in series):
        series = []
    return [{k: str(v) for k, v in s.items()} for s in series[:len(LETTERS)]] or [{"math": "unique_users"}]


def series_editor(index: int, saved: dict[str, str], numeric: list[str]) -> dict[str, str]:
    """One series' pickers (source, what, math, property, where); its options as text."""
    letter, key = LETTERS[index], f"explore_{LETTERS[index]}"
    st.markdown(f"**Series {letter}**")
    source = st.segmented_control("Source", _choices("source"), default=saved.get("source", "events"),
                                  format_func=SOURCE_WORDS.get, key=f"{key}_source") or "events"
    out = {"source": source}
    if source == "events":
        events = _choices("event")
        out["event"] = st.selectbox("Event", events, index=events.index(saved.get("event", "any")), key=f"{key}_event")
        path = st.text_input("Page path (exactly)", value=saved.get("path", ""), key=f"{key}_path",
                             placeholder="e.g. /pricing")
        if path.strip():
            out["path"] = path.strip()
    else:
        kinds = _choices("kind")
        out["kind"] = st.selectbox("Kind", kinds, index=kinds.index(saved.get("kind", "any")) if saved.get("kind", "any")
                                   in kinds else 0, key=f"{key}_kind")
    maths = _choices("math")
    math = st.selectbox("Measure", maths, index=maths.index(saved.get("math", "total")), format_func=MATH_WORDS.get,
                        key=f"{key}_math")
    out["math"] = math
    if math in ("sum", "avg", "median", "p90", "min", "max"):
        keys = numeric if source == "events" else ["amount"]
        if keys:
            chosen = saved.get("property")
            out["property"] = st.selectbox("Of", keys, index=keys.index(chosen) if chosen in keys else 0,
                                           key=f"{key}_property")
    where = st.text_input("Where", value=saved.get("where", ""), key=f"{key}_where",
                          placeholder="e.g. country=DE;plan in free,pro")
    if where.strip():
        out["where"] = where.strip()
    return out


def options(series: list[dict[str, str]], breakdown: str, top: int, formula: str, compare: bool) -> dict[str, object]:
    """The trend's options for these pickers, and the same kept in the URL (a saved view keeps them)."""
    opts: dict[str, object] = {"series": json.dumps(series, separators=(",", ":")), "top": top, "compare": compare}
    if breakdown != NONE:
        opts["breakdown"] = breakdown
    if formula.strip() and len(series) > 1:
        opts["formula"] = formula.strip()
    url.keep("series", opts["series"], json.dumps([{"math": "unique_users"}], separators=(",", ":")))
    url.keep("breakdown", opts.get("breakdown"))
    url.keep("top", top, 10)
    url.keep("formula", opts.get("formula"))
    url.keep("compare", compare, False)
    return opts


def label(series: list[dict[str, str]], letter: str) -> str:
    """A series in words: "A · Unique users of page_view"."""
    if letter not in LETTERS[:len(series)]:
        return letter  # the formula
    s = series[LETTERS.index(letter)]
    what = s.get("event", "any") if s.get("source", "events") == "events" else f"{s.get('kind', 'any')} transactions"
    of = f" {s['property']}" if s.get("property") else ""
    return f"{letter} · {MATH_WORDS[s.get('math', 'total')]}{of} ({'any event' if what == 'any' else what})"


def wide(frame: pl.DataFrame, series: list[dict[str, str]]) -> tuple[pl.DataFrame, dict[str, str]]:
    """The trend frame as one column per series (and breakdown value), for ui.charts.time."""
    named = frame.with_columns(
        column=pl.col("series") + pl.when(pl.col("breakdown_value").is_null()).then(pl.lit(""))
        .otherwise(pl.lit(" · ") + pl.col("breakdown_value")))
    columns = named["column"].unique(maintain_order=True).to_list()
    shaped = named.pivot(on="column", index="period", values="value").sort("period")
    labels = {c: label(series, c.split(" · ")[0]) + (" · " + c.split(" · ", 1)[1] if " · " in c else "") for c in columns}
    return shaped.select("period", *columns), labels


def field_words(field: str) -> str:
    """A breakdown field in words: "Device", "Property duration", "Nothing"."""
    if field == NONE:
        return "Nothing"
    if field.startswith("properties."):
        return f"Property {field.removeprefix('properties.')}"
    return {"signup_month": "Signup month", "marketing_opt_in": "Marketing consent", "auth_provider": "Signs in with",
            "country_code": "Event country", "event_name": "Event name", "page_path": "Page path",
            "event_type": "Event type"}.get(field) or fmt.label(field)


def people_behind(q, options: dict[str, object], point: dict | None, labels: dict[str, str]) -> None:
    """The users behind a clicked point (a series of its own, not a formula), with their CSV
    and "Email these users"; a hint until a point is clicked."""
    if point is None:
        st.caption("Click a point to see the people behind it.")
        return
    column = point.get("series", "")
    letter, _, value = column.partition(" · ")
    if letter not in LETTERS:
        st.caption("A formula's point has no people of its own; click a point of A, B or C.")
        return
    period = ui.as_date(point["period"])
    people = cache.metric("trend_users", q, **options, pick=letter, period=period, value=value or None)
    st.markdown(f"**{fmt.text(labels.get(column, column))}** {fmt.in_period(period, q.interval)} · "
                f"{fmt.plural(people.height, 'user')}")
    ui.table(people, "trend_users", q, key="explore_people", file_name=f"explore_{letter}_{period}")
    ui.email_these(people["user_id"].to_list(), key="email-explore-people")
