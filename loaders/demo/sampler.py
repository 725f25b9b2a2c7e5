"""A vectorised sampling kit: weighted picks, ragged arrays, slot tables, name pickers and
decay curves, each drawing or computing for many rows at once from a numpy Generator.

Choices made per row are looked up, not searched: a draw picks one of RESOLUTION slots of
a precomputed Table, so shares are exact to 1/RESOLUTION.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import polars as pl

SLOT_BITS = 12
RESOLUTION = 1 << SLOT_BITS


def ragged(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each i, positions 0 .. counts[i]-1, flattened: (owner i, position)."""
    counts = np.asarray(counts, dtype=np.int64)
    owner = np.repeat(np.arange(len(counts)), counts)
    return owner, np.arange(len(owner)) - np.repeat(np.cumsum(counts) - counts, counts)


def cumulative(weights: Sequence[float] | np.ndarray) -> np.ndarray:
    """Cumulative shares of `weights`, ending at exactly 1."""
    shares = np.cumsum(np.asarray(weights, dtype=np.float64))
    shares /= shares[-1]
    shares[-1] = 1.0
    return shares


def pick(rng: np.random.Generator, weights: Sequence[float], n: int) -> np.ndarray:
    """n indices drawn with the given weights."""
    return np.searchsorted(cumulative(weights), rng.random(n), side="right")


def decay(since: np.ndarray, plateau: float, scale: float) -> np.ndarray:
    """From 1 at `since` 0 down to `plateau`, exponentially with time constant `scale`."""
    return plateau + (1 - plateau) * np.exp(-since / scale)


def decay_sum(first: int, end: np.ndarray, plateau: float, scale: float) -> np.ndarray:
    """Sum of decay(j) for j in [first, end): a plateau plus a geometric series."""
    n = np.maximum(end - first, 0)
    ratio = np.exp(-1 / scale)
    return plateau * n + (1 - plateau) * ratio ** first * (1 - ratio ** n) / (1 - ratio)


@dataclass(frozen=True)
class Table:
    """Weighted choices by lookup (see RESOLUTION): one row of slots per table row."""

    slots: np.ndarray  # [row * RESOLUTION + slot]: the option's value

    @classmethod
    def of(cls, rows: Sequence[tuple[Sequence[float], Sequence[int]]],
           dtype: type[np.integer]) -> Table:
        """From (weights, values) per row; a small dtype makes lookups cheaper."""
        middle = (np.arange(RESOLUTION) + 0.5) / RESOLUTION
        return cls(np.concatenate([
            np.asarray(values, dtype=dtype)[np.searchsorted(cumulative(weights), middle,
                                                            side="right")]
            for weights, values in rows]))

    def pick(self, slot: np.ndarray, row: np.ndarray | None = None) -> np.ndarray:
        """The value in each drawn slot (see slots), in its row (default: the first)."""
        return self.slots[slot if row is None else (row.astype(np.intp) << SLOT_BITS) | slot]


def slots(rng: np.random.Generator, n: int) -> np.ndarray:
    """n uniform draws of a Table slot."""
    return rng.integers(0, RESOLUTION, n)


def normal_quantiles() -> np.ndarray:
    """The standard normal quantile of each slot's midpoint, for Tables of a continuous
    distribution."""
    return np.array([NormalDist().inv_cdf((slot + 0.5) / RESOLUTION) for slot in range(RESOLUTION)])


@dataclass(frozen=True)
class Names:
    """Names of every pool in one column; a draw picks uniformly within the row's pool."""

    column: pl.Series
    start: np.ndarray  # per pool
    size: np.ndarray

    @classmethod
    def of(cls, pools: Sequence[str]) -> Names:
        """From one space-separated string of names per pool."""
        names = [pool.split() for pool in pools]
        size = np.array([len(pool) for pool in names])
        return cls(pl.Series([name for pool in names for name in pool]),
                   np.cumsum(size) - size, size)

    def pick(self, u: np.ndarray, pool: np.ndarray) -> pl.Series:
        """The name at uniform draw `u` in each row's pool."""
        return self.column.gather(self.start[pool] + (u * self.size[pool]).astype(np.int64))
