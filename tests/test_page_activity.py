"""The Activity page renders on a small store, shows the right figures, and names the users
behind a clicked number."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import pytest
import streamlit as st
from conftest import build_store, q, shown
from streamlit.testing.v1 import AppTest

PAGE = Path(__file__).resolve().parent.parent / "pages" / "activity.py"


def ev(user: str, ts: str, event_type: str = "login", **extra: str) -> dict:
    return {"event_id": f"{user}@{ts}", "user_id": user, "ts": ts, "event_type": event_type, "device_type": "desktop", **extra}


# The range is Jan 8-9, 2024; the previous range Jan 6-7. u1 is active Jan 6, 8 and 9, u2 (signed
# up Jan 9) on Jan 9.
TABLES = {
    "users": [
        {"user_id": "u1", "email": "u1@example.com", "signup_at": "2023-12-01 09:00", "plan": "pro", "country": "DE"},
        {"user_id": "u2", "email": "u2@example.com", "signup_at": "2024-01-09 09:00", "plan": "free", "country": "US"},
    ],
    "events": [
        ev("u1", "2024-01-06 10:00"),
        ev("u1", "2024-01-08 10:00", "page_view", page_path="/"), ev("u1", "2024-01-08 10:10", "page_view", page_path="/pricing"),
        ev("u1", "2024-01-09 10:00", "feature_use", event_name="report", properties='{"category": "reporting"}'),
        ev("u2", "2024-01-09 10:00", "page_view", page_path="/"),
    ],
}


@pytest.fixture(scope="module")
def store_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("activity_page") / "pulse.duckdb"
    build_store(path, **TABLES)
    return path


def open_page(store_path, monkeypatch, query, **link: str) -> AppTest:
    """The page after one run for `query`, opened by a link with these page parameters."""
    monkeypatch.setenv("PULSE_STORE", str(store_path))
    monkeypatch.setenv("PULSE_ADMIN_DB", f"sqlite:///{store_path.parent / 'admin.db'}")
    st.cache_resource.clear()
    st.cache_data.clear()
    at = AppTest.from_file(str(PAGE), default_timeout=60)
    at.session_state["query"] = query
    for key, value in link.items():
        at.query_params[key] = value
    at.run()
    assert_clean(at)
    return at


def assert_clean(at: AppTest) -> None:
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]


@pytest.fixture
def page(store_path, monkeypatch) -> AppTest:
    return open_page(store_path, monkeypatch, q("2024-01-08", "2024-01-09"))


def table_with(at: AppTest, *columns: str):
    """The first table on the page that has these columns, as pandas."""
    return next(t.value for t in at.dataframe if set(columns) <= set(t.value.columns))


def click(at: AppTest, chart_key: str, param: str, point: dict) -> None:
    """Run the page again as if the user had clicked `point` in a chart.

    AppTest cannot click a chart, so this sends what the browser sends: the chart's selection
    as its widget state, dates as epoch milliseconds.
    """
    chart = next(c for c in at.get("vega_lite_chart") if c.proto.id.endswith(chart_key))
    states = at._tree.get_widget_states()
    state = states.widgets.add()
    state.id = chart.proto.id
    state.string_value = json.dumps({"selection": {param: [point]}})
    at._run(states)
    assert_clean(at)


def downloads(monkeypatch) -> list[str]:
    """The file names of the CSV downloads the page offers from now on."""
    names, offer = [], st.download_button

    def spy(*args, **kwargs):
        names.append(kwargs["file_name"])
        return offer(*args, **kwargs)

    monkeypatch.setattr(st, "download_button", spy)
    return names


def epoch_ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=timezone.utc).timestamp() * 1000)


def test_activity_page_shows_the_kpis_against_the_previous_range(page):
    at = page
    assert at.title[0].value == "Activity"
    shown = {m.label: (m.value, m.delta) for m in at.metric}
    # DAU 1, 2 against 1, 0; WAU and MAU 1, 2 against 1, 1. Engagement: stickiness 1, 0, 1, 1 from
    # Jan 6, so 100, 50, 66.7, 75: (66.7 + 75) / 2 = 70.8 against 75. Sessions: Jan 8 (600 s) and
    # two bounces on Jan 9, against one bounce on Jan 6.
    assert shown == {
        "Average DAU": ("1.5", "+200.0% vs previous"),
        "Average WAU": ("1.5", "+50.0% vs previous"),
        "Average MAU": ("1.5", "+50.0% vs previous"),
        "Engagement score": ("70.8", "-5.6% vs previous"),
        "Sessions": ("3", "+200.0% vs previous"),
        "Average session length": ("3m 20s", ""),  # against 0 s: no change to show
        "Bounce rate": ("66.7%", "-33.3% vs previous"),
    }


def test_activity_page_draws_every_section_with_captions_and_downloads(page):
    at = page
    assert [h.value for h in at.header] == ["Who is active", "Sessions", "Features", "Journeys", "API usage against plan limits"]
    assert len(at.get("vega_lite_chart")) == 10
    assert all(c.value for c in at.caption)
    # Every table has its CSV download.
    assert len(at.get("download_button")) == len(at.dataframe)
    lifecycle = table_with(at, "returning", "dormant")
    assert lifecycle["new"].tolist() == [0, 1] and lifecycle["returning"].tolist() == [0, 1]
    assert lifecycle["resurrecting"].tolist() == [1, 0]
    entry_exit = table_with(at, "entries", "exits")
    assert entry_exit["page"].tolist() == ["/", "/pricing"] and entry_exit["entries"].tolist() == [2, 0]
    usage = table_with(at, "usage_count")
    # Tables show percentages as percent: 0.5 is 50.0, shown as 50.0%.
    assert usage["feature"].tolist() == ["report"] and usage["adoption_rate"].tolist() == [50.0]
    # Nobody is near an API limit: the page says so.
    assert any("API calls" in i.value for i in at.info)


def test_activity_page_funnel_builder(page):
    at = page
    assert at.multiselect(key="funnel_steps").options == ["/", "/pricing", "report"]
    at.multiselect(key="funnel_steps").set_value(["/", "/pricing"])
    at.run()
    assert_clean(at)
    funnel = table_with(at, "conversion_from_start")
    # u1 and u2 enter at /; u1 reaches /pricing ten minutes later.
    assert funnel["users"].tolist() == [2, 1]
    assert funnel["conversion_from_previous"].tolist() == [100.0, 50.0]
    assert funnel["median_seconds_from_previous"].tolist()[1] == "10m 00s"


def test_funnel_steps_stay_picked_on_a_range_without_them(page):
    at = page
    at.multiselect(key="funnel_steps").set_value(["/", "/pricing"])
    at.run()
    at.session_state["query"] = q("2023-06-01", "2023-06-30")
    at.run()
    assert_clean(at)
    assert at.multiselect(key="funnel_steps").value == ["/", "/pricing"]
    assert table_with(at, "conversion_from_start")["users"].tolist() == [0, 0]


def test_activity_page_breakdown_by_country(page):
    at = page
    at.segmented_control(key="activity_breakdown").set_value("country")
    at.run()
    assert_clean(at)
    breakdown = table_with(at, "dimension", "value")
    assert breakdown["value"].tolist() == ["DE", "US"] and breakdown["events"].tolist() == [3, 1]


def test_clicking_a_lifecycle_bar_lists_its_users(page, monkeypatch):
    at = page
    offered = downloads(monkeypatch)
    click(at, "lifecycle_chart", "status_pick", {"period": epoch_ms("2024-01-09"), "series": "new"})
    assert any(m.value.startswith("**New users on 2024-01-09**") for m in at.markdown)
    people = table_with(at, "email", "last_seen")
    assert people["user_id"].tolist() == ["user?user=u2"] and people["email"].tolist() == ["u2@example.com"]
    # The CSV is named after what it lists.
    assert "new_users_2024-01-09.csv" in offered


def test_clicking_a_day_lists_the_users_active_on_it(page, monkeypatch):
    at = page
    offered = downloads(monkeypatch)
    click(at, "active_chart", "day_pick", {"date": epoch_ms("2024-01-09")})
    people = table_with(at, "email", "last_seen")
    # Each user links to the user page, the id its text.
    assert people["user_id"].tolist() == ["user?user=u1", "user?user=u2"]
    link = json.loads(next(t for t in at.dataframe if "last_seen" in t.value.columns).proto.columns)["user_id"]
    assert link["type_config"] == {"type": "link", "display_text": r"^user\?user=([^&]*)"}
    assert "active_users_2024-01-09.csv" in offered


def test_activity_page_on_an_empty_range(store_path, monkeypatch):
    at = open_page(store_path, monkeypatch, q("2023-06-01", "2023-06-30"))
    shown = {m.label: m.value for m in at.metric}
    assert shown["Average DAU"] == "0" and shown["Sessions"] == "0" and shown["Bounce rate"] == "—"
    assert any("No feature use" in i.value for i in at.info)


def test_a_funnel_link_opens_on_its_steps_window_and_breakdown(store_path, monkeypatch):
    at = open_page(store_path, monkeypatch, q("2024-01-08", "2024-01-09"), funnel="/,/pricing", window="3",
                   breakdown="country")
    assert at.multiselect(key="funnel_steps").value == ["/", "/pricing"]
    assert at.number_input(key="funnel_window").value == 3
    assert table_with(at, "conversion_from_start")["users"].tolist() == [2, 1]
    assert at.segmented_control(key="activity_breakdown").value == "country"
    assert table_with(at, "dimension", "value")["value"].tolist() == ["DE", "US"]
    assert not at.warning


def test_the_page_choices_go_into_the_link(page):
    at = page
    at.multiselect(key="funnel_steps").set_value(["/", "/pricing"])
    at.number_input(key="funnel_window").set_value(7)
    at.segmented_control(key="activity_breakdown").set_value("os")
    at.run()
    assert_clean(at)
    assert {k: at.query_params[k] for k in ("funnel", "window", "breakdown")} == {
        "funnel": "/,/pricing", "window": "7", "breakdown": "os"}
    # Back to the defaults, the link is short again.
    at.multiselect(key="funnel_steps").set_value([])
    at.number_input(key="funnel_window").set_value(14)
    at.segmented_control(key="activity_breakdown").set_value("device_type")
    at.run()
    assert not {"funnel", "window", "breakdown"} & set(at.query_params)


def test_a_bad_link_value_is_a_warning_naming_it(store_path, monkeypatch):
    at = open_page(store_path, monkeypatch, q("2024-01-08", "2024-01-09"), window="soon", breakdown="fridge")
    assert [shown(w.value) for w in at.warning] == [
        "The link's breakdown 'fridge' is not one of: device_type, browser, os, country; showing device_type.",
        "The link's funnel window 'soon' is not a whole number from 1 to 365; showing 14.",
    ]
    assert at.number_input(key="funnel_window").value == 14
    assert at.segmented_control(key="activity_breakdown").value == "device_type"
