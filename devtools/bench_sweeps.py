"""Bench pass: a 20-point sweep of every simulation's main parameter, cold and cached.

Through the same code as /simulations/<sim>/sweep.json, in one process and sequentially (the
sweep page spreads its points over the server's workers, two at a time, so the wall time a
reader waits is lower). Metric: the simulation's first one, with five seeds per point when it
has no confidence interval of its own.
"""

from __future__ import annotations

import time

from django.core.cache import cache
from django.http import QueryDict

from monograph import sweeps

from .bench import Context, Section, fmt_ms

ORDER = 50
POINTS = 20


def sections(ctx: Context) -> list[Section]:
    rows = []
    for sim in ctx.sims:
        query = QueryDict(mutable=True)
        query["vary"] = sim.main_param
        query["points"] = str(POINTS)
        cache.clear()
        state = sweeps.resolve(sim, query)
        cache.clear()  # the base run too: the first point should be as cold as the rest
        t0 = time.perf_counter()
        sweeps.compute_all(state, deadline_s=None)
        cold = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        sweeps.compute_all(state, deadline_s=None)
        cached = (time.perf_counter() - t0) * 1000
        runs = sum(len(p.seeds) for p in state.points)
        ctx.log(f"sweep {sim.slug}: {len(state.points)} points, {runs} runs, cold {cold:.0f} ms")
        rows.append([sim.slug, f"`{state.spec.vary}`", f"`{state.spec.metrics[0]}`",
                     str(len(state.points)), str(runs), fmt_ms(cold), fmt_ms(cached)])
    return [Section(
        title=f"Sweeps: {POINTS} points of the main parameter",
        head=("simulation", "varied", "metric", "points", "runs", "cold", "cached"),
        rows=rows,
        note=("Whole sweep, server time in one process, sequential; whole-number parameters "
              "may give fewer distinct points. The page asks for points two at a time, so a "
              "reader's wait is roughly half the cold time on two workers."),
    )]
