"""Figures travel: link cards (Open Graph, Twitter), oEmbed, and the share panel.

`ShareMiddleware` sees every TemplateResponse that carries a figure (`fig` in its context:
chapter, lab, embed and the slider fragment) and adds `share`: absolute URLs of this exact
state (page, PNG, data, embed) and ready-made snippets. It also sends the oEmbed discovery
`Link` header. The views stay unaware of it.

`/oembed` is an oEmbed 1.0 provider for figure URLs of this site: it answers `rich` (the
embed page in an iframe, sized within maxwidth/maxheight) with a PNG thumbnail.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.urls import Resolver404, resolve, reverse
from django.utils.html import escape
from django.views.decorators.http import require_GET

import simulations

from . import content, images, sims

OEMBED_TYPE = "application/json+oembed"
# The iframe an oEmbed consumer gets when it sets no limits, and the range it may ask for.
FRAME_W, FRAME_H = 900, 560
SIZE_MIN, SIZE_MAX = 200, 4000
CACHE_AGE_S = 86400


def _abs(base: str, path: str, query: str = "") -> str:
    return f"{base}{path}?{query}" if query else f"{base}{path}"


def _markdown_text(text: str) -> str:
    """Text safe inside Markdown link brackets."""
    return text.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")


def iframe(src: str, title: str, width: int | str, height: int) -> str:
    return (f'<iframe src="{escape(src)}" width="{width}" height="{height}" '
            f'style="border:0" loading="lazy" title="{escape(title)}"></iframe>')


def share_context(request: HttpRequest, fig: dict[str, Any],
                  page: content.Page | None) -> dict[str, Any]:
    """Absolute URLs and snippets for the figure's current state."""
    base = images.site_base(request)
    sim, qs, result = fig["sim"], fig["qs"], fig["result"]
    slug = sim.slug
    permalink = _abs(base, fig["page_url"], qs)
    title = sim.title
    summary = result.summary
    png = _abs(base, reverse("result_png", args=[slug]), qs)
    look = images.Look()
    embed = _abs(base, reverse("embed", args=[slug]), f"{qs}&controls=0" if qs else "controls=0")
    live = f"{permalink}#fig-{slug}"
    return {
        "title": f"{page.title}: {title}" if page else title,
        "figure_title": title,
        "description": summary,
        "permalink": permalink,
        "live": live,
        "png": png,
        "png_width": look.width,
        "png_height": look.height(result.figure),
        "svg": _abs(base, reverse("result_svg", args=[slug]), qs),
        "png_dark": _abs(base, reverse("result_png", args=[slug]),
                         f"{qs}&theme=dark" if qs else "theme=dark"),
        "json": _abs(base, reverse("result_json", args=[slug]), qs),
        "csv": _abs(base, reverse("result_csv", args=[slug]), qs),
        "embed": embed,
        "oembed": _abs(base, reverse("oembed"), urlencode({"url": permalink, "format": "json"})),
        "iframe": iframe(embed, title, "100%", FRAME_H),
        "markdown": f"[![{_markdown_text(title)}]({png})]({live})",
        "html_img": (f'<a href="{escape(live)}"><img src="{escape(png)}" '
                     f'alt="{escape(summary)}" width="{look.width}" '
                     f'height="{look.height(result.figure)}"></a>'),
    }


