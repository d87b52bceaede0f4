"""python manage.py export DIR [--overwrite] [--live-url URL] [--jobs N] — the book as a static site.

Every page (contents, chapters, checklist, gallery, labs) is rendered by the app itself,
with the figure swapped for a static one: preset buttons are links to pages rendered in
advance, one per preset, and each state's PNG, JSON and CSV are files beside them. Serve
DIR from the root of any static host (`python -m http.server -d DIR`); nothing else runs.
Images come from the one image renderer, several at a time.
"""

from __future__ import annotations

import json
import shutil
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import QueryDict
from django.test import Client, override_settings

import simulations

from ... import content, images, renderer, sims
from ...templatetags.export_tags import preset_path

EXPORT_TEMPLATES = Path(settings.BASE_DIR) / "templates" / "export"


@dataclass(frozen=True)
class Figure:
    """One state of one simulation to write as files: name is default or preset-N."""

    slug: str
    name: str
    query: dict[str, str]


def _templates(live: str) -> list[dict]:
    """The app's templates with the export's figure first, and the live URL in context."""
    engine = {**settings.TEMPLATES[0]}
    engine["DIRS"] = [EXPORT_TEMPLATES, *engine["DIRS"]]
    opts = {**engine["OPTIONS"]}
    opts["context_processors"] = [*opts["context_processors"],
                                  "monograph.management.commands.export.context"]
    engine["OPTIONS"] = opts
    return [engine]


_LIVE = {"url": ""}


def context(request) -> dict:
    return {"export": {"live": _LIVE["url"]}}


def _check_target(target: Path, overwrite: bool) -> None:
    if target.exists() and not target.is_dir():
        raise CommandError(f"{target} is a file: give a directory to write the site into")
    if target.exists() and any(target.iterdir()):
        if not overwrite:
            raise CommandError(f"{target} is not empty: choose an empty or new directory, "
                               "or pass --overwrite to replace what is there")
        protected = {Path("/"), Path.home().resolve(), Path(settings.BASE_DIR).resolve()}
        if target.resolve() in protected:
            raise CommandError(f"refusing to overwrite {target}: pick a dedicated directory")
        for child in target.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    target.mkdir(parents=True, exist_ok=True)


