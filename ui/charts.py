"""Every chart the pages draw, as an Altair spec for ui.components.chart.

One time chart (lines or bars, per day, week or month, of counts, money or percentages),
horizontal bars, cell matrices, the weekday × hour heatmap, and the few one-off charts.
Each draws `format.plain(frame)`: the one place exact money becomes floats for the screen.

Periods reach the chart as their labels (2026-10-01, Week of Sep 28, Oct 2026: ui.format),
placed in order on a discrete axis, so a day is the same day in every viewer's timezone and
reads as it does in the tables. A period that is not complete yet (it ends on or after
`incomplete_from`, see ui.components.incomplete_from) is drawn dashed or lighter, and the
chart says so above the plot.

Every chart whose x axis is periods (`time`, `plan_mix`, `feature_adoption`) marks the periods
that hold an annotation (admin.annotations: a release, a price change, an outage) with a thin
dashed rule and a marker on top, whose hover reads the notes. The notes come from
ui.annotations unless a caller passes its own, so no page has to fetch them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import date

import altair as alt
import polars as pl

from metrics.goals import Progress
from pulse.periods import period_end, period_start
from ui import annotations
from ui import format as fmt

TOOLTIP_FORMATS = {"count": ",", "money": ",.2f", "percent": ".1%"}
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
TRENDS = {"Rising": "#2e7d32", "Stable": "#9e9e9e", "Falling": "#c62828"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
ALL_USERS = "All users"
OTHER = "Other"
FADED = 0.4  # the opacity of what is not complete yet
GOAL_LINE, GOAL_TARGET = "#1f77b4", "#c62828"  # a goal's line and its target
NOTE_COLOUR = "#8a6d3b"  # a muted ochre: apart from the series' colours, and quieter than them
NOTE = {"fontSize": 11, "fontWeight": "normal", "color": "#6b6f76", "anchor": "start", "offset": 4}


def money_axis() -> alt.Axis:
    return alt.Axis(format="$,.0f" if fmt.currency() == "USD" else ",.0f", tickMinStep=1)


def percent_axis() -> alt.Axis:
    return alt.Axis(format="%")


def count_axis() -> alt.Axis:
    """Whole numbers only: no 0.5 of a user between two ticks."""
    return alt.Axis(format=",d", tickMinStep=1)


AXES = {"count": count_axis, "money": money_axis, "percent": percent_axis}


def legend(labels: Sequence[str], title: str | None = None, narrow: bool = False) -> alt.Legend:
    """A legend above the plot that wraps into rows rather than run off the chart: the chart's
    width is the browser's to choose, so a `narrow` chart (half the page) budgets for 1024 px."""
    width = sum(len(text) * 7 + 35 for text in labels)
    rows = max(1, math.ceil(width / (210 if narrow else 480)))
    return alt.Legend(orient="top", title=title, columns=max(1, math.ceil(len(labels) / rows)), labelLimit=240,
                      symbolOpacity=1)


def incomplete(periods: Sequence[date], interval: str, incomplete_from: date | None) -> list[bool]:
    """Which periods end on or after `incomplete_from`: not complete yet."""
    return [incomplete_from is not None and period_end(p, interval) >= incomplete_from for p in periods]


def incomplete_note(periods: Sequence[date], interval: str, flags: Sequence[bool], style: str) -> str | None:
    """'Dashed: 2026-11-29 is incomplete' above a chart whose last periods are not complete yet."""
    names = [fmt.period(p, interval) for p, flag in zip(periods, flags) if flag]
    if not names:
        return None
    which = f"{names[0]} is" if len(names) == 1 else f"{names[0]} to {names[-1]} are"
    return f"{style}: {which} incomplete"


def _with_note(chart, note: str | None):
    return chart.properties(title=alt.TitleParams(note, **NOTE)) if note else chart


