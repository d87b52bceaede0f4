"""Page and figure views: small functions, generic over the simulation registry.

A figure on a page (chapter, lab, embed) talks to its own page URL: a full request renders
the page, an htmx request renders only the partial it targets (the django-htmx habit), so
a slider move and a page load go through the same code. `/simulations/<sim>/figure` is
the same result partial at a public URL of its own. Permalinks are page URLs.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET
from django_htmx.http import replace_url, reswap, retarget

import simulations
from simulations import ParamError, Simulation

from . import content, livenumbers, metrics, openapi, sims
from .images import QUERY_EXTRAS

log = logging.getLogger("monograph")

# Query names the image URLs accept besides a simulation's own (and `mv`).
IMAGE_EXTRAS = QUERY_EXTRAS
# "New seed" offers a fresh seed in this range (below the 2³²−1 maximum, easy to read).
NEW_SEED_MAX = 10**9


def _sim_or_404(slug: str) -> Simulation:
    sim = simulations.get(slug)
    if sim is None:
        raise Http404(f"No simulation named {slug!r}")
    return sim


def _bad_request(sim: Simulation, exc: ParamError) -> HttpResponse:
    metrics.SIM_REJECTED.labels(sim.slug).inc()
    body = {"error": exc.message, "parameter": exc.name}
    if exc.name in {p.name for p in sim.all_params}:
        body["allowed"] = sim.param(exc.name).describe()
    return JsonResponse(body, status=400)


# -- the figure component ---------------------------------------------------------------------
def _placement(slug: str, page_url: str) -> tuple[content.Page | None, dict[str, str]]:
    """The chapter a figure sits in at this URL (else None), and the `figure=` its
    permalinks need: a chapter's second or later figure is named in its URLs."""
    page = next((p for p in content.book().chapters_for_simulation(slug) if p.url == page_url),
                None)
    if page is not None and page.figures[0].simulation != slug:
        return page, {"figure": slug}
    return page, {}


def _page_query(page_url: str, figure_param: dict[str, str], qs: str = "") -> str:
    """A page URL with `figure=` (when needed) and a query."""
    query = "&".join(q for q in (urlencode(figure_param), qs) if q)
    return f"{page_url}?{query}" if query else page_url


def _result_context(state: sims.State, page_url: str) -> dict[str, Any]:
    """What the result partial needs: all a slider move renders."""
    result = sims.run(state)
    qs = state.querystring
    slug = state.sim.slug
    _, figure_param = _placement(slug, page_url)
    return {
        "sim": state.sim,
        "result": result,
        "metric_rows": sims.metric_rows(result),
        "page_url": page_url,
        "permalink": _page_query(page_url, figure_param, qs),
        "qs": qs,
        "model_changed": state.model_changed,
        "linked_version": state.linked_version,
        "links": {  # the data and image URLs of this very result
            "json": f"{reverse('result_json', args=[slug])}?{qs}",
            "csv": f"{reverse('result_csv', args=[slug])}?{qs}",
            "svg": f"{reverse('result_svg', args=[slug])}?{qs}",
            "png": f"{reverse('result_png', args=[slug])}?{qs}",
            "lab": f"{reverse('lab', args=[slug])}?{qs}",
            "embed": f"{reverse('embed', args=[slug])}?{qs}&controls=0",
        },
        "presets": _presets(state, page_url),  # for the out-of-band refresh of their marks
    }


def _spec(slug: str, page_url: str) -> tuple[content.Figure | None, dict[str, str]]:
    """The figure's caption and presets (from its chapter at this URL, else its first
    chapter), and the `figure=` its links need."""
    page, figure_param = _placement(slug, page_url)
    source = page or content.book().chapter_for_simulation(slug)
    return (source.figure(slug) if source else None), figure_param


def _presets(state: sims.State, page_url: str) -> list[dict[str, Any]]:
    """The chapter's presets as links to their permalinks, the current one marked."""
    spec, figure_param = _spec(state.sim.slug, page_url)
    current = state.query
    return [{"label": p.label, "href": _page_query(page_url, figure_param, urlencode(p.query)),
             "active": p.query == current}
            for p in (spec.presets if spec else ())]


