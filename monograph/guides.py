"""Facilitator guides: a 60-minute session plan per chapter, and cross-chapter paths.

Each guide is a YAML file beside the chapters, `sessions/<chapter-slug>.yaml`, validated
when the book loads like every other content file (an error names the file and field and
stops start-up). `sessions/paths.yaml` lists suggested sessions that cross chapters. The
format is documented in docs/content-format.md ("Facilitator guides").
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings

from . import content
from .content import ContentError, Page

STEP_KINDS = ("story", "predict", "explore", "exercise", "debrief", "checklist")
GUIDE_FIELDS = {"chapter", "minutes", "goals", "steps", "prompts", "misconceptions"}
STEP_FIELDS = {"title", "kind", "minutes", "figure", "preset", "notes", "exercise", "predict"}
PREDICT_FIELDS = {"question", "metric", "min", "max", "choices"}
MAX_CHOICES = 6

_EXERCISE_RE = re.compile(
    r'<p><strong>(?P<n>\d+)\.\s*(?P<q>.*?)</strong></p>\s*<details class="answer">\s*'
    r"<summary>.*?</summary>(?P<a>.*?)</details>", re.S)


@dataclass(frozen=True)
class Exercise:
    """One 'Try it together' exercise of a chapter: its question and its answer (HTML)."""

    number: int
    question_html: str
    answer_html: str


@dataclass(frozen=True)
class Choice:
    label: str
    max: float  # the choice is right when the metric's value is ≤ max (and > the previous max)


@dataclass(frozen=True)
class Prediction:
    """Ask the room for a number (or a choice) before running: the truth is a metric's value."""

    question: str
    metric: str
    min: float
    max: float
    choices: tuple[Choice, ...] = ()

    def right_choice(self, value: float | None) -> int | None:
        """Index of the choice the metric's value falls in (choices are ordered by max)."""
        if value is None:
            return None
        for i, c in enumerate(self.choices):
            if value <= c.max:
                return i
        return len(self.choices) - 1 if self.choices else None


@dataclass(frozen=True)
class Step:
    title: str
    kind: str
    minutes: int
    notes: str
    preset: str | None  # a preset label of the step's figure
    exercise: Exercise | None
    predict: Prediction | None
    figure: str | None = None  # the simulation of the step's figure (with a preset: resolved)


@dataclass(frozen=True)
class Prompt:
    ask: str
    good_answer: str


@dataclass(frozen=True)
class Misconception:
    belief: str
    reality: str


@dataclass(frozen=True)
class Guide:
    chapter: Page
    minutes: int
    goals: tuple[str, ...]
    steps: tuple[Step, ...]
    prompts: tuple[Prompt, ...]
    misconceptions: tuple[Misconception, ...]
    path: Path

    @property
    def figures_in_order(self) -> list[str]:
        """The chapter's figures the steps click presets of, the first figure always first."""
        seen = [self.chapter.figures[0].simulation] if self.chapter.figures else []
        for s in self.steps:
            if s.figure and s.figure not in seen:
                seen.append(s.figure)
        return seen

    @property
    def presets_in_order(self) -> list[str]:
        seen: list[str] = []
        for s in self.steps:
            if s.preset and s.preset not in seen:
                seen.append(s.preset)
        return seen

    def start_minutes(self) -> list[int]:
        """Minute at which each step starts."""
        out, t = [], 0
        for s in self.steps:
            out.append(t)
            t += s.minutes
        return out


@dataclass(frozen=True)
class PathChapter:
    chapter: Page
    minutes: int
    focus: str


@dataclass(frozen=True)
class SessionPath:
    slug: str
    title: str
    minutes: int
    summary: str
    chapters: tuple[PathChapter, ...]


@dataclass(frozen=True)
class Guides:
    by_chapter: dict[str, Guide]
    paths: tuple[SessionPath, ...]


# -- parsing ----------------------------------------------------------------------------------
def exercises(page: Page) -> dict[int, Exercise]:
    """The chapter's 'Try it together' exercises, numbered as the chapter numbers them."""
    html = page.html_before + page.html_after
    start = html.find('id="try-it-together"')
    if start < 0:
        return {}
    end = html.find("<h2", start)
    section = html[start:end if end > 0 else len(html)]
    return {int(m["n"]): Exercise(int(m["n"]), m["q"].strip(), m["a"].strip())
            for m in _EXERCISE_RE.finditer(section)}


