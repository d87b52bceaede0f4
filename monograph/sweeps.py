"""Sweeps on the web: one metric against one parameter, generic over the registry.

A sweep's points are ordinary runs (cached by `sims.run`), and each point's summary is
cached under its own key, so the page can ask for points one at a time — the chart fills
as they arrive, and no request holds a worker for more than one point — while the JSON,
CSV and image URLs answer the whole sweep at once from the same cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.template.response import TemplateResponse
from django.urls import reverse
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csp import csp_override
from django.views.decorators.http import require_GET

import simulations
from simulations import ParamError, Simulation
from simulations.engine import sweep as engine

from . import content, images, sims, views
from .version import version

# The whole-sweep URLs (JSON, CSV, images, CLI) stop computing after this long; the points
# computed so far stay cached, so asking again continues where it stopped.
WHOLE_SWEEP_DEADLINE_S = 20.0


class SweepIncomplete(RuntimeError):
    """The sweep ran past its deadline; what was computed is cached."""


@dataclass
class SweepState:
    """A validated sweep request: the simulation, what to vary, and the held parameters."""

    sim: Simulation
    spec: engine.SweepSpec
    base: Any
    seed: int
    points: list[engine.Point]
    meta: dict[str, dict[str, str]]

    @property
    def query(self) -> dict[str, str]:
        """The sweep's canonical query: held parameters, seed, then the sweep's own names."""
        q = self.sim.to_query(self.base, self.seed)
        p = self.sim.param(self.spec.vary)
        q |= {"vary": self.spec.vary, "lo": p.to_query(_typed(p, self.spec.lo)),
              "hi": p.to_query(_typed(p, self.spec.hi)), "points": str(self.spec.points),
              "metric": ",".join(self.spec.metrics)}
        if self.spec.by:
            bp = self.sim.param(self.spec.by)
            q |= {"by": self.spec.by,
                  "by_values": ",".join(bp.to_query(v) for v in self.spec.by_values)}
        return q

    @property
    def querystring(self) -> str:
        return urlencode(self.query)

    @property
    def key(self) -> str:
        """A short id for this sweep's elements on a page (a chapter may hold several)."""
        return hashlib.sha256(f"{self.sim.slug}?{self.querystring}".encode()).hexdigest()[:10]


def _typed(p: simulations.Param, v: float) -> Any:
    return int(v) if p.kind == "int" else float(v)


def sim_or_404(slug: str) -> Simulation:
    sim = simulations.get(slug)
    if sim is None:
        raise Http404(f"No simulation named {slug!r}")
    return sim


def resolve(sim: Simulation, query: QueryDict, extras: frozenset[str] = frozenset()) -> SweepState:
    """Parse a sweep query strictly: the simulation's parameters and the sweep's own names."""
    flat = sims.flatten(query, extras)
    if sims.MODEL_VERSION.name in flat:  # a permalink's model version: validated, then set aside
        sims.MODEL_VERSION.parse(flat.pop(sims.MODEL_VERSION.name))
    own = {k: v for k, v in flat.items() if k in engine.SWEEP_NAMES}
    if "metric" in query:  # the form's checkboxes send one metric= per box
        own["metric"] = ",".join(query.getlist("metric"))
    held = {k: v for k, v in flat.items() if k not in engine.SWEEP_NAMES}
    base, seed = sim.parse(held)
    base_run = sims.run(sims.State(sim, base, seed)).to_json()
    names = list(base_run["metrics"])
    spec = engine.parse_spec(sim, own, names)
    with_ci = {k for k, m in base_run["metrics"].items() if m.get("ci95")}
    points = engine.plan(sim, spec, base, seed, with_ci)
    return SweepState(sim, spec, base, seed, points, engine.metric_meta(base_run["metrics"]))


# -- computing ------------------------------------------------------------------------------
def _point_key(state: SweepState, pt: engine.Point) -> str:
    text = "|".join([version(), str(state.sim.model_version), state.sim.slug,
                     urlencode(state.sim.to_query(pt.params, pt.seeds[0])),
                     ",".join(map(str, pt.seeds)), ",".join(state.spec.metrics)])
    return "sweep:" + hashlib.sha256(text.encode()).hexdigest()