def _controls_context(state: sims.State, page_url: str) -> dict[str, Any]:
    """What the controls partial needs (no run): values and errors. (The presets come with
    the result, which marks the one it matches.)"""
    sim = state.sim
    chapters = content.book().chapters_for_simulation(sim.slug)
    spec, figure_param = _spec(sim.slug, page_url)
    declared = {p.name for p in sim.all_params}
    return {
        "sim": sim,
        "page_url": page_url,
        "reset_url": _page_query(page_url, figure_param),
        "figure_name": figure_param.get("figure", ""),
        "qs": state.querystring,
        "state": state,
        "controls": sims.controls(state),
        "caption": _caption(spec),
        "chapter": chapters[0] if chapters else None,
        "chapters": chapters,
        "seed_max": simulations.SEED.max,
        # A quick run exists to show while a slider is dragged (sims.PREVIEW).
        "previewable": sim.sample_param is not None,
        "new_seed": secrets.randbelow(NEW_SEED_MAX + 1),
        "errors": state.errors,
        # Errors about names the simulation does not declare have no control to sit by.
        "form_errors": " ".join(msg for name, msg in state.errors.items() if name not in declared),
    }


def _caption(spec: content.Figure | None) -> str:
    """A figure's caption, its live numbers filled in (linked to that chapter's figures)."""
    if spec is None or not spec.caption_html:
        return ""
    page = next((p for p in content.book().pages if p.figure(spec.simulation) is spec), None)
    if page is None:
        return spec.caption
    return livenumbers.fill(spec.caption_html, page.live, page.url)


def _fill(page: content.Page, html: str) -> str:
    """Rendered page HTML with its live numbers filled in from the cached runs."""
    return livenumbers.fill(html, page.live, page.url)


def _body(page: content.Page) -> dict[str, str]:
    """The page's text around its first figure (the checklist's items), numbers filled in."""
    return {"body_before": _fill(page, page.html_before),
            "body_after": _fill(page, page.html_after)}


def _figure_context(state: sims.State, page_url: str) -> dict[str, Any]:
    """The whole figure for a full page: the result plus the controls and their errors."""
    return _result_context(state, page_url) | _controls_context(state, page_url)


def _figure_partial(request: HttpRequest, state: sims.State, page_url: str) -> HttpResponse:
    """What an htmx request from a figure gets: the partial it targets, or its errors.

    Refused values come back as the controls, each message beside its control and the
    chart left as it was; that form then asks for the whole body, so the next good
    request clears the errors. Everything is rendered here, once.
    """
    slug = state.sim.slug
    if state.problems:
        metrics.SIM_REJECTED.labels(slug).inc()
        fig = _controls_context(state, page_url)
        resp = TemplateResponse(request, "_figure.html#controls", {"fig": fig}, status=400)
        return reswap(retarget(resp, f"#form-{slug}"), "outerHTML")
    # A slider move targets `out-<sim>` (everything but the chart <div>, which Plotly
    # redraws in place); a preset, "Reset" or "New seed" the body; anything else (an
    # outside page fetching the public fragment with htmx) the whole result, chart included.
    partial = {f"body-{slug}": "body", f"out-{slug}": "out"}.get(request.htmx.target or "",
                                                                   "result")
    if partial == "body":
        fig = _figure_context(state, page_url)
    else:  # the result only: no controls, caption or chapters to build on a slider move
        fig = _result_context(state, page_url)
        fig["oob_presets"] = True  # a slider move may leave or reach a preset
    resp = TemplateResponse(request, f"_figure.html#{partial}", {"fig": fig})
    if _owns_address_bar(request, slug, page_url):
        replace_url(resp, fig["permalink"])
    return resp


def _owns_address_bar(request: HttpRequest, slug: str, page_url: str) -> bool:
    """Whether a figure's move may rewrite the address bar (HX-Current-URL).

    On a chapter with several figures the URL keeps the state of the figure it already
    describes (named by `figure=`, else the first); another figure's move changes only
    its own permalink. An address without a query belongs to whoever moves first.
    """
    page, _ = _placement(slug, page_url)
    current = request.htmx.current_url if request.htmx else None
    if page is None or not current:
        return True
    query = parse_qs(urlsplit(current).query)
    described = (query.get("figure") or [page.figures[0].simulation])[-1]
    return not query or described == slug


