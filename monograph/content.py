"""The book's content: Markdown pages with front matter, validated and rendered once.

A page that fails validation stops the process at start-up with an error naming the
file and the field — never a half-rendered page in front of a reader.
"""

from __future__ import annotations

import html
import math
import re
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import markdown
import nh3
import yaml
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.urls import reverse

import simulations
from simulations import ParamError

from . import livenumbers, sweep_embeds

WORDS_PER_MINUTE = 230
SLUG_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
FIGURE_MARKER = "[[figure]]"
# `[[figure]]` places the first figure; `[[figure <simulation>]]` names one of several.
_MARKER_RE = re.compile(r"\[\[figure(?:[ \t]+([A-Za-z0-9_-]+))?[ \t]*\]\]")
_SLOT_RE = re.compile(r"<p>MONOGRAPHFIGURESLOT(\w*)</p>")
KINDS = ("chapter", "checklist", "page")  # page: standalone, no exercises or figure
FIELDS = {"title", "slug", "part", "order", "summary", "kind", "simulation",
          "planned_simulation", "figure_caption", "presets", "figures"}
FIGURE_FIELDS = {"simulation", "caption", "presets"}


class ContentError(ImproperlyConfigured):
    """A content file is invalid; the message names the file and the field."""

    def __init__(self, path: Path | str, field_name: str, message: str):
        self.path, self.field, self.detail = str(path), field_name, message
        super().__init__(f"{path}: {field_name}: {message}")


# -- data -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Part:
    id: int
    numeral: str
    title: str


@dataclass(frozen=True)
class Preset:
    label: str
    query: dict[str, str]  # every effective parameter, as URL text


@dataclass(frozen=True)
class Figure:
    """One live figure of a page: its simulation, caption and presets."""

    simulation: str
    caption: str
    presets: tuple[Preset, ...]
    caption_html: str = ""  # the caption, escaped, its live numbers as tokens (Page.live)


@dataclass(frozen=True)
class ChecklistItem:
    html: str
    must: bool


@dataclass(frozen=True)
class Page:
    slug: str
    title: str
    part: int
    order: int
    summary: str
    kind: str
    figures: tuple[Figure, ...]
    planned_simulation: str | None
    # The body in reading order: (html, slug of the figure placed after it, or None).
    # On the checklist page the slot named "" is where the collected items go.
    blocks: tuple[tuple[str, str | None], ...]
    toc: tuple[tuple[int, str, str], ...]
    words: int
    do_this: tuple[ChecklistItem, ...]
    path: Path
    sweeps: tuple[Any, ...] = ()  # live sweeps placed in the body (sweep_embeds.SweepEmbed)
    # Live numbers: the blocks and each figure's caption_html hold tokens that
    # livenumbers.fill() turns into values from the cached runs at render time.
    live: tuple[livenumbers.LiveNumber, ...] = ()

    @property
    def url(self) -> str:
        return reverse("checklist") if self.kind == "checklist" else reverse("chapter",
                                                                              args=[self.slug])

    @property
    def reading_minutes(self) -> int:
        return max(1, math.ceil(self.words / WORDS_PER_MINUTE))

    @property
    def has_figure(self) -> bool:
        return bool(self.figures)

    # The first figure, for single-figure code paths.
    @property
    def simulation(self) -> str | None:
        return self.figures[0].simulation if self.figures else None

    @property
    def figure_caption(self) -> str:
        return self.figures[0].caption if self.figures else ""

    @property
    def presets(self) -> tuple[Preset, ...]:
        return self.figures[0].presets if self.figures else ()

    @property
    def caption_html(self) -> str:
        return self.figures[0].caption_html if self.figures else ""

    def figure(self, simulation: str) -> Figure | None:
        return next((f for f in self.figures if f.simulation == simulation), None)

    @property
    def html_before(self) -> str:
        """The body up to the first slot."""
        return self.blocks[0][0] if self.blocks else ""

    @property
    def html_after(self) -> str:
        """The body after the first slot (later figures' places dropped)."""
        return "".join(html for html, _ in self.blocks[1:])


