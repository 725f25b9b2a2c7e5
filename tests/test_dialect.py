"""Where DuckDB and ClickHouse could differ, pinned on both real engines (DuckDB in memory,
chDB in process): each statement is run as written on DuckDB and as pulse.dialect renders it
on ClickHouse, and the rows must be the ones worked out by hand here."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest

from metrics.discovery import SAMPLE_BUCKET
from pulse.clickhouse import query
from pulse.dialect import DialectError, clickhouse


@pytest.fixture(scope="module")
def engines(chdb_directory):
    def both(sql: str, params: dict | None = None) -> tuple[list[tuple], list[tuple]]:
        return duckdb.connect().sql(sql, params=params).pl().rows(), query(chdb_directory, sql, params).rows()

    return both


def test_parameters_are_typed_literals(engines):
    duck, ch = engines("SELECT $day AS d, $at AS t, $n + 1 AS n, $name AS s, 'x' IN (SELECT unnest($list)) AS hit",
                       {"day": dt.date(2024, 2, 29), "at": dt.datetime(2024, 2, 29, 23, 59, 59, 123456), "n": 41,
                        "name": "O'Brien", "list": ["x", "y"]})
    expected = [(dt.date(2024, 2, 29), dt.datetime(2024, 2, 29, 23, 59, 59, 123456), 42, "O'Brien", True)]
    assert duck == ch == expected


def test_a_missing_parameter_is_a_sentence():
    with pytest.raises(DialectError, match=r"The parameter \$end has no value"):
        clickhouse("SELECT $end", {})


def test_a_qualified_column_keeps_its_name(engines):
    sql = "SELECT t.a, t.b AS renamed FROM (SELECT 1 AS a, 2 AS b) t"
    assert clickhouse(sql).startswith('SELECT t.a AS "a", t.b AS renamed')
    duck, ch = engines(sql)
    assert duck == ch == [(1, 2)]


@pytest.mark.parametrize("utc, local", [
    # Berlin springs forward at 01:00 UTC on 2024-03-31: 01:59:59 CET, then 03:00:00 CEST.
    (dt.datetime(2024, 3, 31, 0, 59, 59), dt.datetime(2024, 3, 31, 1, 59, 59)),
    (dt.datetime(2024, 3, 31, 1, 0, 0), dt.datetime(2024, 3, 31, 3, 0, 0)),
    # ... and falls back at 01:00 UTC on 2024-10-27: 02:30 CEST, then 02:30 CET an hour later.
    (dt.datetime(2024, 10, 27, 0, 30), dt.datetime(2024, 10, 27, 2, 30)),
    (dt.datetime(2024, 10, 27, 1, 30), dt.datetime(2024, 10, 27, 2, 30)),
    # Late on the 26th in UTC is already the 27th in Berlin.
    (dt.datetime(2024, 10, 26, 22, 30, 0, 250), dt.datetime(2024, 10, 27, 0, 30, 0, 250)),
])
def test_local_time_of_a_utc_instant_across_daylight_saving(engines, utc, local):
    sql = ("SELECT timezone($tz, timezone('UTC', $at)) AS wall, "
           "CAST(timezone($tz, timezone('UTC', $at)) AS DATE) AS day")
    duck, ch = engines(sql, {"tz": "Europe/Berlin", "at": utc})
    assert duck == ch == [(local, local.date())]


def test_quantiles_interpolate_linearly(engines):
    sql = "SELECT quantile_cont(x, 0.5) AS median, quantile_cont(x, 0.9) AS p90 FROM (SELECT unnest([1, 2, 3, 4]) AS x)"
    duck, ch = engines(sql)
    assert duck == ch == [(2.5, pytest.approx(3.7))]


def test_division_and_missing_values(engines):
    # / is true division in both; a NULL is not counted and never equal.
    sql = ("SELECT 7 / 2 AS half, count(x) AS counted, count(*) AS rows, sum(CASE WHEN x = NULL THEN 1 ELSE 0 END) AS eq "
           "FROM (SELECT unnest([1, NULL, 3]) AS x)")
    duck, ch = engines(sql)
    assert duck == ch == [(3.5, 2, 3, 0)]


def test_weeks_start_on_monday(engines):
    sql = "SELECT date_trunc('week', $day) AS week, date_trunc('month', $day) AS month"
    duck, ch = engines(sql, {"day": dt.date(2024, 1, 7)})  # a Sunday
    weeks = [(w if isinstance(w, dt.date) and not isinstance(w, dt.datetime) else w.date(), m if not isinstance(m, dt.datetime) else m.date())
             for w, m in duck + ch]
    assert weeks == [(dt.date(2024, 1, 1), dt.date(2024, 1, 1))] * 2


def test_money_adds_exactly(engines):
    sql = "SELECT sum(x) AS total FROM (SELECT unnest([$a, $b]) AS x)"
    duck, ch = engines(sql, {"a": Decimal("0.1000"), "b": Decimal("0.2000")})
    assert [float(r[0]) for r in duck + ch] == [0.3, 0.3]
    assert str(ch[0][0]).rstrip("0") == "0.3"


def test_two_unnests_in_one_select_differ(engines):
    """DuckDB zips two unnests of one SELECT; ClickHouse multiplies them. Metrics must not
    rely on either (api_usage does, and is listed in tests/test_clickhouse.py)."""
    duck, ch = engines("SELECT unnest(['a', 'b']) AS k, unnest([1, 2]) AS v")
    assert sorted(duck) == [("a", 1), ("b", 2)]
    assert len(ch) == 4


def test_a_where_clause_reads_the_column_not_a_same_named_alias(engines):
    # ClickHouse resolves a name to the SELECT's alias first unless told otherwise.
    sql = "SELECT x + 1 AS x FROM (SELECT unnest([1, 2, 3]) AS x) WHERE x = 2"
    duck, ch = engines(sql)
    assert duck == ch == [(3,)]


def test_a_float_half_rounds_differently(engines):
    """DuckDB rounds a float's exact half away from zero; ClickHouse to the even neighbour
    (decimals it rounds away from zero, like DuckDB). Not rendered: money is rounded from
    decimal sums, or from one division of one (mrr_rates' LTV: a double on DuckDB, a decimal on
    ClickHouse), where the two could part only at an exact half cent."""
    duck, ch = engines("SELECT round(2.5::DOUBLE) AS a, round(0.125::DOUBLE, 2) AS b, round(2.5::DECIMAL(9,1)) AS c")
    assert [tuple(float(v) for v in row) for row in duck] == [(3.0, 0.13, 3.0)]
    assert [tuple(float(v) for v in row) for row in ch] == [(2.0, 0.12, 3.0)]


def test_a_json_objects_members_have_duckdbs_types_and_texts(engines):
    # A string unquoted (escapes read), integers UBIGINT when not negative, a whole double keeps
    # its .0 (1e3 too), JSON null is NULL text, an object or a list is its compact JSON; no
    # rows for a NULL document.
    doc = ('{"s": "caf\\u00e9 a/b", "n": 10, "neg": -3, "half": 1.5, "whole": 10.0, "e": 1e3, "yes": true, '
           '"none": null, "obj": {"a": [1, 2]}, "list": [1, "x"], "big": 18446744073709551615}')
    sql = ("SELECT j.key, json_type(j.value) AS kind, j.value ->> '$' AS text "
           "FROM (SELECT $doc AS doc UNION ALL SELECT NULL) s, json_each(s.doc) j ORDER BY j.key")
    duck, ch = engines(sql, {"doc": doc})
    assert duck == ch == [
        ("big", "UBIGINT", "18446744073709551615"), ("e", "DOUBLE", "1000.0"), ("half", "DOUBLE", "1.5"),
        ("list", "ARRAY", '[1,"x"]'), ("n", "UBIGINT", "10"), ("neg", "BIGINT", "-3"), ("none", "NULL", None),
        ("obj", "OBJECT", '{"a":[1,2]}'), ("s", "VARCHAR", "café a/b"), ("whole", "DOUBLE", "10.0"),
        ("yes", "BOOLEAN", "true"),
    ]


def test_json_each_renders_only_the_parts_it_knows():
    with pytest.raises(DialectError, match=r"only json_type\(j.value\) and j.value ->> '\$'"):
        clickhouse("SELECT j.value FROM (SELECT '{}' AS doc) s, json_each(s.doc) j")


def test_bool_and_skips_missing_values(engines):
    duck, ch = engines("SELECT bool_and(x > 1) AS all_big, bool_and(x > 0) AS all_positive "
                       "FROM (SELECT unnest([1, 2, NULL]) AS x)")
    assert duck == ch == [(False, True)]


def test_an_ordered_list_as_json_text(engines):
    # Sorted by n either way; quotes and line breaks escaped, a forward slash not.
    sql = ("SELECT to_json(list(v ORDER BY n))::VARCHAR AS up, to_json(list(v ORDER BY n DESC))::VARCHAR AS down "
           "FROM (VALUES (2, 'b/2'), (1, 'a \"1\"'), (3, 'c' || chr(10) || '3')) t(n, v)")
    duck, ch = engines(sql)
    assert duck == ch == [('["a \\"1\\"","b/2","c\\n3"]', '["c\\n3","b/2","a \\"1\\""]')]


@pytest.mark.parametrize("at, micros", [
    (dt.datetime(2024, 1, 1, 10), 1_704_103_200_000_000),  # a whole second
    (dt.datetime(2024, 1, 1, 10, 0, 0, 1), 1_704_103_200_000_001),
    (dt.datetime(1969, 12, 31, 23, 59, 59), -1_000_000),  # before 1970: the bucket of its distance
    (dt.datetime(9999, 12, 31, 23, 59, 59, 999999), 253_402_300_799_999_999),  # the last instant
])
def test_an_events_sample_bucket_is_the_same_number(engines, at, micros):
    # metrics.discovery's sample: integer arithmetic on the time in microseconds, each product
    # below 2^63 (2,147,483,646 × 48,271 ≈ 1.04e14).
    duck, ch = engines(f"SELECT {SAMPLE_BUCKET} AS bucket FROM (SELECT $at AS ts) e", {"at": at})
    assert duck == ch == [((abs(micros) % 2_147_483_647) * 48_271 % 2_147_483_647,)]


def test_a_decimal_divided_by_a_count(engines):
    """DuckDB divides a decimal in doubles, ClickHouse in decimals cut to the decimal's scale
    (5192.3346 / 134 = 38.74876567…: 38.7487), so a quotient divided again differs: mrr_rates
    writes LTV, ARPU / churn rate = mrr / customers / (churned / previous), as one division,
    mrr × previous / (customers × churned), which both round to the same cents: 5192.3346 × 100
    / (134 × 6) = 645.81276…"""
    sql = ("SELECT m / 134 AS arpu, CAST(round(m * 100 / NULLIF(134 * 6, 0), 2) AS DECIMAL(18,2)) AS ltv "
           "FROM (SELECT CAST(5192.3346 AS DECIMAL(38,4)) AS m)")
    duck, ch = engines(sql)
    assert [(float(a), str(b)) for a, b in duck] == [(pytest.approx(38.748765671641791, abs=1e-12), "645.81")]
    assert [(float(a), str(b)) for a, b in ch] == [(38.7487, "645.81")]


def test_a_mean_and_a_median_of_no_rows_are_missing(engines):
    # ClickHouse's avg and quantiles of no rows are NaN; DuckDB's are NULL (rendered …OrNull).
    sql = "SELECT avg(x) FILTER (WHERE x > 9) AS mean, quantile_cont(x, 0.5) FILTER (WHERE x > 9) AS median FROM (SELECT unnest([1, 2]) AS x)"
    duck, ch = engines(sql)
    assert duck == ch == [(None, None)]


def test_bits_and_the_next_and_previous_row(engines):
    sql = """SELECT u, d, 6 & 3 AS a, 6 | 3 AS o, lead(d) OVER (PARTITION BY u ORDER BY d) AS next_d,
                    lag(d) OVER (PARTITION BY u ORDER BY d) AS prev_d
             FROM (SELECT 'x' AS u, unnest([1, 5]) AS d) ORDER BY d"""
    duck, ch = engines(sql)
    assert duck == ch == [("x", 1, 2, 7, 5, None), ("x", 5, 2, 7, None, 1)]


def test_an_ordered_text_list_and_microseconds(engines):
    sql = """SELECT string_agg(p, ' > ' ORDER BY s) AS path, epoch_us(max(t)) - epoch_us(min(t)) AS us
             FROM (VALUES ('b', 2, TIMESTAMP '2024-01-01 10:00:00'), ('a', 1, TIMESTAMP '2024-01-01 10:00:01.5'),
                          ('c', 3, TIMESTAMP '2024-01-01 10:00:00.25')) v(p, s, t)"""
    duck, ch = engines(sql)
    assert duck == ch == [("a > b > c", 1_500_000)]


def test_a_column_wins_over_a_same_named_alias_in_the_select(engines):
    # ClickHouse would read x + y as the rounded x (1 + 0.4); DuckDB, and Pulse's setting, read the column.
    sql = "SELECT round(x, 0) AS x, x + y AS z FROM (SELECT CAST('1.4' AS DECIMAL(18,4)) AS x, CAST('0.4' AS DECIMAL(18,4)) AS y)"
    duck, ch = engines(sql)
    assert [tuple(map(float, row)) for row in duck] == [tuple(map(float, row)) for row in ch] == [(1.0, 1.8)]


def test_order_by_a_name_sorts_by_the_output_of_that_name(engines):
    # h.range AS hour, beside a joined column c.hour that is NULL where nothing matched.
    sql = """SELECT h.range AS hour, coalesce(c.n, 0) AS n FROM range(3) h
             LEFT JOIN (SELECT 1 AS hour, 5 AS n) c ON c.hour = h.range ORDER BY hour"""
    duck, ch = engines(sql)
    assert duck == ch == [(0, 0), (1, 5), (2, 0)]
