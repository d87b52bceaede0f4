"""The shared statistics helpers: the sort-once variants give exactly what the plain ones do.

Simulations sort a sample once and read several percentiles and a histogram from it
(`presorted=True`); that is only a speed-up if every number is the same as before, to the
last bit, so these comparisons are exact.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulations.engine import stats


def _sample(seed: int, n: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    # Log-normal with repeated values, so ties and values on bin edges occur.
    x = rng.lognormal(2.0, 0.8, n)
    x[: n // 10] = np.round(x[: n // 10])
    return x


@pytest.mark.parametrize("n", [1, 7, 2_000, 50_001])
def test_several_quantiles_from_one_sort_equal_one_quantile_at_a_time(n):
    x = _sample(n, n)
    qs = (0.5, 0.95, 0.99, 0.999)
    want = [stats.quantile_ci(x, q) for q in qs]
    assert stats.quantiles_ci(x, qs) == want
    assert stats.quantiles_ci(np.sort(x), qs, presorted=True) == want


def test_quantiles_of_an_empty_sample_are_not_numbers():
    got = stats.quantiles_ci([], (0.5, 0.99))
    assert len(got) == 2
    assert all(np.isnan(v) for row in got for v in row)


@pytest.mark.parametrize("log", [False, True])
def test_histogram_of_a_sorted_sample_counts_exactly_as_numpy_does(log):
    x = _sample(3, 30_000)
    lo, hi = float(np.quantile(x, 0.01)), float(np.quantile(x, 0.9))  # clipped tails
    edges = np.geomspace(lo, hi, 41) if log else np.linspace(lo, hi, 41)
    x = np.concatenate([x, edges])  # values exactly on every edge
    want = stats.histogram(x, 40, log=log, lo=lo, hi=hi)
    got = stats.histogram(np.sort(x), 40, log=log, lo=lo, hi=hi, presorted=True)
    assert got == want
    assert sum(got[2]) == pytest.approx(1.0, abs=1e-12)  # clipping keeps every sample
