"""Bench pass: the real server (gunicorn) in chromium, driven by Playwright.

What a cold page load transfers, and how long a slider move takes from the input event
to the redrawn chart. Skipped with --no-browser.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np
from django.urls import reverse

from monograph import content
from simulations import ParamError, Simulation

from . import localserver
from .bench import BenchError, Context, Section, fmt_ms, ok, pct

ORDER = 20
# Budgets: the standing quality bars (docs/contract.md).
CHAPTER_KB = 450.0
REDRAW_P95_MS = 150.0
HOST = localserver.HOST


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
    previewable: bool = False  # the simulation has a quick run to show while dragging
    previews: int = 0  # first redraws that were labelled previews
    full_ms: list[float] = field(default_factory=list)  # release → full run drawn
    full_lost: int = 0  # releases whose full run never came


_WAIT_CHARTS = """
() => Array.from(document.querySelectorAll(".chart")).every(c => c.hasAttribute("data-drawn"))
"""

# Drags the slider to each position by script and times two things, as a reader meets them:
# "input event → figure:drawn" (a preview, labelled, where the simulation has a quick run),
# then, after the release (change + pointerup), "release → the full run drawn".
_MEASURE_MOVES = """
async ([sliderId, chartId, positions]) => {
  const slider = document.getElementById(sliderId);
  const chart = document.getElementById(chartId);
  const previews = !!slider.form.querySelector("input.drag-preview");
  const drawn = () => new Promise(resolve => {
    const t = setTimeout(() => resolve(null), 10000);
    chart.addEventListener("figure:drawn", () => { clearTimeout(t); resolve(performance.now()); },
                           {once: true});
  });
  // The fragment request alone (Resource Timing: htmx's XMLHttpRequest).
  const lastFetch = () => {
    const xs = performance.getEntriesByType("resource").filter(e => e.initiatorType === "xmlhttprequest");
    const last = xs[xs.length - 1];
    return last ? last.responseEnd - last.startTime : 0;
  };
  const out = [];
  for (const pos of positions) {
    await new Promise(r => setTimeout(r, 120));  // a pause between moves: one request each
    performance.clearResourceTimings();
    slider.dispatchEvent(new PointerEvent("pointerdown", {bubbles: true}));
    let first = drawn();
    slider.value = String(pos);
    const t0 = performance.now();
    slider.dispatchEvent(new Event("input", {bubbles: true}));
    const t1 = await first;
    const row = t1 === null ? null : {total: t1 - t0, fetch: lastFetch(),
                                      draw: parseFloat(chart.getAttribute("data-draw-ms") || "0"),
                                      preview: chart.hasAttribute("data-preview"), full: null};
    const wasPreview = row !== null && row.preview;
    const full = wasPreview ? drawn() : null;
    const r0 = performance.now();
    slider.dispatchEvent(new Event("change", {bubbles: true}));
    window.dispatchEvent(new PointerEvent("pointerup", {bubbles: true}));
    if (full !== null) {
      const r1 = await full;
      row.full = r1 === null || chart.hasAttribute("data-preview") ? -1 : r1 - r0;
    }
    out.push(row);
  }
  return {previews: previews, rows: out};
}
"""


# What the number box shows for each slider position: app.js's own rounding
# (Monograph.sliderValue), asked in the page rather than re-implemented here.
_SLIDER_TEXTS = """
([sliderId, positions]) => {
  const slider = document.getElementById(sliderId);
  const before = slider.value;
  const out = positions.map(pos => { slider.value = String(pos); return Monograph.sliderValue(slider); });
  slider.value = before;
  return out;
}
"""


def slider_positions(sim: Simulation, page, slider_id: str, n: int) -> list[float]:
    """n distinct accepted slider positions spread over the whole range, in shuffled order."""
    p = sim.param(sim.main_param)
    lo, hi = page.evaluate("id => { const s = document.getElementById(id); "
                           "return [parseFloat(s.min), parseFloat(s.max)]; }", slider_id)
    seen: set[str] = set()
    out: list[float] = []
    candidates = [float(x) for x in np.linspace(lo, hi, 4 * n)]
    random.Random(7).shuffle(candidates)
    texts = page.evaluate(_SLIDER_TEXTS, [slider_id, candidates])
    for pos, text in zip(candidates, texts, strict=True):
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
        page.goto(self.base + reverse("lab", args=[slug]))
        page.wait_for_function(_WAIT_CHARTS, timeout=20_000)
        positions = slider_positions(sim, page, f"sl-{slug}-{main}", moves)
        measured = page.evaluate(_MEASURE_MOVES, [f"sl-{slug}-{main}", f"chart-{slug}", positions])
        context.close()
        results = measured["rows"]
        done = [r for r in results if r is not None]
        fulls = [r["full"] for r in done if r["preview"]]
        return Redraw(slug, main, [r["total"] for r in done], len(results) - len(done),
                      [r["fetch"] for r in done], [r["draw"] for r in done],
                      previewable=measured["previews"],
                      previews=sum(1 for r in done if r["preview"]),
                      full_ms=[f for f in fulls if f >= 0], full_lost=sum(1 for f in fulls if f < 0))


PAGE_HEAD = ("page", "URL", "KB transferred", "requests", "compression", "budget KB", "verdict")
FULL_FOLLOWS_MS = 600.0
REDRAW_HEAD = ("simulation", "slider", "moves", "p50 ms", "p95 ms", "max ms",
               "request p50 ms", "Plotly.react p50 ms", "previews",
               "release → full p95 ms", f"p95 ≤ {REDRAW_P95_MS:.0f}, full ≤ {FULL_FOLLOWS_MS:.0f}")


def _page_rows(loads: list[PageLoad], failures: list[str]) -> list[list[str]]:
    rows = []
    for p in loads:
        verdict = "–"
        if p.budget_kb is not None:
            verdict = ok(p.kb <= p.budget_kb)
            if p.kb > p.budget_kb:
                failures.append(f"{p.url}: {p.kb:.0f} KB > {p.budget_kb:.0f} KB")
        if p.foreign:
            verdict = "**FAIL**: " + ", ".join(p.foreign)
            failures.append(f"{p.url}: requests to other hosts {p.foreign}")
        rows.append([p.kind, f"`{p.url}`", f"{p.kb:.0f}", str(p.requests), p.encodings,
                     f"≤ {p.budget_kb:.0f}" if p.budget_kb else "–", verdict])
    return rows


def _redraw_rows(redraws: list[Redraw], failures: list[str]) -> list[list[str]]:
    rows = []
    for r in redraws:
        if not r.ms:
            failures.append(f"{r.slug}: no slider move was redrawn")
            rows.append([f"`{r.slug}`", f"`{r.param}`", "0", *["–"] * 7, "**FAIL**"])
            continue
        p95 = pct(r.ms, 95)
        full95 = pct(r.full_ms, 95) if r.full_ms else None
        passed = (p95 <= REDRAW_P95_MS and r.failed == 0 and r.full_lost == 0
                  and (full95 is None or full95 <= FULL_FOLLOWS_MS))
        if not passed:
            failures.append(f"{r.slug}: slider→redraw p95 {p95:.0f} ms"
                            + (f", release→full p95 {full95:.0f} ms" if full95 else "")
                            + (f", {r.failed} moves never redrawn" if r.failed else "")
                            + (f", {r.full_lost} full runs never drawn" if r.full_lost else ""))
        rows.append([f"`{r.slug}`", f"`{r.param}`", f"{len(r.ms)}" + (
            f" ({r.failed} lost)" if r.failed else ""), fmt_ms(pct(r.ms, 50)), fmt_ms(p95),
            fmt_ms(max(r.ms)), fmt_ms(pct(r.fetch_ms, 50)), fmt_ms(pct(r.draw_ms, 50)),
            f"{r.previews}/{len(r.ms)}" if r.previewable else "none (no sample size)",
            (fmt_ms(full95) if full95 is not None else "–")
            + (f" ({r.full_lost} lost)" if r.full_lost else ""), ok(passed)])
    return rows


def _pages(chosen: list[Simulation]) -> list[tuple[str, str, float | None]]:
    """(kind, path, budget KB) of every page the cold-load pass opens."""
    book = content.book()
    pages: list[tuple[str, str, float | None]] = [("contents", reverse("contents"), None)]
    slugs = {s.slug for s in chosen}
    with_fig = [p for p in book.pages
                if p.kind == "chapter" and any(f.simulation in slugs for f in p.figures)]
    without = [p for p in book.pages if p.kind == "chapter" and not p.figures]
    pages += [(f"chapter ({', '.join(f.simulation for f in p.figures)})", p.url, CHAPTER_KB)
              for p in with_fig]
    if without:
        pages.append(("chapter, no figure", without[0].url, CHAPTER_KB))
    if book.checklist_page():
        pages.append(("checklist", reverse("checklist"), None))
    pages.append(("gallery", reverse("gallery"), None))
    pages += [(f"lab ({s.slug})", reverse("lab", args=[s.slug]), None) for s in chosen]
    pages.append(("embed, chart only", reverse("embed", args=[chosen[0].slug]) + "?controls=0",
                  None))
    return pages


def sections(ctx: Context) -> list[Section]:
    if not ctx.browser:
        ctx.notes.append("browser pass skipped (--no-browser)")
        return []
    chromium = localserver.chromium()
    if chromium is None:
        raise BenchError(f"{localserver.MISSING_CHROMIUM} (or pass --no-browser)")
    from playwright.sync_api import sync_playwright  # a dev dependency: only here

    loads: list[PageLoad] = []
    redraws: list[Redraw] = []
    ctx.log("browser pass: starting gunicorn and chromium…")
    try:
        with localserver.gunicorn() as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(chromium),
                                         args=localserver.CHROMIUM_ARGS)
            ctx.facts["browser"] = f"Chromium {browser.version}"
            bb = BrowserBench(base, browser, ctx.log)
            for kind, path, budget in _pages(ctx.sims):
                ctx.log(f"  cold load {path}")
                loads.append(bb.cold_load(kind, path, budget))
            for sim in ctx.sims:
                ctx.log(f"  {sim.slug}: {ctx.runs} slider moves")
                redraws.append(bb.redraws(sim, ctx.runs))
            browser.close()
    except localserver.ServerDidNotStart as exc:
        raise BenchError(str(exc)) from None
    page = Section("Cold page loads in Chromium", PAGE_HEAD, [],
                   "A fresh browser profile per page, cache disabled; the sum of "
                   "`encodedDataLength` (bytes on the wire, compressed) over every request "
                   "until the charts are drawn and the network is idle. The budget applies "
                   "to chapter pages.")
    page.rows = _page_rows(loads, page.failures)
    redraw = Section("Slider moved → chart redrawn, in Chromium", REDRAW_HEAD, [],
                     "On the lab page, a drag of the main slider to each of its positions "
                     "(spread over its whole range, every value new to the server, so "
                     "uncached): `pointerdown`, one `input` event, then the release "
                     "(`change`, `pointerup`). p50/p95/max: from the `input` event to the "
                     "chart's `figure:drawn` event (after `Plotly.react` resolves), measured "
                     "in the page — a labelled preview where the simulation has a sample size "
                     "to shrink (`preview=1`, see docs/contract.md), else the full run. "
                     "Release → full: from the release to the full run drawn over the "
                     "preview. Includes the trigger (no debounce: `hx-sync` queues only the "
                     "last move), the request, the swap and the draw; the request and "
                     "Plotly.react columns show where the time goes.")
    redraw.rows = _redraw_rows(redraws, redraw.failures)
    return [page, redraw]
