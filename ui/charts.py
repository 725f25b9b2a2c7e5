"""Every chart the pages draw, as an Altair spec for ui.components.chart.

One time chart (lines or bars, per day, week or month, of counts, money or percentages),
horizontal bars, cell matrices, the weekday × hour heatmap, and the few one-off charts.
Each draws `format.plain(frame)`: the one place exact money becomes floats for the screen.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import polars as pl

from ui import format as fmt

COUNT = ",~r"  # axis and legend numbers: whole counts, and a plain 0 when everything is 0
TOOLTIP_FORMATS = {"count": ",", "money": ",.2f", "percent": ".1%"}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
UNITS = {"day": "days", "week": "weeks", "month": "months"}
TRENDS = {"increasing": "#2e7d32", "stable": "#9e9e9e", "decreasing": "#c62828"}
ALL_USERS = "All users"


def money_axis() -> alt.Axis:
    return alt.Axis(format="$,.0f" if fmt.currency() == "USD" else ",.0f")


def percent_axis() -> alt.Axis:
    return alt.Axis(format="%")


def count_axis() -> alt.Axis:
    return alt.Axis(format=COUNT)


AXES = {"count": count_axis, "money": money_axis, "percent": percent_axis}


def _time_x(x: str, monthly: bool, bars: bool) -> alt.X:
    """The time axis: days labelled 'Nov 03'; months labelled 'Nov 2026', as one band each for bars."""
    if monthly and bars:
        return alt.X(f"{x}:O", timeUnit="yearmonth", title=None)
    if monthly:
        return alt.X(f"{x}:T", title=None, axis=alt.Axis(format="%b %Y", tickCount="month"))
    return alt.X(f"{x}:T", title=None, axis=alt.Axis(format="%b %d"))


def _time_tooltip(x: str, monthly: bool) -> alt.Tooltip:
    if monthly:
        return alt.Tooltip(f"{x}:T", title="Month", format="%B %Y")
    return alt.Tooltip(f"{x}:T", title=fmt.label(x), format="%Y-%m-%d")


def time(
    frame: pl.DataFrame,
    x: str,
    series: dict[str, str],
    kind: str = "line",
    y_title: str = "",
    values: str = "count",
    monthly: bool = False,
    stacked: bool = False,
    below: Sequence[str] = (),
    colours: Sequence[str] = (),
    pick: str | None = None,
    height: int = 280,
) -> alt.Chart:
    """Columns of a frame over time, one colour each (`colours`, or the theme's), with a legend
    of their labels.

    values: count, money or percent, for the axis and the tooltip. monthly: one value per
    month. Bars of several series stack when `stacked`, else (monthly) stand side by side;
    the series in `below` are drawn under zero (losses, dormant users). `pick` names a click
    selection of (x, series), the series by column name, for ui.components.picked.
    """
    labels = list(series.values())
    long = fmt.plain(frame).unpivot(index=x, on=list(series), variable_name="series", value_name="value").with_columns(
        label=pl.col("series").replace_strict(series),
        drawn=pl.when(pl.col("series").is_in(list(below))).then(-pl.col("value")).otherwise(pl.col("value")),
    )
    base = alt.Chart(long)
    mark = base.mark_line(point=True) if kind == "line" else base.mark_bar()
    encoding = {
        "x": _time_x(x, monthly, kind == "bar"),
        "y": alt.Y("drawn:Q", title=y_title, stack=True if stacked else None, axis=AXES[values]()),
        "color": alt.Color("label:N", title=None, sort=labels, legend=alt.Legend(orient="top"),
                           scale=alt.Scale(domain=labels, range=list(colours)) if colours else alt.Undefined),
        "tooltip": [_time_tooltip(x, monthly), alt.Tooltip("label:N", title=""),
                    alt.Tooltip("value:Q", title=y_title or "Value", format=TOOLTIP_FORMATS[values])],
    }
    if kind == "bar" and monthly and not stacked and len(series) > 1:
        encoding["xOffset"] = alt.XOffset("label:N", sort=labels)
    chart = mark.encode(**encoding).properties(height=height)
    if pick:
        selection = alt.selection_point(name=pick, fields=[x, "series"], on="click")
        chart = chart.add_params(selection)
        if kind == "bar":  # a bar's users are listed below the chart: show whose they are
            chart = chart.encode(opacity=alt.condition(selection, alt.value(1.0), alt.value(0.35)))
    return chart


def bars(
    frame: pl.DataFrame,
    value: str,
    category: str,
    value_title: str,
    category_title: str | None = None,
    values: str = "count",
    largest_first: bool = False,
    details: Sequence[str] = (),
    step: int = 24,
) -> alt.Chart:
    """Horizontal bars of one measure per category, in the frame's order or largest first;
    `details` are further count columns shown on hover. A money axis names its currency."""
    axis_title = f"{value_title} ({fmt.currency()})" if values == "money" else value_title
    return alt.Chart(fmt.plain(frame)).mark_bar().encode(
        x=alt.X(f"{value}:Q", title=axis_title, axis=AXES[values]()),
        y=alt.Y(f"{category}:N", title=category_title, sort="-x" if largest_first else None),
        tooltip=[alt.Tooltip(f"{category}:N", title=category_title or fmt.label(category)),
                 *[alt.Tooltip(f"{c}:Q", title=fmt.label(c), format=",") for c in details],
                 alt.Tooltip(f"{value}:Q", title=value_title, format=TOOLTIP_FORMATS[values])],
    ).properties(height=alt.Step(step))


def top_features(usage: pl.DataFrame, top: int) -> alt.Chart:
    """The `top` most used features, coloured by their trend against the previous range."""
    return bars(usage, "usage_count", "feature", "Uses", largest_first=True, step=22).transform_window(
        rank="rank()", sort=[alt.SortField("usage_count", order="descending")]
    ).transform_filter(f"datum.rank <= {top}").encode(
        color=alt.Color("trend:N", title="Trend", legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=list(TRENDS), range=list(TRENDS.values()))),
        tooltip=[alt.Tooltip("feature:N", title="Feature"), alt.Tooltip("usage_count:Q", title="Uses", format=","),
                 alt.Tooltip("unique_users:Q", title="Users", format=","),
                 alt.Tooltip("adoption_rate:Q", title="Adoption", format=".1%"), alt.Tooltip("trend:N", title="Trend")],
    )


def _matrix(
    base: alt.Chart,
    value: str,
    scheme: str,
    legend_title: str,
    tooltip: list[alt.Tooltip],
    text_format: str | None,
    font_size: int = 11,
    percent: bool = False,
    whole: bool = False,
) -> alt.Chart | alt.LayerChart:
    """Cells coloured by `value`, with the figure written in (white on the darker half) unless
    `text_format` is None. `percent` values are fractions; a `whole` percent matrix runs its
    colours from 0 to 100 % rather than up to its largest value."""
    scale = alt.Scale(scheme=scheme, domain=[0, 1]) if whole else alt.Scale(scheme=scheme)
    legend = alt.Legend(format="%") if percent else alt.Undefined
    cells = base.mark_rect().encode(color=alt.Color(f"{value}:Q", title=legend_title, scale=scale, legend=legend),
                                    tooltip=tooltip)
    if text_format is None:
        return cells
    # The darker half of the colour scale: above 50 %, or above half the largest value.
    written = base if whole else base.transform_joinaggregate(top=f"max({value})")
    dark = f"datum.{value} > 0.5" if whole else f"datum.{value} > datum.top / 2"
    figures = written.transform_filter(f"isValid(datum.{value})").mark_text(fontSize=font_size).encode(
        text=alt.Text(f"{value}:Q", format=text_format),
        color=alt.condition(dark, alt.value("white"), alt.value("black")),
    )
    return cells + figures


def retention_cohorts(matrix: pl.DataFrame, interval: str) -> alt.LayerChart:
    """One row per cohort (labelled with its size), one column per offset, cells coloured by
    the rate and labelled with it as a percentage."""
    unit = UNITS[interval].capitalize()
    base = alt.Chart(fmt.plain(matrix)).transform_calculate(
        # Dates reach the browser as UTC midnights: format them in UTC, whatever the viewer's timezone.
        day="utcFormat(toDate(datum.cohort), '%Y-%m-%d')",
    ).transform_calculate(
        row="datum.day + '  ·  ' + format(datum.cohort_size, ',') + ' users'",
    ).encode(
        x=alt.X("period_offset:O", title=f"{unit} after the cohort's first", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("row:O", title=None, axis=alt.Axis(labelLimit=240)),
    ).properties(height=alt.Step(26))
    tooltip = [alt.Tooltip("day:N", title="Cohort"), alt.Tooltip("period_offset:O", title=f"{unit} later"),
               alt.Tooltip("cohort_size:Q", title="Cohort size", format=","),
               alt.Tooltip("retained:Q", title="Retained", format=","), alt.Tooltip("rate:Q", title="Rate", format=".1%")]
    return _matrix(base, "rate", "blues", "Retained", tooltip, ".0%", percent=True, whole=True)


def purchase_cohorts(cohorts: pl.DataFrame) -> alt.LayerChart:
    """Net revenue by first-purchase month (rows) and months since (columns), the figures written in."""
    base = alt.Chart(fmt.plain(cohorts)).encode(
        x=alt.X("period_offset:O", title="Months after the first purchase", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("cohort:O", title="First purchase in", timeUnit="yearmonth"),
    ).properties(height=alt.Step(28))
    tooltip = [alt.Tooltip("cohort:T", title="Cohort", format="%B %Y"), alt.Tooltip("period_offset:O", title="Month"),
               alt.Tooltip("cohort_size:Q", title="Customers"), alt.Tooltip("buyers:Q", title="Bought that month"),
               alt.Tooltip("revenue:Q", title="Net revenue", format=",.2f")]
    return _matrix(base, "revenue", "greens", f"Net revenue ({fmt.currency()})", tooltip, ",.0f")


def plan_transitions(transitions: pl.DataFrame) -> alt.LayerChart:
    """Customers per (from plan, to plan), the counts written in."""
    base = alt.Chart(fmt.plain(transitions)).encode(
        x=alt.X("to_plan:N", title="To plan", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("from_plan:N", title="From plan"),
    ).properties(height=alt.Step(36))
    tooltip = [alt.Tooltip("from_plan:N", title="From"), alt.Tooltip("to_plan:N", title="To"),
               alt.Tooltip("customers:Q", title="Customers")]
    return _matrix(base, "customers", "blues", "Customers", tooltip, ",", font_size=13)


def feature_adoption(adoption: pl.DataFrame) -> alt.Chart:
    """One row per feature, grouped by category; one column per period; cells coloured by adoption."""
    base = alt.Chart(fmt.plain(adoption)).transform_calculate(row="datum.category + ' · ' + datum.feature").encode(
        x=alt.X("period:O", timeUnit="yearmonthdate", title=None, axis=alt.Axis(format="%b %d", labelAngle=-45)),
        y=alt.Y("row:N", title=None, sort=None, axis=alt.Axis(labelLimit=320, labelOverlap=False)),
    ).properties(height=alt.Step(20))
    tooltip = [alt.Tooltip("feature:N", title="Feature"), alt.Tooltip("category:N", title="Category"),
               alt.Tooltip("period:T", title="Period", format="%Y-%m-%d"),
               alt.Tooltip("unique_users:Q", title="Users", format=","),
               alt.Tooltip("adoption_rate:Q", title="Adoption", format=".1%")]
    return _matrix(base, "adoption_rate", "greens", "Adoption", tooltip, None, percent=True)


def weekday_hours(cells: pl.DataFrame) -> alt.Chart:
    """Events by local weekday (0 = Monday) and hour of the day; an hour without events stays
    blank, also when the whole range is empty."""
    return alt.Chart(fmt.plain(cells)).mark_rect().encode(
        x=alt.X("hour:O", title="Hour of the day", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("weekday:O", title=None, axis=alt.Axis(labelExpr=f"{WEEKDAYS}[datum.value]")),
        color=alt.condition(
            "datum.events > 0",
            alt.Color("events:Q", title="Events", scale=alt.Scale(scheme="oranges"), legend=alt.Legend(format=COUNT)),
            alt.value("#f4f4f4"),
        ),
        tooltip=[alt.Tooltip("day:N", title="Weekday"), alt.Tooltip("hour:O", title="Hour"),
                 alt.Tooltip("events:Q", title="Events", format=",")],
    ).transform_calculate(day=f"{WEEKDAYS}[datum.weekday]").properties(height=240)


def retention_curves(curve: pl.DataFrame, by: pl.DataFrame, interval: str, group_title: str) -> alt.LayerChart:
    """The retention curve of all users, bold, with the curve of each group overlaid."""
    unit = UNITS[interval].capitalize()
    x = alt.X("period_offset:O", title=f"{unit} after the cohort's first", axis=alt.Axis(labelAngle=0))
    y = alt.Y("rate:Q", title="Retained", axis=percent_axis(), scale=alt.Scale(domain=[0, 1]))
    tooltip = [alt.Tooltip("group:N", title=group_title), alt.Tooltip("period_offset:O", title=f"{unit} later"),
               alt.Tooltip("retained:Q", title="Retained", format=","), alt.Tooltip("cohort_size:Q", title="Of", format=","),
               alt.Tooltip("rate:Q", title="Rate", format=".1%")]
    total = alt.Chart(fmt.plain(curve)).transform_calculate(group=f"'{ALL_USERS}'").mark_line(
        point=True, strokeWidth=4, color="black").encode(x=x, y=y, tooltip=tooltip)
    groups = alt.Chart(fmt.plain(by)).transform_calculate(group="datum.value").mark_line(point=True, strokeWidth=2).encode(
        x=x, y=y, tooltip=tooltip, color=alt.Color("group:N", title=group_title, legend=alt.Legend(orient="top")),
    )
    return (groups + total).properties(height=320)


def session_lengths(lengths: pl.DataFrame) -> alt.Chart:
    """Sessions per length bucket, shortest first."""
    return alt.Chart(fmt.plain(lengths)).mark_bar().encode(
        x=alt.X("bucket:N", title="Session length", sort=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("sessions:Q", title="Sessions", axis=count_axis()),
        tooltip=[alt.Tooltip("bucket:N", title="Length"), alt.Tooltip("sessions:Q", title="Sessions", format=",")],
    ).properties(height=260)


def funnel(steps: pl.DataFrame) -> alt.LayerChart:
    """Users at each step, the share of the first step written above each bar."""
    base = alt.Chart(fmt.plain(steps)).transform_calculate(label="datum.step + '. ' + datum.name").encode(
        x=alt.X("label:N", title=None, sort=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("users:Q", title="Users", axis=count_axis()),
    )
    return (base.mark_bar() + base.mark_text(dy=-8).encode(text=alt.Text("conversion_from_start:Q", format=".0%"))).encode(
        tooltip=[alt.Tooltip("label:N", title="Step"), alt.Tooltip("users:Q", title="Users", format=","),
                 alt.Tooltip("conversion_from_start:Q", title="From the first step", format=".1%"),
                 alt.Tooltip("conversion_from_previous:Q", title="From the step before", format=".1%"),
                 alt.Tooltip("median_seconds_from_previous:Q", title="Median seconds from the step before", format=",.0f")],
    ).properties(height=280)


def plan_mix(mix: pl.DataFrame) -> alt.Chart:
    """MRR at each month's end, stacked by plan."""
    return alt.Chart(fmt.plain(mix)).mark_bar().encode(
        x=_time_x("month", monthly=True, bars=True),
        y=alt.Y("mrr:Q", title=f"MRR ({fmt.currency()})", stack=True, axis=money_axis()),
        color=alt.Color("plan:N", title="Plan", legend=alt.Legend(orient="top")),
        tooltip=[_time_tooltip("month", monthly=True), alt.Tooltip("plan:N", title="Plan"),
                 alt.Tooltip("customers:Q", title="Customers"), alt.Tooltip("mrr:Q", title="MRR", format=",.2f")],
    ).properties(height=280)