def _figure_page(request: HttpRequest, sim: Simulation, page_url: str, template: str,
                 ctx: dict[str, Any], extras: frozenset[str] = sims.PAGE_EXTRAS
                 ) -> HttpResponse:
    """A page showing one figure: the whole page, or (htmx) just the part asked for."""
    state = sims.resolve(sim, request.GET, extras)
    if request.htmx:
        return _figure_partial(request, state, page_url)
    if state.problems:
        metrics.SIM_REJECTED.labels(sim.slug).inc()
    ctx["fig"] = _figure_context(state, page_url) | ctx.pop("fig_extra", {})
    return TemplateResponse(request, template, ctx, status=400 if state.problems else 200)


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
                           "part": book.part(page.part), "figs": [],
                           "blocks": [(_fill(page, html), None) for html, _ in page.blocks]}
    if not page.figures:
        return TemplateResponse(request, "chapter.html", ctx)
    target, problem = _target_figure(page, request.GET)
    if target[0] is not page or ("figure" not in request.GET
                                 and target[1] != page.figures[0].simulation):
        # A query for a figure the URL does not name (a link from before the figure moved
        # here or to another chapter): redirect to the URL that names it.
        query = urlencode({"figure": target[1], **sims.flatten(request.GET, frozenset({"figure"}))})
        return redirect(f"{target[0].url}?{query}#fig-{target[1]}")
    query = sims.without(request.GET, "figure")
    if request.htmx:  # a figure's own request: its form names it with `figure=`
        state = sims.resolve(_sim_or_404(target[1]), query, sims.PAGE_EXTRAS)
        return _figure_partial(request, state, page.url)
    figs: dict[str, dict[str, Any]] = {}
    status = 200
    for spec in page.figures:
        mine = spec.simulation == target[1]
        state = sims.resolve(_sim_or_404(spec.simulation), query if mine else QueryDict(),
                             sims.PAGE_EXTRAS)
        if mine and problem:
            state.problems["figure"] = ParamError("figure", problem)
        if state.problems:
            metrics.SIM_REJECTED.labels(spec.simulation).inc()
            status = 400
        figs[spec.simulation] = _figure_context(state, page.url)
    ctx |= {"fig": figs[page.figures[0].simulation], "figs": list(figs.values()),
            "blocks": [(_fill(page, html), figs.get(name) if name else None)
                       for html, name in page.blocks]}
    return TemplateResponse(request, "chapter.html", ctx, status=status)


def _target_figure(page: content.Page, query: QueryDict) -> tuple[tuple[content.Page, str], str]:
    """Which figure a chapter URL's query is for, and a problem to show if it is unclear.

    `figure=<simulation>` names it; without it the query is the first figure's, unless
    its names belong to another figure only (of this page, or of another chapter's,
    for links made before a figure moved).
    """
    first = page.figures[0].simulation
    named = query.getlist("figure")
    if named:
        slug = named[-1]
        if page.figure(slug) is None:
            known = ", ".join(f.simulation for f in page.figures)
            return (page, first), (f"figure {slug[:40]!r} is not in this chapter; "
                                   f"its figures are: {known}")
        return (page, slug), ""
    names = set(query) - sims.PAGE_EXTRAS - {"seed", sims.MODEL_VERSION.name}
    if not names or names <= {p.name for p in _sim_or_404(first).params}:
        return (page, first), ""
    for candidate in (page, *content.book().pages):
        for spec in candidate.figures:
            sim = simulations.get(spec.simulation)
            if sim is not None and names <= {p.name for p in sim.params}:
                return (candidate, spec.simulation), ""
    return (page, first), ""


@require_GET
def checklist(request: HttpRequest) -> TemplateResponse:
    """The pre-merge checklist: every chapter's 'Do this' items, grouped by chapter."""
    book = content.book()
    page = book.checklist_page()
    if page is None:
        raise Http404("This book has no checklist page")
    groups = book.checklist()
    prev, nxt = book.neighbours(page)
    return TemplateResponse(request, "checklist.html", {
        "page": page, "groups": groups, "prev": prev, "next": nxt,
        "total": sum(len(items) for _, items in groups), **_body(page),
    })


