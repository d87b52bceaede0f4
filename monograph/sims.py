"""Adapting simulations/ to the web: reading query strings, running with a cache, shaping controls.

Generic over the registry: nothing here names a simulation.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import QueryDict

import simulations
from simulations import Param, ParamError, Simulation

from . import admission, metrics
from .version import version

PREVIEW_CACHE_SECONDS = 300  # a busy spell's previews; the full result is cached for a day

# Query names the pages accept besides a simulation's own parameters: `controls` (an
# embed without its controls) and `preview` (a slider being dragged: PREVIEW below).
PAGE_EXTRAS = frozenset({"controls", "preview"})

# `preview=1` marks a move made while a slider is still being dragged: the page answers with
# the quick run (Simulation.quick), labelled, unless the full result is already cached; the
# release asks again without it. Permalinks, data and images never carry it: always full runs.
PREVIEW = Param(
    name="preview", kind="bool", default=False, label="Preview",
    help="1 while a slider is being dragged: a quicker, labelled run; the full run follows.",
)

# Every permalink carries the model version it was made with, so that a link made before
# a model change can say so. Every simulation URL accepts it; it never changes the run.
MODEL_VERSION = Param(
    name="mv", kind="int", default=1, min=1, max=1_000_000, label="Model version",
    help="The simulation's model version when the link was made (written by permalinks).",
)


@dataclass
class State:
    """What a reader asked for, parsed once: valid values, and the problems of the others."""

    sim: Simulation
    params: Any
    seed: int
    problems: dict[str, ParamError] = field(default_factory=dict)
    raw: dict[str, str] = field(default_factory=dict)  # the refused values, as sent
    linked_version: int | None = None  # the `mv` a permalink carried, if any
    preview: bool = False  # a move while dragging: a quick run will do (PREVIEW)

    @property
    def errors(self) -> dict[str, str]:
        """Parameter name → the message naming the problem and the fix."""
        return {name: exc.message for name, exc in self.problems.items()}

    @property
    def first_problem(self) -> ParamError | None:
        """The problem a strict endpoint answers 400 with: unknown names first, then in
        declaration order."""
        declared = [p.name for p in self.sim.all_params]
        order = [*sorted(set(self.problems) - set(declared)), *declared]
        return next((self.problems[n] for n in order if n in self.problems), None)

    # Computed once: a page asks for them several times (cache key, permalink, links), and
    # nothing changes a State's params or seed after parsing.
    @cached_property
    def query(self) -> dict[str, str]:
        return self.sim.to_query(self.params, self.seed)

    @cached_property
    def querystring(self) -> str:
        """The permalink's query: every effective parameter, the seed, the model version."""
        return urlencode({**self.query, MODEL_VERSION.name: str(self.sim.model_version)})

    @property
    def model_changed(self) -> bool:
        """The link was made with another version of this simulation's model."""
        return self.linked_version not in (None, self.sim.model_version)


def flatten(query: QueryDict, allowed_extras: frozenset[str] = frozenset()) -> dict[str, str]:
    """Last value per name (a checkbox sends a hidden 0 then 1), minus page-only extras."""
    return {k: query.getlist(k)[-1] for k in query if k not in allowed_extras}


def without(query: QueryDict, *names: str) -> QueryDict:
    """A copy of a query string minus some names (e.g. the chapter's `figure=`)."""
    out = query.copy()
    for name in names:
        out.pop(name, None)
    return out


def resolve(sim: Simulation, query: QueryDict, extras: frozenset[str] = frozenset()) -> State:
    """Parse a query once. Strict endpoints answer 400 with `first_problem`; pages show
    every problem beside its control and run with the valid values (defaults elsewhere)."""
    raw = flatten(query, extras)
    problems: dict[str, ParamError] = {}
    linked = None
    preview = False
    if PREVIEW.name in extras and PREVIEW.name in query:
        try:
            preview = bool(PREVIEW.parse(query.getlist(PREVIEW.name)[-1]))
        except ParamError as exc:
            problems[exc.name] = exc
    if MODEL_VERSION.name in raw:
        try:
            linked = MODEL_VERSION.parse(raw.pop(MODEL_VERSION.name))
        except ParamError as exc:
            problems[exc.name] = exc
    params, seed, refused = sim.validate(raw)
    problems |= refused
    return State(sim, params, seed, problems, {k: raw[k] for k in problems if k in raw}, linked,
                 preview)


# -- running ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Run:
    """One result as every surface shows it: the public JSON fields, and two internal ones."""

    simulation: str
    title: str
    model_version: int
    version: str
    params: dict[str, Any]
    seed: int
    metrics: dict[str, dict[str, Any]]
    summary: str
    series: dict[str, list[Any]]
    figure: dict[str, Any]
    elapsed_ms: float
    cached: bool = False
    figure_json: str = ""  # the figure pre-serialised, so a cache hit costs no re-encoding
    # A quick run served under pressure instead of the one asked for (admission.preview_label).
    preview: dict[str, Any] | None = None
    # What a run sized by precision simulated (simulations.engine.core.Sample), if it is one.
    sample: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The public JSON (docs/contract.md)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        del out["figure_json"]
        if out["preview"] is None:
            del out["preview"]
        if out["sample"] is None:
            del out["sample"]
        return out


def _key(state: State) -> str:
    text = f"{version()}|{state.sim.slug}|{state.querystring}"
    return "sim:" + hashlib.sha256(text.encode()).hexdigest()


