"""Numbers in words, for the summary sentences every simulation generates."""

from __future__ import annotations


def pct(x: float) -> str:
    """A share as a person would say it: 63 %, 4.2 %, 0.31 %, 99.8 %, 0 %."""
    v = 100 * x
    if v == 0:
        return "0 %"
    if 0 < v < 0.01:
        return "under 0.01 %"
    if 99.5 <= v < 100:
        # "99.98 %": nearly every row is not every row.
        return f"{v:.2f} %" if v >= 99.95 else f"{v:.1f} %"
    if v >= 10:
        return f"{v:.0f} %"
    return f"{v:.2g} %" if v < 1 else f"{v:.1f} %"
