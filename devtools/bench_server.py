"""Bench pass: the figure fragment's server time, through Django's test client.

`GET /simulations/<sim>/figure` as htmx fetches it, cold (nothing cached) and cached,
at the defaults and at every parameter's maximum (or the largest combination the
simulation's limits accept).
"""

from __future__ import annotations

import gzip
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from django.core.cache import cache
from django.test import Client
from django.urls import reverse

import simulations
from monograph import sims
from simulations import ParamError, Simulation

from .bench import BenchError, Context, Section, fmt_ms, ok, pct
from .localserver import HOST

ORDER = 10
# Budgets: the standing quality bars (docs/contract.md).
COLD_P95_MS = 100.0
CACHED_P95_MS = 10.0
MAXIMA_MS = 2000.0


@dataclass
class Timing:
    """p50/p95 of cold and cached figure requests for one parameter set."""

    query: dict[str, str]
    cold: list[float] = field(default_factory=list)
    cached: list[float] = field(default_factory=list)
    figure_bytes: int = 0
    fragment_gz_bytes: int = 0


@dataclass
class ServerResult:
    slug: str
    defaults: Timing
    maxima_refused: str = ""  # the refusal message for every numeric parameter at its max
    maxima_status: int = 0  # what the figure URL answered for that combination
    largest: Timing | None = None  # the largest accepted combination, when maxima are refused
    largest_note: str = ""

    @property
    def maxima(self) -> Timing | None:
        return self.largest


def _numeric(sim: Simulation) -> list:
    return [p for p in sim.params if p.kind in ("int", "float")]


def _query(sim: Simulation, values: dict[str, Any], seed: int) -> dict[str, str]:
    """The permalink query for these values, as the app writes it."""
    return sim.to_query(sim.params_type(**values), seed)