def _periods(frame: pl.DataFrame, x: str, interval: str, incomplete_from: date | None) -> tuple[pl.DataFrame, list[str]]:
    """The frame with its periods' labels (`when`, and `when_tip` for tooltips), whether each
    is complete, and which rows the dashed tail of a line runs through; and the labels in order."""
    periods = frame[x].to_list()
    flags = incomplete(periods, interval, incomplete_from)
    labels = [fmt.period(p, interval) for p in periods]
    last_complete = max((i for i, flag in enumerate(flags) if not flag), default=-1)
    return frame.with_columns(
        when=pl.Series(labels, dtype=pl.String),
        when_tip=pl.Series([f"{t} (incomplete)" if f else t for t, f in zip(labels, flags)], dtype=pl.String),
        complete=pl.Series([not f for f in flags], dtype=pl.Boolean),
        dashed=pl.Series([f or i == last_complete and any(flags) for i, f in enumerate(flags)], dtype=pl.Boolean),
        shade=pl.Series([FADED if f else 1.0 for f in flags], dtype=pl.Float64),
    ), list(dict.fromkeys(labels))


# On a line, the first and last labels sit flush with the plot's ends, not half outside it.
FLUSH = {"expr": "datum.index == 0 ? 'left' : datum.index == 1 ? 'right' : 'center'"}


def _period_x(order: list[str], flush: bool = False) -> alt.X:
    return alt.X("when:O", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelOverlap=True, labelPadding=6,
                                                                  labelAlign=FLUSH if flush else "center"))


def notes_by_period(notes: pl.DataFrame, periods: Sequence[date], interval: str) -> pl.DataFrame:
    """The notes (columns day and note, in the order to read them) that fall in one of `periods`
    (first days of `interval`), one row per period: its label as the axis reads it (`when`) and
    its notes, each after its day ('2026-10-01: Release 2.4 · 2026-10-03: Outage'). A note in no
    drawn period is left out: a chart marks only its own range."""
    drawn = set(periods)
    held: dict[str, list[str]] = {}
    for day, note in notes.select("day", "note").iter_rows():
        start = period_start(day, interval)
        if start in drawn:
            held.setdefault(fmt.period(start, interval), []).append(f"{day}: {note}")
    return pl.DataFrame({"when": list(held), "notes": [" · ".join(texts) for texts in held.values()]},
                        schema={"when": pl.String, "notes": pl.String})


def _note_marks(x: alt.X, notes: pl.DataFrame | None, periods: Sequence[date], interval: str) -> list[alt.Chart]:
    """Layers that mark the periods holding notes: a thin dashed rule through each, and a marker
    on top whose hover gives the period and its notes (as text: Vega's tooltips are never
    markup). `x` is the chart's own period axis (field `when`), so the marks share its scale.
    Without `notes`, every annotation in the admin database."""
    marked = notes_by_period(annotations.every() if notes is None else notes, periods, interval)
    if marked.is_empty():
        return []
    at = x.copy(deep=True)
    at.bandPosition = 0.5  # through the middle of a bar's band, not along its edge
    base = alt.Chart(marked).encode(x=at, tooltip=[alt.Tooltip("when:N", title=fmt.label(interval)),
                                                   alt.Tooltip("notes:N", title="Notes")])
    rule = base.mark_rule(color=NOTE_COLOUR, strokeDash=[4, 3], strokeWidth=1)
    marker = base.mark_point(shape="triangle-down", filled=True, size=70, color=NOTE_COLOUR, opacity=1).encode(
        y=alt.value(0))
    return [rule, marker]


def _row_marks(field: str, rows: dict[date, str], notes: pl.DataFrame | None, interval: str) -> list[alt.Chart]:
    """For a chart whose periods run down the side (cohort matrices, bars by month): a marker
    at the start of each row (`field` holds the row's label; `rows` maps each period's first
    day to it) whose period holds notes, the notes on hover."""
    marked = notes_by_period(annotations.every() if notes is None else notes, list(rows), interval)
    if marked.is_empty():
        return []
    labels = {fmt.period(start, interval): label for start, label in rows.items()}
    marked = marked.with_columns(pl.col("when").replace_strict(labels, default=pl.col("when")).alias(field))
    return [alt.Chart(marked).mark_point(shape="triangle-right", filled=True, size=70, color=NOTE_COLOUR, opacity=1)
            .encode(y=alt.Y(f"{field}:N", sort=list(rows.values())), x=alt.value(-6),
                    tooltip=[alt.Tooltip("when:N", title=fmt.label(interval)), alt.Tooltip("notes:N", title="Notes")])]