def _run_json(sim: Simulation):
    return lambda params, seed: sims.run(sims.State(sim, params, seed)).to_json()


def _decode(raw: dict[str, Any]) -> engine.PointValue:
    ci = raw.get("ci95")
    return engine.PointValue(raw["value"], tuple(ci) if ci else None, raw.get("closed_form"),
                             raw["runs"], raw.get("never", 0))


def cached_values(state: SweepState) -> dict[int, dict[str, engine.PointValue]]:
    """Whatever points of this sweep are already computed (no running)."""
    keys = {_point_key(state, pt): pt.index for pt in state.points}
    found = cache.get_many(list(keys))
    return {keys[k]: {m: _decode(v) for m, v in hit.items()} for k, hit in found.items()}


def compute_point(state: SweepState, index: int) -> dict[str, engine.PointValue]:
    """Compute one point (its runs are cached individually) and cache its summary."""
    pt = state.points[index]
    values = engine.measure(pt, state.spec.metrics, _run_json(state.sim))
    stored = {m: v.to_json() for m, v in values.items()}
    cache.set(_point_key(state, pt), stored, settings.SIMULATION_CACHE_SECONDS)
    # Round-trip through the stored form, so a fresh point and a cached one are identical.
    return {m: _decode(v) for m, v in stored.items()}


def compute_all(state: SweepState, deadline_s: float | None = WHOLE_SWEEP_DEADLINE_S
                ) -> dict[int, dict[str, engine.PointValue]]:
    """Every point, from the cache where it can; raises SweepIncomplete past the deadline."""
    start = time.monotonic()
    values = cached_values(state)
    for pt in state.points:
        if pt.index in values:
            continue
        if deadline_s is not None and time.monotonic() - start > deadline_s:
            raise SweepIncomplete(f"{len(values)} of {len(state.points)} points computed")
        values[pt.index] = compute_point(state, pt.index)
    return values


def payload(state: SweepState, values: dict[int, dict[str, engine.PointValue]],
            elapsed_ms: float) -> dict[str, Any]:
    """The sweep as JSON: spec, held parameters, every point with its CI, series, figure."""
    sim, spec = state.sim, state.spec
    vary = sim.param(spec.vary)
    points = [{"x": pt.x, **({"by": pt.series} if spec.by else {}),
               "metrics": {m: v.to_json() for m, v in values[pt.index].items()}}
              for pt in state.points if pt.index in values]
    fig = engine.figure(sim, spec, state.points, values, state.meta)
    return {
        "simulation": sim.slug, "kind": "sweep", "title": f"{sim.title}: sweep",
        "version": version(), "model_version": sim.model_version,
        "vary": {"name": spec.vary, "lo": spec.lo, "hi": spec.hi, "points": spec.points,
                 "scale": vary.scale, "values": spec.xs(sim)},
        "by": ({"name": spec.by, "values": [sim.param(spec.by).to_json(v)
                                              for v in spec.by_values]} if spec.by else None),
        "metrics": {m: state.meta[m] for m in spec.metrics},
        "params": sim.params_json(state.base), "seed": state.seed,
        "seeds_per_point": len(state.points[0].seeds) if state.points else 1,
        "complete": len(points) == len(state.points), "computed": len(points),
        "total": len(state.points),
        "points": points,
        "summary": engine.summary(sim, spec, state.points, values, state.meta),
        "series": engine.series_table(spec, state.points, values),
        "figure": fig, "elapsed_ms": round(elapsed_ms, 1),
    }


# -- views -------------------------------------------------------------------------------------
def _busy(exc: SweepIncomplete) -> JsonResponse:
    resp = JsonResponse({"error": f"this sweep is still computing ({exc}); the points done are "
                                  "cached, so asking again continues where it stopped"},
                        status=503)
    resp["Retry-After"] = "5"
    return resp


def _urls(state: SweepState) -> dict[str, str]:
    qs = state.querystring
    slug = state.sim.slug
    return {name: reverse(f"sweep_{name}", args=[slug]) + "?" + qs
            for name in ("page", "json", "csv", "svg", "png", "embed")} | {
        "figure": reverse("lab", args=[slug]) + "?"
        + urlencode(state.sim.to_query(state.base, state.seed)),
    }