def _largest_accepted(sim: Simulation, values: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Halve whichever parameter the check names until the combination is accepted."""
    values = dict(values)
    halved: dict[str, int] = {}
    for _ in range(64):
        try:
            sim.parse(_query(sim, values, simulations.SEED.default))
        except ParamError as exc:
            p = next((q for q in _numeric(sim) if q.name == exc.name), None)
            if p is None or values[p.name] <= p.min:
                return {}, f"cannot lower {exc.name} further: {exc.message}"
            new = values[p.name] / 2
            new = max(int(new), int(p.min)) if p.kind == "int" else max(float(new), p.min)
            values[p.name] = new
            halved[p.name] = halved.get(p.name, 0) + 1
            continue
        note = ", ".join(f"{k} halved {n}× to {sim.param(k).to_query(values[k])}"
                         for k, n in halved.items())
        return values, note
    return {}, "no accepted combination after 64 halvings"


class ServerBench:
    """Times /simulations/<slug>/figure as htmx fetches it, in this process."""

    def __init__(self, runs: int, log) -> None:
        self.runs = runs
        self.log = log
        self.client = Client(SERVER_NAME=HOST, HTTP_HX_REQUEST="true")

    def _get(self, slug: str, query: dict[str, str]):
        start = time.perf_counter()
        resp = self.client.get(f"{reverse('figure', args=[slug])}?{urlencode(query)}")
        return resp, (time.perf_counter() - start) * 1000

    def time(self, sim: Simulation, values: dict[str, Any]) -> Timing:
        base = _query(sim, values, simulations.SEED.default)
        timing = Timing(query=base)
        # Warm the code paths (imports, templates) once; not counted.
        resp, _ = self._get(sim.slug, _query(sim, values, 999_999))
        if resp.status_code != 200:
            raise BenchError(f"{sim.slug}: figure answered {resp.status_code} for {base}: "
                               f"{resp.content[:300]!r}")
        for i in range(self.runs):
            cache.clear()  # and a seed never used before: nothing can be cached
            resp, ms = self._get(sim.slug, _query(sim, values, 1_000 + i))
            assert resp.status_code == 200, resp.content[:300]
            timing.cold.append(ms)
        resp, _ = self._get(sim.slug, base)  # fill the cache
        timing.fragment_gz_bytes = len(gzip.compress(resp.content))
        for _ in range(self.runs):
            resp, ms = self._get(sim.slug, base)
            assert resp.status_code == 200
            timing.cached.append(ms)
        state = sims.State(sim, *sim.parse(base))  # the figure as the view builds it
        timing.figure_bytes = len(sims.run(state).figure_json.encode())
        return timing

    def run(self, sim: Simulation) -> ServerResult:
        self.log(f"  {sim.slug}: defaults…")
        defaults = {p.name: p.default for p in sim.params}
        result = ServerResult(sim.slug, self.time(sim, defaults))

        maxima = dict(defaults)
        maxima.update({p.name: (int(p.max) if p.kind == "int" else float(p.max))
                       for p in _numeric(sim)})
        try:
            sim.parse(_query(sim, maxima, simulations.SEED.default))
            largest, note = maxima, "every numeric parameter at its max"
        except ParamError as exc:
            result.maxima_refused = exc.message
            resp, _ = self._get(sim.slug, _query(sim, maxima, simulations.SEED.default))
            result.maxima_status = resp.status_code
            largest, note = _largest_accepted(sim, maxima)
        result.largest_note = note
        if largest:
            self.log(f"  {sim.slug}: maxima ({note})…")
            result.largest = self.time(sim, largest)
        return result


SERVER_HEAD = ("simulation", "cold p50 ms", "cold p95 ms", f"≤ {COLD_P95_MS:.0f} ms",
               "cached p50 ms", "cached p95 ms", f"≤ {CACHED_P95_MS:.0f} ms",
               "figure JSON KB", "fragment KB (gzip)")
MAXIMA_HEAD = ("simulation", "every numeric parameter at its max", "largest accepted",
               "cold p50 ms", "cold p95 ms", "cached p95 ms", "≤ 2 s or refused")


def _server_rows(results: list[ServerResult], failures: list[str]) -> list[list[str]]:
    rows = []
    for r in results:
        d = r.defaults
        cold95, hot95 = pct(d.cold, 95), pct(d.cached, 95)
        cold_ok, hot_ok = cold95 <= COLD_P95_MS, hot95 <= CACHED_P95_MS
        if not cold_ok:
            failures.append(f"{r.slug}: cold p95 {cold95:.0f} ms > {COLD_P95_MS:.0f} ms")
        if not hot_ok:
            failures.append(f"{r.slug}: cached p95 {hot95:.1f} ms > {CACHED_P95_MS:.0f} ms")
        rows.append([f"`{r.slug}`", fmt_ms(pct(d.cold, 50)), fmt_ms(cold95), ok(cold_ok),
                     fmt_ms(pct(d.cached, 50)), fmt_ms(hot95), ok(hot_ok),
                     f"{d.figure_bytes / 1024:.1f}", f"{d.fragment_gz_bytes / 1024:.1f}"])
    return rows


def _maxima_rows(results: list[ServerResult], failures: list[str]) -> list[list[str]]:
    rows = []
    for r in results:
        refused = (f"refused ({r.maxima_status}): {r.maxima_refused}"
                   if r.maxima_refused else "accepted")
        if r.maxima_refused and r.maxima_status != 400:
            failures.append(f"{r.slug}: maxima answered {r.maxima_status}, not 400")
        if r.largest is None:
            rows.append([f"`{r.slug}`", refused, r.largest_note, "–", "–", "–", "–"])
            continue
        cold95 = pct(r.largest.cold, 95)
        passed = cold95 <= MAXIMA_MS and (not r.maxima_refused or r.maxima_status == 400)
        if cold95 > MAXIMA_MS:
            failures.append(f"{r.slug}: largest accepted p95 {cold95:.0f} ms > 2 s")
        rows.append([f"`{r.slug}`", refused, r.largest_note, fmt_ms(pct(r.largest.cold, 50)),
                     fmt_ms(cold95), fmt_ms(pct(r.largest.cached, 95)), ok(passed)])
    return rows



def sections(ctx: Context) -> list[Section]:
    ctx.log(f"server pass: {len(ctx.sims)} simulation(s), {ctx.runs} runs each…")
    bench = ServerBench(ctx.runs, ctx.log)
    results = [bench.run(sim) for sim in ctx.sims]
    server = Section("Figure fragment, server time (defaults)", SERVER_HEAD, [],
                     f"`GET /simulations/<sim>/figure` with `HX-Request`, through Django's "
                     f"test client, {ctx.runs} runs each. Cold: cache cleared and a seed not "
                     "used before, so the simulation runs. Cached: the same URL again.")
    server.rows = _server_rows(results, server.failures)
    maxima = Section("Largest parameters", MAXIMA_HEAD, [],
                     "Every int/float parameter at its declared max (choices, flags and "
                     "lists at their defaults). If the simulation's limit refuses that, the "
                     "URL must answer 400 naming the limit, and the largest accepted "
                     "combination (found by halving the parameter the refusal names) is "
                     "timed instead: it must finish in 2 s.")
    maxima.rows = _maxima_rows(results, maxima.failures)
    return [server, maxima]