class ShareMiddleware:
    """Adds `share` to any template context with a figure, and the oEmbed Link header."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_template_response(self, request: HttpRequest, response):
        ctx = response.context_data
        fig = ctx.get("fig") if isinstance(ctx, dict) else None
        if not isinstance(fig, dict) or "sim" not in fig or "result" not in fig:
            return response
        share = share_context(request, fig, ctx.get("page"))
        ctx["share"] = share
        response["Link"] = f'<{share["oembed"]}>; rel="alternate"; type="{OEMBED_TYPE}"'
        return response


# -- oEmbed --------------------------------------------------------------------------------------
class OEmbedError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


@dataclass(frozen=True)
class Target:
    """A figure URL of this site, resolved: its simulation, state and page."""

    state: sims.State
    page: content.Page | None


def _size(query: QueryDict, name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise OEmbedError(400, f"{name} must be a whole number of pixels from {SIZE_MIN} to "
                               f"{SIZE_MAX} (got {raw[:20]!r})") from None
    if not SIZE_MIN <= value <= SIZE_MAX:
        raise OEmbedError(400, f"{name} must be from {SIZE_MIN} to {SIZE_MAX} pixels "
                               f"(got {value})")
    return value


def resolve_figure_url(request: HttpRequest, url: str) -> Target:
    """The figure a URL shows, or OEmbedError: 400 malformed, 404 not a figure here."""
    if not url:
        raise OEmbedError(400, "url is required: the address of a figure page of this site")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise OEmbedError(400, f"url must be an absolute http(s) address (got {url[:200]!r})")
    host = request.get_host()
    if parts.netloc.lower() != host.lower():
        raise OEmbedError(404, f"{parts.netloc[:100]!r} is not this site: only figures on "
                               f"{host} can be embedded here")
    try:
        match = resolve(parts.path or "/")
    except Resolver404:
        raise OEmbedError(404, f"{parts.path[:200]!r} is not a page of this site") from None
    page = None
    if match.url_name == "chapter":
        page = content.book().by_slug.get(match.kwargs["slug"])
        slug = page.simulation if page else None
    elif match.url_name in ("lab", "embed"):
        slug = match.kwargs["sim"]
    else:
        slug = None
    sim = simulations.get(slug) if slug else None
    if sim is None:
        raise OEmbedError(404, f"{parts.path[:200]!r} has no figure: embed a chapter with a "
                               "live figure, a lab or an embed page")
    state = sims.resolve(sim, QueryDict(parts.query), sims.PAGE_EXTRAS)
    if state.first_problem is not None:
        raise OEmbedError(400, "the url's query is not a valid state: "
                               f"{state.first_problem.message}")
    return Target(state, page)


def _thumbnail(max_w: int | None, max_h: int | None, figure: dict[str, Any]
               ) -> images.Look | None:
    """The widest PNG within the limits, or None when none fits."""
    look = images.Look(width=min(images.WIDTH, max_w or images.WIDTH))
    if look.width < images.WIDTH_MIN or (max_h is not None and look.height(figure) > max_h):
        return None
    return look


def oembed_response(request: HttpRequest) -> dict[str, Any]:
    q = request.GET
    fmt = q.get("format", "json")
    if fmt not in ("json", "xml"):
        raise OEmbedError(400, f"format must be json (got {fmt[:20]!r})")
    max_w, max_h = _size(q, "maxwidth"), _size(q, "maxheight")
    target = resolve_figure_url(request, q.get("url", ""))
    if fmt == "xml":
        raise OEmbedError(501, "only format=json is served")
    state, sim = target.state, target.state.sim
    base = images.site_base(request)
    qs = state.querystring
    width, height = min(FRAME_W, max_w or FRAME_W), min(FRAME_H, max_h or FRAME_H)
    embed = _abs(base, reverse("embed", args=[sim.slug]), f"{qs}&controls=0")
    result = sims.run(state)
    out: dict[str, Any] = {
        "version": "1.0",
        "type": "rich",
        "title": f"{target.page.title}: {sim.title}" if target.page else sim.title,
        "provider_name": content.book().title,
        "provider_url": f"{base}/",
        "cache_age": CACHE_AGE_S,
        "html": iframe(embed, sim.title, width, height),
        "width": width,
        "height": height,
        "description": result.summary,
    }
    thumb = _thumbnail(max_w, max_h, result.figure)
    if thumb is not None:
        look = urlencode(thumb.query())
        out["thumbnail_url"] = _abs(base, reverse("result_png", args=[sim.slug]),
                                    f"{qs}&{look}" if look else qs)
        out["thumbnail_width"] = thumb.width
        out["thumbnail_height"] = thumb.height(result.figure)
    return out


@require_GET
def oembed(request: HttpRequest) -> HttpResponse:
    """oEmbed 1.0 for figure URLs of this site (format=json; xml answers 501)."""
    try:
        body = oembed_response(request)
    except OEmbedError as exc:
        return JsonResponse({"error": exc.message}, status=exc.status)
    resp = JsonResponse(body)
    resp["Access-Control-Allow-Origin"] = "*"
    return resp