@dataclass
class Book:
    title: str
    subtitle: str
    parts: tuple[Part, ...]
    pages: tuple[Page, ...]
    by_slug: dict[str, Page] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_slug = {p.slug: p for p in self.pages}

    def part(self, part_id: int) -> Part | None:
        return next((p for p in self.parts if p.id == part_id), None)

    def neighbours(self, page: Page) -> tuple[Page | None, Page | None]:
        i = self.pages.index(page)
        prev = self.pages[i - 1] if i > 0 else None
        nxt = self.pages[i + 1] if i + 1 < len(self.pages) else None
        return prev, nxt

    def checklist_page(self) -> Page | None:
        return next((p for p in self.pages if p.kind == "checklist"), None)

    def chapters_for_simulation(self, slug: str) -> tuple[Page, ...]:
        """Every page showing a simulation's figure, in reading order."""
        return tuple(p for p in self.pages if p.figure(slug) is not None)

    def checklist(self) -> list[tuple[Page, tuple[ChecklistItem, ...]]]:
        """Every chapter's 'Do this' items, in reading order (the checklist page, the PR template)."""
        return [(p, p.do_this) for p in self.pages if p.do_this and p.kind == "chapter"]

    def chapter_for_simulation(self, slug: str) -> Page | None:
        """The first page (in reading order) showing a simulation's figure."""
        return next(iter(self.chapters_for_simulation(slug)), None)

    def presets_for_simulation(self, slug: str) -> tuple[Preset, ...]:
        """The presets of a simulation's figure in its first chapter (none without one)."""
        page = self.chapter_for_simulation(slug)
        spec = page.figure(slug) if page else None
        return spec.presets if spec else ()

    def contents(self) -> list[tuple[Part | None, list[Page]]]:
        """Pages grouped by part, in reading order; part 0 pages stand alone."""
        groups: list[tuple[Part | None, list[Page]]] = []
        for page in self.pages:
            part = self.part(page.part)
            if groups and part is not None and groups[-1][0] == part:
                groups[-1][1].append(page)
            else:
                groups.append((part, [page]))
        return groups


# -- rendering ------------------------------------------------------------------------------
_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "q", "s", "small", "span", "strong",
    "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}
_ALLOWED_ATTRS = {
    "*": {"class", "id", "title", "lang"},
    "a": {"href"},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "ol": {"start"},
    "details": {"open"},
}