@require_GET
def gallery(request: HttpRequest) -> TemplateResponse:
    """Every registered simulation with its chapter."""
    book = content.book()
    items = [{"sim": s, "chapter": book.chapter_for_simulation(s.slug),
              "chapters": book.chapters_for_simulation(s.slug)}
             for s in simulations.registry().values()]
    items.sort(key=lambda i: i["chapter"].order if i["chapter"] else 999)
    return TemplateResponse(request, "gallery.html", {"items": items})


@require_GET
def lab(request: HttpRequest, sim: str) -> HttpResponse:
    """The lab: one simulation with all its controls, presets and tools."""
    s = _sim_or_404(sim)
    return _figure_page(request, s, reverse("lab", args=[s.slug]), "lab.html", {})


@require_GET
@xframe_options_exempt
@csp_override(settings.SECURE_CSP_EMBED)
def embed(request: HttpRequest, sim: str) -> HttpResponse:
    """A framable page for wikis; controls=0 shows the chart alone."""
    s = _sim_or_404(sim)
    show = request.GET.get("controls", "1")
    if show not in ("0", "1"):
        return JsonResponse({"error": "controls must be 0 or 1", "parameter": "controls"},
                            status=400)
    return _figure_page(request, s, reverse("embed", args=[s.slug]), "embed.html",
                        {"fig_extra": {"controls_on": show == "1"}})


@require_GET
def figure(request: HttpRequest, sim: str) -> HttpResponse:
    """The result partial at a public URL: chart, metrics, summary, provenance.

    Without htmx a refused value is a 400 JSON naming it, as on every data URL.
    """
    s = _sim_or_404(sim)
    state = sims.resolve(s, request.GET, sims.PAGE_EXTRAS)
    if request.htmx:
        return _figure_partial(request, state, _page_path(request, s))
    if state.problems:
        return _bad_request(s, state.first_problem)
    fig = _result_context(state, _page_path(request, s))
    return TemplateResponse(request, "_figure.html#result", {"fig": fig})


def _page_path(request: HttpRequest, sim: Simulation) -> str:
    """The page the fragment belongs to (from htmx's HX-Current-URL), else the lab page."""
    lab_url = reverse("lab", args=[sim.slug])
    current = request.htmx.current_url if request.htmx else None
    if current:
        path = urlsplit(current).path
        allowed = {lab_url, reverse("embed", args=[sim.slug])}
        allowed |= {p.url for p in content.book().chapters_for_simulation(sim.slug)}
        if path in allowed:
            return path
    return lab_url


# -- data and images --------------------------------------------------------------------------
def _strict(request: HttpRequest, sim: str, extras: frozenset[str] = frozenset()
            ) -> sims.State | HttpResponse:
    """The requested state, or the 400 that names the bad parameter."""
    s = _sim_or_404(sim)
    state = sims.resolve(s, request.GET, extras)
    problem = state.first_problem
    return state if problem is None else _bad_request(s, problem)


@require_GET
def result_json(request: HttpRequest, sim: str) -> HttpResponse:
    """The result, machine-readable (its shape: docs/contract.md)."""
    state = _strict(request, sim)
    if isinstance(state, HttpResponse):
        return state
    resp = JsonResponse(sims.run(state).to_json(), json_dumps_params={"separators": (",", ":")})
    resp["Access-Control-Allow-Origin"] = "*"
    return resp


@require_GET
def result_csv(request: HttpRequest, sim: str) -> HttpResponse:
    """The result's data series, one column per series."""
    state = _strict(request, sim)
    if isinstance(state, HttpResponse):
        return state
    resp = HttpResponse(sims.csv_text(sims.run(state).series),
                        content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = f'inline; filename="{state.sim.slug}-{state.seed}.csv"'
    resp["Access-Control-Allow-Origin"] = "*"
    return resp


@require_GET
def openapi_json(request: HttpRequest) -> JsonResponse:
    """OpenAPI 3.1 for the simulation endpoints, generated from the declarations."""
    return JsonResponse(openapi.spec(request.build_absolute_uri(reverse("contents"))),
                        json_dumps_params={"indent": 1})


# -- errors -----------------------------------------------------------------------------------
def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return TemplateResponse(request, "404.html", {}, status=404).render()


def server_error(request: HttpRequest) -> HttpResponse:
    from django.template import loader

    # Minimal context: the error may come from the content layer itself.
    html = loader.get_template("500.html").render({"request_id": getattr(request, "request_id", "")})
    return HttpResponse(html, status=500)
