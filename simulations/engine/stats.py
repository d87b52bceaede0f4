"""Small, dependency-free statistics used to report honest numbers."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

Z95 = 1.959963984540054


def proportion_ci(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion (Wilson 1927)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact ends, no float dust
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return (lo, hi)


def poisson_ci(count: int, exposure: float, z: float = Z95) -> tuple[float, float]:
    """Score (Wilson-type) 95 % interval for a Poisson rate: count events in exposure.

    Solves (count − λt)² = z²·λt for λ; with no events the upper end is z²/t (≈ 3.84/t,
    near the exact 3.69/t).
    """
    root = math.sqrt(count + z * z / 4)
    lo, hi = (root - z / 2) ** 2, (root + z / 2) ** 2
    return (round(lo / exposure, 9), round(hi / exposure, 9))


def quantile_ci(samples: Sequence[float] | np.ndarray, q: float, z: float = Z95
                ) -> tuple[float, float, float]:
    """A quantile with a distribution-free 95 % CI from order statistics.

    The number of samples below the true q-quantile is Binomial(n, q); the interval
    takes the order statistics at n·q ± z·sqrt(n·q·(1−q)) (normal approximation,
    e.g. Conover, *Practical Nonparametric Statistics*, §3.2). With too few samples
    in the tail the upper bound is the sample maximum, which says so honestly.
    """
    return quantiles_ci(samples, (q,), z)[0]


def quantiles_ci(samples: Sequence[float] | np.ndarray, qs: Sequence[float], z: float = Z95,
                 *, presorted: bool = False) -> list[tuple[float, float, float]]:
    """`quantile_ci` for several quantiles of one sample, sorting it once.

    `presorted=True` promises the samples are already in ascending order (a float array).
    """
    x = np.asarray(samples, dtype=float) if presorted else np.sort(np.asarray(samples,
                                                                              dtype=float))
    n = x.size
    if n == 0:
        return [(math.nan, math.nan, math.nan) for _ in qs]
    out = []
    for q in qs:
        est = float(np.quantile(x, q))
        half = z * math.sqrt(n * q * (1 - q))
        lo = max(0, math.floor(n * q - half) - 1)
        hi = min(n - 1, math.ceil(n * q + half))
        out.append((est, float(x[lo]), float(x[hi])))
    return out


def mean_ci(samples: Sequence[float] | np.ndarray, z: float = Z95, *,
            floor: float | None = None) -> tuple[float, float, float]:
    """Mean with a normal-approximation 95 % CI.

    `floor` clips the lower end at a bound the quantity cannot cross (a count, a cost
    or a share is never negative), where the normal approximation would.
    """
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    m = float(x.mean())
    if x.size < 2:
        return (m, m, m)
    half = z * float(x.std(ddof=1)) / math.sqrt(x.size)
    lo = m - half if floor is None else max(floor, m - half)
    return (m, lo, m + half)


def histogram(samples: np.ndarray, bins: int = 60, *, log: bool = False,
              lo: float | None = None, hi: float | None = None, presorted: bool = False
              ) -> tuple[list[float], list[float], list[float]]:
    """Bin samples on the server (the basic plotly.js bundle has no histogram trace).

    Returns bin centres, widths and the share of samples in each bin. `presorted=True`
    promises ascending samples: the counts then come from two binary searches instead of
    the sort `np.histogram` does, and are the same counts.
    """
    x = np.asarray(samples, dtype=float)
    if x.size == 0:
        return ([], [], [])
    lo = float(x.min()) if lo is None else lo
    hi = float(x.max()) if hi is None else hi
    if hi <= lo:
        hi = lo + 1.0
    if log:
        lo = max(lo, 1e-9)
        edges = np.geomspace(lo, hi, bins + 1)
    else:
        edges = np.linspace(lo, hi, bins + 1)
    if presorted:
        # np.histogram's own rule for explicit edges: [left, right) bins, the last closed.
        clipped = np.clip(x, lo, hi)
        cum = np.concatenate((clipped.searchsorted(edges[:-1], "left"),
                              clipped.searchsorted(edges[-1:], "right")))
        counts = np.diff(cum)
    else:
        counts, edges = np.histogram(np.clip(x, lo, hi), bins=edges)
    share = counts / x.size
    centres = (edges[:-1] + edges[1:]) / 2
    if log:
        centres = np.sqrt(edges[:-1] * edges[1:])
    widths = np.diff(edges)
    return (centres.tolist(), widths.tolist(), share.tolist())
