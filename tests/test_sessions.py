"""Onboarding sessions: guides validated like content, live rooms, handouts, team checklist."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings

from monograph import content, guides, sessions
from monograph.content import ContentError, load_book

CONTENT = Path(settings.BASE_DIR) / "content"
BOOK = load_book(CONTENT)
GUIDES = guides.load_guides(CONTENT, BOOK)


# -- the guides in the repository ---------------------------------------------------------------
@pytest.mark.parametrize("guide", list(GUIDES.by_chapter.values()), ids=lambda g: g.chapter.slug)
def test_each_guide_plans_its_minutes_and_uses_the_chapters_presets_and_exercises(guide):
    assert sum(s.minutes for s in guide.steps) == guide.minutes
    kinds = {s.kind for s in guide.steps}
    assert {"story", "predict", "debrief", "checklist"} <= kinds, guide.chapter.slug
    for s in guide.steps:
        if s.preset:
            assert s.preset in {p.label for p in guide.chapter.figure(s.figure).presets}, s.title
    assert any(s.exercise for s in guide.steps)


@pytest.mark.parametrize("guide", list(GUIDES.by_chapter.values()), ids=lambda g: g.chapter.slug)
def test_each_guide_takes_the_room_through_every_figure_of_its_chapter(guide):
    used = {s.figure for s in guide.steps if s.preset}
    missing = [f.simulation for f in guide.chapter.figures if f.simulation not in used]
    assert not missing, f"{guide.path.name}: no step shows the {missing} figure (step field `figure`)"


def test_every_chapter_with_a_figure_has_a_facilitator_guide():
    with_figure = {p.slug for p in BOOK.pages if p.kind == "chapter" and p.simulation}
    missing = sorted(with_figure - set(GUIDES.by_chapter))
    assert not missing, f"chapters without a content/sessions/<slug>.yaml guide: {missing}"


def test_paths_cross_chapters_and_add_up():
    assert GUIDES.paths, "content/sessions/paths.yaml suggests no cross-chapter sessions"
    for p in GUIDES.paths:
        assert len(p.chapters) >= 2 and sum(c.minutes for c in p.chapters) == p.minutes


# -- malformed guides stop start-up naming the file and field -------------------------------------
GOOD = """chapter: one
minutes: 30
goals: [Understand one thing., Understand another.]
steps:
  - {title: Story, kind: story, minutes: 10}
  - {title: Guess, kind: predict, minutes: 10, preset: Small,
     predict: {question: "How many?", metric: share_slow, min: 0, max: 100}}
  - {title: Talk, kind: debrief, minutes: 10}
prompts:
  - {ask: "Why?", good_answer: Because.}
  - {ask: "How?", good_answer: Like so.}
misconceptions:
  - {belief: More is better., reality: Not always.}
