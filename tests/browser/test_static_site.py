"""The static export read in a browser with no app running: a plain static file server."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import override_settings
from django.utils.html import escape

from devtools import localserver
from monograph import content

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """The whole book exported (~20 s: every preset's image is drawn), for the one test below
    (one test, so one xdist worker builds it: with pytest 9.2 xdist's `loadgroup` no longer
    keeps two tests on one worker, and each built its own export, measured)."""
    out = tmp_path_factory.mktemp("site")
    # The export collects static files first: into a folder of its own, not the staticfiles/
    # the other test worker's server is serving (rewritten mid-response, a script arrived
    # truncated: ERR_CONTENT_LENGTH_MISMATCH).
    with override_settings(STATIC_ROOT=str(tmp_path_factory.mktemp("static"))):
        call_command("export", str(out), "--overwrite", "--live-url", "https://book.example.org")
    return out


@contextlib.contextmanager
def static_server(root: Path) -> Iterator[str]:
    port = localserver.free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", localserver.HOST,
         "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://{localserver.HOST}:{port}"
    try:
        for _ in range(100):
            with contextlib.suppress(OSError):
                urllib.request.urlopen(f"{url}/", timeout=1).close()
                break
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_the_export_reads_and_switches_presets_with_only_a_static_server(exported, new_context):
    # One test, so one worker builds the export and the other is not left waiting for it.
    each_figure_of_a_multi_figure_chapter_gets_its_own_preset_pages(exported)
    chapter = next(p for p in content.book().pages if p.simulation and len(p.presets) >= 2)
    slug = chapter.simulation
    with static_server(exported) as base:
        page = new_context().new_page()
        page.goto(f"{base}{chapter.url}")
        page.wait_for_selector(f"#chart-{slug}[data-drawn]", state="attached")
        assert page.locator("h1").inner_text() == chapter.title
        assert page.locator(f"#fig-{slug} form").count() == 0  # no sliders without a server
        before = page.locator(f"#result-{slug} .summary").inner_text()
        preset = chapter.presets[1]
        page.get_by_role("link", name=preset.label, exact=True).click()
        page.wait_for_url(f"**{chapter.url}preset-2/**")
        page.wait_for_selector(f"#chart-{slug}[data-drawn]", state="attached")
        current = page.locator(f"#fig-{slug} .presets [aria-current]")
        assert current.inner_text() == preset.label
        assert page.locator(f"#result-{slug} .summary").inner_text() != before
        live = page.locator(f"#fig-{slug} a.live-link").get_attribute("href")
        assert live.startswith(f"https://book.example.org{chapter.url}?")
        png = page.locator(f"#fig-{slug} .share-links a", has_text="PNG").get_attribute("href")
        with urllib.request.urlopen(f"{base}{png}") as resp:
            assert resp.read(8) == b"\x89PNG\r\n\x1a\n"


def each_figure_of_a_multi_figure_chapter_gets_its_own_preset_pages(exported: Path) -> None:
    chapter = next(p for p in content.book().pages if len(p.figures) >= 2 and p.figures[1].presets)
    for fig in chapter.figures[1:]:
        slug = fig.simulation
        for i, preset in enumerate(fig.presets, start=1):
            html = (exported / chapter.url.strip("/") / f"{slug}-preset-{i}" / "index.html"
                    ).read_text()
            current = html[html.index(f'id="fig-{slug}"'):].split("aria-current", 1)[1]
            assert current.split("</a>", 1)[0].endswith(f">{escape(preset.label)}"), (slug, i)
