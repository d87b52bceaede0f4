"""Middleware: request ids, access logs, Prometheus metrics, and a few headers."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.middleware.gzip import GZipMiddleware
from django.urls import Resolver404, resolve

from . import metrics
from .logs import request_id_var

log = logging.getLogger("monograph.access")

# Accept a caller's id only if it looks like an id, so logs can't be forged or bloated.
_ID_OK = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def request_id(get_response: Callable[[HttpRequest], HttpResponse]):
    """Take X-Request-ID or make one; put it on the request, the response and every log line."""

    def middleware(request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _ID_OK.match(incoming) else uuid.uuid4().hex
        request.request_id = rid  # type: ignore[attr-defined]
        token = request_id_var.set(rid)
        start = time.perf_counter()
        try:
            response = get_response(request)
            elapsed_ms = (time.perf_counter() - start) * 1000
            response["X-Request-ID"] = rid
            response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
            log.info(
                "%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed_ms,
                extra={"method": request.method, "path": request.path,
                       "status": response.status_code, "ms": round(elapsed_ms, 2)},
            )
            return response
        finally:
            request_id_var.reset(token)

    return middleware


def _route(request: HttpRequest) -> str:
    """The URL pattern's name, so metrics have bounded labels (never raw paths)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        try:
            match = resolve(request.path_info)
        except Resolver404:
            return "not_found"
    return match.url_name or "unnamed"


def prometheus(get_response: Callable[[HttpRequest], HttpResponse]):
    """Count requests and time them by route and status."""

    def middleware(request: HttpRequest) -> HttpResponse:
        start = time.perf_counter()
        response = get_response(request)
        if request.path.startswith(settings.STATIC_URL):
            return response
        route = _route(request)
        metrics.REQUESTS.labels(route, metrics.method_label(request.method),
                                str(response.status_code)).inc()
        metrics.LATENCY.labels(route).observe(time.perf_counter() - start)
        return response

    return middleware


class Compress(GZipMiddleware):
    """gzip every text answer the client accepts it for (pages, fragments, JSON, CSV, SVG).

    A chapter page is ~120 KB of HTML (its figures' data inline) and ~20 KB gzipped; static
    files are not touched (WhiteNoise, earlier in the chain, serves its own brotli/gzip
    copies). Django's middleware: a strong ETag becomes weak, `Vary: Accept-Encoding` is
    set, and random bytes in the gzip header blunt BREACH-style guessing (our pages carry no
    secrets: no sessions, no CSRF tokens). PNG is already compressed: left alone rather than
    gzipped for nothing. Sits outside `conditional`, so ETags are computed on the
    uncompressed body (the same for every client) and a HEAD describes it.
    """

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        if response.get("Content-Type", "").startswith("image/png"):
            return response
        return super().process_response(request, response)
