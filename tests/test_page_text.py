"""Nothing on screen a user would frown at: every page of the app, on demo data and on a range
without data, shows no "None", "nan" or "null", no traceback, no metric or column name as the
code calls it, and no code font in a caption.

Each page runs through app.py (router, filter bar, the link's parameters) and every text it
shows is collected: titles, headers, captions, markdown, alerts, card labels, values and
tooltips, widget labels, expander and tab labels, chart titles, and every table's headers,
header tooltips and cells as the browser shows them (an empty cell is the table's placeholder).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from conftest import open_page, shown
from loaders.load import load_demo
from metrics import registry
from pulse.query import FILTERS, make_query
from pulse.store import Store
from ui.format import text as fmt_text

PAGES = ["overview", "activity", "retention", "purchases", "revenue", "user"]
EMPTY_RANGE = {"range": "custom", "start": "2001-01-01", "end": "2001-01-31"}
VIEWS = {
    "demo": {},
    "by_week": {"interval": "week"},
    "by_month_90_days": {"range": "90d", "interval": "month"},
    "empty_range": EMPTY_RANGE,
}
# What each page shows only when asked: the funnel, the retention curve split by device.
PAGE_PARAMS = {"activity": {"funnel": "/,/pricing"}, "retention": {"split": "device_type"}}

WORDS = re.compile(r"\b(None|nan|NaN|null)\b|Traceback")
SNAKE = re.compile(r"(?<![\w/.@-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w/.@-])")
EMAIL = re.compile(r"\S+@\S+")


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """A demo store (as the browser tests have it) and the id of its most active user."""
    path = tmp_path_factory.mktemp("page_text") / "pulse.duckdb"
    store = Store(path)
    load_demo(store, users=300, days=90, seed=3)
    return path, store.scalar("SELECT user_id FROM user_days GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1")


@pytest.fixture(scope="module")
def raw_names(demo) -> set[str]:
    """Names only the code should see: metric names, column, option and filter names, KPI codes."""
    names = set(FILTERS)
    for metric in registry.all_metrics():
        names |= {metric.name, *metric.columns, *(option.name for option in metric.options)}
    q = make_query("2026-01-01", "2026-01-31")
    for kpis in ("kpis", "activity_kpis"):
        names |= set(registry.run(kpis, Store(demo[0]), q)["kpi"].to_list())
    return {name for name in names if "_" in name}


def chart_titles(node) -> Iterator[str]:
    """Every title, subtitle and legend or axis title in a Vega-Lite spec."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("title", "subtitle") and isinstance(value, str):
                yield value
            elif key == "title" and isinstance(value, dict) and isinstance(value.get("text"), str):
                yield value["text"]
            else:
                yield from chart_titles(value)
    elif isinstance(node, list):
        for item in node:
            yield from chart_titles(item)


def table_text(element) -> tuple[list[str], list[str]]:
    """A table's headers and header tooltips, and its cells, as the browser shows them."""
    proto = element.proto
    config = json.loads(proto.columns or "{}")
    frame: pd.DataFrame = element.value
    shown = list(proto.column_order) or list(frame.columns)
    placeholder = proto.placeholder if proto.HasField("placeholder") else "None"
    headers, cells = [], []
    for column in shown:
        headers += [config.get(column, {}).get("label") or column, config.get(column, {}).get("help") or ""]
        cells += [placeholder if pd.isna(v) else str(v) for v in frame[column]]
    return headers, cells


def texts(at: AppTest) -> tuple[list[str], list[str], list[str]]:
    """(prose a page writes, the cells of its tables, its captions)."""
    prose = [e.value for kind in ("title", "header", "subheader", "caption", "markdown", "info", "warning", "error",
                                  "success") for e in getattr(at, kind)]
    for m in at.metric:
        prose += [m.label, m.value, m.delta or "", m.proto.help]
    for kind in ("selectbox", "multiselect", "segmented_control", "slider", "toggle", "number_input", "text_input",
                 "button", "form_submit_button", "download_button", "expander", "tabs"):
        prose += [e.label for e in getattr(at, kind) if hasattr(e, "label")]
    for chart in at.get("vega_lite_chart"):
        prose += list(chart_titles(json.loads(chart.proto.spec)))
    cells = []
    for element in at.dataframe:
        headers, values = table_text(element)
        prose += headers
        cells += values
    return [shown(p) for p in prose], cells, [shown(c.value) for c in at.caption]


@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("page", PAGES)
def test_a_page_shows_nothing_a_user_would_frown_at(demo, raw_names, monkeypatch, page, view):
    store_path, busiest_user = demo
    params = VIEWS[view] | PAGE_PARAMS.get(page, {}) | ({"user": busiest_user} if page == "user" else {})
    at = open_page(store_path, monkeypatch, page, **params)
    assert not at.exception, at.exception[0].value
    prose, cells, captions = texts(at)
    assert prose and (cells or view == "empty_range" or page == "overview")
    frowns = [f"{match.group(0)!r} in {text!r}" for text in prose + cells for match in WORDS.finditer(text)]
    frowns += [f"{name!r} in {text!r}" for text in prose + cells
               for name in re.findall(r"[A-Za-z0-9_]+", text) if name in raw_names]
    frowns += [f"{match.group(0)!r} in {text!r}" for text in prose for match in SNAKE.finditer(EMAIL.sub("", text))]
    frowns += [f"code font in {text!r}" for text in captions if "`" in text]
    assert frowns == []


def test_the_check_catches_what_it_looks_for(raw_names):
    """The patterns themselves, on texts the issue reported."""
    assert WORDS.search("None") and WORDS.search("Frequency nan") and not WORDS.search("Nonetheless")
    assert {"total_users", "device_type", "avg_duration_s", "dau_wau_mau"} <= raw_names
    assert SNAKE.search("The range's totals as in revenue_summary") and not SNAKE.search("/docs/api_keys")
    assert not SNAKE.search(EMAIL.sub("", "Email max_b437@hooli.example"))


HOSTILE = "**Eve** [click](http://evil.example) :red[x] :material/home: <b>hi</b> $x$ www.evil.example"


def test_values_from_the_data_and_the_link_are_never_markup(make_store, monkeypatch):
    """A name, an email and a link's values full of markdown reach the page escaped: the
    browser shows them exactly as written, with no link, icon, colour, formula or HTML."""
    store_path = make_store(
        users=[{"user_id": "u1", "email": "eve@evil.example", "name": HOSTILE, "signup_at": "2026-01-02 10:00",
                "country": "DE", "plan": "free"}],
        events=[{"event_id": "e1", "user_id": "u1", "ts": "2026-01-03 10:00", "event_type": "login"}],
    ).path
    at = open_page(store_path, monkeypatch, "user", user="u1", range="custom", start="2026-01-01", end="2026-01-31")
    assert not at.exception
    header = at.header[0].value
    assert header == fmt_text(HOSTILE)
    assert shown(header) == HOSTILE  # what the browser shows: the name as written
    assert not re.search(r"(?<!\\)[*\[\]<>$]|(?<!\\)\]\(|:(?!\u2060)|www(?!\u2060)", header)

    at = open_page(store_path, monkeypatch, "overview", interval="[x](http://evil.example)")
    warning = at.sidebar.warning[0].value
    assert shown(warning) == "The link's interval '[x](http://evil.example)' is unknown; showing days."
    assert "](" not in warning and "http:\u2060//" in warning


def test_escaping_by_hand():
    assert fmt_text("a_b *c* [d](e) 12:30 x@y.z") == "a\\_b \\*c\\* \\[d\\]\\(e\\) 12:\u206030 x@\u2060y\\.z"
