"""python manage.py bench [--runs N] [--no-browser] [--only SLUG] — measure the quality bars.

Server side, through Django's test client: the figure fragment a slider move fetches, cold
(nothing cached) and cached, at the defaults and at every parameter's maximum. Browser side,
against the real server (gunicorn) in Debian's chromium: what a cold page load transfers and
how long a slider move takes to redraw the chart. Prints a table and writes
docs/performance.md. A benchmark, not a test: budgets are reported, not enforced
(unless --check).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import gzip
import logging
import math
import os
import platform
import random
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.test import Client

import simulations
from simulations import ParamError, Simulation

from ... import content, localserver
from ...version import version

# -- budgets (PRODUCT.md, "Standing quality bars") ---------------------------------------------
COLD_P95_MS = 100.0
CACHED_P95_MS = 10.0
MAXIMA_MS = 2000.0
CHAPTER_KB = 450.0
REDRAW_P95_MS = 150.0

CHROMIUM, CHROMIUM_ARGS, HOST = localserver.CHROMIUM, localserver.CHROMIUM_ARGS, localserver.HOST
DOCS = Path(settings.BASE_DIR) / "docs" / "performance.md"


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def ok(passed: bool) -> str:
    return "pass" if passed else "**FAIL**"


# -- server side ------------------------------------------------------------------------------
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
    out = {p.name: p.to_query(values[p.name]) for p in sim.params}
    out["seed"] = str(seed)
    return out


def _largest_accepted(sim: Simulation, values: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """Halve whichever parameter the check names until the combination is accepted."""
    values = dict(values)
    halved: dict[str, int] = {}
    for _ in range(64):
        try:
            sim.parse({k: sim.param(k).to_query(v) for k, v in values.items()})
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
        resp = self.client.get(f"/simulations/{slug}/figure?{urlencode(query)}")
        return resp, (time.perf_counter() - start) * 1000

    def time(self, sim: Simulation, values: dict[str, Any]) -> Timing:
        base = _query(sim, values, simulations.SEED.default)
        timing = Timing(query=base)
        # Warm the code paths (imports, templates) once; not counted.
        resp, _ = self._get(sim.slug, _query(sim, values, 999_999))
        if resp.status_code != 200:
            raise CommandError(f"{sim.slug}: figure answered {resp.status_code} for {base}: "
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
        from ... import sims  # the payload as the view builds it

        state = sims.State(sim, *sim.parse(base))
        timing.figure_bytes = len(sims.run(state)["figure_json"].encode())
        return timing

    def run(self, sim: Simulation) -> ServerResult:
        self.log(f"  {sim.slug}: defaults…")
        defaults = {p.name: p.default for p in sim.params}
        result = ServerResult(sim.slug, self.time(sim, defaults))

        maxima = dict(defaults)
        maxima.update({p.name: (int(p.max) if p.kind == "int" else float(p.max))
                       for p in _numeric(sim)})
        try:
            sim.parse({k: sim.param(k).to_query(v) for k, v in maxima.items()})
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


# -- the real server and the browser -------------------------------------------------------------
@contextlib.contextmanager
def gunicorn() -> Iterator[str]:
    """The book served as `make run` serves it, on a free port; yields the base URL."""
    try:
        with localserver.gunicorn() as url:
            yield url
    except localserver.ServerDidNotStart as exc:
        raise CommandError(str(exc)) from None


@dataclass
class PageLoad:
    kind: str
    url: str
    kb: float
    requests: int
    encodings: str
    foreign: list[str]
    budget_kb: float | None


@dataclass
class Redraw:
    slug: str
    param: str
    ms: list[float]  # last input event → figure:drawn
    failed: int
    fetch_ms: list[float] = field(default_factory=list)  # the fragment request alone
    draw_ms: list[float] = field(default_factory=list)  # Plotly.react alone


_WAIT_CHARTS = """
() => Array.from(document.querySelectorAll(".chart")).every(c => c.hasAttribute("data-drawn"))
"""

# Moves the slider to each position by script and times "last input event → figure:drawn".
_MEASURE_MOVES = """
async ([sliderId, chartId, positions]) => {
  const slider = document.getElementById(sliderId);
  const chart = document.getElementById(chartId);
  const out = [];
  for (const pos of positions) {
    await new Promise(r => setTimeout(r, 120));  // a pause between moves: one request each
    const drawn = new Promise(resolve => {
      const t = setTimeout(() => resolve(null), 10000);
      chart.addEventListener("figure:drawn", () => { clearTimeout(t); resolve(performance.now()); },
                             {once: true});
    });
    slider.value = String(pos);
    const t0 = performance.now();
    slider.dispatchEvent(new Event("input", {bubbles: true}));
    const t1 = await drawn;
    // Where the time went: the fragment request (Resource Timing) and Plotly.react (app.js).
    const fetches = performance.getEntriesByType("resource").filter(e => e.name.includes("/figure?"));
    const last = fetches[fetches.length - 1];
    out.push(t1 === null ? null : {total: t1 - t0, fetch: last ? last.responseEnd - last.startTime : 0,
                                   draw: parseFloat(chart.getAttribute("data-draw-ms") || "0")});
    performance.clearResourceTimings();
  }
  return out;
}
"""


def _round_like_app(v: float, kind: str) -> str:
    """static/js/app.js roundTo: what the number box shows for a slider position."""
    if kind == "int":
        return str(round(v))
    p = 10 ** max(0, 2 - math.floor(math.log10(abs(v) or 1)))
    r = round(v * p) / p
    return str(int(r)) if float(r).is_integer() else str(r)


def slider_positions(sim: Simulation, slider: dict[str, str], n: int) -> list[float]:
    """n distinct accepted slider positions spread over the whole range, in shuffled order."""
    p = sim.param(sim.main_param)
    lo, hi = float(slider["min"]), float(slider["max"])
    log_scale = slider["scale"] == "log"
    seen: set[str] = set()
    out: list[float] = []
    candidates = list(np.linspace(lo, hi, 4 * n))
    random.Random(7).shuffle(candidates)
    for pos in candidates:
        value = 10 ** pos if log_scale else pos
        text = _round_like_app(value, p.kind)
        if text in seen or text == p.to_query(p.default):
            continue
        try:
            sim.parse({p.name: text})
        except ParamError:
            continue
        seen.add(text)
        out.append(float(pos))
        if len(out) == n:
            break
    return out


class BrowserBench:
    def __init__(self, base: str, browser, log) -> None:
        self.base = base
        self.browser = browser
        self.log = log

    def cold_load(self, kind: str, path: str, budget_kb: float | None) -> PageLoad:
        context = self.browser.new_context()  # a fresh profile: nothing cached
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
        sizes: dict[str, float] = {}
        urls: dict[str, str] = {}
        encodings: set[str] = set()
        cdp.on("Network.requestWillBeSent",
               lambda e: urls.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on("Network.responseReceived", lambda e: encodings.add(
            {k.lower(): v for k, v in e["response"]["headers"].items()}
            .get("content-encoding", "identity")))
        cdp.on("Network.loadingFinished",
               lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
        page.goto(self.base + path, wait_until="load")
        page.wait_for_function(_WAIT_CHARTS, timeout=20_000)
        page.wait_for_load_state("networkidle")
        foreign = sorted({u for u in urls.values()
                          if urlsplit(u).scheme in ("http", "https")
                          and urlsplit(u).hostname != HOST})
        context.close()
        return PageLoad(kind, path, sum(sizes.values()) / 1024, len(sizes),
                        ", ".join(sorted(encodings - {"identity"})) or "none", foreign, budget_kb)

    def redraws(self, sim: Simulation, moves: int) -> Redraw:
        context = self.browser.new_context()
        page = context.new_page()
        slug, main = sim.slug, sim.main_param
        page.goto(f"{self.base}/simulations/{slug}/")
        page.wait_for_function(_WAIT_CHARTS, timeout=20_000)
        slider = page.evaluate(
            """id => { const s = document.getElementById(id);
                       return {min: s.min, max: s.max, scale: s.getAttribute("data-scale")}; }""",
            f"sl-{slug}-{main}")
        positions = slider_positions(sim, slider, moves)
        results = page.evaluate(_MEASURE_MOVES, [f"sl-{slug}-{main}", f"chart-{slug}", positions])
        context.close()
        done = [r for r in results if r is not None]
        return Redraw(slug, main, [r["total"] for r in done], len(results) - len(done),
                      [r["fetch"] for r in done], [r["draw"] for r in done])


# -- report ------------------------------------------------------------------------------------
def _machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": version(),
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        # Other work on the machine skews the browser numbers most: say how busy it was.
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg")
                else "unknown",
    }


def _ms(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def _md_table(head: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _text_table(head: list[str], rows: list[list[str]], cap: int = 48) -> str:
    cut = lambda c: c if len(c) <= cap else c[: cap - 1] + "…"  # noqa: E731
    rows = [[cut(c.replace("**", "").replace("`", "")) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


@dataclass
class Report:
    runs: int
    machine: dict[str, str]
    server: list[ServerResult]
    pages: list[PageLoad]
    redraws: list[Redraw]
    browser: str = ""
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def server_rows(self) -> list[list[str]]:
        rows = []
        for r in self.server:
            d = r.defaults
            cold95, hot95 = pct(d.cold, 95), pct(d.cached, 95)
            cold_ok, hot_ok = cold95 <= COLD_P95_MS, hot95 <= CACHED_P95_MS
            if not cold_ok:
                self.failures.append(f"{r.slug}: cold p95 {cold95:.0f} ms > {COLD_P95_MS:.0f} ms")
            if not hot_ok:
                self.failures.append(f"{r.slug}: cached p95 {hot95:.1f} ms > {CACHED_P95_MS:.0f} ms")
            rows.append([f"`{r.slug}`", _ms(pct(d.cold, 50)), _ms(cold95), ok(cold_ok),
                         _ms(pct(d.cached, 50)), _ms(hot95), ok(hot_ok),
                         f"{d.figure_bytes / 1024:.1f}", f"{d.fragment_gz_bytes / 1024:.1f}"])
        return rows

    def maxima_rows(self) -> list[list[str]]:
        rows = []
        for r in self.server:
            refused = (f"refused ({r.maxima_status}): {r.maxima_refused}"
                       if r.maxima_refused else "accepted")
            if r.maxima_refused and r.maxima_status != 400:
                self.failures.append(f"{r.slug}: maxima answered {r.maxima_status}, not 400")
            if r.largest is None:
                rows.append([f"`{r.slug}`", refused, r.largest_note, "–", "–", "–", "–"])
                continue
            cold95 = pct(r.largest.cold, 95)
            passed = cold95 <= MAXIMA_MS and (not r.maxima_refused or r.maxima_status == 400)
            if cold95 > MAXIMA_MS:
                self.failures.append(f"{r.slug}: largest accepted p95 {cold95:.0f} ms > 2 s")
            rows.append([f"`{r.slug}`", refused, r.largest_note, _ms(pct(r.largest.cold, 50)),
                         _ms(cold95), _ms(pct(r.largest.cached, 95)), ok(passed)])
        return rows

    def page_rows(self) -> list[list[str]]:
        rows = []
        for p in self.pages:
            verdict = "–"
            if p.budget_kb is not None:
                verdict = ok(p.kb <= p.budget_kb)
                if p.kb > p.budget_kb:
                    self.failures.append(f"{p.url}: {p.kb:.0f} KB > {p.budget_kb:.0f} KB")
            if p.foreign:
                verdict = "**FAIL**: " + ", ".join(p.foreign)
                self.failures.append(f"{p.url}: requests to other hosts {p.foreign}")
            rows.append([p.kind, f"`{p.url}`", f"{p.kb:.0f}", str(p.requests), p.encodings,
                         f"≤ {p.budget_kb:.0f}" if p.budget_kb else "–", verdict])
        return rows

    def redraw_rows(self) -> list[list[str]]:
        rows = []
        for r in self.redraws:
            if not r.ms:
                self.failures.append(f"{r.slug}: no slider move was redrawn")
                rows.append([f"`{r.slug}`", f"`{r.param}`", "0", "–", "–", "–", "**FAIL**"])
                continue
            p95 = pct(r.ms, 95)
            passed = p95 <= REDRAW_P95_MS and r.failed == 0
            if not passed:
                self.failures.append(f"{r.slug}: slider→redraw p95 {p95:.0f} ms"
                                     + (f", {r.failed} moves never redrawn" if r.failed else ""))
            rows.append([f"`{r.slug}`", f"`{r.param}`", f"{len(r.ms)}" + (
                f" ({r.failed} lost)" if r.failed else ""), _ms(pct(r.ms, 50)), _ms(p95),
                _ms(max(r.ms)), _ms(pct(r.fetch_ms, 50)), _ms(pct(r.draw_ms, 50)), ok(passed)])
        return rows

    SERVER_HEAD = ("simulation", "cold p50 ms", "cold p95 ms", f"≤ {COLD_P95_MS:.0f} ms",
                   "cached p50 ms", "cached p95 ms", f"≤ {CACHED_P95_MS:.0f} ms",
                   "figure JSON KB", "fragment KB (gzip)")
    MAXIMA_HEAD = ("simulation", "every numeric parameter at its max", "largest accepted",
                   "cold p50 ms", "cold p95 ms", "cached p95 ms", "≤ 2 s or refused")
    PAGE_HEAD = ("page", "URL", "KB transferred", "requests", "compression", "budget KB",
                 "verdict")
    REDRAW_HEAD = ("simulation", "slider", "moves", "p50 ms", "p95 ms", "max ms",
                   "request p50 ms", "Plotly.react p50 ms", f"p95 ≤ {REDRAW_P95_MS:.0f} ms")

    @functools.cached_property
    def sections(self) -> list[tuple[str, tuple[str, ...], list[list[str]], str]]:
        """Each table with its title and note; filling the rows records the failures, once."""
        out = []
        if self.server:
            out.append(("Figure fragment, server time (defaults)", self.SERVER_HEAD,
                        self.server_rows(),
                        f"`GET /simulations/<sim>/figure` with `HX-Request`, through Django's "
                        f"test client, {self.runs} runs each. Cold: cache cleared and a seed not "
                        "used before, so the simulation runs. Cached: the same URL again."))
            out.append(("Largest parameters", self.MAXIMA_HEAD, self.maxima_rows(),
                        "Every int/float parameter at its declared max (choices, flags and "
                        "lists at their defaults). If the simulation's limit refuses that, the "
                        "URL must answer 400 naming the limit, and the largest accepted "
                        "combination (found by halving the parameter the refusal names) is "
                        "timed instead: it must finish in 2 s."))
        if self.pages:
            out.append(("Cold page loads in Chromium", self.PAGE_HEAD, self.page_rows(),
                        "A fresh browser profile per page, cache disabled; the sum of "
                        "`encodedDataLength` (bytes on the wire, compressed) over every request "
                        "until the charts are drawn and the network is idle. The budget applies "
                        "to chapter pages."))
        if self.redraws:
            out.append(("Slider moved → chart redrawn, in Chromium", self.REDRAW_HEAD,
                        self.redraw_rows(),
                        "On the lab page: set the main slider to a new position (spread over "
                        "its whole range, every value new to the server, so uncached) and "
                        "dispatch one `input` event; the time from that event to the chart's "
                        "`figure:drawn` event (after `Plotly.react` resolves), measured in the "
                        "page. Includes the trigger (no debounce: `hx-sync` queues only the last "
                        "move), the request, the swap and the draw; the request and "
                        "Plotly.react columns show where the time goes."))
        return out

    def markdown(self) -> str:
        m = self.machine
        parts = [
            "# Performance",
            "",
            "Measured by `make bench` (`python manage.py bench`); budgets from the standing "
            "quality bars in the product contract. Re-run it after changing a simulation, the "
            "figure template or the front-end bundle, and commit the new numbers. Profiles, "
            "before/after history and the open gaps are in `docs/performance-notes.md`.",
            "",
            f"- **Date:** {m['date']}",
            f"- **Version:** `{m['version']}`",
            f"- **Machine:** {m['nproc']} CPUs ({m['cpu']}), {m['os']}, Python {m['python']}"
            + (f", {self.browser}" if self.browser else ""),
            f"- **Load average when the run started (1 / 5 / 15 min):** {m['load']}",
            "- **Server:** gunicorn, 2 sync workers, `DEBUG` off, the default file cache in a "
            "fresh directory (browser pass); Django's test client in one process with the "
            f"configured cache, `{settings.CACHES['default']['BACKEND'].rsplit('.', 1)[-1]}` "
            "(server pass)",
            "",
        ]
        for title, head, rows, note in self.sections:
            parts += [f"## {title}", "", note, "", _md_table(list(head), rows), ""]
        parts += ["## Verdict", ""]
        if self.failures:
            parts += [f"- over budget: {f}" for f in self.failures]
        else:
            parts.append("Every measured budget is met.")
        parts += [f"- {n}" for n in self.notes]
        return "\n".join(parts).rstrip() + "\n"


# -- the command -------------------------------------------------------------------------------
class Command(BaseCommand):
    help = "Measure figure server time, page weight and slider→redraw time; write docs/performance.md."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=20,
                            help="requests (and slider moves) per measurement (default 20)")
        parser.add_argument("--no-browser", action="store_true",
                            help="server-side measurements only (no gunicorn, no chromium)")
        parser.add_argument("--only", metavar="SLUG", action="append", default=[],
                            help="only this simulation (repeatable)")
        parser.add_argument("--output", type=Path, default=None,
                            help=f"where to write the Markdown report (default {DOCS}; a "
                                 "partial run writes it only when this is given)")
        parser.add_argument("--check", action="store_true",
                            help="exit with status 1 when a budget is missed")

    def handle(self, *args, **opts) -> None:
        runs = opts["runs"]
        if runs < 1:
            raise CommandError("--runs must be at least 1")
        registry = simulations.registry()
        unknown = [s for s in opts["only"] if s not in registry]
        if unknown:
            raise CommandError(f"unknown simulation(s) {unknown}; known: {', '.join(registry)}")
        chosen = [registry[s] for s in (opts["only"] or registry)]
        partial = bool(opts["only"]) or opts["no_browser"]

        # One log line per request would drown the table.
        logging.getLogger("monograph").setLevel(logging.WARNING)
        say = lambda msg: self.stderr.write(msg)  # noqa: E731

        say(f"server pass: {len(chosen)} simulation(s), {runs} runs each…")
        bench = ServerBench(runs, say)
        server = [bench.run(sim) for sim in chosen]
        report = Report(runs, _machine(), server, [], [])

        if not opts["no_browser"]:
            self._browser_pass(report, chosen, runs, say)
        else:
            report.notes.append("browser pass skipped (--no-browser)")
        if runs < 20:
            report.notes.append(f"only {runs} runs per measurement: p95 is rough below 20")

        for title, head, rows, _ in report.sections:
            self.stdout.write(f"\n{title}\n{_text_table(list(head), rows)}")
        self.stdout.write("")
        for f in report.failures:
            self.stdout.write(self.style.WARNING(f"over budget: {f}"))
        if not report.failures:
            self.stdout.write(self.style.SUCCESS("every measured budget is met"))
        for note in report.notes:
            self.stdout.write(f"note: {note}")

        target = opts["output"] or (None if partial else DOCS)
        if target is not None:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(report.markdown())
            self.stdout.write(f"wrote {target}")
        else:
            self.stdout.write(f"partial run: {DOCS} left as it was (pass --output to write one)")
        if opts["check"] and report.failures:
            sys.exit(1)

    def _browser_pass(self, report: Report, chosen: list[Simulation], runs: int, say) -> None:
        if not CHROMIUM.exists():
            raise CommandError(f"{CHROMIUM} is missing: `make browser-deps` installs Debian's "
                               "chromium (or pass --no-browser)")
        from playwright.sync_api import sync_playwright

        book = content.book()
        pages: list[tuple[str, str, float | None]] = [("contents", "/", None)]
        with_fig = [p for p in book.pages if p.kind == "chapter" and p.simulation
                    and p.simulation in {s.slug for s in chosen}]
        without = [p for p in book.pages if p.kind == "chapter" and not p.simulation]
        pages += [(f"chapter ({p.simulation})", p.url, CHAPTER_KB) for p in with_fig]
        if without:
            pages.append(("chapter, no figure", without[0].url, CHAPTER_KB))
        if book.checklist_page():
            pages.append(("checklist", "/checklist/", None))
        pages.append(("gallery", "/simulations/", None))
        pages += [(f"lab ({s.slug})", f"/simulations/{s.slug}/", None) for s in chosen]
        pages.append(("embed, chart only", f"/simulations/{chosen[0].slug}/embed?controls=0",
                      None))

        say("browser pass: starting gunicorn and chromium…")
        with gunicorn() as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            report.browser = f"Chromium {browser.version}"
            bb = BrowserBench(base, browser, say)
            for kind, path, budget in pages:
                say(f"  cold load {path}")
                report.pages.append(bb.cold_load(kind, path, budget))
            for sim in chosen:
                say(f"  {sim.slug}: {runs} slider moves")
                report.redraws.append(bb.redraws(sim, runs))
            browser.close()
