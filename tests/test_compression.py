"""Pages, fragments and data go out gzipped to clients that accept it (monograph.middleware.Compress).

A chapter page is mostly its figures' data inline: uncompressed it would take a fifth of the
450 KB page budget on its own (docs/performance.md).
"""

from __future__ import annotations

import gzip

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from monograph.middleware import Compress

GZ = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.mark.parametrize("url", ["/chapters/tail-latency/", "/simulations/fanout/figure",
                                 "/simulations/fanout.json", "/simulations/fanout.csv"])
def test_a_client_that_accepts_gzip_gets_the_same_answer_gzipped(client, url):
    client.get(url)  # warm: the JSON says "cached" from here on
    plain = client.get(url)
    packed = client.get(url, headers=GZ)
    assert packed.status_code == plain.status_code == 200
    assert packed["Content-Encoding"] == "gzip" and "Accept-Encoding" in packed["Vary"]
    assert len(packed.content) < len(plain.content) / 2, "text compresses at least twofold"
    assert gzip.decompress(packed.content).decode().count("<") == plain.content.decode().count("<")


def test_a_chapter_page_shrinks_to_under_a_quarter(client):
    url = "/chapters/resilience/"  # two figures' data inline: the heaviest page
    plain, packed = client.get(url), client.get(url, headers=GZ)
    assert len(packed.content) < len(plain.content) / 4


def test_a_client_that_does_not_ask_for_gzip_gets_plain_bytes(client):
    resp = client.get("/chapters/tail-latency/")
    assert "Content-Encoding" not in resp
    assert resp.content.lstrip().lower().startswith(b"<!doctype html>")


def test_a_gzipped_page_still_answers_304_to_its_etag(client):
    url = "/chapters/introduction/"
    first = client.get(url, headers=GZ)
    etag = first["ETag"]
    assert etag.startswith('W/"'), "a compressed body's ETag is weak (RFC 9110 8.8.1)"
    again = client.get(url, headers={**GZ, "If-None-Match": etag})
    assert again.status_code == 304
    # the uncompressed answer has the same validator: the ETag is of the content, not the bytes
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304


def test_png_is_sent_as_it_is_not_gzipped_again():
    body = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    request = RequestFactory().get("/simulations/fanout.png", headers=GZ)
    resp = Compress(lambda r: HttpResponse(body, content_type="image/png"))(request)
    assert resp.content == body and "Content-Encoding" not in resp


def test_svg_is_gzipped():
    body = b"<svg xmlns='http://www.w3.org/2000/svg'>" + b"<path d='M0 0L1 1'/>" * 100 + b"</svg>"
    request = RequestFactory().get("/simulations/fanout.svg", headers=GZ)
    resp = Compress(lambda r: HttpResponse(body, content_type="image/svg+xml"))(request)
    assert resp["Content-Encoding"] == "gzip" and gzip.decompress(resp.content) == body