"""


@pytest.fixture
def book_dir(tmp_path):
    d = tmp_path / "content"
    (d / "sessions").mkdir(parents=True)
    shutil.copy(CONTENT / "book.yaml", d / "book.yaml")
    (d / "one.md").write_text(
        "---\ntitle: One\nslug: one\npart: 2\norder: 1\nsummary: s\nsimulation: fanout\n"
        "figure_caption: Try it.\npresets:\n  - label: Small\n    params: {fanout: 2}\n"
        "  - label: Big\n    params: {fanout: 200}\n---\n\n## Try it together\n\n"
        "**1. A question?**\n\n??? answer \"Answer\"\n    An answer.\n", encoding="utf-8")
    return d


def _load(d: Path, text: str):
    (d / "sessions" / "one.yaml").write_text(text, encoding="utf-8")
    return guides.load_guides(d, load_book(d))


TWO_FIGURES = ("simulation: fanout\nfigure_caption: Try it.\npresets:\n  - label: Small\n"
               "    params: {fanout: 2}\n  - label: Big\n    params: {fanout: 200}\n",
               "figures:\n  - simulation: fanout\n    caption: Try it.\n    presets:\n"
               "      - label: Small\n        params: {fanout: 2}\n"
               "  - simulation: retries\n    caption: And this.\n    presets:\n"
               "      - label: Storm\n        params: {load: 0.9}\n")


@pytest.fixture
def two_figure_dir(book_dir):
    page = book_dir / "one.md"
    text = page.read_text().replace(*TWO_FIGURES)
    page.write_text(text.replace("## Try it together", "[[figure fanout]]\n\n[[figure retries]]\n\n"
                                                       "## Try it together"))
    return book_dir


def test_a_step_can_show_a_later_figure_of_its_chapter(two_figure_dir):
    text = GOOD.replace("{title: Talk, kind: debrief, minutes: 10}",
                        "{title: Talk, kind: explore, minutes: 10, figure: retries, preset: Storm}")
    g = _load(two_figure_dir, text).by_chapter["one"]
    assert [(s.figure, s.preset) for s in g.steps] == [(None, None), ("fanout", "Small"),
                                                       ("retries", "Storm")]
    assert g.figures_in_order == ["fanout", "retries"]


@pytest.mark.parametrize(("step", "field", "text"), [
    ("figure: spike, preset: Storm", "steps[2].figure",
     "has no figure 'spike' (its figures: fanout, retries)"),
    ("preset: Storm", "steps[2].preset", "unknown preset 'Storm' (the fanout figure has: Small"),
    ("figure: retries, preset: Small", "steps[2].preset",
     "unknown preset 'Small' (the retries figure has: Storm"),
])
def test_a_step_naming_the_wrong_figure_or_preset_names_the_field(two_figure_dir, step, field, text):
    bad = GOOD.replace("{title: Talk, kind: debrief, minutes: 10}",
                       "{title: Talk, kind: explore, minutes: 10, " + step + "}")
    with pytest.raises(ContentError, match=re.escape(text)) as err:
        _load(two_figure_dir, bad)
    assert err.value.field == field


def test_a_valid_guide_loads(book_dir):
    g = _load(book_dir, GOOD).by_chapter["one"]
    assert [s.kind for s in g.steps] == ["story", "predict", "debrief"]


@pytest.mark.parametrize(("change", "field", "text"), [
    (("minutes: 30", "minutes: 45"), "steps", "add up to 30, not 45"),
    (("preset: Small", "preset: Huge"), "steps[1].preset", "unknown preset 'Huge'"),
    (("metric: share_slow", "metric: warp"), "steps[1].predict.metric", "unknown metric 'warp'"),
    (("kind: story", "kind: lecture"), "steps[0].kind", "must be one of"),
    (("chapter: one", "chapter: two"), "chapter", "must match the file name"),
    (("min: 0, max: 100", "min: 5, max: 1"), "steps[1].predict.max", "min < max"),
    (("{title: Talk, kind: debrief, minutes: 10}",
      "{title: Talk, kind: exercise, minutes: 10, exercise: 4}"), "steps[2].exercise",
     "no exercise 4"),
    (("misconceptions:", "colour: red\nmisconceptions:"), "colour", "unknown field"),
])
def test_a_malformed_guide_names_the_file_and_field(book_dir, change, field, text):
    with pytest.raises(ContentError, match=re.escape(text)) as err:
        _load(book_dir, GOOD.replace(*change))
    assert err.value.field == field
    assert err.value.path.endswith("one.yaml")


# -- pages ------------------------------------------------------------------------------------------
def test_the_guide_page_shows_timings_goals_prompts_and_the_runs_true_values(client):
    html = client.get("/chapters/tail-latency/session/").content.decode()
    guide = GUIDES.by_chapter["tail-latency"]
    assert "0′–7′" in html and guide.goals[0] in html
    assert guide.prompts[0].good_answer.split(",")[0] in html
    assert "the run says" in html  # the prediction's answer, from the simulation


def test_a_guide_step_on_a_later_figure_links_and_checks_that_figure(client):
    guide = GUIDES.by_chapter["resilience"]
    later = next(s for s in guide.steps if s.predict and s.figure != guide.chapter.figures[0].simulation)
    step = next(d for d in sessions._steps(guide) if d["step"] is later)
    assert step["preset_query"].startswith(f"figure={later.figure}&")
    assert step["truth"] is not None and step["truth"]["label"]
    html = client.get("/chapters/resilience/session/").content.decode()
    assert f'href="/chapters/resilience/?figure={later.figure}&amp;' in html
    deck = client.get("/chapters/resilience/session/present/").content.decode()
    for fig in guide.chapter.figures:  # every figure is on the deck, only the first shown
        shown = fig is guide.chapter.figures[0]
        assert (f'class="present-figure" data-figure="{fig.simulation}">' in deck) is shown
        assert (f'class="present-figure" data-figure="{fig.simulation}" hidden>' in deck) is not shown
    assert f'data-figure="{later.figure}" data-preset-query="figure={later.figure}&amp;' in deck


def test_a_chapter_without_a_guide_and_a_missing_room_say_so(client):
    assert client.get("/chapters/introduction/session/").status_code == 404
    resp = client.get("/s/ZZZZZZ/")
    assert resp.status_code == 404 and "No live session" in resp.content.decode()
    resp = client.get("/s/?code=no!")
    assert resp.status_code == 400 and "is not a room code" in resp.content.decode()


def test_the_handout_has_no_answers_and_the_key_has_them(client):
    handout = client.get("/chapters/tail-latency/handout/").content.decode()
    key = client.get("/chapters/tail-latency/handout/answers/").content.decode()
    assert 'class="write-here"' in handout and 'class="answer"' not in handout
    assert 'class="answer"' in key and 'class="write-here"' not in key
    assert "/simulations/fanout.svg?" in handout


# -- live rooms -------------------------------------------------------------------------------------
@pytest.fixture
def room(client):
    resp = client.post("/chapters/tail-latency/session/live")
    assert resp.status_code == 302
    m = re.search(r"\?live=([A-Z0-9]{6})#key=([\w-]+)$", resp["Location"])
    assert m, resp["Location"]
    return m.group(1), m.group(2)


def _drive(client, code, key, **state):
    import json
    return client.post(f"/s/{code}/state.json", json.dumps(state),
                       content_type="application/json", headers={"X-Live-Key": key})


def test_only_the_key_holder_drives_and_followers_get_a_304_when_nothing_changed(client, room):
    code, key = room
    first = client.get(f"/s/{code}/state.json")
    assert first.status_code == 200 and first.json()["step"] == 1
    again = client.get(f"/s/{code}/state.json", headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304
    assert _drive(client, code, "wrong-key", step=2).status_code == 403
    assert _drive(client, code, key, step=99).status_code == 400
    assert _drive(client, code, key, step=2, query="fanout=100").status_code == 200
    changed = client.get(f"/s/{code}/state.json", headers={"If-None-Match": first["ETag"]})
    assert changed.status_code == 200 and changed.json()["query"] == "fanout=100"


def test_predictions_are_taken_only_when_asked_bounded_and_one_per_participant(client, room):
    code, key = room
    predict = 3  # the tail-latency guide's predict step
    assert client.post(f"/s/{code}/predict", {"pid": "abcdefgh", "value": "5"}).status_code == 409
    _drive(client, code, key, step=predict, predicting=True)
    assert client.post(f"/s/{code}/predict", {"pid": "abcdefgh", "value": "150"}).status_code == 400
    assert client.post(f"/s/{code}/predict", {"pid": "x", "value": "5"}).status_code == 400
    assert client.post(f"/s/{code}/predict", {"pid": "abcdefgh", "value": "10"}).status_code == 200
    assert client.post(f"/s/{code}/predict", {"pid": "abcdefgh", "value": "20"}).status_code == 429
    assert client.post(f"/s/{code}/predict", {"pid": "ijklmnop", "value": "62"}).status_code == 200
    seen = client.get(f"/s/{code}/predictions.json?step={predict}").json()
    assert seen["n"] == 2 and sum(seen["counts"]) == 2 and "truth" not in seen
    mine = client.get(f"/s/{code}/predictions.json?step={predict}",
                      headers={"X-Live-Key": key}).json()
    assert 0 < mine["truth"]["value"] <= 100  # share_slow at 100 backends, in %


def test_the_histogram_bins_span_the_declared_range():
    centres, counts = sessions.histogram([0, 4, 50, 99.9, 100], 0, 100, bins=4)
    assert centres == [12.5, 37.5, 62.5, 87.5] and counts == [2, 0, 1, 2]


# -- the team checklist -----------------------------------------------------------------------------
def test_the_pull_request_template_holds_only_the_ticked_items(client):
    page = BOOK.by_slug["tail-latency"]
    resp = client.get("/checklist/template.md?ticks=tail-latency:1,tail-latency:2")
    text = resp.content.decode()
    assert resp["Content-Type"].startswith("text/markdown")
    tasks = [line for line in text.splitlines() if line.startswith("- [ ] ")]
    assert len(tasks) == 2 and f"### {page.title}" in text
    bad = client.get("/checklist/template.md?ticks=tail-latency:99")
    assert bad.status_code == 400 and "tail-latency:99" in bad.json()["error"]


def test_the_team_template_and_the_repository_template_render_items_alike(client):
    from monograph.management.commands.pr_template import render

    text = client.get("/checklist/template.md?ticks=tail-latency:1").content.decode()
    line = next(x for x in text.splitlines() if x.startswith("- [ ] "))
    assert line in render().splitlines()


def test_content_reset_does_not_leave_stale_guides(settings, book_dir):
    (book_dir / "sessions" / "one.yaml").write_text(GOOD, encoding="utf-8")
    settings.CONTENT_DIR = book_dir
    content.reset()
    assert set(guides.guides().by_chapter) == {"one"}
