"""Time a 20-point sweep of every simulation's main parameter, cold and cached.

    python -m devtools.bench_sweeps [--points 20] [--out docs/performance-sweeps.md]

Runs in-process through the same code as /simulations/<sim>/sweep.json (sequentially: the
browser spreads points over the server's workers, so these are upper bounds on wall time).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--points", type=int, default=20)
    parser.add_argument("--out", default="docs/performance-sweeps.md")
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monograph.settings")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import django

    django.setup()
    from django.core.cache import cache
    from django.http import QueryDict

    import simulations
    from monograph import sweeps

    rows = []
    for sim in simulations.registry().values():
        query = QueryDict(mutable=True)
        query["vary"] = sim.main_param
        query["points"] = str(args.points)
        cache.clear()
        state = sweeps.resolve(sim, query)
        cache.clear()
        t0 = time.perf_counter()
        sweeps.compute_all(state, deadline_s=None)
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        sweeps.compute_all(state, deadline_s=None)
        warm = time.perf_counter() - t0
        runs = sum(len(p.seeds) for p in state.points)
        rows.append((sim.slug, state.spec.vary, state.spec.metrics[0], len(state.points), runs,
                     cold, warm))
        print(f"{sim.slug:10} {state.spec.vary:14} {len(state.points):3} points {runs:4} runs "
              f"cold {cold * 1000:8.0f} ms  cached {warm * 1000:6.1f} ms", flush=True)

    lines = [
        "# Sweep timings",
        "",
        f"A {args.points}-point sweep of each simulation's main parameter over its declared "
        "range, every other parameter at its default, metric = the simulation's first metric "
        "(five seeds per point when it has no confidence interval of its own). Server time "
        "in one process, sequential; `python -m devtools.bench_sweeps` (part of `make bench`) "
        "writes this file.",
        "",
        "| simulation | varied | metric | points | runs | cold | cached |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for slug, vary, metric, n, runs, cold, warm in rows:
        lines.append(f"| {slug} | `{vary}` | `{metric}` | {n} | {runs} | {cold * 1000:,.0f} ms "
                     f"| {warm * 1000:.1f} ms |")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
