"""Figures travel: link cards, oEmbed (oembed.com spec, section 2) and the share panel.

Every snippet is checked by round trip: parse it out of the page, fetch the URLs it holds,
and get the same figure state back.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
from django.http import QueryDict
from django.urls import resolve

import simulations
from monograph import content, sims

STATE = "fanout=20&seed=7"
SURFACES = ["/chapters/tail-latency/", "/simulations/fanout/", "/simulations/fanout/embed"]


def strict(sim, query, extras=frozenset()):
    """The state a strict endpoint would run (the test fails on any refused value)."""
    state = sims.resolve(sim, query, extras)
    assert state.first_problem is None, state.first_problem
    return state


class _Head(HTMLParser):
    """<meta> and <link> tags, and the share panel's fields, of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: list[dict[str, str]] = []
        self.share: dict[str, str] = {}

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if tag == "meta" and ("property" in a or "name" in a):
            self.meta[a.get("property") or a["name"]] = a.get("content", "")
        if tag == "link":
            self.links.append(a)
        if "data-share" in a:
            self.share[a["data-share"]] = a.get("value") or a.get("href", "")


def parse(html: bytes) -> _Head:
    p = _Head()
    p.feed(html.decode())
    return p


def state_of(url: str) -> tuple[str, dict[str, str]]:
    """(simulation, every effective parameter) that a figure URL of this site shows."""
    parts = urlsplit(url)
    assert parts.scheme == "http" and parts.netloc == "testserver", url
    match = resolve(parts.path)
    if match.url_name == "chapter":
        slug = content.book().by_slug[match.kwargs["slug"]].simulation
    else:
        slug = match.kwargs["sim"]
    sim = simulations.get(slug)
    query = QueryDict(parts.query)
    state = strict(sim, query, frozenset({"controls", "theme", "width"}))
    return slug, state.query


def expected() -> tuple[str, dict[str, str]]:
    sim = simulations.get("fanout")
    return "fanout", strict(sim, QueryDict(STATE)).query


# -- link cards ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", SURFACES)
def test_every_figure_page_carries_a_card_whose_image_is_this_states_png(client, path):
    resp = client.get(f"{path}?{STATE}")
    assert resp.status_code == 200
    head = parse(resp.content)
    summary = client.get(f"/simulations/fanout.json?{STATE}").json()["summary"]
    image = head.meta["og:image"]
    assert resolve(urlsplit(image).path).url_name == "result_png"
    assert state_of(image) == expected()
    assert head.meta["twitter:image"] == image
    assert head.meta["og:description"] == head.meta["twitter:description"] == summary
    assert head.meta["og:image:alt"] == summary
    assert "Fan-out" in head.meta["og:title"]
    assert head.meta["twitter:card"] == "summary_large_image"
    assert state_of(head.meta["og:url"]) == expected()
    assert urlsplit(head.meta["og:url"]).path == path


def test_a_page_at_a_refused_state_still_carries_the_card_of_what_it_shows(client):
    resp = client.get("/simulations/fanout/?fanout=banana&seed=7")
    assert resp.status_code == 400
    image = parse(resp.content).meta["og:image"]
    assert state_of(image)[1]["seed"] == "7"


@pytest.mark.parametrize("path", SURFACES)
def test_oembed_is_discoverable_by_link_tag_and_http_header_for_the_same_url(client, path):
    resp = client.get(f"{path}?{STATE}")
    tags = [a for a in parse(resp.content).links
            if a.get("rel") == "alternate" and a.get("type") == "application/json+oembed"]
    assert len(tags) == 1
    href = tags[0]["href"]
    header = re.fullmatch(r'<([^>]+)>; rel="alternate"; type="application/json\+oembed"',
                          resp["Link"])
    assert header and header.group(1) == href
    query = dict(parse_qsl(urlsplit(href).query))
    assert query["format"] == "json"  # spec 4: discovery URLs carry their format
    assert state_of(query["url"]) == expected()


def test_a_chapter_without_a_figure_has_no_card_and_no_oembed(client):
    resp = client.get("/chapters/introduction/")
    assert "og:image" not in parse(resp.content).meta
    assert not resp.has_header("Link")


# -- oEmbed ----------------------------------------------------------------------------------
def oembed(client, url: str, **extra: str):
    query = "&".join([f"url={quote(url, safe='')}", *(f"{k}={v}" for k, v in extra.items())])
    return client.get(f"/oembed?{query}")


def test_oembed_answers_a_rich_type_json_response_with_the_required_fields(client):
    resp = oembed(client, f"http://testserver/chapters/tail-latency/?{STATE}", format="json")
    assert resp.status_code == 200
    assert resp["Content-Type"] == "application/json"  # spec 2.3.1
    body = resp.json()
    assert body["version"] == "1.0" and body["type"] == "rich"  # spec 2.3.4
    assert isinstance(body["width"], int) and isinstance(body["height"], int)  # 2.3.4.4
    frame = re.fullmatch(r'<iframe src="([^"]+)" width="(\d+)" height="(\d+)" [^>]*></iframe>',
                         body["html"])
    assert frame, body["html"]
    src = frame.group(1).replace("&amp;", "&")
    assert (int(frame.group(2)), int(frame.group(3))) == (body["width"], body["height"])
    assert resolve(urlsplit(src).path).url_name == "embed"
    assert state_of(src) == expected()
    assert client.get(src).status_code == 200
    assert body["provider_url"] == "http://testserver/"