def _live_url(raw: str | None) -> str:
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CommandError(f"--live-url must be an absolute http(s) URL such as "
                           f"https://book.example.org (got {raw!r})")
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class Command(BaseCommand):
    help = "Write the whole book as a static site into DIR (pages, figure images and data)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("dir", type=Path, help="where to write the site (empty or new)")
        parser.add_argument("--overwrite", action="store_true",
                            help="replace the contents of a non-empty DIR")
        parser.add_argument("--live-url", default=None,
                            help="the live site's address, linked from every figure")
        parser.add_argument("--jobs", type=int, default=3,
                            help="images drawn at once by the renderer (default 3)")

    def handle(self, *args, **opts) -> None:
        # An export is an offline batch job with nobody waiting: the server's admission
        # limits (deadlines, per-client budgets) would only make it fail half-way.
        admission = {**getattr(settings, "ADMISSION", {}), "enabled": False}
        with override_settings(ADMISSION=admission):
            self._export(**opts)

    def _export(self, **opts) -> None:
        started = time.perf_counter()
        target: Path = opts["dir"]
        live = _live_url(opts["live_url"])
        if opts["jobs"] < 1:
            raise CommandError("--jobs must be at least 1")
        _check_target(target, opts["overwrite"])
        call_command("collectstatic", interactive=False, verbosity=0)
        shutil.copytree(settings.STATIC_ROOT, target / "static")

        _LIVE["url"] = live
        host = urlsplit(live).netloc if live else "localhost"
        book = content.book()
        figures: list[Figure] = []
        with override_settings(TEMPLATES=_templates(live), ALLOWED_HOSTS=[host]):
            client = Client(HTTP_HOST=host)
            pages = self._pages(book)
            for path, url in pages:
                self._page(client, target, path, url)
            self._files(client, target)
            for slug in simulations.registry():
                figures += self._figures(book, slug)
            for fig in figures:
                self._data(client, target, fig)
            missing = client.get("/export-404-page/")
            (target / "404.html").write_bytes(missing.content)
        n_images = self._images(target, figures, live, opts["jobs"])
        elapsed = time.perf_counter() - started
        self.stdout.write(self.style.SUCCESS(
            f"wrote {len(pages)} pages, {len(figures)} figure states ({n_images} images) to "
            f"{target} in {elapsed:.1f} s"))

    # -- pages --------------------------------------------------------------------------------
    def _pages(self, book: content.Book) -> list[tuple[str, str]]:
        """(where to write, what to request) for every page, preset pages included."""
        out = [("/", "/"), ("/simulations/", "/simulations/")]
        for page in book.pages:
            out.append((page.url, page.url))
            for n, fig in enumerate(page.figures):
                named = {"figure": fig.simulation} if n else {}  # as the live page's links
                out += [(preset_path(page.url, fig.simulation, i),
                         f"{page.url}?{urlencode({**named, **p.query})}")
                        for i, p in enumerate(fig.presets, start=1)]
        for slug in simulations.registry():
            lab = f"/simulations/{slug}/"
            out += [(lab, lab), (f"{lab}embed/", f"{lab}embed?controls=0")]
            out += [(preset_path(lab, slug, i), f"{lab}?{urlencode(p.query)}")
                    for i, p in enumerate(book.presets_for_simulation(slug), start=1)]
        return out

    def _page(self, client: Client, target: Path, path: str, url: str) -> None:
        resp = client.get(url)
        if resp.status_code != 200:
            raise CommandError(f"{url} answered {resp.status_code}: {resp.content[:300]!r}")
        out = target / path.strip("/") / "index.html"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(resp.content)

    def _files(self, client: Client, target: Path) -> None:
        """The API description and the version probe the footer links to."""
        for path, name in (("/api/openapi.json", "api/openapi.json"), ("/healthz", "healthz")):
            out = target / name
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(client.get(path).content)

    # -- figures --------------------------------------------------------------------------------
    def _figures(self, book: content.Book, slug: str) -> list[Figure]:
        sim = simulations.get(slug)
        assert sim is not None
        default = sim.to_query(sim.defaults(), simulations.SEED.default)
        presets = book.presets_for_simulation(slug)
        found = [Figure(slug, "default", default)]
        for i, p in enumerate(presets, start=1):
            found.append(Figure(slug, f"preset-{i}", dict(p.query)))
        return found

    def _state(self, fig: Figure) -> sims.State:
        sim = simulations.get(fig.slug)
        assert sim is not None
        state = sims.resolve(sim, QueryDict(urlencode(fig.query)))
        if state.first_problem is not None:
            raise CommandError(f"{fig.slug} {fig.name}: {state.first_problem.message}")
        return state

    def _data(self, client: Client, target: Path, fig: Figure) -> None:
        folder = target / "simulations" / fig.slug
        folder.mkdir(parents=True, exist_ok=True)
        qs = urlencode(fig.query)
        for ext in ("json", "csv"):
            resp = client.get(f"/simulations/{fig.slug}.{ext}?{qs}")
            if resp.status_code != 200:
                raise CommandError(f"{fig.slug}.{ext}?{qs} answered {resp.status_code}")
            (folder / f"{fig.name}.{ext}").write_bytes(resp.content)
            if fig.name == "default":  # what /simulations/<slug>.json links point at
                (folder.parent / f"{fig.slug}.{ext}").write_bytes(resp.content)

    def _images(self, target: Path, figures: list[Figure], live: str, jobs: int) -> int:
        def draw(fig: Figure) -> None:
            data = images.image(self._state(fig), "png", images.Look(), live)
            (target / "simulations" / fig.slug / f"{fig.name}.png").write_bytes(data)

        try:
            with ThreadPoolExecutor(jobs) as pool:
                list(pool.map(draw, figures))
        except renderer.RendererDown as exc:
            raise CommandError(f"images could not be drawn: {exc}") from None
        manifest = {f"{f.slug}/{f.name}": f.query for f in figures}
        (target / "simulations" / "states.json").write_text(json.dumps(manifest, indent=1))
        return len(figures)
