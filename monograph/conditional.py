"""HEAD wherever GET answers, and ETag + 304 on If-None-Match for every GET.

One middleware, so no view needs a decorator:

- HEAD runs the GET view and drops the body (headers, Content-Length and status are the
  GET's). Views keep `require_GET`; they never see a HEAD.
- Routes whose answer is a pure function of (version, host, URL): the data and image
  endpoints. Their ETag is computed from those before the view runs, so a matching
  If-None-Match answers 304 without running a simulation or drawing an image. It is a weak
  ETag: the JSON carries timing fields and a re-drawn PNG need not be byte-identical, but
  the content means the same.
- Every other 200 GET gets a strong ETag from a hash of its body (Django's own rule), and a
  304 when it matches.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from urllib.parse import parse_qsl, urlencode

from django.http import HttpRequest, HttpResponse
from django.middleware.http import ConditionalGetMiddleware
from django.urls import Resolver404, resolve
from django.utils.cache import get_conditional_response

from .version import version

# URL names whose answer depends only on the version, the host and the URL.
BY_URL = frozenset({"result_json", "result_csv", "result_svg", "result_png", "openapi",
                    "oembed", "sweep_json", "sweep_csv", "sweep_svg", "sweep_png"})


def url_etag(request: HttpRequest) -> str:
    """A weak ETag for a by-URL route: version, host, path and the query in a fixed order."""
    query = urlencode(sorted(parse_qsl(request.META.get("QUERY_STRING", ""),
                                       keep_blank_values=True)))
    text = f"{version()}|{request.get_host()}|{request.path}|{query}"
    return f'W/"{hashlib.sha256(text.encode()).hexdigest()[:32]}"'


def _route(request: HttpRequest) -> str | None:
    try:
        return resolve(request.path_info).url_name
    except Resolver404:
        return None


def strip_body(response: HttpResponse) -> HttpResponse:
    """A HEAD answer: the GET's headers (Content-Length included), no body."""
    if response.streaming:
        response.streaming_content = iter(())  # type: ignore[attr-defined]
        return response
    length = len(response.content)
    response.content = b""
    response["Content-Length"] = str(length)
    return response


def conditional(get_response: Callable[[HttpRequest], HttpResponse]):
    """HEAD as GET without a body; ETag on 200 GETs; 304 when If-None-Match matches."""
    by_body = ConditionalGetMiddleware(get_response)

    def middleware(request: HttpRequest) -> HttpResponse:
        head = request.method == "HEAD"
        if head:
            request.method = "GET"
        try:
            response = _answer(request, get_response, by_body)
        finally:
            if head:
                request.method = "HEAD"
        return strip_body(response) if head else response

    return middleware


def _answer(request: HttpRequest, get_response, by_body: ConditionalGetMiddleware
            ) -> HttpResponse:
    if request.method != "GET":
        return get_response(request)
    etag = url_etag(request) if _route(request) in BY_URL else None
    if etag is not None:
        early = get_conditional_response(request, etag=etag)
        if early is not None:  # If-None-Match matched: 304 before any work
            early["ETag"] = etag
            return early
    response = get_response(request)
    if response.status_code != 200:
        return response
    if etag is not None and not response.has_header("ETag"):
        response["ETag"] = etag
    return by_body.process_response(request, response)