def _noted(chart: alt.Chart | alt.LayerChart, marks: list[alt.Chart]) -> alt.Chart | alt.LayerChart:
    return alt.layer(chart, *marks) if marks else chart


def time(
    frame: pl.DataFrame,
    x: str,
    series: dict[str, str],
    kind: str = "line",
    y_title: str = "",
    values: str = "count",
    interval: str = "day",
    stacked: bool = False,
    below: Sequence[str] = (),
    colours: Sequence[str] = (),
    pick: str | None = None,
    height: int = 280,
    incomplete_from: date | None = None,
    narrow: bool = False,
    notes: pl.DataFrame | None = None,
) -> alt.Chart | alt.LayerChart:
    """Columns of a frame over time, one colour each (`colours`, or the theme's), with a legend
    of their labels.

    x: the column of periods (first days of `interval`). values: count, money or percent, for
    the axis and the tooltip. Bars of several series stack when `stacked`, else (monthly) stand
    side by side; the series in `below` are drawn under zero (losses, dormant users). `pick`
    names a click selection of (x, series), the series by column name, for
    ui.components.picked. Periods ending on or after `incomplete_from` are dashed (lines) or
    lighter (bars). `narrow`: the chart takes half the page, its legend wraps sooner. `notes`
    (day, note): the annotations to mark, by default the admin database's.
    """
    labels = list(series.values())
    dated, order = _periods(fmt.plain(frame), x, interval, incomplete_from)
    long = dated.unpivot(index=[x, "when", "when_tip", "complete", "dashed", "shade"], on=list(series),
                         variable_name="series", value_name="value").with_columns(
        label=pl.col("series").replace_strict(series),
        drawn=pl.when(pl.col("series").is_in(list(below))).then(-pl.col("value")).otherwise(pl.col("value")),
    )
    tooltip = [alt.Tooltip("when_tip:N", title=fmt.label(interval)), alt.Tooltip("label:N", title="Series"),
               alt.Tooltip("value:Q", title=y_title or "Value", format=TOOLTIP_FORMATS[values])]
    # Nothing but zeros (or no value at all) still gets an axis from 0 up, not a collapsed one.
    flat = not (long["drawn"].abs().max() or 0)
    encoding = {
        "x": _period_x(order, flush=kind == "line"),
        "y": alt.Y("drawn:Q", title=y_title, stack=True if stacked else None, axis=AXES[values](),
                   scale=alt.Scale(domain=[0, 1]) if flat else alt.Undefined),
        "color": alt.Color("label:N", sort=labels, legend=legend(labels, narrow=narrow),
                           scale=alt.Scale(domain=labels, range=list(colours)) if colours else alt.Undefined),
    }
    # On a line, a click picks the nearest point: nobody has to hit a dot a few pixels wide.
    selection = alt.selection_point(name=pick, fields=[x, "series"], on="click", nearest=kind == "line") if pick else None
    base = alt.Chart(long).encode(**encoding)
    marks = _note_marks(encoding["x"], notes, dated[x].to_list(), interval)
    if kind == "bar":
        if interval == "month" and not stacked and len(series) > 1:
            base = base.encode(xOffset=alt.XOffset("label:N", sort=labels))
        shade = alt.Opacity("shade:Q", scale=None, legend=None)
        chart = base.mark_bar().encode(tooltip=tooltip, opacity=shade)
        if selection is not None:  # a bar's users are listed below the chart: show whose they are
            chart = chart.add_params(selection).encode(opacity=alt.condition(selection, shade, alt.value(0.2)))
        note = incomplete_note(dated[x].to_list(), interval, (~dated["complete"]).to_list(), "Lighter")
        return _with_note(_noted(chart, marks).properties(height=height), note)
    solid = base.transform_filter("datum.complete").mark_line()
    tail = base.transform_filter("datum.dashed").mark_line(strokeDash=[5, 4])
    points = base.mark_point(filled=True, size=36).encode(
        tooltip=tooltip, opacity=alt.Opacity("shade:Q", scale=None, legend=None))
    if selection is not None:
        points = points.add_params(selection)
    note = incomplete_note(dated[x].to_list(), interval, (~dated["complete"]).to_list(), "Dashed")
    return _with_note(alt.layer(solid, tail, points, *marks).properties(height=height), note)


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
    codes: str | None = None,
    periods: str | None = None,
    notes: pl.DataFrame | None = None,
) -> alt.Chart | alt.LayerChart:
    """Horizontal bars of one measure per category, in the frame's order or largest first;
    `details` are further count columns shown on hover. A money axis names its currency.
    `codes` names the kind of code the categories are (device_type, …), shown in words;
    `periods` the interval of categories that are periods (their first days, as dates or text),
    whose rows holding annotations (`notes`, by default the admin database's) get a marker."""
    axis_title = f"{value_title} ({fmt.currency()})" if values == "money" else value_title
    shown = fmt.plain(frame)
    if codes:
        shown = shown.with_columns(pl.col(category).replace_strict(fmt.CODES[codes], default=pl.col(category)))
    if periods:
        shown = shown.with_columns(pl.Series(category, [fmt.period(date.fromisoformat(str(v)), periods)
                                                        for v in shown[category]], dtype=pl.String))
    order = "-x" if largest_first else shown[category].to_list()  # the frame's order, whatever a layer adds
    chart = alt.Chart(shown).mark_bar().encode(
        x=alt.X(f"{value}:Q", title=axis_title, axis=AXES[values]()),
        y=alt.Y(f"{category}:N", title=category_title, sort=order, axis=alt.Axis(labelLimit=220)),
        tooltip=[alt.Tooltip(f"{category}:N", title=category_title or fmt.label(category)),
                 *[alt.Tooltip(f"{c}:Q", title=fmt.label(c), format=",") for c in details],
                 alt.Tooltip(f"{value}:Q", title=value_title, format=TOOLTIP_FORMATS[values])],
    )
    if periods:
        starts = [date.fromisoformat(str(v)) for v in frame[category]]
        chart = _noted(chart, _row_marks(category, {d: fmt.period(d, periods) for d in starts}, notes, periods))
    return chart.properties(height=alt.Step(step))