def test_oembed_respects_maxwidth_and_maxheight_for_the_frame_and_the_thumbnail(client):
    body = oembed(client, "http://testserver/simulations/fanout/", maxwidth="640",
                  maxheight="900").json()
    assert body["width"] <= 640 and body["height"] <= 900  # spec 2.2
    assert body["thumbnail_width"] <= 640 and body["thumbnail_height"] <= 900  # spec 2.3.4
    thumb = dict(parse_qsl(urlsplit(body["thumbnail_url"]).query))
    assert int(thumb["width"]) == body["thumbnail_width"]


def test_oembed_leaves_out_the_thumbnail_trio_when_none_fits(client):
    body = oembed(client, "http://testserver/simulations/fanout/", maxheight="250").json()
    assert body["height"] <= 250
    assert not {"thumbnail_url", "thumbnail_width", "thumbnail_height"} & set(body)


def test_oembed_thumbnail_comes_with_its_size(client):
    body = oembed(client, "http://testserver/simulations/fanout/").json()
    assert {"thumbnail_url", "thumbnail_width", "thumbnail_height"} <= set(body)


def test_oembed_xml_is_not_implemented(client):
    resp = oembed(client, "http://testserver/simulations/fanout/", format="xml")
    assert resp.status_code == 501  # spec 2.3.5
    assert "json" in resp.json()["error"]


@pytest.mark.parametrize(("url", "words"), [
    ("http://elsewhere.example/simulations/fanout/", "not this site"),
    ("http://testserver/no/such/page", "not a page of this site"),
    ("http://testserver/chapters/introduction/", "has no figure"),
    ("http://testserver/checklist/", "has no figure"),
    ("http://testserver/healthz", "has no figure"),
])
def test_oembed_for_anything_but_a_figure_of_this_site_is_a_404_naming_why(client, url, words):
    resp = oembed(client, url)
    assert resp.status_code == 404  # spec 2.3.5
    assert words in resp.json()["error"]


@pytest.mark.parametrize(("query", "words"), [
    ("", "url is required"),
    ("url=not%20a%20url", "absolute http(s)"),
    ("url=ftp%3A%2F%2Ftestserver%2Fsimulations%2Ffanout%2F", "absolute http(s)"),
    ("url=http%3A%2F%2Ftestserver%2Fsimulations%2Ffanout%2F&maxwidth=10", "from 200 to 4000"),
    ("url=http%3A%2F%2Ftestserver%2Fsimulations%2Ffanout%2F&maxheight=wide", "whole number"),
    ("url=http%3A%2F%2Ftestserver%2Fsimulations%2Ffanout%2F%3Ffanout%3D-1", "fanout"),
    ("url=http%3A%2F%2Ftestserver%2Fsimulations%2Ffanout%2F&format=yaml", "format"),
])
def test_oembed_malformed_requests_are_a_400_naming_the_problem(client, query, words):
    resp = client.get(f"/oembed?{query}")
    assert resp.status_code == 400
    assert words in resp.json()["error"]


# -- the share panel -------------------------------------------------------------------------
@pytest.fixture
def panel(client) -> dict[str, str]:
    resp = client.get(f"/chapters/tail-latency/?{STATE}")
    share = parse(resp.content).share
    assert {"permalink", "markdown", "html_img", "iframe", "json", "csv", "png"} <= set(share)
    return share


def test_the_permalink_snippet_opens_the_same_state(client, panel):
    url = panel["permalink"]
    assert state_of(url) == expected()
    again = parse(client.get(url.split("#")[0]).content).share
    assert again["permalink"] == url


def test_the_markdown_image_shows_this_states_png_and_links_to_the_live_figure(client, panel):
    md = re.fullmatch(r"\[!\[([^\]]+)\]\(([^)\s]+)\)\]\(([^)\s]+)\)", panel["markdown"])
    assert md, panel["markdown"]
    title, png, link = md.groups()
    assert title == "Fan-out tail latency"
    assert resolve(urlsplit(png).path).url_name == "result_png" and state_of(png) == expected()
    assert link.endswith("#fig-fanout") and state_of(link) == expected()
    assert client.get(link.split("#")[0]).status_code == 200


def test_the_html_image_has_the_summary_as_alt_text_and_this_states_png(client, panel):
    img = re.search(r'<img src="([^"]+)" alt="([^"]+)"', panel["html_img"])
    assert img
    summary = client.get(f"/simulations/fanout.json?{STATE}").json()["summary"]
    assert unescape(img.group(2)) == summary
    assert state_of(unescape(img.group(1))) == expected()


def test_the_iframe_snippet_embeds_the_same_state(client, panel):
    src = re.search(r'<iframe src="([^"]+)"', panel["iframe"]).group(1).replace("&amp;", "&")
    assert state_of(src) == expected()
    resp = client.get(src)
    assert resp.status_code == 200 and resp.get("X-Frame-Options") is None


def test_the_data_links_return_this_states_numbers(client, panel):
    data = client.get(panel["json"]).json()
    assert data["seed"] == 7 and data["params"]["fanout"] == 20
    csv = client.get(panel["csv"])
    assert csv.status_code == 200 and csv["Content-Type"].startswith("text/csv")
    assert state_of(panel["csv"]) == expected()


def test_the_share_panel_follows_a_slider_move(client):
    resp = client.get("/simulations/fanout/figure?fanout=30&seed=2",
                      headers={"HX-Request": "true",
                               "HX-Current-URL": "http://testserver/chapters/tail-latency/"})
    share = parse(resp.content).share
    assert urlsplit(share["permalink"]).path == "/chapters/tail-latency/"
    assert state_of(share["png"])[1]["fanout"] == "30"


def test_copy_buttons_are_wired_by_a_static_script_not_inline(client):
    html = client.get("/simulations/fanout/").content.decode()
    assert re.search(r'<script src="/static/js/share\.[0-9a-f]+\.js" defer>', html)
    assert html.count('class="share-copy js-only"') == 4