def _text(path: Path, where: str, value: Any, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise ContentError(path, where, "must be text")
    return value.strip()


def _int(path: Path, where: str, value: Any, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ContentError(path, where, f"must be a whole number from {lo} to {hi} (got {value!r})")
    return value


def _fields(path: Path, where: str, raw: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ContentError(path, where, "must be a mapping")
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ContentError(path, f"{where}.{unknown[0]}" if where else unknown[0],
                           f"unknown field (allowed: {', '.join(sorted(allowed))})")
    return raw


def _prediction(path: Path, where: str, raw: Any, metric_names: set[str]) -> Prediction:
    raw = _fields(path, where, raw, PREDICT_FIELDS)
    question = _text(path, f"{where}.question", raw.get("question"))
    metric = _text(path, f"{where}.metric", raw.get("metric"))
    if metric not in metric_names:
        raise ContentError(path, f"{where}.metric", f"unknown metric {metric!r} (the chapter's "
                                                    f"simulation reports {', '.join(sorted(metric_names))})")
    lo, hi = raw.get("min", 0), raw.get("max")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lo, hi)) \
            or not lo < hi:
        raise ContentError(path, f"{where}.max", "min and max must be numbers with min < max "
                                                 "(the range a guess may take)")
    choices: list[Choice] = []
    raw_choices = raw.get("choices") or []
    if not isinstance(raw_choices, list) or len(raw_choices) > MAX_CHOICES:
        raise ContentError(path, f"{where}.choices", f"must be a list of at most {MAX_CHOICES}")
    last = float("-inf")
    for i, c in enumerate(raw_choices):
        c = _fields(path, f"{where}.choices[{i}]", c, {"label", "max"})
        label = _text(path, f"{where}.choices[{i}].label", c.get("label"))
        top = c.get("max")
        if not isinstance(top, int | float) or isinstance(top, bool) or top <= last:
            raise ContentError(path, f"{where}.choices[{i}].max",
                               "must be a number above the previous choice's max")
        last = float(top)
        choices.append(Choice(label, float(top)))
    if raw_choices and len(choices) < 2:
        raise ContentError(path, f"{where}.choices", "a choice question needs at least two")
    return Prediction(question, metric, float(lo), float(hi), tuple(choices))


def load_guide(path: Path, book: content.Book, metric_names: dict[str, set[str]]) -> Guide:
    """Read and validate one facilitator guide."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ContentError(path, "file", f"not valid YAML: {exc}") from None
    raw = _fields(path, "", raw, GUIDE_FIELDS)
    slug = _text(path, "chapter", raw.get("chapter"))
    if slug != path.stem:
        raise ContentError(path, "chapter", f"{slug!r} must match the file name {path.stem!r}")
    page = book.by_slug.get(slug)
    if page is None or page.kind != "chapter":
        raise ContentError(path, "chapter", f"no chapter named {slug!r}")
    minutes = _int(path, "minutes", raw.get("minutes", 60), 15, 180)
    goals = raw.get("goals")
    if not isinstance(goals, list) or not 2 <= len(goals) <= 6:
        raise ContentError(path, "goals", "must list 2 to 6 learning goals")
    goal_texts = tuple(_text(path, f"goals[{i}]", g) for i, g in enumerate(goals))
    figure_names = [f.simulation for f in page.figures]
    exs = exercises(page)
    raw_steps = raw.get("steps")
    if not isinstance(raw_steps, list) or not 3 <= len(raw_steps) <= 20:
        raise ContentError(path, "steps", "must list 3 to 20 steps")
    steps = []
    for i, s in enumerate(raw_steps):
        where = f"steps[{i}]"
        s = _fields(path, where, s, STEP_FIELDS)
        kind = s.get("kind")
        if kind not in STEP_KINDS:
            raise ContentError(path, f"{where}.kind", f"must be one of {', '.join(STEP_KINDS)}"
                                                      f" (got {kind!r})")
        figure = s.get("figure", figure_names[0] if figure_names else None)
        if "figure" in s and figure not in figure_names:
            raise ContentError(path, f"{where}.figure", f"the chapter has no figure {figure!r} "
                                                        f"(its figures: {', '.join(figure_names)})")
        spec = page.figure(figure) if figure else None
        preset_labels = [p.label for p in spec.presets] if spec else []
        preset = s.get("preset")
        if preset is not None and preset not in preset_labels:
            raise ContentError(path, f"{where}.preset", f"unknown preset {preset!r} (the "
                                                        f"{figure} figure has: "
                                                        f"{'; '.join(preset_labels)})")
        exercise = None
        if "exercise" in s:
            n = _int(path, f"{where}.exercise", s["exercise"], 1, 20)
            if n not in exs:
                raise ContentError(path, f"{where}.exercise",
                                   f"the chapter has no exercise {n} (it has {sorted(exs)})")
            exercise = exs[n]
        elif kind == "exercise":
            raise ContentError(path, f"{where}.exercise", "an exercise step names the chapter's "
                                                          "exercise number")
        predict = None
        if "predict" in s:
            if preset is None:
                raise ContentError(path, f"{where}.preset", "a prediction needs a preset: the "
                                                            "run that gives the true value")
            predict = _prediction(path, f"{where}.predict", s["predict"],
                                  metric_names.get(figure or "", set()))
        elif kind == "predict":
            raise ContentError(path, f"{where}.predict", "a predict step needs a predict block")
        steps.append(Step(_text(path, f"{where}.title", s.get("title")), kind,
                          _int(path, f"{where}.minutes", s.get("minutes"), 1, 60),
                          _text(path, f"{where}.notes", s.get("notes"), required=False),
                          preset, exercise, predict, figure if preset else None))
    total = sum(s.minutes for s in steps)
    if total != minutes:
        raise ContentError(path, "steps", f"step minutes add up to {total}, not {minutes}")
    prompts = []
    for i, p in enumerate(raw.get("prompts") or []):
        p = _fields(path, f"prompts[{i}]", p, {"ask", "good_answer"})
        prompts.append(Prompt(_text(path, f"prompts[{i}].ask", p.get("ask")),
                              _text(path, f"prompts[{i}].good_answer", p.get("good_answer"))))
    if len(prompts) < 2:
        raise ContentError(path, "prompts", "must list at least 2 discussion prompts")
    wrong = []
    for i, m in enumerate(raw.get("misconceptions") or []):
        m = _fields(path, f"misconceptions[{i}]", m, {"belief", "reality"})
        wrong.append(Misconception(_text(path, f"misconceptions[{i}].belief", m.get("belief")),
                                   _text(path, f"misconceptions[{i}].reality", m.get("reality"))))
    if not wrong:
        raise ContentError(path, "misconceptions", "must list at least one common wrong intuition")
    return Guide(page, minutes, goal_texts, tuple(steps), tuple(prompts), tuple(wrong), path)


def load_paths(path: Path, book: content.Book) -> tuple[SessionPath, ...]:
    """Read and validate the suggested cross-chapter sessions."""
    if not path.exists():
        return ()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise ContentError(path, "file", f"not valid YAML: {exc}") from None
    raw = _fields(path, "", raw, {"paths"})
    out = []
    for i, p in enumerate(raw.get("paths") or []):
        where = f"paths[{i}]"
        p = _fields(path, where, p, {"slug", "title", "minutes", "summary", "chapters"})
        slug = _text(path, f"{where}.slug", p.get("slug"))
        if not content.SLUG_RE.match(slug):
            raise ContentError(path, f"{where}.slug", f"{slug!r} must be lowercase words and -")
        minutes = _int(path, f"{where}.minutes", p.get("minutes"), 15, 240)
        chapters = []
        for j, c in enumerate(p.get("chapters") or []):
            c = _fields(path, f"{where}.chapters[{j}]", c, {"chapter", "minutes", "focus"})
            page = book.by_slug.get(c.get("chapter"))
            if page is None or page.kind != "chapter":
                raise ContentError(path, f"{where}.chapters[{j}].chapter",
                                   f"no chapter named {c.get('chapter')!r}")
            chapters.append(PathChapter(page, _int(path, f"{where}.chapters[{j}].minutes",
                                                   c.get("minutes"), 5, 120),
                                        _text(path, f"{where}.chapters[{j}].focus", c.get("focus"))))
        if len(chapters) < 2:
            raise ContentError(path, f"{where}.chapters", "a path crosses at least two chapters")
        if sum(c.minutes for c in chapters) != minutes:
            raise ContentError(path, f"{where}.minutes", "the chapters' minutes must add up to it")
        out.append(SessionPath(slug, _text(path, f"{where}.title", p.get("title")), minutes,
                               _text(path, f"{where}.summary", p.get("summary")), tuple(chapters)))
    return tuple(out)


def load_guides(directory: Path, book: content.Book) -> Guides:
    """Every guide in `<content>/sessions/`, validated against the book it belongs to."""
    import simulations

    folder = directory / "sessions"
    if not folder.is_dir():
        return Guides({}, ())
    metric_names: dict[str, set[str]] = {}
    for page in book.pages:
        for fig in page.figures:
            sim = simulations.get(fig.simulation)
            if sim is not None and sim.slug not in metric_names:
                metric_names[sim.slug] = set(simulations.execute(sim, sim.defaults(), 42)["metrics"])
    by_chapter = {}
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "paths.yaml":
            continue
        guide = load_guide(path, book, metric_names)
        by_chapter[guide.chapter.slug] = guide
    return Guides(by_chapter, load_paths(folder / "paths.yaml", book))


# -- the process-wide guides --------------------------------------------------------------------
_lock = threading.Lock()
_state: dict[str, Any] = {"book": None, "guides": None}


def guides() -> Guides:
    """The guides for the current book (re-read whenever the book is)."""
    book = content.book()
    if _state["book"] is book:  # every page's context asks: no lock once loaded
        return _state["guides"]
    with _lock:
        if _state["book"] is not book:
            _state["guides"] = load_guides(Path(settings.CONTENT_DIR), book)
            _state["book"] = book
        return _state["guides"]