def top_features(usage: pl.DataFrame, top: int) -> alt.Chart:
    """The `top` most used features, coloured by their trend against the previous range."""
    shown = usage.with_columns(pl.col("trend").replace_strict(fmt.CODES["trend"], default=pl.col("trend")))
    return bars(shown, "usage_count", "feature", "Uses", largest_first=True, step=22).transform_window(
        rank="rank()", sort=[alt.SortField("usage_count", order="descending")]
    ).transform_filter(f"datum.rank <= {top}").encode(
        color=alt.Color("trend:N", title="Against the previous range", legend=alt.Legend(orient="top"),
                        scale=alt.Scale(domain=list(TRENDS), range=list(TRENDS.values()))),
        tooltip=[alt.Tooltip("feature:N", title="Feature"), alt.Tooltip("usage_count:Q", title="Uses", format=","),
                 alt.Tooltip("unique_users:Q", title="Users", format=","),
                 alt.Tooltip("adoption_rate:Q", title="Adoption", format=".1%"), alt.Tooltip("trend:N", title="Trend")],
    )


def _last_day_of_cell(interval: str) -> pl.Expr:
    """The last day of the period `period_offset` periods after the cohort's."""
    if interval == "month":
        return pl.col("cohort").dt.offset_by(pl.format("{}mo", pl.col("period_offset"))).dt.month_end()
    days = 7 if interval == "week" else 1
    return pl.col("cohort") + pl.duration(days=pl.col("period_offset") * days + days - 1)


