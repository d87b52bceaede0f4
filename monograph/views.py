"""Views: small functions, generic over the simulation registry.

A slider move and a full page render go through the same code (`_result_context`);
permalinks are page URLs, never fragment URLs.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils.html import escape
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET
from django_htmx.http import replace_url, reswap, retarget

import simulations
from simulations import ParamError, Simulation

from . import content, metrics, openapi, sims
from .version import version

log = logging.getLogger("monograph")


def _sim_or_404(slug: str) -> Simulation:
    sim = simulations.get(slug)
    if sim is None:
        raise Http404(f"No simulation named {slug!r}")
    return sim


def _bad_request(sim: Simulation, exc: ParamError) -> HttpResponse:
    metrics.SIM_REJECTED.labels(sim.slug).inc()
    body = {"error": exc.message, "parameter": exc.name}
    if exc.name in {p.name for p in sim.all_params}:
        p = sim.param(exc.name)
        body["allowed"] = p.describe()
    return JsonResponse(body, status=400)


# -- the figure component ---------------------------------------------------------------------
def _result_context(state: sims.State, page_url: str) -> dict[str, Any]:
    """What the result partial needs: all a slider move renders."""
    payload = sims.run(state)
    qs = state.querystring
    return {
        "sim": state.sim,
        "payload": payload,
        "metric_rows": sims.metric_rows(payload),
        "page_url": page_url,
        "permalink": f"{page_url}?{qs}",
        "qs": qs,
        "model_changed": state.model_changed,
        "linked_version": state.linked_version,
    }


def _figure_context(state: sims.State, page_url: str,
                    page: content.Page | None) -> dict[str, Any]:
    """The whole figure for a full page: the result plus controls, presets and errors."""
    sim = state.sim
    chapter = content.book().chapter_for_simulation(sim.slug)
    source = page or chapter
    query = state.query
    defaults = sim.to_query(sim.defaults(), simulations.SEED.default)
    declared = {p.name for p in sim.all_params}
    return {
        **_result_context(state, page_url),
        "state": state,
        "controls": sims.controls(state),
        "caption": (source.figure_caption if source else "") or sim.caption,
        "presets": [{"label": p.label, "query": urlencode(p.query), "active": p.query == query}
                    for p in (source.presets if source else ())],
        "chapter": chapter,
        "reset_url": page_url,
        "defaults_qs": urlencode(defaults),
        "seed_max": simulations.SEED.max,
        "errors": state.errors,
        # Errors about names the simulation does not declare have no control to sit by.
        "form_errors": " ".join(msg for name, msg in state.errors.items() if name not in declared),
    }


def _page_figure(request: HttpRequest, sim: Simulation, page_url: str,
                 page: content.Page | None) -> tuple[dict[str, Any], int]:
    state = sims.resolve_lenient(sim, request.GET)
    status = 400 if state.errors else 200
    if state.errors:
        metrics.SIM_REJECTED.labels(sim.slug).inc()
    return _figure_context(state, page_url, page), status


# -- pages ------------------------------------------------------------------------------------
@require_GET
def contents(request: HttpRequest) -> TemplateResponse:
    """The contents: parts, chapters, one-line summaries."""
    book = content.book()
    return TemplateResponse(request, "contents.html", {"groups": book.contents()})


@require_GET
def chapter(request: HttpRequest, slug: str) -> HttpResponse:
    """A chapter, with its live figure where the text places it."""
    book = content.book()
    page = book.by_slug.get(slug)
    if page is None:
        raise Http404(f"No chapter named {slug!r}")
    if page.kind == "checklist":
        return redirect("checklist", permanent=True)
    prev, nxt = book.neighbours(page)
    ctx: dict[str, Any] = {"page": page, "prev": prev, "next": nxt,
                           "part": book.part(page.part)}
    status = 200
    if page.simulation:
        sim = _sim_or_404(page.simulation)
        ctx["fig"], status = _page_figure(request, sim, page.url, page)
    return TemplateResponse(request, "chapter.html", ctx, status=status)


@require_GET
def checklist(request: HttpRequest) -> TemplateResponse:
    """The pre-merge checklist: every chapter's 'Do this' items, grouped by chapter."""
    book = content.book()
    page = book.checklist_page()
    if page is None:
        raise Http404("This book has no checklist page")
    groups = [(p, p.do_this) for p in book.pages if p.do_this and p.kind == "chapter"]
    prev, nxt = book.neighbours(page)
    return TemplateResponse(request, "checklist.html", {
        "page": page, "groups": groups, "prev": prev, "next": nxt,
        "total": sum(len(items) for _, items in groups),
    })


@require_GET
def gallery(request: HttpRequest) -> TemplateResponse:
    """Every registered simulation with its chapter."""
    book = content.book()
    items = [{"sim": s, "chapter": book.chapter_for_simulation(s.slug)}
             for s in simulations.registry().values()]
    items.sort(key=lambda i: i["chapter"].order if i["chapter"] else 999)
    return TemplateResponse(request, "gallery.html", {"items": items})


@require_GET
def lab(request: HttpRequest, sim: str) -> TemplateResponse:
    """The lab: one simulation with all its controls, presets and tools."""
    s = _sim_or_404(sim)
    fig, status = _page_figure(request, s, f"/simulations/{s.slug}/", None)
    return TemplateResponse(request, "lab.html", {"fig": fig}, status=status)


