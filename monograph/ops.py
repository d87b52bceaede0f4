"""Operations endpoints — liveness, readiness, metrics — and the middleware that serves them.

Kubernetes probes and Prometheus address a pod by its IP, so their Host header is an
address no ALLOWED_HOSTS lists. `probes` answers these three URLs before anything reads the
Host header: safe because their responses use nothing from it (no absolute URL, no
redirect, nothing cached by host). Every other URL keeps Django's Host check.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_GET

import simulations

from . import content, metrics
from .cache import readiness
from .conditional import strip_body
from .version import version

log = logging.getLogger("monograph")

# Headers a reverse proxy adds: a request carrying one came from outside, whatever its address.
_PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok", "version": version()})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: content parsed, simulations registered, and how the cache is doing.

    A shared cache that is down gives 'degraded' with a 200, not a 503: every replica shares
    it, so failing readiness would take them all out of service at once and turn "slower,
    uncached" into "down". The CacheUnavailable alert reports it instead (RUNBOOK.md).
    """
    checks: dict[str, Any] = {}
    try:
        checks["content_pages"] = len(content.book().pages)
        checks["simulations"] = len(simulations.registry())
        checks["cache"] = readiness(caches["default"])
        serving = checks["content_pages"] > 0 and checks["cache"] != "failed"
    except Exception:  # a readiness probe reports, it does not crash
        log.exception("readiness check failed")
        serving = False
    status = ("ok" if checks.get("cache") in ("ok", "disabled") else "degraded") if serving \
        else "unavailable"
    return JsonResponse({"status": status, "checks": checks}, status=200 if serving else 503)


@require_GET
def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics, for scrapers on an allowed network only."""
    if not metrics_allowed(request):
        return HttpResponse("Metrics are internal: scrape from a network in MONOGRAPH_METRICS_ALLOW, "
                            "directly (not through the proxy).\n", status=403,
                            content_type="text/plain; charset=utf-8")
    body, ctype = metrics.exposition()
    return HttpResponse(body, content_type=ctype)


def metrics_allowed(request: HttpRequest) -> bool:
    """A direct request from an address in MONOGRAPH_METRICS_ALLOW.

    Behind the ingress every request arrives from the proxy's private address, so the
    address alone would let the internet in: a request the proxy relayed (it always adds
    X-Forwarded-For) is refused whatever its address. Prometheus scrapes pods directly.
    """
    if any(h in request.META for h in _PROXY_HEADERS):
        return False
    try:
        addr = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    return any(addr in net for net in settings.METRICS_ALLOW)


def probes(get_response: Callable[[HttpRequest], HttpResponse]):
    """Serve /healthz, /readyz and /metrics without the Host check (see the module doc)."""
    views = {reverse("healthz"): healthz, reverse("readyz"): readyz,
             reverse("metrics"): prometheus_metrics}

    def middleware(request: HttpRequest) -> HttpResponse:
        view = views.get(request.path_info)
        if view is None:
            return get_response(request)
        if request.method != "HEAD":
            return view(request)
        request.method = "GET"  # HEAD answers wherever GET does (conditional.py's rule)
        try:
            return strip_body(view(request))
        finally:
            request.method = "HEAD"

    return middleware