def _cohort_rows(frame: pl.DataFrame, interval: str, incomplete_from: date | None, sized: bool) -> tuple[pl.DataFrame, list[str]]:
    """A cohort matrix with each row's label (with its size when `sized`) and whether each
    cell's period is complete; and the row labels in order."""
    cohorts = frame["cohort"].to_list()
    names = [fmt.period(c, interval) for c in cohorts]
    if sized:
        names = [f"{name}  ·  {fmt.plural(size, 'user')}" for name, size in zip(names, frame["cohort_size"].to_list())]
    shown = frame.with_columns(row=pl.Series(names, dtype=pl.String), cohort_name=pl.Series(
        [fmt.period(c, interval) for c in cohorts], dtype=pl.String))
    if incomplete_from is None:
        shown = shown.with_columns(complete=pl.lit(True))
    else:
        shown = shown.with_columns(complete=_last_day_of_cell(interval) < incomplete_from)
    shown = shown.with_columns(shade=pl.when(pl.col("complete")).then(1.0).otherwise(FADED),
                               state=pl.when(pl.col("complete")).then(pl.lit("complete"))
                               .otherwise(pl.lit("incomplete: the period is not over")))
    return shown, list(dict.fromkeys(names))


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
    """Cells coloured by `value` (lighter where the frame's `shade` says so), with the figure
    written in (white on the darker half) unless `text_format` is None; a matrix with its
    figures written in needs no colour legend. `percent` values are fractions; a `whole`
    percent matrix runs its colours from 0 to 100 % rather than up to its largest value."""
    scale = alt.Scale(scheme=scheme, domain=[0, 1]) if whole else alt.Scale(scheme=scheme)
    if text_format is not None:
        colour_legend = None
    else:
        colour_legend = alt.Legend(format="%", orient="right") if percent else alt.Legend(orient="right")
    cells = base.mark_rect().encode(color=alt.Color(f"{value}:Q", title=legend_title, scale=scale, legend=colour_legend),
                                    opacity=alt.Opacity("shade:Q", scale=None, legend=None), tooltip=tooltip)
    if text_format is None:
        return cells
    # The darker half of the colour scale: above 50 %, or above half the largest value.
    written = base if whole else base.transform_joinaggregate(top=f"max({value})")
    dark = f"datum.{value} > 0.5" if whole else f"datum.{value} > datum.top / 2"
    figures = written.transform_filter(f"isValid(datum.{value})").mark_text(fontSize=font_size).encode(
        text=alt.Text(f"{value}:Q", format=text_format),
        color=alt.condition(f"{dark} && datum.shade == 1", alt.value("white"), alt.value("black")),
        tooltip=tooltip,
    )
    return cells + figures


def _row_labels(shown: pl.DataFrame) -> dict[date, str]:
    return dict(zip(shown["cohort"].to_list(), shown["row"].to_list()))


