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

# The book's plan (content/book.yaml): four parts, the chapters, an introduction and a checklist.
EXPECTED = ["introduction", "reproducibility", "data-contracts", "skew", "tail-latency", "cost",
            "resilience", "observability", "drift", "deployment", "launch-gates", "ownership",
            "checklist"]


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
    slug = page.simulation or page.planned_simulation
    assert slug, f"{page.slug}: simulation or planned_simulation is required"
    if page.simulation:
        assert 2 <= len(page.presets) <= 5
        assert page.figure_caption


def test_presets_name_only_declared_parameters():
    # load_book already validates presets through each simulation's own parse();
    # this checks the loader's result against the declarations independently.
    for page in BOOK.pages:
        if page.simulation:
            declared = {p.name for p in simulations.get(page.simulation).all_params}
            for preset in page.presets:
                assert set(preset.query) <= declared


def test_every_simulation_is_placed_in_exactly_one_chapter():
    placed = [p.simulation for p in BOOK.pages if p.simulation]
    assert {p.simulation: p.slug for p in BOOK.pages if p.simulation}["fanout"] == "tail-latency"
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
