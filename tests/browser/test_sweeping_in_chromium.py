"""Sweeps in a real browser: from a slider's "Sweep this" link to a filled chart and a CSV."""

from __future__ import annotations

import csv
import io
from urllib.parse import parse_qsl, urlsplit

import pytest

pytestmark = pytest.mark.browser


def test_a_sweep_runs_from_a_sliders_link_to_an_exported_csv(page, figures):
    # A reader on the lab with a small run (fast), who has moved one control away from its
    # default: the sweep must hold that state, not the state the page loaded with.
    figures.open(page, "/simulations/fanout/?requests=400", "fanout")
    before = figures.probe(page)
    page.fill("#in-fanout-slow_ms", "300")
    page.locator("#in-fanout-slow_ms").dispatch_event("change")
    figures.wait_redrawn(page, "fanout", before)

    page.locator('a.sweep-link[data-vary="fanout"]').click()
    page.wait_for_url("**/simulations/fanout/sweep/**")
    query = dict(parse_qsl(urlsplit(page.url).query))
    assert query["vary"] == "fanout"
    assert query["requests"] == "400" and query["slow_ms"] == "300"

    # The points stream in; when the last is in, the server-rendered table replaces the
    # progress line and the chart has one marker per point.
    page.wait_for_selector("table.sweep-table", timeout=60_000)
    page.wait_for_selector(".sweep-result .chart[data-drawn]", state="attached")
    xs = page.evaluate(
        "() => document.querySelector('.sweep-result .chart').data[0].x")
    rows = page.locator("table.sweep-table tbody tr")
    assert rows.count() == len(xs) >= 10
    assert "closed form lies inside the 95 % CI" in page.inner_text(".sweep-progress")

    href = page.locator("a.sweep-csv").get_attribute("href")
    resp = page.request.get(href)
    assert resp.status == 200 and resp.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(resp.text())))
    assert [int(r["fanout"]) for r in table] == xs
    first_value = page.inner_text("table.sweep-table tbody tr:first-child td.value")
    assert first_value == f"{float(table[0]['value']) * 100:.1f} %"


def test_a_chapters_sweep_fills_in_when_it_scrolls_into_view(page):
    page.goto("/chapters/tail-latency/")
    slot = page.locator(".sweep-embed")
    slot.scroll_into_view_if_needed()
    page.wait_for_selector(".sweep-embed .sweep-result .chart[data-drawn]", state="attached",
                           timeout=60_000)
    page.wait_for_selector(".sweep-embed table.sweep-table", timeout=60_000)
    traces = page.evaluate(
        "() => document.querySelector('.sweep-embed .chart').data.map(t => t.name)")
    assert "closed form" in traces
