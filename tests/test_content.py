"""The book's content: every page valid and complete; broken content refuses to start."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings

import simulations
from monograph import content
from monograph.content import ContentError, load_book

CONTENT = Path(settings.BASE_DIR) / "content"
BOOK = load_book(CONTENT)
CHAPTERS = [p for p in BOOK.pages if p.kind == "chapter" and p.slug != "introduction"]

# The book's plan (content/book.yaml): four parts, the chapters, an introduction, a
# checklist and an about page.
EXPECTED = ["introduction", "reproducibility", "data-contracts", "skew", "tail-latency", "cost",
            "resilience", "observability", "drift", "deployment", "launch-gates", "guardrails",
            "ownership", "checklist", "about"]


def test_the_book_has_its_pages_in_order():
    assert [p.slug for p in BOOK.pages] == EXPECTED
    assert [p.numeral for p in BOOK.parts] == ["I", "II", "III", "IV"]


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.slug)
def test_chapters_are_between_900_and_1600_words(page):
    assert 900 <= page.words <= 1600, f"{page.slug}: {page.words} words"


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.slug)
def test_chapters_have_exercises_with_answers_do_this_and_further_reading(page):
    html = page.html_before + page.html_after
    ids = [t[1] for t in page.toc]
    assert "try-it-together" in ids, f"{page.slug}: no 'Try it together' section"
    assert "further-reading" in ids, f"{page.slug}: no 'Further reading' section"
    try_it = html.split('id="try-it-together"')[1].split("<h2")[0]
    assert 2 <= try_it.count('<details class="answer"') <= 4, page.slug
    assert 3 <= len(page.do_this) <= 6, f"{page.slug}: {len(page.do_this)} do-this items"
    reading = html.split('id="further-reading"')[1]
    assert re.search(r'href="https?://', reading), f"{page.slug}: further reading needs links"


@pytest.mark.parametrize("page", CHAPTERS, ids=lambda p: p.slug)
def test_each_chapter_names_its_simulation_and_presets(page):
    assert page.figures or page.planned_simulation, (
        f"{page.slug}: simulation, figures or planned_simulation is required")
    for fig in page.figures:
        assert 2 <= len(fig.presets) <= 5, f"{page.slug}: {fig.simulation}"
        assert fig.caption, f"{page.slug}: {fig.simulation} needs a caption"


def test_presets_name_only_declared_parameters():
    # load_book already validates presets through each simulation's own parse();
    # this checks the loader's result against the declarations independently.
    for page in BOOK.pages:
        for fig in page.figures:
            declared = {p.name for p in simulations.get(fig.simulation).all_params}
            for preset in fig.presets:
                assert set(preset.query) <= declared


def test_every_simulation_is_placed_in_exactly_one_chapter():
    # The format allows a simulation in several chapters; this book gives each one home.
    placed = [f.simulation for p in BOOK.pages for f in p.figures]
    assert {f.simulation: p.slug for p in BOOK.pages for f in p.figures}["fanout"] == "tail-latency"
    for slug in simulations.registry():
        assert placed.count(slug) == 1, f"{slug} is in {placed.count(slug)} chapters, not one"


def test_links_between_pages_resolve():
    known = {p.url for p in BOOK.pages} | {"/", "/simulations/"}
    known |= {f"/simulations/{s}/" for s in simulations.registry()}
    known |= {f"/simulations/{s}/sweep/" for s in simulations.registry()}
    for page in BOOK.pages:
        for href in re.findall(r'href="(/[^"#?]*)', page.html_before + page.html_after):
            if href.startswith(("/simulations/", "/api/")) and not href.endswith("/"):
                continue  # data URLs (.json, .csv) are checked by the view tests
            assert href in known, f"{page.slug} links to {href}, which does not exist"


def test_the_checklist_collects_at_least_25_items_with_must_marks():
    items = [i for p in BOOK.pages for i in p.do_this]
    assert len(items) >= 25
    assert any(i.must for i in items) and not all(i.must for i in items)


# -- validation: refuse to start, naming file and field -----------------------------------
@pytest.fixture
def book_dir(tmp_path):
    d = tmp_path / "content"
    d.mkdir()
    shutil.copy(CONTENT / "book.yaml", d / "book.yaml")
    (d / "one.md").write_text(
        "---\ntitle: One\nslug: one\npart: 1\norder: 1\nsummary: The first.\n---\n\n"
        "## Hello\n\nText with a [link](/chapters/one/).\n", encoding="utf-8")
    return d


def _write(d: Path, name: str, front: str, body: str = "## Hi\n\nText.\n") -> Path:
    path = d / name
    path.write_text(f"---\n{front}\n---\n\n{body}", encoding="utf-8")
    return path


def test_a_minimal_folder_loads(book_dir):
    book = load_book(book_dir)
    assert [p.slug for p in book.pages] == ["one"]


@pytest.mark.parametrize(("front", "field"), [
    ("title: [unclosed\nslug: two", "front matter"),
    ("title: Two\nslug: two\npart: 7\norder: 2\nsummary: s", "part"),
    ("title: Two\nslug: two\npart: 1\norder: 2\nsummary: s\nsimulation: nope", "simulation"),
    ("title: Two\nslug: two\npart: 1\norder: 2\nsummary: s\ncolour: red", "colour"),
    ("title: Two\nslug: other\npart: 1\norder: 2\nsummary: s", "slug"),
    ("title: Two\nslug: two\npart: 1\norder: 1\nsummary: s", "order"),
    ("slug: two\npart: 1\norder: 2\nsummary: s", "title"),
    ("title: Two\nslug: two\npart: 1\norder: 2", "summary"),
])
def test_invalid_front_matter_names_the_file_and_field(book_dir, front, field):
    path = _write(book_dir, "two.md", front)
    with pytest.raises(ContentError) as err:
        load_book(book_dir)
    assert err.value.path == str(path)
    assert err.value.field == field
    assert str(path) in str(err.value)


def test_a_duplicate_slug_is_refused(book_dir):
    sub = book_dir / "dup.md"
    sub.write_text("---\ntitle: D\nslug: one\npart: 1\norder: 5\nsummary: s\n---\n", "utf-8")
    with pytest.raises(ContentError, match="slug"):
        load_book(book_dir)


def test_a_preset_with_an_undeclared_parameter_is_refused(book_dir):
    _write(book_dir, "two.md", "title: Two\nslug: two\npart: 2\norder: 2\nsummary: s\n"
           "simulation: fanout\nfigure_caption: Try it.\npresets:\n"
           "  - label: Bad\n    params: {fanout: 10, warp_speed: 9}")
    with pytest.raises(ContentError, match="warp_speed") as err:
        load_book(book_dir)
    assert err.value.field.startswith("presets[0]")


def test_a_preset_out_of_range_is_refused(book_dir):
    _write(book_dir, "two.md", "title: Two\nslug: two\npart: 2\norder: 2\nsummary: s\n"
           "simulation: fanout\npresets:\n  - label: Huge\n    params: {fanout: 100000}")
    with pytest.raises(ContentError, match="fanout must be a whole number"):
        load_book(book_dir)


def test_hostile_markdown_is_sanitised(book_dir):
    _write(book_dir, "two.md", "title: Two\nslug: two\npart: 1\norder: 2\nsummary: s",
           body='## Hi\n\n<script>alert(1)</script>\n\n<img src="x" onerror="alert(2)">\n\n'
                '[click](javascript:alert(3)) <a href="javascript:alert(4)">x</a>\n\n'
                '<div onclick="alert(5)" style="color:red">styled</div>\n\n'
                '<iframe src="https://evil.example"></iframe>\n')
    page = load_book(book_dir).by_slug["two"]
    html = page.html_before + page.html_after
    for bad in ("<script", "onerror", "javascript:", "onclick", "<iframe", "style="):
        assert bad not in html.lower(), bad
    assert "styled" in html  # content survives, behaviour does not


def test_the_app_uses_the_folder_named_by_the_setting(book_dir, settings, client):
    settings.CONTENT_DIR = book_dir
    content.reset()
    resp = client.get("/chapters/one/")
    assert resp.status_code == 200
    assert b"The first." in resp.content


def test_invalid_content_stops_the_process_at_startup(book_dir, tmp_path):
    """A real start-up (manage.py check) fails with the file and field, not a half page."""
    import os
    import subprocess
    import sys

    _write(book_dir, "two.md", "title: Two\nslug: two\npart: 9\norder: 2\nsummary: s")
    env = {**os.environ, "MONOGRAPH_CONTENT_DIR": str(book_dir)}
    proc = subprocess.run([sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "two.md: part: unknown part 9" in proc.stderr


def test_table_alignment_survives_sanitising(book_dir):
    # Markdown aligns columns; style attributes are stripped (and CSP-blocked), so the
    # renderer must use the align attribute instead.
    _write(book_dir, "two.md", "title: Two\nslug: two\npart: 1\norder: 2\nsummary: s",
           body="| a | b |\n|:--|--:|\n| 1 | 2 |\n")
    html = load_book(book_dir).by_slug["two"].html_before
    assert '<td align="right">2</td>' in html and "style=" not in html


# -- several figures in one chapter ---------------------------------------------------------
TWO_FIGURES = ("title: Two\nslug: two\npart: 2\norder: 2\nsummary: s\nfigures:\n"
               "  - simulation: fanout\n    caption: First.\n"
               "    presets:\n      - {label: Wide, params: {fanout: 100}}\n"
               "  - simulation: retries\n    caption: Second.\n")


def test_a_chapter_places_each_of_its_figures_at_its_marker(book_dir):
    _write(book_dir, "two.md", TWO_FIGURES,
           body="## A\n\nOne.\n\n[[figure]]\n\n## B\n\nTwo.\n\n[[figure retries]]\n\nEnd.\n")
    page = load_book(book_dir).by_slug["two"]
    assert [f.simulation for f in page.figures] == ["fanout", "retries"]
    assert [f.caption for f in page.figures] == ["First.", "Second."]
    assert page.figures[0].presets[0].query["fanout"] == "100"
    assert [name for _, name in page.blocks] == ["fanout", "retries", None]
    html = [h for h, _ in page.blocks]
    assert "One." in html[0] and "Two." in html[1] and "End." in html[2]
    assert "MONOGRAPHFIGURESLOT" not in "".join(html)
    # The first figure still answers the single-figure names.
    assert page.simulation == "fanout" and page.figure_caption == "First."


@pytest.mark.parametrize(("front", "body", "field", "words"), [
    (TWO_FIGURES, "## A\n\n[[figure fanout]]\n", "figures[1]", "[[figure retries]]"),
    (TWO_FIGURES, "[[figure]]\n\n[[figure retries]]\n\n[[figure drift]]\n", "body",
     "its figures: fanout, retries"),
    (TWO_FIGURES, "[[figure fanout]]\n\n[[figure]]\n\n[[figure retries]]\n", "body",
     "placed twice"),
    (TWO_FIGURES + "simulation: fanout\n", "", "simulation", "not both"),
    (TWO_FIGURES.replace("    caption: Second.", "    colour: red"), "", "figures[1].colour",
     "unknown field"),
    (TWO_FIGURES.replace("simulation: retries", "simulation: nope"), "",
     "figures[1].simulation", "unknown simulation 'nope'"),
    (TWO_FIGURES.replace("simulation: retries", "simulation: fanout"), "",
     "figures[1].simulation", "once per page"),
    (TWO_FIGURES.replace("{fanout: 100}", "{fanout: 100000}"), "",
     "figures[0].presets[0] ('Wide')", "fanout must be"),
    ("title: Two\nslug: two\npart: 2\norder: 2\nsummary: s\nfigures: fanout", "",
     "figures", "must be a list"),
])
def test_invalid_figures_name_the_file_and_field(book_dir, front, body, field, words):
    path = _write(book_dir, "two.md", front, body=body or "## Hi\n\n[[figure]]\n")
    with pytest.raises(ContentError) as err:
        load_book(book_dir)
    assert err.value.path == str(path)
    assert err.value.field == field
    assert words in err.value.detail


def test_a_simulation_may_have_a_figure_in_more_than_one_chapter(book_dir):
    front = ("title: {t}\nslug: {t}\npart: 2\norder: {o}\nsummary: s\n"
             "simulation: fanout\nfigure_caption: Try it.")
    _write(book_dir, "two.md", front.format(t="two", o=2))
    _write(book_dir, "three.md", front.format(t="three", o=3))
    book = load_book(book_dir)
    assert [p.slug for p in book.chapters_for_simulation("fanout")] == ["two", "three"]
    assert book.chapter_for_simulation("fanout").slug == "two"
    assert book.chapters_for_simulation("drift") == ()


# -- live numbers: the page quotes the simulation, checked at start-up ---------------------------
_LIVE_FRONT = ("title: Two\nslug: two\npart: 2\norder: 2\nsummary: s\nsimulation: fanout\n"
               "figure_caption: Try it.\npresets:\n"
               "  - label: Wide\n    params: {fanout: 100}")


@pytest.mark.parametrize(("expression", "message"), [
    ("{{ share_slower preset=Wide }}", "fanout has no metric 'share_slower'"),
    ("{{ nope:share_slow }}", "unknown simulation 'nope'"),
    ("{{ share_slow fanout=0 }}", "fanout must be"),
    ("{{ share_slow warp=9 }}", "unknown parameter 'warp'"),
    ('{{ share_slow preset="Narrow" }}', "unknown preset 'Narrow'"),
    ("{{ share_slow | .2q }}", "format"),
    ("{{ share_slow.median }}", "field 'median'"),
    ("{{ share_slow preset=Wide", "without a closing"),
])
def test_a_bad_live_number_names_the_file_and_line(book_dir, expression, message):
    path = _write(book_dir, "two.md", _LIVE_FRONT,
                  body=f"## Hi\n\nText.\n\nMore text, then {expression} and the rest.\n")
    with pytest.raises(ContentError, match=re.escape(message)) as err:
        load_book(book_dir)
    assert err.value.path == str(path)
    # Ten lines of front matter between two "---", a blank line, then the body: line 18.
    assert err.value.field == "line 18", err.value.field


def test_a_live_number_in_a_heading_or_a_do_this_item_is_refused(book_dir):
    _write(book_dir, "two.md", _LIVE_FRONT, body="## Share {{ share_slow }}\n\nText.\n")
    with pytest.raises(ContentError, match="heading"):
        load_book(book_dir)
    _write(book_dir, "two.md", _LIVE_FRONT,
           body='## Hi\n\n!!! do-this "Do this"\n    - Keep it under {{ share_slow | %0 }}.\n')
    with pytest.raises(ContentError, match="Do this"):
        load_book(book_dir)


def test_a_bad_live_number_in_the_caption_names_its_line(book_dir):
    front = _LIVE_FRONT.replace("figure_caption: Try it.",
                                "figure_caption: Try {{ p99 }} it.")
    path = _write(book_dir, "two.md", front)
    with pytest.raises(ContentError, match="no metric 'p99'") as err:
        load_book(book_dir)
    assert (err.value.path, err.value.field) == (str(path), "line 8")


def test_a_bad_live_number_stops_the_process_at_startup(book_dir):
    import os
    import subprocess
    import sys

    _write(book_dir, "two.md", _LIVE_FRONT, body="## Hi\n\n{{ share_slower }}\n")
    env = {**os.environ, "MONOGRAPH_CONTENT_DIR": str(book_dir)}
    proc = subprocess.run([sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR,
                          env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "two.md: line 16: fanout has no metric 'share_slower'" in proc.stderr


def test_a_live_number_shows_the_figures_value_and_links_to_those_settings(book_dir, settings,
                                                                            client):
    _write(book_dir, "two.md", _LIVE_FRONT,
           body='## Hi\n\nSlow: {{ share_slow preset=Wide seed=7 | %1 }}; '
                'default: {{ share_slow }}; literal \\{{ braces }}.\n\n[[figure]]\n')
    settings.CONTENT_DIR = book_dir
    content.reset()
    html = client.get("/chapters/two/").content.decode()
    links = re.findall(r'<a class="live-number" href="([^"]+)"[^>]*>([^<]+)</a>', html)
    assert len(links) == 2, links
    (href, text), (default_href, default_text) = links
    path, _, rest = href.partition("?")
    query, _, anchor = rest.partition("#")
    assert (path, anchor) == ("/chapters/two/", "fig-fanout")
    assert "fanout=100" in query and "seed=7" in query
    # The value is what the figure's own JSON reports at exactly those settings.
    data = client.get(f"/simulations/fanout.json?{query.replace('&amp;', '&')}").json()
    assert text == f"{data['metrics']['share_slow']['value'] * 100:.1f} %"
    default = simulations.get("fanout").param("fanout").default  # nothing named: defaults
    assert f"fanout={default}&" in default_href.replace("&amp;", "&")
    assert default_text.endswith("%")
    assert "{{ braces }}" in html


def test_live_numbers_resolve_presets_against_the_figure_they_name(book_dir, settings, client):
    front = TWO_FIGURES.replace("    caption: Second.\n",
                                '    caption: "Second: {{ retries:amplification preset=Calm | .1f× }}."\n'
                                "    presets:\n      - {label: Calm, params: {load: 0.5}}\n"
                                "      - {label: Busy, params: {load: 0.9}}\n")
    _write(book_dir, "two.md", front,
           body='## A\n\nWide: {{ share_slow preset=Wide | %1 }}.\n\n[[figure]]\n\n## B\n\n'
                'Busy: {{ retries:amplification preset=Busy | .2f× }}.\n\n[[figure retries]]\n')
    settings.CONTENT_DIR = book_dir
    content.reset()
    page = content.book().by_slug["two"]
    assert [n.preset for n in page.live] == ["Wide", "Busy", "Calm"]
    html = client.get("/chapters/two/").content.decode().replace("&amp;", "&")
    hrefs = re.findall(r'<a class="live-number" href="([^"]+)"', html)
    # The first figure's number links to the plain chapter URL; the second figure's names it.
    assert hrefs[0].startswith("/chapters/two/?fanout=100&") and hrefs[0].endswith("#fig-fanout")
    assert hrefs[1].startswith("/chapters/two/?figure=retries&load=0.9&")
    assert any(h.startswith("/chapters/two/?figure=retries&load=0.5&") for h in hrefs[2:])
    # Following a link opens the chapter on that figure, not a redirect elsewhere.
    assert client.get(hrefs[1].partition("#")[0]).status_code == 200
    # A preset of the second figure is not one of the first's.
    _write(book_dir, "two.md", front, body="## A\n\n{{ share_slow preset=Busy }}\n\n[[figure]]\n\n"
                                           "[[figure retries]]\n")
    with pytest.raises(ContentError, match="unknown preset 'Busy'"):
        load_book(book_dir)
