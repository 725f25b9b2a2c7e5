"""The goal projection on series whose answer is known: a straight line, a flat series, and a
noisy line whose next value falls inside the 80 % prediction interval about 80 % of the time."""

from __future__ import annotations

import numpy as np
import pytest

from metrics.goals import AHEAD, BEHIND, ON_TRACK, Projection, project, status

LINE = [10.0 + 5 * i for i in range(6)]  # 10, 15, 20, 25, 30, 35


def test_a_straight_line_projects_onto_itself_with_no_spread():
    # Three periods after the last (index 5): index 8, so 10 + 5 * 8 = 50.
    assert project(LINE, 3) == Projection(50.0, 50.0, 50.0)
    assert project(LINE, 1) == Projection(40.0, 40.0, 40.0)
    assert project(LINE, 0.5) == Projection(37.5, 37.5, 37.5)


@pytest.mark.parametrize(("target", "expected"), [(50.0, ON_TRACK), (51.0, BEHIND), (49.0, AHEAD)])
def test_a_straight_line_is_on_track_exactly_when_it_meets_the_target(target, expected):
    assert status(project(LINE, 3), target) == expected


def test_a_flat_series_stays_flat():
    assert project([7.0] * 6, 4) == Projection(7.0, 7.0, 7.0)
    assert status(project([7.0] * 6, 4), 7.0) == ON_TRACK
    assert status(project([7.0] * 6, 4), 7.5) == BEHIND
    assert status(project([7.0] * 6, 4), 6.5) == AHEAD


def test_the_interval_has_the_textbook_width():
    # values 1, 3, 2 at x = 0, 1, 2: x̄ = 1, ȳ = 2, Sxx = 2, slope = ((-1)(-1) + 0 + (1)(0)) / 2 = 0.5,
    # fitted 1.5, 2, 2.5; residuals -0.5, 1, -0.5; SSE = 1.5; s = sqrt(1.5 / 1).
    # At x0 = 3 (one step on): point = 2 + 0.5 * 2 = 3; t(0.9, 1) = 3.0777;
    # half width = 3.0777 * sqrt(1.5) * sqrt(1 + 1/3 + 4/2) = 3.0777 * 1.2247 * 1.8257 = 6.8819.
    p = project([1.0, 3.0, 2.0], 1)
    assert p.point == pytest.approx(3.0)
    assert (p.high - p.point, p.point - p.low) == (pytest.approx(6.8819, abs=1e-4), pytest.approx(6.8819, abs=1e-4))


def test_the_interval_widens_with_distance():
    values = [3.0, 5.0, 4.0, 8.0, 7.0, 9.0]
    near, far = project(values, 1), project(values, 6)
    assert far.high - far.low > near.high - near.low > 0


def test_two_points_are_not_a_line():
    with pytest.raises(ValueError, match="at least 3 values"):
        project([1.0, 2.0], 1)


def test_the_80_percent_interval_holds_the_next_value_about_80_percent_of_the_time():
    """1,000 seeded trials of y = 100 + 4i + N(0, 10²) over 6 periods: the value three periods
    on (a new draw around the true line) lies inside the interval in about 800 of them."""
    steps, inside = 3, 0
    for seed in range(1000):
        rng = np.random.default_rng(seed)
        values = [100 + 4 * i + rng.normal(0, 10) for i in range(6)]
        truth = 100 + 4 * (5 + steps) + rng.normal(0, 10)
        p = project(values, steps)
        inside += p.low <= truth <= p.high
    assert 0.76 <= inside / 1000 <= 0.84
