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


def duration(s: float) -> str:
    """A duration in seconds the way a person says it: 12 ms, 20 s, 45 min, 2.8 h, 3.2 years."""
    if s < 1:
        return f"{s * 1000:.2g} ms" if s < 0.01 else f"{s * 1000:.0f} ms"
    for limit, unit, size in ((60, "s", 1), (7200, "min", 60), (172_800, "h", 3600),
                              (2 * 31_557_600, "days", 86_400)):
        if s < limit:
            v = s / size
            text = f"{v:,.0f}" if v >= 10 else f"{v:.1f}".removesuffix(".0")
            return f"{text} {unit}"
    years = s / 31_557_600
    return f"{years:,.0f} years" if years >= 10 else f"{years:.1f} years"


def ms(x: float) -> str:
    """Milliseconds kept in milliseconds (for labels on a ms axis): 5.2 ms, 1,234 ms."""
    return f"{x:,.0f} ms" if x >= 10 else f"{x:.1f} ms"
