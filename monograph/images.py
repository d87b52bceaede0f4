"""Static images of figures that say where they came from.

A PNG or SVG pasted into a postmortem should lead back to the live figure, so every image
carries, drawn in the image itself: the title, the parameters that differ from the
defaults, the seed, the app and model versions, and a short permalink (the lab URL with
only the non-default values). `?theme=dark` suits dark wikis; `?width=` sizes it within
WIDTH_MIN..WIDTH_MAX.

Images are drawn by the machine's one renderer (renderer.py) and kept in Django's cache
keyed by state, format, theme, width, host and version, so any worker reuses any other's
image. ETag/304 and HEAD come from conditional.py.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

import simulations
from simulations.engine.plotting import themed

from . import admission, renderer, sims
from .theme import THEMES, colours
from .version import version

CONTENT_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
WIDTH, WIDTH_MIN, WIDTH_MAX = 900, 320, 2000
ASPECT = 480 / 900  # chart height per pixel of width
CHART_MIN_H = 420  # the chart height when a figure does not set one
PROVENANCE_PX = 64  # the title and the two lines under it that name the source
QUERY_EXTRAS = frozenset({"theme", "width"})


@dataclass(frozen=True)
class Look:
    """How an image is drawn: theme and width (the height follows the width)."""

    theme: str = "light"
    width: int = WIDTH

    def height(self, figure: dict[str, Any]) -> int:
        """The chart keeps at least the height its figure was designed for."""
        designed = int(figure.get("layout", {}).get("height") or CHART_MIN_H)
        return max(designed, round(self.width * ASPECT)) + PROVENANCE_PX

    def query(self) -> dict[str, str]:
        """The non-default look as URL text (for links to this exact image)."""
        out = {}
        if self.theme != "light":
            out["theme"] = self.theme
        if self.width != WIDTH:
            out["width"] = str(self.width)
        return out


# What callers catch when no image can be drawn (answer 503 with Retry-After).
ImagesUnavailable = renderer.RendererDown


class BadLook(ValueError):
    def __init__(self, name: str, message: str) -> None:
        super().__init__(message)
        self.name, self.message = name, message


def parse_look(query: Any) -> Look:
    """theme and width from a query string, or BadLook naming the problem and the range."""
    theme = query.get("theme", "light")
    if theme not in THEMES:
        raise BadLook("theme", f"theme must be one of {', '.join(THEMES)} (got {theme[:20]!r})")
    raw = query.get("width", str(WIDTH))
    try:
        width = int(raw)
    except ValueError:
        raise BadLook("width", f"width must be a whole number of pixels from {WIDTH_MIN} to "
                               f"{WIDTH_MAX} (got {raw[:20]!r})") from None
    if not WIDTH_MIN <= width <= WIDTH_MAX:
        raise BadLook("width", f"width must be from {WIDTH_MIN} to {WIDTH_MAX} pixels "
                               f"(got {width})")
    return Look(theme, width)


# -- provenance --------------------------------------------------------------------------------
def changed_query(state: sims.State) -> dict[str, str]:
    """Only the values that differ from the defaults (seed included): the short state."""
    sim = state.sim
    defaults = sim.to_query(sim.defaults(), simulations.SEED.default)
    return {k: v for k, v in state.query.items() if defaults.get(k) != v}


def short_permalink(state: sims.State, base: str) -> str:
    """The lab URL with only the non-default values (and the model version, as every
    permalink carries it): short, and the same state."""
    query = urlencode({**changed_query(state),
                       sims.MODEL_VERSION.name: str(state.sim.model_version)})
    url = base.rstrip("/") + reverse("lab", args=[state.sim.slug])
    return f"{url}?{query}"


def provenance(state: sims.State, base: str) -> tuple[str, str]:
    """Two lines for the image: what differs + seed + versions; the short permalink."""
    changed = {k: v for k, v in changed_query(state).items() if k != "seed"}
    params = ", ".join(f"{k}={v}" for k, v in changed.items()) or "default parameters"
    line1 = (f"{params} · seed {state.seed} · v{version()} · "
             f"model v{state.sim.model_version}")
    return line1, short_permalink(state, base)


def annotated(result: sims.Run, state: sims.State, look: Look, base: str) -> dict[str, Any]:
    """The figure as an image draws it: themed, titled, with its source under the title."""
    fig = themed(result.figure, colours(look.theme))
    lay = fig["layout"]
    lay.pop("height", None)
    lay.pop("width", None)
    margin = dict(lay.get("margin", {}))
    title = lay.get("title") or {"text": result.title}
    if isinstance(title, str):
        title = {"text": title}
    line1, link = provenance(state, base)
    # The source goes under the title (a subtitle), clear of legends and axis titles.
    # Plotly reads the text as a little HTML: escape what we did not write.
    lay["title"] = {**title, "x": 0.02, "xanchor": "left", "xref": "container",
                    "yref": "container", "y": 1, "yanchor": "top", "pad": {"t": 10},
                    "subtitle": {"text": f"{html.escape(line1)}<br>{html.escape(link)}",
                                 "font": {"size": 11, "color": colours(look.theme)["text"]}}}
    margin["t"] = margin.get("t", 24) + PROVENANCE_PX
    lay["margin"] = margin
    return fig


# -- drawing, cached ----------------------------------------------------------------------------
def cache_key(state: sims.State, fmt: str, look: Look, base: str) -> str:
    text = (f"{version()}|{state.sim.slug}|{state.querystring}|{fmt}|{look.theme}|"
            f"{look.width}|{base}")
    return "img:" + hashlib.sha256(text.encode()).hexdigest()


def image(state: sims.State, fmt: str, look: Look, base: str) -> bytes:
    """The image of a state, from the shared cache or drawn by the renderer."""
    key = cache_key(state, fmt, look, base)
    hit = cache.get(key)
    if hit is not None:
        return hit
    if not settings.SIMULATION_IMAGES:
        raise renderer.RendererDown("static images are turned off (MONOGRAPH_IMAGES=0)")
    result = sims.run(state)
    fig = annotated(result, state, look, base)
    with admission.heavy_work():  # the CPU gate: a render waits its turn, or is shed
        data = renderer.render(fig, fmt, look.width, look.height(result.figure))
    cache.set(key, data, settings.SIMULATION_CACHE_SECONDS)
    return data


def render(result: Any, fmt: str, theme: str, width: int = WIDTH) -> bytes:
    """A figure without a state of its own (e.g. a sweep), themed and titled, cached.

    result: a Run, or anything with its version, simulation, title, figure and
    figure_json."""
    if isinstance(result, dict):  # a sweep passes the fields as a dict
        result = SimpleNamespace(**result)
    text = (f"{result.version}|{result.simulation}|{result.figure_json}|{fmt}|{theme}|"
            f"{width}")
    key = "img:" + hashlib.sha256(text.encode()).hexdigest()
    hit = cache.get(key)
    if hit is not None:
        return hit
    if not settings.SIMULATION_IMAGES:
        raise ImagesUnavailable("static images are turned off (MONOGRAPH_IMAGES=0)")
    fig = themed(result.figure, colours(theme))
    lay = fig["layout"]
    if "title" not in lay:  # a standalone image needs to say what it is
        lay["title"] = {"text": result.title, "x": 0.02, "xanchor": "left"}
        lay["margin"] = {**lay.get("margin", {}),
                         "t": max(lay.get("margin", {}).get("t", 0), 56)}
    height = Look(width=width).height(result.figure) - PROVENANCE_PX
    with admission.heavy_work():
        data = renderer.render(fig, fmt, width, height)
    cache.set(key, data, settings.SIMULATION_CACHE_SECONDS)
    return data


def site_base(request: HttpRequest) -> str:
    """scheme://host of this request, for the absolute URLs images and cards carry."""
    return f"{request.scheme}://{request.get_host()}"


@require_GET
def result_image(request: HttpRequest, sim: str, fmt: str) -> HttpResponse:
    """A static SVG or PNG of the figure (theme=light|dark, width in pixels)."""
    from .views import _strict  # the one strict-parse path of the data views

    state = _strict(request, sim, QUERY_EXTRAS)
    if isinstance(state, HttpResponse):
        return state
    try:
        look = parse_look(request.GET)
    except BadLook as exc:
        return JsonResponse({"error": exc.message, "parameter": exc.name}, status=400)
    try:
        data = image(state, fmt, look, site_base(request))
    except renderer.RendererDown as exc:
        resp = JsonResponse({"error": f"{exc}; try again shortly"}, status=503)
        resp["Retry-After"] = str(renderer.RETRY_AFTER_S)
        return resp
    resp = HttpResponse(data, content_type=CONTENT_TYPES[fmt])
    resp["Cache-Control"] = "public, max-age=86400"
    resp["Access-Control-Allow-Origin"] = "*"
    return resp