@require_GET
@xframe_options_exempt
@csp_override(settings.SECURE_CSP_EMBED)
def embed(request: HttpRequest, sim: str) -> TemplateResponse:
    """A framable page for wikis; controls=0 shows the chart alone."""
    s = _sim_or_404(sim)
    show = request.GET.get("controls", "1")
    if show not in ("0", "1"):
        return JsonResponse({"error": "controls must be 0 or 1", "parameter": "controls"},
                            status=400)
    fig, status = _page_figure(request, s, f"/simulations/{s.slug}/embed", None)
    fig["controls_on"] = show == "1"
    if show == "0":
        fig["page_url"] = f"/simulations/{s.slug}/embed"
    return TemplateResponse(request, "embed.html", {"fig": fig}, status=status)


@require_GET
def figure(request: HttpRequest, sim: str) -> HttpResponse:
    """The fragment a slider move fetches: chart, metrics, summary, provenance."""
    s = _sim_or_404(sim)
    try:
        state = sims.resolve_strict(s, request.GET, sims.PAGE_EXTRAS)
    except ParamError as exc:
        metrics.SIM_REJECTED.labels(s.slug).inc()
        if request.htmx:
            # Put the message beside the control; the last good chart stays.
            target = (f"#err-{s.slug}-{exc.name}"
                      if exc.name in {p.name for p in s.all_params} else f"#err-{s.slug}")
            resp = HttpResponse(escape(exc.message), status=400,
                                content_type="text/html; charset=utf-8")
            return reswap(retarget(resp, target), "innerHTML")
        return _bad_request(s, exc)
    page_url = _page_path(request, s)
    ctx = _result_context(state, page_url)
    resp = TemplateResponse(request, "_figure.html#result", {"fig": ctx})
    if request.htmx:
        replace_url(resp, ctx["permalink"])
    return resp


def _page_path(request: HttpRequest, sim: Simulation) -> str:
    """The page the fragment belongs to (from htmx's HX-Current-URL), else the lab page."""
    current = request.htmx.current_url if request.htmx else None
    if current:
        path = urlsplit(current).path
        book = content.book()
        allowed = {f"/simulations/{sim.slug}/", f"/simulations/{sim.slug}/embed"}
        allowed |= {p.url for p in book.pages if p.simulation == sim.slug}
        if path in allowed:
            return path
    return f"/simulations/{sim.slug}/"


# -- data and images --------------------------------------------------------------------------
def _strict(request: HttpRequest, sim: str, extras: frozenset[str] = frozenset()
            ) -> sims.State | HttpResponse:
    """The requested state, or the 400 that names the bad parameter."""
    s = _sim_or_404(sim)
    try:
        return sims.resolve_strict(s, request.GET, extras)
    except ParamError as exc:
        return _bad_request(s, exc)


@require_GET
def result_json(request: HttpRequest, sim: str) -> HttpResponse:
    """The result, machine-readable (shape in PRODUCT.md)."""
    state = _strict(request, sim)
    if isinstance(state, HttpResponse):
        return state
    payload = sims.public_json(sims.run(state))
    resp = JsonResponse(payload, json_dumps_params={"separators": (",", ":")})
    resp["Access-Control-Allow-Origin"] = "*"
    return resp


@require_GET
def result_csv(request: HttpRequest, sim: str) -> HttpResponse:
    """The result's data series, one column per series."""
    state = _strict(request, sim)
    if isinstance(state, HttpResponse):
        return state
    resp = HttpResponse(sims.csv_text(sims.run(state)["series"]),
                        content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'inline; filename="{state.sim.slug}-{state.seed}.csv"'
    resp["Access-Control-Allow-Origin"] = "*"
    return resp


@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    """OpenAPI 3.1 for the simulation endpoints, generated from the declarations."""
    return JsonResponse(openapi.spec(request.build_absolute_uri("/")),
                        json_dumps_params={"indent": 1})


# -- operations -------------------------------------------------------------------------------
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok", "version": version()})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: content parsed, simulations registered, the cache answers."""
    from django.core.cache import cache

    checks: dict[str, Any] = {}
    try:
        checks["content_pages"] = len(content.book().pages)
        checks["simulations"] = len(simulations.registry())
        cache.set("readyz", "1", 5)
        checks["cache"] = cache.get("readyz") == "1"
        ok = checks["cache"] and checks["content_pages"] > 0
    except Exception:  # a readiness probe reports, it does not crash
        log.exception("readiness check failed")
        ok = False
    return JsonResponse({"status": "ok" if ok else "unavailable", "checks": checks},
                        status=200 if ok else 503)


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics."""
    body, ctype = metrics.exposition()
    return HttpResponse(body, content_type=ctype)


# -- errors -----------------------------------------------------------------------------------
def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return TemplateResponse(request, "404.html", {}, status=404).render()


def server_error(request: HttpRequest) -> HttpResponse:
    from django.template import loader

    # Minimal context: the error may come from the content layer itself.
    html = loader.get_template("500.html").render({"request_id": getattr(request, "request_id", "")})
    return HttpResponse(html, status=500)