def _page_context(request: HttpRequest, sim: Simulation, page_url: str) -> tuple[dict[str, Any], int]:
    """The sweep page: a valid state (with whatever is cached), or the error and a form."""
    try:
        state = resolve(sim, request.GET, frozenset({"controls"}))
    except ParamError as exc:
        ctx = {"sim": sim, "error": exc.message, "error_param": exc.name,
               "form": _form(sim, None, request.GET), "page_url": page_url}
        return ctx, 400
    values = cached_values(state)
    done = len(values) == len(state.points)
    data = payload(state, values, 0.0)
    chapter = content.book().chapter_for_simulation(sim.slug)
    ctx = {
        "sim": sim, "state": state, "data": data, "done": done,
        "figure_json": json.dumps(data["figure"], separators=(",", ":")),
        "urls": _urls(state), "form": _form(sim, state, request.GET), "page_url": page_url,
        "rows": _rows(data), "held": _held(state), "chapter": chapter,
        "point_url": reverse("sweep_json", args=[sim.slug]) + "?" + state.querystring,
        "missing": ",".join(str(p.index) for p in state.points if p.index not in values),
    }
    return ctx, 200


def _rows(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for pt in data["points"]:
        for name, v in pt["metrics"].items():
            unit = data["metrics"][name]["unit"]
            ci = v.get("ci95")
            rows.append({"x": pt["x"], "by": pt.get("by", ""), "metric": name,
                         "value": sims.format_value(v["value"], unit),
                         "ci95": (f"{sims.format_value(ci[0], unit)} – "
                                  f"{sims.format_value(ci[1], unit)}") if ci else "",
                         "closed_form": (sims.format_value(v["closed_form"], unit)
                                         if v.get("closed_form") is not None else ""),
                         "runs": (f"{v['runs']} ({v['never']} never)" if v.get("never")
                                  else str(v["runs"]))})
    return rows


def _held(state: SweepState) -> list[tuple[str, str]]:
    """The parameters held fixed, as label/value pairs (those that differ from defaults first)."""
    defaults = state.sim.to_query(state.sim.defaults(), simulations.SEED.default)
    q = state.sim.to_query(state.base, state.seed)
    swept = {state.spec.vary, state.spec.by}
    items = [(p.name, q[p.name], q[p.name] != defaults.get(p.name))
             for p in state.sim.all_params if p.name not in swept]
    items.sort(key=lambda t: not t[2])
    return [(n, v) for n, v, _ in items]


def _form(sim: Simulation, state: SweepState | None, query: QueryDict) -> dict[str, Any]:
    """What the sweep form needs: choices for vary/by/metric and the current values."""
    flat = sims.flatten(query, frozenset({"controls"}))
    numeric = engine.numeric_params(sim)
    if state is not None:
        spec = state.spec
        cur = {"vary": spec.vary, "lo": state.query["lo"], "hi": state.query["hi"],
               "points": str(spec.points), "metrics": list(spec.metrics), "by": spec.by or "",
               "by_values": state.query.get("by_values", "")}
        metric_names = list(state.meta)
        meta = state.meta
        held_q = sim.to_query(state.base, state.seed)
    else:
        cur = {"vary": flat.get("vary", sim.main_param), "lo": flat.get("lo", ""),
               "hi": flat.get("hi", ""), "points": flat.get("points", str(engine.DEFAULT_POINTS)),
               "metrics": [m for m in flat.get("metric", "").split(",") if m],
               "by": flat.get("by", ""), "by_values": flat.get("by_values", "")}
        default_run = sims.run(sims.State(sim, sim.defaults(), simulations.SEED.default)).to_json()
        meta = engine.metric_meta(default_run["metrics"])
        metric_names = list(meta)
        held_q = {k: v for k, v in flat.items()
                  if k not in engine.SWEEP_NAMES and k in {p.name for p in sim.all_params}}
    swept = {cur["vary"], cur["by"]}
    return {
        "vary_choices": [(p.name, p.label, f"{p.describe()}") for p in numeric],
        "by_choices": [(p.name, p.label) for p in sim.params],
        "metric_choices": [(m, meta[m]["label"]) for m in metric_names],
        "cur": cur,
        # Held parameters ride along as hidden fields so the form keeps the figure's state.
        "hidden": [(k, v) for k, v in held_q.items() if k not in swept],
        "max_points": engine.MAX_POINTS,
    }


@require_GET
def sweep_page(request: HttpRequest, sim: str) -> HttpResponse:
    """The sweep view: pick a parameter, a range and metrics; points stream in as computed."""
    s = sim_or_404(sim)
    ctx, status = _page_context(request, s, reverse("sweep_page", args=[s.slug]))
    template = "sweep.html#result" if request.htmx and status == 200 else "sweep.html"
    return TemplateResponse(request, template, ctx, status=status)


@require_GET
@xframe_options_exempt
@csp_override(settings.SECURE_CSP_EMBED)
def sweep_embed(request: HttpRequest, sim: str) -> HttpResponse:
    """A framable sweep for wikis: the chart and its table, no form."""
    s = sim_or_404(sim)
    ctx, status = _page_context(request, s, reverse("sweep_embed", args=[s.slug]))
    return TemplateResponse(request, "sweep_embed.html", ctx, status=status)


def _state_or_400(request: HttpRequest, sim: str, extras: frozenset[str] = frozenset()
                  ) -> SweepState | HttpResponse:
    s = sim_or_404(sim)
    try:
        return resolve(s, request.GET, extras)
    except ParamError as exc:
        return views._bad_request(s, exc)


@require_GET
def sweep_json(request: HttpRequest, sim: str) -> HttpResponse:
    """The whole sweep as JSON; with `point=i`, compute only that point and return the rest cached."""
    state = _state_or_400(request, sim, frozenset({"point"}))
    if isinstance(state, HttpResponse):
        return state
    start = time.perf_counter()
    raw_point = request.GET.get("point")
    if raw_point is not None:
        if not raw_point.isdigit() or int(raw_point) >= len(state.points):
            return JsonResponse({"error": f"point must be a whole number from 0 to "
                                          f"{len(state.points) - 1}", "parameter": "point"},
                                status=400)
        values = cached_values(state)
        if int(raw_point) not in values:
            values[int(raw_point)] = compute_point(state, int(raw_point))
    else:
        try:
            values = compute_all(state)
        except SweepIncomplete as exc:
            return _busy(exc)
    body = payload(state, values, (time.perf_counter() - start) * 1000)
    resp = JsonResponse(body, json_dumps_params={"separators": (",", ":")})
    resp["Access-Control-Allow-Origin"] = "*"
    return resp


@require_GET
def sweep_csv(request: HttpRequest, sim: str) -> HttpResponse:
    """The sweep in long form: one row per point and metric, with CI and closed form."""
    state = _state_or_400(request, sim)
    if isinstance(state, HttpResponse):
        return state
    try:
        values = compute_all(state)
    except SweepIncomplete as exc:
        return _busy(exc)
    resp = HttpResponse(sims.csv_text(engine.series_table(state.spec, state.points, values)),
                        content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = (f'inline; filename="{state.sim.slug}-sweep-{state.spec.vary}'
                                   f'-{state.seed}.csv"')
    resp["Access-Control-Allow-Origin"] = "*"
    return resp


@require_GET
def sweep_image(request: HttpRequest, sim: str, fmt: str) -> HttpResponse:
    """The sweep's chart as SVG or PNG (theme=light|dark)."""
    theme = request.GET.get("theme", "light")
    state = _state_or_400(request, sim, frozenset({"theme"}))
    if isinstance(state, HttpResponse):
        return state
    if theme not in ("light", "dark"):
        return JsonResponse({"error": "theme must be light or dark", "parameter": "theme"},
                            status=400)
    try:
        values = compute_all(state)
    except SweepIncomplete as exc:
        return _busy(exc)
    body = payload(state, values, 0.0)
    figure = {"version": body["version"], "simulation": f"{state.sim.slug}-sweep",
              "title": body["title"], "figure": body["figure"],
              "figure_json": json.dumps(body["figure"], separators=(",", ":"))}
    try:
        data = images.render(figure, fmt, theme)
    except images.ImagesUnavailable as exc:
        resp = JsonResponse({"error": str(exc)}, status=503)
        resp["Retry-After"] = "10"
        return resp
    resp = HttpResponse(data, content_type=images.CONTENT_TYPES[fmt])
    resp["Cache-Control"] = "public, max-age=86400"
    resp["Access-Control-Allow-Origin"] = "*"
    return resp


# -- OpenAPI -----------------------------------------------------------------------------------
def openapi_parameters(sim: Simulation) -> list[dict[str, Any]]:
    """The sweep's own query parameters, described from the engine's limits."""
    numeric = [p.name for p in engine.numeric_params(sim)]

    def q(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "description": text,
                "schema": schema}

    return [
        q("vary", {"type": "string", "enum": numeric, "default": sim.main_param
                   if sim.main_param in numeric else numeric[0]},
          "The numeric parameter to sweep."),
        q("lo", {"type": "number"}, "Start of the range (default: the parameter's declared "
                                    "minimum); must be a valid value of the varied parameter."),
        q("hi", {"type": "number"}, "End of the range (default: the declared maximum); above lo."),
        q("points", {"type": "integer", "minimum": 2, "maximum": engine.MAX_POINTS,
                     "default": engine.DEFAULT_POINTS},
          "How many values, spaced on the parameter's declared scale (whole-number "
          "parameters may give fewer distinct values)."),
        q("metric", {"type": "string"}, f"Comma-separated metric names, 1 to "
                                        f"{engine.MAX_METRICS} (default: the first metric)."),
        q("by", {"type": "string"}, "Another parameter: one series per value of it."),
        q("by_values", {"type": "string"}, f"Comma-separated values of `by` (1 to "
                                           f"{engine.MAX_SERIES}; default: every choice of a "
                                           "choice or flag parameter)."),
    ]


def openapi_paths(sim: Simulation, sim_params: list[dict[str, Any]],
                  bad: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI path items for a simulation's sweep URLs (JSON, CSV, images)."""
    params = [*sim_params, *openapi_parameters(sim)]
    budget = (f"A sweep may spend at most {engine.MAX_RUNS} runs (points × series × seeds; "
              f"metrics without their own CI take {engine.REPEATS} seeds per point); a larger "
              "one is refused with a 400 saying how to shrink it.")
    busy = {"description": "Still computing: points done are cached; retry after Retry-After"}
    base = f"/simulations/{sim.slug}/sweep"
    out = {f"{base}.json": {"get": {
        "tags": [sim.slug], "parameters": [*params, {
            "name": "point", "in": "query", "required": False,
            "description": "Compute only this point (0-based) and return the sweep so far.",
            "schema": {"type": "integer", "minimum": 0}}],
        "operationId": f"{sim.slug}_sweep_json", "summary": f"{sim.title}: sweep",
        "description": budget,
        "responses": {"200": {"description": "The sweep",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      "400": bad, "503": busy}}}}
    out[f"{base}.csv"] = {"get": {
        "tags": [sim.slug], "parameters": params, "operationId": f"{sim.slug}_sweep_csv",
        "summary": f"{sim.title}: sweep as CSV (one row per point and metric)",
        "description": budget,
        "responses": {"200": {"description": "CSV", "content": {"text/csv": {
            "schema": {"type": "string"}}}}, "400": bad, "503": busy}}}
    for fmt, ctype in (("svg", "image/svg+xml"), ("png", "image/png")):
        theme = {"name": "theme", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["light", "dark"], "default": "light"}}
        out[f"{base}.{fmt}"] = {"get": {
            "tags": [sim.slug], "parameters": [*params, theme],
            "operationId": f"{sim.slug}_sweep_{fmt}",
            "summary": f"{sim.title}: sweep as {fmt.upper()}", "description": budget,
            "responses": {"200": {"description": "The chart", "content": {ctype: {
                "schema": {"type": "string"}}}}, "400": bad, "503": busy}}}
    return out

