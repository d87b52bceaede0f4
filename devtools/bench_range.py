"""Bench pass: cold server time across every numeric parameter's whole declared range.

For every simulation and every int/float parameter: 12 positions spread over min…max
(log-scaled parameters in log space; whole numbers rounded, so a short range gives fewer
distinct positions), every other parameter at its default. A position the simulation's
limits refuse (`Simulation.parse`) is skipped and counted. Then one row per simulation for
its largest accepted parameters: the costliest combination the limits accept (see
`_largest`).

What is timed: `monograph.sims._execute`, exactly the work of a cache miss in the figure
view: the run, the figure dict, the public JSON shaping and the figure's serialisation.
Not timed: admission control, the cache lookup and write, template rendering (a few ms,
measured by the server pass). Wall time (what a reader waits) and this thread's CPU time
(`time.thread_time`, steady when other work shares the machine) are both recorded; the
budgets apply to wall time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

import simulations
from monograph import sims
from simulations import Param, ParamError, Simulation

from .bench import Context, Section, fmt_ms, ok, pct
from .bench_server import _largest_accepted, _numeric

ORDER = 20
POSITIONS = 12
# Budgets (issue #16): a cold full run anywhere in the declared ranges, and the largest
# accepted parameters.
RANGE_P95_MS = 300.0
LARGEST_MS = 1000.0
# Runs per position: a fifth of --runs (3 by default: p95 of 3 is near their max), at least
# one; the largest accepted combination gets --runs // 2 (10 by default).
MAX_REPEATS = 3


@dataclass
class Sample:
    wall_ms: float
    cpu_ms: float


@dataclass
class Position:
    value: Any
    samples: list[Sample] = field(default_factory=list)

    def wall(self, q: float) -> float:
        return pct([s.wall_ms for s in self.samples], q)

    def cpu(self, q: float) -> float:
        return pct([s.cpu_ms for s in self.samples], q)


@dataclass
class Sweep:
    param: Param
    positions: list[Position] = field(default_factory=list)
    refused: list[Any] = field(default_factory=list)
    refusal: str = ""

    def all(self, attr: str) -> list[float]:
        return [getattr(s, attr) for p in self.positions for s in p.samples]

    @property
    def worst(self) -> Position:
        return max(self.positions, key=lambda p: p.wall(95))


def positions(p: Param, n: int = POSITIONS) -> list[Any]:
    """n values spread over the declared range (log space for log scales), distinct."""
    assert p.min is not None and p.max is not None
    spread = np.geomspace if p.scale == "log" else np.linspace
    raw = spread(p.min, p.max, n)
    raw[0], raw[-1] = p.min, p.max  # exact ends, whatever the float rounding
    out: list[Any] = []
    for x in raw:
        v: Any = round(float(x)) if p.kind == "int" else float(f"{float(x):.6g}")
        if p.kind == "int":
            v = min(max(v, int(p.min)), int(p.max))
        else:
            v = min(max(v, float(p.min)), float(p.max))
        if v not in out:
            out.append(v)
    return out


def _accepted(sim: Simulation, values: dict[str, Any]) -> tuple[Any, str]:
    """(params, "") when the limits accept these values, else (None, the refusal)."""
    try:
        params, _ = sim.parse(sim.to_query(sim.params_type(**values), simulations.SEED.default))
    except ParamError as exc:
        return None, exc.message
    return params, ""


class RangeBench:
    def __init__(self, repeats: int) -> None:
        self.repeats = repeats
        self.seed = 10_000  # a new seed per run: no two runs are the same computation

    def time_once(self, sim: Simulation, params: Any) -> Sample:
        self.seed += 1
        state = sims.State(sim, params, self.seed)
        c0, t0 = time.thread_time(), time.perf_counter()
        sims._execute(state, params)
        return Sample((time.perf_counter() - t0) * 1000, (time.thread_time() - c0) * 1000)

    def time(self, sim: Simulation, params: Any, repeats: int) -> list[Sample]:
        return [self.time_once(sim, params) for _ in range(repeats)]

    def sweep(self, sim: Simulation, p: Param) -> Sweep:
        defaults = {q.name: q.default for q in sim.params}
        out = Sweep(p)
        for v in positions(p):
            params, refusal = _accepted(sim, defaults | {p.name: v})
            if params is None:
                out.refused.append(v)
                out.refusal = out.refusal or refusal
                continue
            out.positions.append(Position(v, self.time(sim, params, self.repeats)))
        return out


def _largest(sim: Simulation, sweeps: list[Sweep], bench: RangeBench
             ) -> tuple[dict[str, Any] | None, str]:
    """The costliest accepted combination we can find, and how it was found.

    Three candidates: (a) every numeric parameter at the scanned position that cost the
    most CPU on its own (so "smallest hedge" or "lowest threshold" wins where that is what
    costs), (b) every numeric parameter at its declared max, each repaired, when the limits
    refuse it, by halving the parameter the refusal names (as the server pass does), and
    (c) the costliest single position of the whole scan (accepted, since it was run). (a)
    and (b) are run once; the costliest by CPU is the one timed.
    """
    defaults = {q.name: q.default for q in sim.params}
    costliest = dict(defaults)
    for s in sweeps:
        if s.positions:
            costliest[s.param.name] = max(s.positions, key=lambda p: p.cpu(50)).value
    maxima = dict(defaults)
    maxima.update({p.name: (int(p.max) if p.kind == "int" else float(p.max))
                   for p in _numeric(sim)})
    best: tuple[float, dict[str, Any], str] | None = None
    scanned = [(pos.cpu(50), s.param, pos) for s in sweeps for pos in s.positions]
    if scanned:
        cpu, param, pos = max(scanned, key=lambda t: t[0])
        best = (cpu, defaults | {param.name: pos.value},
                f"costliest scanned position ({param.name} alone)")
    for label, values in (("costliest scanned position of each", costliest),
                          ("every one at its max", maxima)):
        repaired, note = _largest_accepted(sim, values)
        if not repaired:
            continue
        params, _ = _accepted(sim, repaired)
        cpu = bench.time_once(sim, params).cpu_ms
        how = label + (f"; {note}" if note else "")
        if best is None or cpu > best[0]:
            best = (cpu, repaired, how)
    if best is None:
        return None, "no accepted combination found"
    return best[1], best[2]


def _changed(sim: Simulation, values: dict[str, Any]) -> str:
    parts = [f"{p.name}={p.to_query(values[p.name])}" for p in sim.params
             if values[p.name] != p.default]
    return ", ".join(parts) or "the defaults"


RANGE_HEAD = ("simulation", "parameter", "range", "positions run / refused",
              "wall p50 ms", "wall p95 ms", "worst position (wall p95 ms)",
              f"≤ {RANGE_P95_MS:.0f} ms", "CPU p50 ms", "CPU p95 ms")
LARGEST_HEAD = ("simulation", "largest accepted parameters", "how it was chosen",
                "wall p50 ms", "wall p95 ms", "CPU p50 ms", "CPU p95 ms",
                f"≤ {LARGEST_MS / 1000:.0f} s")


def _range_text(p: Param) -> str:
    return f"{p.to_query(p.min)}…{p.to_query(p.max)}" + (" (log)" if p.scale == "log" else "")


def sections(ctx: Context) -> list[Section]:
    repeats = max(1, min(MAX_REPEATS, ctx.runs // 5))
    bench = RangeBench(repeats)
    ctx.log(f"whole-range pass: {len(ctx.sims)} simulation(s), {POSITIONS} positions per "
            f"numeric parameter, {repeats} run(s) each…")
    started = time.perf_counter()
    range_rows: list[list[str]] = []
    largest_rows: list[list[str]] = []
    range_fail: list[str] = []
    largest_fail: list[str] = []
    for sim in ctx.sims:
        sim_start = time.perf_counter()
        sweeps = [bench.sweep(sim, p) for p in _numeric(sim)]
        for s in sweeps:
            p = s.param
            counts = f"{len(s.positions)} / {len(s.refused)}"
            if not s.positions:
                range_rows.append([f"`{sim.slug}`", f"`{p.name}`", _range_text(p), counts,
                                   "–", "–", "–", "–", "–", "–"])
                continue
            w = s.worst
            worst95 = w.wall(95)
            passed = worst95 <= RANGE_P95_MS
            if not passed:
                range_fail.append(f"{sim.slug}: {p.name}={p.to_query(w.value)} cold p95 "
                                  f"{worst95:.0f} ms > {RANGE_P95_MS:.0f} ms")
            range_rows.append([
                f"`{sim.slug}`", f"`{p.name}`", _range_text(p), counts,
                fmt_ms(pct(s.all("wall_ms"), 50)), fmt_ms(pct(s.all("wall_ms"), 95)),
                f"{p.to_query(w.value)} ({fmt_ms(worst95)})", ok(passed),
                fmt_ms(pct(s.all("cpu_ms"), 50)), fmt_ms(pct(s.all("cpu_ms"), 95))])
        values, how = _largest(sim, sweeps, bench)
        if values is None:
            largest_rows.append([f"`{sim.slug}`", "–", how, "–", "–", "–", "–", "–"])
        else:
            params, _ = _accepted(sim, values)
            samples = bench.time(sim, params, max(repeats, ctx.runs // 2))
            walls = [s.wall_ms for s in samples]
            cpus = [s.cpu_ms for s in samples]
            passed = pct(walls, 95) <= LARGEST_MS
            if not passed:
                largest_fail.append(f"{sim.slug}: largest accepted ({_changed(sim, values)}) "
                                    f"cold p95 {pct(walls, 95):.0f} ms > {LARGEST_MS:.0f} ms")
            largest_rows.append([f"`{sim.slug}`", _changed(sim, values), how,
                                 fmt_ms(pct(walls, 50)), fmt_ms(pct(walls, 95)),
                                 fmt_ms(pct(cpus, 50)), fmt_ms(pct(cpus, 95)), ok(passed)])
        ctx.log(f"  {sim.slug}: {time.perf_counter() - sim_start:.1f} s")
    total = time.perf_counter() - started
    note = (f"`monograph.sims._execute` (the run, the figure, the JSON shaping and the "
            f"figure's serialisation: a cache miss without admission, cache I/O or template) "
            f"in this process, {repeats} run(s) per position, each with a new seed. "
            f"{POSITIONS} positions per int/float parameter over its declared range (log "
            f"space for log scales; whole numbers may give fewer distinct positions), the "
            f"others at their defaults; positions the limits refuse are skipped and counted. "
            f"p50/p95 over every run of the row; the worst position is the one with the "
            f"highest p95, and the budget (p95 ≤ {RANGE_P95_MS:.0f} ms at every position) "
            f"is judged on it. CPU is `time.thread_time`, steady when the machine is shared. "
            f"Whole pass: {total:.0f} s.")
    return [
        Section("Whole range: cold server time at 12 positions of every numeric parameter",
                RANGE_HEAD, range_rows, note, range_fail),
        Section("Whole range: largest accepted parameters", LARGEST_HEAD, largest_rows,
                f"The costliest combination the limits accept, found per simulation as "
                f"`devtools/bench_range.py:_largest` says: candidates (a) every numeric "
                f"parameter at the scanned position that cost the most CPU on its own, "
                f"(b) every numeric parameter at its max, each repaired by halving the "
                f"parameter a refusal names, and (c) the costliest position of the scan "
                f"above; the costliest by CPU is timed "
                f"{max(repeats, ctx.runs // 2)} times. Budget: p95 ≤ {LARGEST_MS:.0f} ms.",
                largest_fail),
    ]


def main(argv: list[str] | None = None) -> int:
    """This pass alone: python -m devtools.bench_range [--runs N] [--only SLUG]..."""
    import argparse
    import os
    import sys

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monograph.settings")
    import django

    django.setup()
    from .bench import _text_table

    parser = argparse.ArgumentParser(prog="python -m devtools.bench_range",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="as make bench (default 20)")
    parser.add_argument("--only", metavar="SLUG", action="append", default=[],
                        help="only this simulation (repeatable)")
    args = parser.parse_args(argv)
    registry = simulations.registry()
    unknown = [s for s in args.only if s not in registry]
    if unknown or args.runs < 1:
        parser.error(f"--runs must be at least 1 and --only one of {', '.join(registry)}")
    ctx = Context([registry[s] for s in (args.only or registry)], args.runs,
                  lambda msg: print(msg, file=sys.stderr), browser=False)
    for s in sections(ctx):
        print(f"\n{s.title}\n{_text_table(s.head, s.rows)}")
        print(*(f"over budget: {f}" for f in s.failures), sep="\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
