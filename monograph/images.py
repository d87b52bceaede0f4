"""Static images of figures, drawn by kaleido in a headless Chromium.

One Chromium per process, started on first use and reused (~2 s to start, ~0.15 s per
SVG after that). Images are cached like results. Without Chromium the endpoints answer
503 with what to install, never a 500.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import threading
from typing import Any

from django.conf import settings
from django.core.cache import cache

from simulations.engine.plotting import themed

from . import admission
from .sims import Run
from .theme import colours

log = logging.getLogger("monograph.images")

CONTENT_TYPES = {"svg": "image/svg+xml", "png": "image/png"}
WIDTH, HEIGHT = 900, 480

_lock = threading.Lock()
_started = False


class ImagesUnavailable(RuntimeError):
    """Static images cannot be drawn here; the message says why and what to do."""


def _ensure_server() -> None:
    global _started
    if _started:
        return
    if not settings.SIMULATION_IMAGES:
        raise ImagesUnavailable("static images are turned off (MONOGRAPH_IMAGES=0)")
    if not (shutil.which("chromium") or shutil.which("chromium-browser")
            or shutil.which("google-chrome")):
        raise ImagesUnavailable("static images need Chromium on the server "
                                "(Debian: apt-get install chromium)")
    import kaleido

    kaleido.start_sync_server(silence_warnings=True)
    _started = True


def render(result: Run, fmt: str, theme: str) -> bytes:
    """The figure of a result as SVG or PNG bytes, cached."""
    return render_figure(result.figure, result.title, fmt, theme,
                         key=f"{result.version}|{result.simulation}|{result.figure_json}")


def render_figure(figure: dict[str, Any], title: str, fmt: str, theme: str, *, key: str) -> bytes:
    """Any figure as SVG or PNG bytes, cached under `key` (what identifies the figure)."""
    key = "img:" + hashlib.sha256(f"{key}|{fmt}|{theme}".encode()).hexdigest()
    hit = cache.get(key)
    if hit is not None:
        return hit
    fig = themed(figure, colours(theme))
    lay = fig["layout"]
    if "title" not in lay:  # a standalone image needs to say what it is
        lay["title"] = {"text": title, "x": 0.02, "xanchor": "left"}
        lay["margin"] = {**lay.get("margin", {}), "t": max(lay.get("margin", {}).get("t", 0), 56)}
    with admission.heavy_work(), _lock:  # the CPU gate (may raise Shed); one Chromium tab
        _ensure_server()
        import kaleido

        try:
            data = kaleido.calc_fig_sync(fig, opts={"format": fmt, "width": WIDTH,
                                                    "height": HEIGHT, "scale": 1})
        except Exception as exc:  # kaleido raises several types; report, don't crash
            log.exception("image export failed")
            raise ImagesUnavailable(f"image export failed: {type(exc).__name__}") from exc
    if isinstance(data, str):
        data = data.encode()
    cache.set(key, data, settings.SIMULATION_CACHE_SECONDS)
    return data
