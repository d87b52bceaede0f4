"""Pages and operational endpoints: status, headers, and the reading experience."""

from __future__ import annotations

import re

import pytest

import simulations
from monograph import content

PAGES = ["/", "/chapters/introduction/", "/chapters/tail-latency/", "/chapters/drift/",
         "/checklist/", "/simulations/", "/simulations/fanout/"]


@pytest.mark.parametrize("url", PAGES)
def test_every_page_renders_with_strict_security_headers(client, url):
    resp = client.get(url)
    assert resp.status_code == 200
    csp = resp["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert resp["X-Frame-Options"] == "DENY"
    assert resp["X-Content-Type-Options"] == "nosniff"
    assert resp["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "camera=()" in resp["Permissions-Policy"]
    html = resp.content.decode()
    # No inline script: every <script> either has a src or is a JSON data block.
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "style=" not in re.sub(r"<input[^>]*readonly[^>]*>", "", html)
    # Nothing from another host (absolute URLs of this host, as link cards need, are fine).
    assert not re.search(r'(src|href)="(https?:)?//(?!127\.0\.0\.1|testserver/)',
                         html.split("<main")[0])


@pytest.mark.parametrize("slug", sorted(simulations.registry()))
def test_every_simulation_renders_on_every_surface(client, slug):
    chapters = content.book().chapters_for_simulation(slug)
    assert chapters, f"{slug} has no chapter"
    for url in (*(c.url for c in chapters), f"/simulations/{slug}/",
                f"/simulations/{slug}/embed", f"/simulations/{slug}/embed?controls=0",
                f"/simulations/{slug}/figure"):
        resp = client.get(url)
        assert resp.status_code == 200, url
        assert f'id="chart-{slug}"'.encode() in resp.content, url
    for chapter in chapters:
        for preset in chapter.figure(slug).presets:
            resp = client.get(chapter.url, {"figure": slug, **preset.query})
            assert resp.status_code == 200, preset.label


def test_embed_pages_may_be_framed_by_any_wiki(client):
    resp = client.get("/simulations/fanout/embed?controls=0")
    assert resp.status_code == 200
    assert "frame-ancestors *" in resp["Content-Security-Policy"]
    assert "X-Frame-Options" not in resp
    assert b'class="sim-controls"' not in resp.content  # chart alone
    assert b'id="chart-fanout"' in resp.content


def test_embed_with_controls_shows_the_form(client):
    resp = client.get("/simulations/fanout/embed?controls=1&fanout=20")
    assert b'class="sim-controls"' in resp.content
    assert b'value="20"' in resp.content


def test_contents_lists_parts_chapters_and_summaries(client):
    html = client.get("/").content.decode()
    book = content.book()
    for part in book.parts:
        assert part.title in html
    for page in book.pages:
        assert page.url in html
        assert page.summary.replace("'", "&#x27;").replace('"', "&quot;")[:40] in html


def test_a_chapter_has_toc_anchors_pager_and_reading_time(client):
    html = client.get("/chapters/tail-latency/").content.decode()
    assert 'aria-label="On this page"' in html
    assert 'class="headerlink"' in html
    assert 'rel="prev" href="/chapters/cost/"' not in html  # prev of tail-latency is skew
    assert '<link rel="prev" href="/chapters/skew/">' in html
    assert '<link rel="next" href="/chapters/cost/">' in html
    assert "min read" in html
    assert 'id="fig-fanout"' in html


def test_a_chapter_without_a_built_simulation_has_no_figure_box(client, settings, tmp_path):
    # A chapter whose simulation is only planned: text flows on, no placeholder box.
    (tmp_path / "book.yaml").write_text("title: T\nparts:\n  - {id: 1, title: P}\n")
    (tmp_path / "soon.md").write_text(
        "---\ntitle: Soon\nslug: soon\npart: 1\norder: 1\nsummary: s\n"
        "planned_simulation: not-built-yet\n---\n\n## A\n\nBefore.\n\n[[figure]]\n\nAfter.\n")
    settings.CONTENT_DIR = tmp_path
    content.reset()
    html = client.get("/chapters/soon/").content.decode()
    assert "Before." in html and "After." in html and "[[figure]]" not in html
    assert 'class="sim' not in html
    assert "plotly" not in html  # no 1 MB bundle for a page without a chart


def test_the_introduction_has_no_figure_and_no_plotly(client):
    html = client.get("/chapters/introduction/").content.decode()
    assert 'class="sim' not in html and "plotly" not in html


def test_the_checklist_page_groups_items_by_chapter_with_links_back(client):
    html = client.get("/checklist/").content.decode()
    assert 'id="pr-template"' in html and 'id="share-ticks"' in html
    assert html.count('type="checkbox" data-key=') >= 25
    assert 'href="/chapters/tail-latency/#do-this"' in html
    assert "/chapters/checklist/" not in html


def test_the_checklist_slug_redirects_to_its_url(client):
    resp = client.get("/chapters/checklist/")
    assert resp.status_code == 301
    assert resp["Location"] == "/checklist/"


def test_unknown_pages_get_the_styled_404(client):
    resp = client.get("/chapters/no-such-thing/")
    assert resp.status_code == 404
    assert b"Not found" in resp.content and b"site-header" in resp.content
    assert client.get("/simulations/nope/").status_code == 404
    assert client.get("/simulations/nope.json").status_code == 404


def test_every_response_carries_a_request_id_and_accepts_a_callers(client):
    resp = client.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{32}", resp["X-Request-ID"])
    resp = client.get("/healthz", headers={"X-Request-ID": "wiki-check-42"})
    assert resp["X-Request-ID"] == "wiki-check-42"
    resp = client.get("/healthz", headers={"X-Request-ID": "bad id\nwith newline"})
    assert resp["X-Request-ID"] != "bad id\nwith newline"


def test_request_id_is_in_the_access_log(client, caplog):
    caplog.set_level("INFO", logger="monograph.access")
    client.get("/healthz", headers={"X-Request-ID": "trace-me-7"})
    record = next(r for r in caplog.records if r.name == "monograph.access")
    assert record.request_id == "trace-me-7"
    assert record.status == 200


def test_health_readiness_and_metrics(client):
    health = client.get("/healthz").json()
    assert health["status"] == "ok" and "+" in health["version"]
    ready = client.get("/readyz").json()
    assert ready["status"] == "ok" and ready["checks"]["simulations"] >= 1
    client.get("/simulations/fanout.json")
    text = client.get("/metrics").content.decode()
    assert 'monograph_http_requests_total{method="GET",route="healthz",status="200"}' in text
    assert "monograph_simulation_seconds_bucket" in text


def test_the_footer_shows_the_version(client):
    from monograph.version import version

    assert version().encode() in client.get("/").content


def test_non_get_methods_are_refused(client):
    assert client.post("/simulations/fanout.json").status_code in (403, 405)
    assert client.put("/").status_code == 405


def test_the_500_page_is_styled_and_names_the_request_id(rf):
    from monograph.views import server_error

    request = rf.get("/boom")
    request.request_id = "abc123"
    resp = server_error(request)
    assert resp.status_code == 500
    assert b"Something broke on our side" in resp.content and b"abc123" in resp.content


# -- a chapter with several figures -----------------------------------------------------------
def _multi_figure_chapter():
    """The first chapter with more than one figure, and its first two simulations."""
    page = next(p for p in content.book().pages if len(p.figures) > 1)
    return page, page.figures[0].simulation, page.figures[1].simulation


def _input_value(html: str, slug: str, name: str) -> str:
    match = re.search(rf'id="in-{slug}-{name}" name="{name}" value="([^"]*)"', html)
    assert match, f"no input for {slug}.{name}"
    return match.group(1)


def test_a_chapter_draws_each_of_its_figures_where_the_text_places_it(client):
    page, first, second = _multi_figure_chapter()
    html = client.get(page.url).content.decode()
    assert html.count('<form class="sim-controls"') == len(page.figures)
    assert html.index(f'id="fig-{first}"') < html.index(f'id="fig-{second}"')
    for slug in (first, second):
        assert f'href="#fig-{slug}"' in html  # listed in "On this page"
    # Only the later figure's form names itself, for the no-JavaScript Run button.
    assert html.count('name="figure"') == 1
    assert f'<input type="hidden" name="figure" value="{second}">' in html


def test_figure_in_a_chapter_url_sends_the_query_to_that_figure_only(client):
    page, first, second = _multi_figure_chapter()
    sim2 = simulations.get(second)
    main = sim2.main_param
    value = sim2.param(main).to_query(sim2.param(main).min)
    html = client.get(page.url, {"figure": second, main: value}).content.decode()
    assert _input_value(html, second, main) == value
    sim1 = simulations.get(first)
    p1 = sim1.param(sim1.main_param)
    assert _input_value(html, first, p1.name) == p1.to_query(p1.default)
    # The later figure's permalink and presets name it; the first figure's do not.
    assert f'href="{page.url}?figure={second}&amp;{main}={value}' in html
    assert f'href="{page.url}?figure={second}&amp;' in html.split(f'id="fig-{second}"')[1]
    assert f"?figure={first}" not in html


def test_a_chapter_permalink_without_figure_is_the_first_figures_as_before(client):
    page, first, _ = _multi_figure_chapter()
    sim = simulations.get(first)
    p = sim.param(sim.main_param)
    value = p.to_query(p.min)
    html = client.get(page.url, {p.name: value}).content.decode()
    assert _input_value(html, first, p.name) == value


def test_a_query_for_another_figure_is_redirected_to_the_url_that_names_it(client):
    page, _, second = _multi_figure_chapter()
    sim = simulations.get(second)
    p = sim.param(sim.main_param)
    resp = client.get(page.url, {p.name: p.to_query(p.min)})
    assert resp.status_code == 302
    assert resp["Location"].startswith(f"{page.url}?figure={second}&{p.name}=")
    assert resp["Location"].endswith(f"#fig-{second}")


def test_a_permalink_from_before_a_figure_moved_chapters_follows_it(client):
    """A link made when a simulation's figure lived in another chapter still opens it."""
    page, _, second = _multi_figure_chapter()
    other = next(p for p in content.book().pages
                 if p.figures and p is not page and p.figure(second) is None)
    sim = simulations.get(second)
    p = sim.param(sim.main_param)
    resp = client.get(other.url, {p.name: p.to_query(p.min), "seed": "7",
                                  "mv": str(sim.model_version)})
    assert resp.status_code == 302
    assert resp["Location"].startswith(f"{page.url}?figure={second}&")
    assert "seed=7" in resp["Location"] and f"mv={sim.model_version}" in resp["Location"]


def test_an_unknown_figure_in_a_chapter_url_is_a_400_naming_the_figures(client):
    page, first, second = _multi_figure_chapter()
    resp = client.get(page.url, {"figure": "no-such-figure"})
    assert resp.status_code == 400
    html = resp.content.decode()
    assert "figure &#x27;no-such-figure&#x27; is not in this chapter" in html
    assert f"{first}, {second}" in html


def _fragment(client, slug: str, current: str):
    return client.get(f"/simulations/{slug}/figure", headers={
        "HX-Request": "true", "HX-Current-URL": f"http://testserver{current}"})


def test_moving_a_later_figure_names_it_in_the_address_bar_when_that_is_free(client):
    page, _, second = _multi_figure_chapter()
    frag = _fragment(client, second, page.url)
    assert frag["HX-Replace-Url"].startswith(f"{page.url}?figure={second}&")
    # Like every permalink, it carries the model version it was made with.
    assert f"mv={simulations.get(second).model_version}" in frag["HX-Replace-Url"]


def test_moving_one_figure_never_overwrites_another_figures_state_in_the_url(client):
    """The address bar keeps the figure it already describes; the other's own permalink moves."""
    page, first, second = _multi_figure_chapter()
    first_state = f"{page.url}?seed=9"  # the first figure's state, as after a slider move
    frag = _fragment(client, second, first_state)
    assert "HX-Replace-Url" not in frag
    assert f'href="{page.url}?figure={second}&amp;' in frag.content.decode()
    frag = _fragment(client, first, f"{page.url}?figure={second}&seed=9")
    assert "HX-Replace-Url" not in frag
    frag = _fragment(client, first, first_state)
    assert frag["HX-Replace-Url"].startswith(f"{page.url}?")
    assert "figure=" not in frag["HX-Replace-Url"]


def test_the_contents_count_a_chapters_live_figures(client):
    page, _, _ = _multi_figure_chapter()
    html = client.get("/").content.decode()
    entry = html.split(f'href="{page.url}"')[1].split("</li>")[0]
    assert f"{len(page.figures)} live figures" in entry


def test_gallery_and_lab_link_each_simulation_to_every_chapter_showing_it(client):
    page, _, second = _multi_figure_chapter()
    gallery = client.get("/simulations/").content.decode()
    assert f'href="{page.url}#fig-{second}"' in gallery
    lab = client.get(f"/simulations/{second}/").content.decode()
    assert f'Read the story in <a href="{page.url}#fig-{second}"' in lab
    embed = client.get(f"/simulations/{second}/embed?controls=0").content.decode()
    assert f'href="{page.url}#fig-{second}"' in embed


def test_a_simulation_without_a_chapter_still_has_its_lab_and_embed(client, settings, tmp_path):
    (tmp_path / "book.yaml").write_text("title: T\nparts:\n  - {id: 1, title: P}\n")
    (tmp_path / "one.md").write_text(
        "---\ntitle: One\nslug: one\npart: 1\norder: 1\nsummary: s\n---\n\n## A\n\nText.\n")
    settings.CONTENT_DIR = tmp_path
    content.reset()
    for url in ("/simulations/fanout/", "/simulations/fanout/embed", "/simulations/"):
        resp = client.get(url)
        assert resp.status_code == 200, url
    assert "Read the story" not in client.get("/simulations/fanout/").content.decode()