def _sanitise(raw_html: str) -> str:
    """Strip scripts, event handlers, styles and javascript: links from rendered Markdown."""
    return nh3.clean(raw_html, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRS,
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer")


def _markdown() -> markdown.Markdown:
    return markdown.Markdown(
        extensions=["tables", "footnotes", "admonition", "pymdownx.details",
                    "pymdownx.superfences", "pymdownx.highlight", "toc", "sane_lists", "smarty"],
        extension_configs={
            "tables": {"use_align_attribute": True},
            "toc": {"permalink": "#", "permalink_title": "Link to this section",
                    "toc_depth": "2-3"},
            "pymdownx.highlight": {"css_class": "highlight", "guess_lang": False},
            "footnotes": {"BACKLINK_TITLE": "Back to the text"},
            "smarty": {"smart_angled_quotes": False},
        },
        output_format="html",
    )


_DO_THIS_START = re.compile(r'^!!!\s+do-this\b.*$', re.M)
_MUST = re.compile(r"^\[must\]\s*", re.I)


def _do_this_items(body: str, md: markdown.Markdown) -> tuple[ChecklistItem, ...]:
    """The list items of every 'Do this' callout, from the Markdown source."""
    items: list[tuple[str, bool]] = []
    for match in _DO_THIS_START.finditer(body):
        lines = body[match.end():].splitlines()[1:]
        current: list[str] = []
        for line in lines:
            if line.strip() and not line.startswith("    "):
                break
            text = line[4:]
            if text.startswith("- ") or text.startswith("* "):
                if current:
                    items.append(_item(current))
                current = [text[2:].strip()]
            elif current and text.strip():
                current.append(text.strip())
        if current:
            items.append(_item(current))
    out = []
    for text, must in items:
        md.reset()
        inner = md.convert(text)
        inner = re.sub(r"^<p>(.*)</p>$", r"\1", inner.strip(), flags=re.S)
        out.append(ChecklistItem(html=_sanitise(inner), must=must))
    return tuple(out)


def _item(lines: list[str]) -> tuple[str, bool]:
    text = " ".join(lines)
    must = bool(_MUST.match(text))
    return _MUST.sub("", text), must


def _mark_musts(body: str) -> str:
    """Turn '[must]' at the start of a list item into a visible badge."""
    return re.sub(r"^(\s*[-*]\s+)\[must\]\s*", r'\1<span class="must">must</span> ', body,
                  flags=re.M | re.I)


_TAG = re.compile(r"<[^>]+>")


def _count_words(rendered: str) -> int:
    text = re.sub(r"<pre.*?</pre>", " ", rendered, flags=re.S)
    text = html.unescape(_TAG.sub(" ", text))
    return len(re.findall(r"[A-Za-z0-9][\w'’.%-]*", text))


def _toc(md: markdown.Markdown) -> tuple[tuple[int, str, str], ...]:
    out = []

    def walk(tokens: list[dict[str, Any]]) -> None:
        for t in tokens:
            if t["level"] in (2, 3):
                out.append((t["level"], t["id"], html.unescape(_TAG.sub("", t["name"]))))
            walk(t.get("children", []))

    walk(getattr(md, "toc_tokens", []))
    return tuple(out)


# -- loading --------------------------------------------------------------------------------
def _front_matter(path: Path, text: str) -> tuple[dict[str, Any], str, int]:
    if not text.startswith("---\n"):
        raise ContentError(path, "front matter", "the file must start with a '---' line")
    end = text.find("\n---\n", 4)
    if end < 0:
        raise ContentError(path, "front matter", "no closing '---' line")
    try:
        meta = yaml.safe_load(text[4:end])
    except yaml.YAMLError as exc:
        raise ContentError(path, "front matter", f"not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ContentError(path, "front matter", "must be a mapping of field: value")
    return meta, text[end + 5:], text.count("\n", 0, end + 5) + 1


def _require(path: Path, meta: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in meta or meta[name] is None or meta[name] == "":
        raise ContentError(path, name, "is required")
    value = meta[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        want = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ContentError(path, name, f"must be a {want} (got {value!r})")
    return value


def _presets(path: Path, raw: Any, field_name: str, sim: simulations.Simulation | None
             ) -> tuple[Preset, ...]:
    raw = raw or []
    if not isinstance(raw, list):
        raise ContentError(path, field_name, "must be a list of {label, params}")
    out = []
    for i, entry in enumerate(raw):
        where = f"{field_name}[{i}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("label"), str):
            raise ContentError(path, where, "needs a 'label' text and 'params' mapping")
        params = entry.get("params") or {}
        if not isinstance(params, dict):
            raise ContentError(path, f"{where}.params", "must be a mapping of name: value")
        if sim is None:
            continue  # planned simulation: presets are kept for when it exists
        try:
            values, seed = sim.parse({str(k): v for k, v in params.items()})
        except ParamError as exc:
            raise ContentError(path, f"{where} ({entry['label']!r})", exc.message) from None
        out.append(Preset(label=entry["label"], query=sim.to_query(values, seed)))
    return tuple(out)


def _simulation(path: Path, field_name: str, slug: Any) -> simulations.Simulation:
    sim = simulations.get(str(slug))
    if sim is None:
        known = ", ".join(simulations.registry()) or "none yet"
        raise ContentError(
            path, field_name,
            f"unknown simulation {slug!r} (registered: {known}); use "
            "planned_simulation for one not built yet",
        )
    return sim


def _caption(path: Path, field_name: str, raw: Any) -> str:
    if raw is not None and not isinstance(raw, str):
        raise ContentError(path, field_name, "must be text")
    return (raw or "").strip()


def _figures(path: Path, meta: dict[str, Any]) -> tuple[Figure, ...]:
    """The page's figures: a `figures:` list, or the single-figure `simulation:` fields."""
    if "figures" not in meta:
        if meta.get("simulation") is None:
            return ()
        sim = _simulation(path, "simulation", meta["simulation"])
        return (Figure(simulation=sim.slug,
                       caption=_caption(path, "figure_caption", meta.get("figure_caption")),
                       presets=_presets(path, meta.get("presets"), "presets", sim)),)
    single = sorted({"simulation", "figure_caption", "presets"} & set(meta))
    if single:
        raise ContentError(path, single[0], "use either 'figures' or the single-figure "
                           "fields (simulation, figure_caption, presets), not both")
    raw = meta["figures"]
    if not isinstance(raw, list) or not raw:
        raise ContentError(path, "figures", "must be a list of {simulation, caption, presets}")
    out: list[Figure] = []
    for i, entry in enumerate(raw):
        where = f"figures[{i}]"
        if not isinstance(entry, dict):
            raise ContentError(path, where, "must be a mapping {simulation, caption, presets}")
        unknown = sorted(set(entry) - FIGURE_FIELDS)
        if unknown:
            raise ContentError(path, f"{where}.{unknown[0]}",
                               f"unknown field (allowed: {', '.join(sorted(FIGURE_FIELDS))})")
        if entry.get("simulation") is None:
            raise ContentError(path, f"{where}.simulation", "is required")
        sim = _simulation(path, f"{where}.simulation", entry["simulation"])
        if any(f.simulation == sim.slug for f in out):
            raise ContentError(path, f"{where}.simulation",
                               f"{sim.slug!r} is already a figure of this page (once per page)")
        out.append(Figure(simulation=sim.slug,
                          caption=_caption(path, f"{where}.caption", entry.get("caption")),
                          presets=_presets(path, entry.get("presets"), f"{where}.presets", sim)))
    return tuple(out)


def _slot(match: re.Match[str]) -> str:
    return f"\n\nMONOGRAPHFIGURESLOT{(match.group(1) or '').replace('-', '_')}\n\n"


def _blocks(path: Path, rendered: str, figures: tuple[Figure, ...], kind: str
            ) -> tuple[tuple[str, str | None], ...]:
    """Split the rendered body at its figure markers and check each names a figure."""
    pieces = _SLOT_RE.split(rendered)
    if not figures and kind != "checklist":
        # No figure (yet: a planned simulation): the text flows on where a marker sits.
        return (("".join(pieces[0::2]), None),)
    names = [n.replace("_", "-") for n in pieces[1::2]]
    known = [f.simulation for f in figures]
    default = known[0] if known else ""
    names = [n or default for n in names]
    for name in names:
        if name not in known and not (name == "" and kind == "checklist"):
            listed = ", ".join(known) or "none"
            raise ContentError(path, "body", f"[[figure {name}]] names no figure of this page "
                               f"(its figures: {listed})")
        if names.count(name) > 1:
            raise ContentError(path, "body", f"the figure {name or default!r} is placed twice")
    missing = [i for i, slug in enumerate(known) if slug not in names]
    if missing and len(known) > 1:
        i = missing[0]
        raise ContentError(path, f"figures[{i}]", "a page with several figures places each "
                           f"with a marker: add [[figure {known[i]}]] to the body")
    if known and not names:
        # One figure and no marker: place it after the first section.
        idx = rendered.find("<h2", 1)
        idx = rendered.find("<h2", idx + 1) if idx >= 0 else -1
        if idx > 0:
            return ((rendered[:idx], default), (rendered[idx:], None))
        return ((rendered, default),)
    out: list[tuple[str, str | None]] = []
    for i, name in enumerate(names):
        out.append((pieces[2 * i], name))
    out.append((pieces[-1], None))
    return tuple(out)


def preset_queries(figures: tuple[Figure, ...]) -> dict[str, dict[str, dict[str, str]]]:
    """Each figure's presets by label, the figures in page order (what live numbers resolve)."""
    return {f.simulation: {p.label: p.query for p in f.presets} for f in figures}


_CAPTION_LINE = re.compile(r"^\s*(?:-\s+)?(?:figure_caption|caption):")


def _tokenise_captions(text: str, figures: tuple[Figure, ...], start: int
                       ) -> tuple[tuple[Figure, ...], list[livenumbers.LiveNumber]]:
    """Each figure's caption with its live numbers as tokens (numbered from `start`)."""
    front = text.split("\n---\n", 1)[0].splitlines()
    lines = [i + 1 for i, line in enumerate(front) if _CAPTION_LINE.match(line)]
    queries = preset_queries(figures)
    out: list[Figure] = []
    live: list[livenumbers.LiveNumber] = []
    captioned = iter(lines)
    for fig in figures:
        line = next(captioned, 1) if fig.caption else 1
        caption_html, found = livenumbers.tokenise(html.escape(fig.caption, quote=False), line,
                                                   queries, start=start + len(live))
        live += found
        out.append(replace(fig, caption_html=caption_html))
    return tuple(out), live


def load_page(path: Path, parts: tuple[Part, ...], md: markdown.Markdown) -> Page:
    """Read, validate and render one page."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ContentError(path, "file", "is not UTF-8 text") from None
    meta, body, body_line = _front_matter(path, text)
    unknown = sorted(set(meta) - FIELDS)
    if unknown:
        raise ContentError(path, unknown[0], f"unknown field (allowed: {', '.join(sorted(FIELDS))})")
    title = _require(path, meta, "title", str)
    slug = _require(path, meta, "slug", str)
    if not SLUG_RE.match(slug):
        raise ContentError(path, "slug", f"{slug!r} must be lowercase words joined by '-'")
    if slug != path.stem:
        raise ContentError(path, "slug", f"{slug!r} must match the file name {path.stem!r}")
    part = meta.get("part")
    if not isinstance(part, int) or isinstance(part, bool):
        raise ContentError(path, "part", f"must be a part id from book.yaml or 0 (got {part!r})")
    if part != 0 and part not in {p.id for p in parts}:
        ids = ", ".join(str(p.id) for p in parts)
        raise ContentError(path, "part", f"unknown part {part} (book.yaml declares {ids}, or 0)")
    order = _require(path, meta, "order", int)
    summary = _require(path, meta, "summary", str).strip()
    kind = meta.get("kind", "chapter")
    if kind not in KINDS:
        raise ContentError(path, "kind", f"must be one of {', '.join(KINDS)} (got {kind!r})")

    figures = _figures(path, meta)
    planned = meta.get("planned_simulation")
    if planned is not None and (not isinstance(planned, str) or not SLUG_RE.match(planned)):
        raise ContentError(path, "planned_simulation", f"must be a slug (got {planned!r})")
    try:
        body, live = livenumbers.tokenise(body, body_line, preset_queries(figures))
        livenumbers.check_placement(body, body_line)
        figures, in_captions = _tokenise_captions(text, figures, start=len(live))
    except livenumbers.LiveNumberError as exc:
        raise ContentError(path, f"line {exc.line}", str(exc).partition(": ")[2]) from None
    live += in_captions

    body, sweeps = sweep_embeds.extract(path, body, text.count("\n") - body.count("\n") + 1)
    md.reset()
    rendered = md.convert(_MARKER_RE.sub(_slot, _mark_musts(body)))
    toc = _toc(md)
    # The checklist links back to each chapter's callout.
    rendered = rendered.replace('<div class="admonition do-this">',
                                '<div class="admonition do-this" id="do-this">', 1)
    rendered = sweep_embeds.insert(_sanitise(rendered), sweeps)
    # Code blocks scroll sideways on narrow screens: keyboard users must reach them.
    rendered = rendered.replace("<pre>", '<pre tabindex="0">')
    words = _count_words(_SLOT_RE.sub("", rendered))
    blocks = _blocks(path, rendered, figures, kind)

    do_this = _do_this_items(body, md)
    if any(livenumbers.TOKEN.search(item.html) for item in do_this):
        raise ContentError(path, "do-this", "a 'Do this' item cannot hold a live number "
                           "(the checklist collects habits, not results)")
    return Page(
        slug=slug, title=title.strip(), part=part, order=order, summary=summary, kind=kind,
        figures=figures, planned_simulation=planned, blocks=blocks,
        toc=toc, words=words, do_this=do_this, path=path, sweeps=sweeps, live=tuple(live),
    )


def load_book(directory: Path) -> Book:
    """Read book.yaml and every page in a folder; raise ContentError on the first problem."""
    book_file = directory / "book.yaml"
    if not directory.is_dir():
        raise ContentError(directory, "MONOGRAPH_CONTENT_DIR", "is not a folder")
    if not book_file.exists():
        raise ContentError(book_file, "file", "missing: the folder needs a book.yaml")
    try:
        meta = yaml.safe_load(book_file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ContentError(book_file, "file", f"not valid YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ContentError(book_file, "file", "must be a mapping")
    title = _require(book_file, meta, "title", str)
    raw_parts = meta.get("parts") or []
    if not isinstance(raw_parts, list):
        raise ContentError(book_file, "parts", "must be a list")
    parts = []
    for i, p in enumerate(raw_parts):
        if not (isinstance(p, dict) and isinstance(p.get("id"), int) and p["id"] > 0
                and isinstance(p.get("title"), str)):
            raise ContentError(book_file, f"parts[{i}]", "needs an id (whole number > 0) and a title")
        parts.append(Part(id=p["id"], numeral=str(p.get("numeral", p["id"])), title=p["title"]))
    if len({p.id for p in parts}) != len(parts):
        raise ContentError(book_file, "parts", "part ids must be unique")

    md = _markdown()
    pages: list[Page] = []
    seen: dict[str, Path] = {}
    orders: dict[int, Path] = {}
    for path in sorted(directory.glob("*.md")):
        page = load_page(path, tuple(parts), md)
        if page.slug in seen:
            raise ContentError(path, "slug", f"duplicate slug {page.slug!r} (also in {seen[page.slug]})")
        if page.order in orders:
            other = orders[page.order].name
            raise ContentError(path, "order", f"duplicate order {page.order} (also in {other})")
        seen[page.slug], orders[page.order] = path, path
        pages.append(page)
    if not pages:
        raise ContentError(directory, "content", "no .md pages found")
    if sum(p.kind == "checklist" for p in pages) > 1:
        raise ContentError(directory, "kind", "only one page may be the checklist")
    pages.sort(key=lambda p: p.order)
    return Book(title=title, subtitle=str(meta.get("subtitle", "")), parts=tuple(parts),
                pages=tuple(pages))


# -- the process-wide book ------------------------------------------------------------------
_lock = threading.Lock()
_state: dict[str, Any] = {"book": None, "stamp": None}


def _stamp(directory: Path) -> tuple:
    return tuple(sorted((p.name, p.stat().st_mtime_ns) for p in directory.iterdir()
                        if p.suffix in (".md", ".yaml")))


def book() -> Book:
    """The book, parsed once per process (and re-read on change when autoreload is on)."""
    directory = Path(settings.CONTENT_DIR)
    if _state["book"] is not None and not settings.CONTENT_AUTORELOAD:
        return _state["book"]
    with _lock:
        stamp = _stamp(directory) if settings.CONTENT_AUTORELOAD else None
        if _state["book"] is None or stamp != _state["stamp"]:
            _state["book"] = load_book(directory)
            _state["stamp"] = stamp
        return _state["book"]


def reset() -> None:
    """Forget the parsed book (tests use this after changing settings)."""
    _state["book"] = None
    _state["stamp"] = None
