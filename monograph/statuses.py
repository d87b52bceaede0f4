"""Statuses that say what happened: 405 for methods this read-only site has no use for
(before CSRF can call it a 403), and JSON 404s where a client expects JSON."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import Resolver404, resolve

# Almost everything is read-only: a page, a fragment, a result, a probe. The few views that
# take a POST (a live session's room) say so with @accepts.
ALLOWED = ("GET", "HEAD")


def accepts(*methods: str) -> Callable:
    """Mark a view as answering these methods besides GET and HEAD (the middleware reads it)."""

    def mark(view: Callable) -> Callable:
        view.allowed_methods = (*ALLOWED, *methods)  # type: ignore[attr-defined]
        return view

    return mark


def _allowed(request: HttpRequest) -> tuple[str, ...]:
    try:
        view = resolve(request.path_info).func
    except Resolver404:
        return ALLOWED
    return getattr(view, "allowed_methods", ALLOWED)
# Machine-readable URLs: their errors are JSON too.
DATA_SUFFIXES = (".json", ".csv", ".svg", ".png")
DATA_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def is_data_path(path: str) -> bool:
    return path.endswith(DATA_SUFFIXES) or path in DATA_PATHS or path.startswith("/api/")


def methods(get_response: Callable[[HttpRequest], HttpResponse]):
    """405 with an Allow header for any method a URL's view doesn't take (GET and HEAD, or
    what @accepts adds)."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if request.method in ALLOWED:
            return get_response(request)
        allowed = _allowed(request)
        if request.method in allowed:
            return get_response(request)
        message = f"{request.method[:20]} is not allowed here (use {', '.join(allowed)})"
        if is_data_path(request.path):
            resp: HttpResponse = JsonResponse({"error": message, "allowed": ", ".join(allowed)},
                                              status=405)
        else:
            resp = HttpResponse(message, status=405, content_type="text/plain; charset=utf-8")
        resp["Allow"] = ", ".join(allowed)
        return resp

    return middleware


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """JSON for data URLs (naming what was not found), the book's 404 page otherwise."""
    if is_data_path(request.path):
        detail = exception.args[0] if exception.args and isinstance(exception.args[0], str) else ""
        return JsonResponse({"error": detail or f"Nothing at {request.path[:200]}"}, status=404)
    from . import views

    return views.not_found(request, exception)