def retention_cohorts(matrix: pl.DataFrame, interval: str, incomplete_from: date | None = None,
                      notes: pl.DataFrame | None = None) -> alt.LayerChart:
    """One row per cohort (labelled with its size), one column per offset, cells coloured by
    the rate and labelled with it as a percentage; cells of periods not over yet are pale."""
    unit = fmt.UNITS[interval].capitalize()
    shown, order = _cohort_rows(fmt.plain(matrix), interval, incomplete_from, sized=True)
    base = alt.Chart(shown).encode(
        x=alt.X("period_offset:O", title=f"{unit} since the cohort's {interval}", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("row:O", title=None, sort=order, axis=alt.Axis(labelLimit=260)),
    ).properties(height=alt.Step(26))
    tooltip = [alt.Tooltip("cohort_name:N", title="Cohort"), alt.Tooltip("period_offset:O", title=f"{unit} later"),
               alt.Tooltip("cohort_size:Q", title="Cohort size", format=","),
               alt.Tooltip("retained:Q", title="Retained", format=","), alt.Tooltip("rate:Q", title="Rate", format=".1%"),
               alt.Tooltip("state:N", title="Period")]
    chart = _noted(_matrix(base, "rate", "blues", "Retained", tooltip, ".0%", percent=True, whole=True),
                   _row_marks("row", _row_labels(shown), notes, interval))
    pale = not shown.filter(~pl.col("complete") & pl.col("rate").is_not_null()).is_empty()
    return _with_note(chart, "Pale cells: the period is incomplete, so more members may still come back" if pale else None)


def purchase_cohorts(cohorts: pl.DataFrame, incomplete_from: date | None = None,
                     notes: pl.DataFrame | None = None) -> alt.LayerChart:
    """Net revenue by first-purchase month (rows) and months since (columns), the figures written in."""
    shown, order = _cohort_rows(fmt.plain(cohorts), "month", incomplete_from, sized=False)
    base = alt.Chart(shown).encode(
        x=alt.X("period_offset:O", title="Months after the first purchase", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("row:O", title="First purchase in", sort=order),
    ).properties(height=alt.Step(28))
    tooltip = [alt.Tooltip("row:N", title="Cohort"), alt.Tooltip("period_offset:O", title="Months later"),
               alt.Tooltip("cohort_size:Q", title="Customers", format=","),
               alt.Tooltip("buyers:Q", title="Bought that month", format=","),
               alt.Tooltip("revenue:Q", title=f"Net revenue ({fmt.currency()})", format=",.2f"),
               alt.Tooltip("state:N", title="Month")]
    chart = _noted(_matrix(base, "revenue", "greens", f"Net revenue ({fmt.currency()})", tooltip, ",.0f"),
                   _row_marks("row", _row_labels(shown), notes, "month"))
    pale = not shown.filter(~pl.col("complete")).is_empty()
    return _with_note(chart, "Pale cells: the month is incomplete" if pale else None)


def plan_transitions(transitions: pl.DataFrame) -> alt.LayerChart:
    """Customers per (from plan, to plan), the counts written in."""
    base = alt.Chart(fmt.plain(transitions).with_columns(shade=pl.lit(1.0))).encode(
        x=alt.X("to_plan:N", title="To plan", axis=alt.Axis(labelAngle=0, orient="top")),
        y=alt.Y("from_plan:N", title="From plan"),
    ).properties(height=alt.Step(36))
    tooltip = [alt.Tooltip("from_plan:N", title="From"), alt.Tooltip("to_plan:N", title="To"),
               alt.Tooltip("customers:Q", title="Customers", format=",")]
    return _matrix(base, "customers", "blues", "Customers", tooltip, ",", font_size=13)


def feature_adoption(adoption: pl.DataFrame, interval: str, notes: pl.DataFrame | None = None) -> alt.Chart | alt.LayerChart:
    """One row per feature, grouped by category; one column per period; cells coloured by
    adoption. `notes` (day, note): the annotations to mark, by default the admin database's."""
    periods = adoption["period"].to_list()
    order = list(dict.fromkeys(fmt.period(p, interval) for p in sorted(set(periods))))
    shown = fmt.plain(adoption).with_columns(when=pl.Series([fmt.period(p, interval) for p in periods], dtype=pl.String),
                                             shade=pl.lit(1.0))
    x = alt.X("when:O", sort=order, title=None, axis=alt.Axis(labelAngle=-45, labelOverlap=True))
    base = alt.Chart(shown).transform_calculate(row="datum.category + ' · ' + datum.feature").encode(
        x=x, y=alt.Y("row:N", title=None, sort=None, axis=alt.Axis(labelLimit=320, labelOverlap=False)),
    ).properties(height=alt.Step(20))
    tooltip = [alt.Tooltip("feature:N", title="Feature"), alt.Tooltip("category:N", title="Category"),
               alt.Tooltip("when:N", title=fmt.label(interval)),
               alt.Tooltip("unique_users:Q", title="Users", format=","),
               alt.Tooltip("adoption_rate:Q", title="Adoption", format=".1%")]
    cells = _matrix(base, "adoption_rate", "greens", "Adoption", tooltip, None, percent=True)
    return _noted(cells, _note_marks(x, notes, sorted(set(periods)), interval))


def weekday_hours(cells: pl.DataFrame) -> alt.Chart:
    """Events by local weekday and hour of the day; an hour without events stays blank, also
    when the whole range is empty."""
    return alt.Chart(fmt.plain(cells)).mark_rect().encode(
        x=alt.X("hour:O", title="Hour of the day", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("weekday:O", title=None, axis=alt.Axis(labelExpr=f"{WEEKDAYS}[datum.value]")),
        color=alt.condition(
            "datum.events > 0",
            alt.Color("events:Q", title="Events", scale=alt.Scale(scheme="oranges"), legend=alt.Legend(format=",d")),
            alt.value("#f4f4f4"),
        ),
        tooltip=[alt.Tooltip("day:N", title="Weekday"), alt.Tooltip("hour:O", title="Hour"),
                 alt.Tooltip("events:Q", title="Events", format=",")],
    ).transform_calculate(day=f"{WEEKDAYS}[datum.weekday]").properties(height=240)


def retention_curves(curve: pl.DataFrame, by: pl.DataFrame, interval: str, group_title: str,
                     codes: str | None = None) -> alt.Chart:
    """The retention curve of all users, bold and black, with the curve of each group overlaid;
    all of them in the legend. `codes` names the kind of code the groups are, shown in words."""
    unit = fmt.UNITS[interval].capitalize()
    groups = fmt.plain(by).rename({"value": "group"})
    if codes:
        groups = groups.with_columns(pl.col("group").replace_strict(fmt.CODES[codes], default=pl.col("group")))
    lines = pl.concat([fmt.plain(curve).with_columns(group=pl.lit(ALL_USERS)).select(groups.columns), groups])
    # The groups merged as Other (retention_by's top) come last, after the named ones.
    names = sorted(dict.fromkeys(lines["group"].to_list()), key=lambda name: name == OTHER)
    colours = ["#000000", *(PALETTE * (len(names) // len(PALETTE) + 1))[: len(names) - 1]]
    bold = f"datum.group == '{ALL_USERS}'"
    return alt.Chart(lines).mark_line(point=True).encode(
        x=alt.X("period_offset:O", title=f"{unit} since the cohort's {interval}", axis=alt.Axis(labelAngle=0)),
        y=alt.Y("rate:Q", title="Retained", axis=percent_axis(), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("group:N", sort=names, scale=alt.Scale(domain=names, range=colours),
                        legend=legend(names, title=group_title)),
        strokeWidth=alt.condition(bold, alt.value(4), alt.value(2)),
        order=alt.condition(bold, alt.value(1), alt.value(0)),
        tooltip=[alt.Tooltip("group:N", title=group_title), alt.Tooltip("period_offset:O", title=f"{unit} later"),
                 alt.Tooltip("retained:Q", title="Retained", format=","),
                 alt.Tooltip("cohort_size:Q", title="Of", format=","), alt.Tooltip("rate:Q", title="Rate", format=".1%")],
    ).properties(height=320)


def session_lengths(lengths: pl.DataFrame) -> alt.Chart:
    """Sessions per length bucket, shortest first."""
    return alt.Chart(fmt.plain(lengths)).mark_bar().encode(
        x=alt.X("bucket:N", title="Session length", sort=None, axis=alt.Axis(labelAngle=0)),
        y=alt.Y("sessions:Q", title="Sessions", axis=count_axis()),
        tooltip=[alt.Tooltip("bucket:N", title="Length"), alt.Tooltip("sessions:Q", title="Sessions", format=",")],
    ).properties(height=260)


def funnel(steps: pl.DataFrame) -> alt.LayerChart:
    """Users at each step, the share of the first step written above each bar."""
    shown = fmt.plain(steps).with_columns(
        wait=pl.col("median_seconds_from_previous").map_elements(fmt.duration, return_dtype=pl.String))
    base = alt.Chart(shown).transform_calculate(label="datum.step + '. ' + datum.name").encode(
        x=alt.X("label:N", title=None, sort=None, axis=alt.Axis(labelAngle=0, labelLimit=200)),
        y=alt.Y("users:Q", title="Users", axis=count_axis()),
    )
    return (base.mark_bar() + base.mark_text(dy=-8).encode(text=alt.Text("conversion_from_start:Q", format=".0%"))).encode(
        tooltip=[alt.Tooltip("label:N", title="Step"), alt.Tooltip("users:Q", title="Users", format=","),
                 alt.Tooltip("conversion_from_start:Q", title="From the first step", format=".1%"),
                 alt.Tooltip("conversion_from_previous:Q", title="From the step before", format=".1%"),
                 alt.Tooltip("wait:N", title="Median time from the step before")],
    ).properties(height=280)


def plan_mix(mix: pl.DataFrame, incomplete_from: date | None = None,
             notes: pl.DataFrame | None = None) -> alt.Chart | alt.LayerChart:
    """MRR at each month's end, stacked by plan. `notes` (day, note): the annotations to mark,
    by default the admin database's."""
    dated, order = _periods(fmt.plain(mix).sort("month"), "month", "month", incomplete_from)
    plans = sorted(set(dated["plan"].to_list()))
    x = _period_x(order)
    chart = alt.Chart(dated).mark_bar().encode(
        x=x,
        y=alt.Y("mrr:Q", title=f"MRR ({fmt.currency()})", stack=True, axis=money_axis()),
        color=alt.Color("plan:N", sort=plans, legend=legend(plans, title="Plan")),
        opacity=alt.Opacity("shade:Q", scale=None, legend=None),
        tooltip=[alt.Tooltip("when_tip:N", title="Month"), alt.Tooltip("plan:N", title="Plan"),
                 alt.Tooltip("customers:Q", title="Customers", format=","), alt.Tooltip("mrr:Q", title="MRR", format=",.2f")],
    )
    months = list(dict.fromkeys(dated["month"].to_list()))
    flags = incomplete(months, "month", incomplete_from)
    noted = _noted(chart, _note_marks(x, notes, months, "month")).properties(height=280)
    return _with_note(noted, incomplete_note(months, "month", flags, "Lighter"))


def goal(p: Progress) -> alt.LayerChart:
    """The recent periods as a line (the current one, incomplete, lighter), the projection dashed
    to the due date's period inside its 80 % band, and the target as a red rule."""
    spec = p.spec
    frame = p.chart_frame()
    frame = frame.with_columns(when=pl.Series([fmt.period(d, spec.interval) for d in frame["period"]], dtype=pl.String))
    order = [fmt.period(d, spec.interval) for d in sorted(set(frame["period"].to_list()))]
    value_format = TOOLTIP_FORMATS[spec.kind]
    base = alt.Chart(frame).encode(
        x=alt.X("when:O", sort=order, title=None, axis=alt.Axis(labelAngle=0, labelOverlap=True)))
    tooltip = [alt.Tooltip("when:N", title=fmt.label(spec.interval)), alt.Tooltip("part:N", title="What"),
               alt.Tooltip("value:Q", title=spec.label, format=value_format)]
    axis = money_axis() if spec.kind == "money" else count_axis()
    # One untitled axis for every layer (the card names the number), so their titles do not merge.
    y = alt.Y("value:Q", title=None, axis=axis)
    projected = base.transform_filter("datum.part == 'projected'")
    band = projected.mark_area(opacity=0.15, color=GOAL_LINE).encode(
        y=alt.Y("low:Q", title=None, axis=axis), y2="high:Q",
        tooltip=[*tooltip, alt.Tooltip("low:Q", title="80 % interval from", format=value_format),
                 alt.Tooltip("high:Q", title="to", format=value_format)])
    line = projected.mark_line(strokeDash=[5, 4], color=GOAL_LINE).encode(y=y)
    actual = base.transform_filter("datum.part == 'actual'").mark_line(point=True, color=GOAL_LINE).encode(y=y, tooltip=tooltip)
    so_far = base.transform_filter("datum.part == 'so far'").mark_point(filled=True, color=GOAL_LINE, opacity=FADED).encode(
        y=y, tooltip=tooltip)
    target = alt.Chart(pl.DataFrame({"target": [p.target]})).mark_rule(color=GOAL_TARGET, strokeDash=[2, 2]).encode(
        y=alt.Y("target:Q", title=None, axis=axis), tooltip=[alt.Tooltip("target:Q", title="Target", format=value_format)])
    partial = [] if p.history.current_complete else [f"faint: {fmt.period(p.history.current_period, spec.interval)} so far"]
    note = " · ".join(["Dashed: the projection in its 80 % band", *partial, "red: the target"])
    return alt.layer(band, line, actual, so_far, target).properties(
        height=200, title=alt.TitleParams(note, **NOTE))