def run(state: State) -> Run:
    """The result for a state, from the cache or a fresh run.

    A cache miss asks admission control first, which may refuse (admission.Shed: 429/503)
    or, under pressure, ask for a quick preview. A move while dragging (`state.preview`)
    asks for the quick run itself. A preview is labelled, and cached apart from the full
    run; a cached full result always wins over a preview.
    """
    slug = state.sim.slug
    key = _key(state)
    hit = cache.get(key)
    if hit is not None:
        metrics.SIM_CACHE.labels(slug, "hit").inc()
        return replace(hit, cached=True)
    metrics.SIM_CACHE.labels(slug, "miss").inc()
    wanted = state.sim.quick(state.params) if state.preview else None
    if wanted is not None and (hit := cache.get(key + ":quick")) is not None:
        return _as_preview(state, replace(hit, cached=True), wanted, "drag")  # no run slot
    with admission.cold_run(state.sim, state.params, preview=wanted) as quick:
        if quick is None:
            out = _execute(state, state.params)
            cache.set(key, out, settings.SIMULATION_CACHE_SECONDS)
            return out
        hit = None if wanted is not None else cache.get(key + ":quick")
        if hit is not None:
            return _as_preview(state, replace(hit, cached=True), quick, "busy")
        out = _execute(state, quick)
        cache.set(key + ":quick", out, PREVIEW_CACHE_SECONDS)
        return _as_preview(state, out, quick, "drag" if wanted is not None else "busy")


def _as_preview(state: State, out: Run, quick: Any, reason: str) -> Run:
    """A quick run's result, labelled with how it differs from the run asked for."""
    return replace(out, preview=admission.preview_label(state.sim, state.params, quick, reason))


def _execute(state: State, params: Any) -> Run:
    slug = state.sim.slug
    start = time.perf_counter()
    with admission.costing(state.sim, params):  # teaches admission what runs cost
        result = simulations.execute(state.sim, params, state.seed)
    elapsed = time.perf_counter() - start
    metrics.SIM_RUNS.labels(slug).inc()
    metrics.SIM_SECONDS.labels(slug).observe(elapsed)
    return Run(
        **{k: result[k] for k in ("simulation", "title", "model_version", "params", "seed",
                                  "metrics", "summary", "series", "figure", "sample")},
        version=version(), elapsed_ms=round(elapsed * 1000, 1),
        figure_json=json.dumps(result["figure"], separators=(",", ":")),
    )


# -- controls ---------------------------------------------------------------------------------
def _slider(p: Param, value: Any) -> dict[str, Any]:
    """Slider position and range; log-scale parameters slide over log10 of the value."""
    if p.kind not in ("int", "float"):
        return {}
    if p.scale == "log":
        lo, hi = math.log10(p.min), math.log10(p.max)
        pos = math.log10(max(float(value), p.min))
        return {"min": f"{lo:.4f}", "max": f"{hi:.4f}", "step": "any", "value": f"{pos:.4f}"}
    step = p.step if p.step else (1 if p.kind == "int" else (p.max - p.min) / 100)
    return {"min": p.to_query(p.min if p.kind == "float" else int(p.min)),
            "max": p.to_query(p.max if p.kind == "float" else int(p.max)),
            "step": f"{step:g}", "value": p.to_query(value)}


def _bound(p: Param, x: float | None) -> str:
    if x is None:
        return ""
    return p.to_query(float(x)) if p.kind == "float" else str(int(x))


def controls(state: State) -> list[dict[str, Any]]:
    """Everything a template needs to draw one control per declared parameter."""
    out = []
    for p in state.sim.params:
        value = getattr(state.params, p.name)
        out.append({
            "name": p.name, "label": p.label, "kind": p.kind, "unit": p.unit, "help": p.help,
            "describe": p.describe(), "scale": p.scale,
            "value": state.raw.get(p.name, p.to_query(value)),
            "checked": bool(value) if p.kind == "bool" else False,
            "choices": [(c, p.choice_labels.get(c, c.replace("_", " "))) for c in p.choices],
            "min": _bound(p, p.min),
            "max": _bound(p, p.max),
            "step": "any" if p.kind == "float" else "1",
            "slider": _slider(p, value),
            "error": state.errors.get(p.name, ""),
        })
    return out


def format_value(value: Any, unit: str) -> str:
    """A metric value for people: shares as %, times with units, null as 'never'."""
    if value is None:
        return "never"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if unit == "share":
        pct = value * 100
        return f"{pct:.1f} %" if abs(pct) >= 0.1 or pct == 0 else f"{pct:.2g} %"
    if isinstance(value, int):
        text = f"{value:,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}"
    if unit in ("", "count"):
        return text
    if unit == "×":
        return f"{text}×"
    return f"{text} {unit}"


def metric_rows(result: Run) -> list[dict[str, Any]]:
    rows = []
    for name, m in result.metrics.items():
        ci = m.get("ci95")
        closed = m.get("closed_form")
        rows.append({
            "name": name, "label": m["label"], "value": format_value(m["value"], m["unit"]),
            "ci95": (f"{format_value(ci[0], m['unit'])} – {format_value(ci[1], m['unit'])}"
                     if ci else ""),
            "closed_form": format_value(closed, m["unit"]) if closed is not None else "",
        })
    return rows


def csv_text(series: dict[str, list[Any]]) -> str:
    """Series as CSV: one column per series, shorter series padded with blanks."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    names = list(series)
    writer.writerow(names)
    for i in range(max((len(v) for v in series.values()), default=0)):
        writer.writerow([_cell(series[n], i) for n in names])
    return buf.getvalue()


def _cell(values: list[Any], i: int) -> Any:
    if i >= len(values) or values[i] is None:
        return ""
    v = values[i]
    return json.dumps(v) if isinstance(v, list | dict) else v
