"""Accessibility as a reader meets it: dark theme, narrow and wide windows, and axe-core's
automated checks (keyboard only and visible focus: test_figures.py, on every lab).

axe-core is used by these tests only (never served to readers): devtools/axe.py fetches it
from the npm registry into the pytest cache on first use and checks its sha256.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools import axe, vendor

pytestmark = pytest.mark.browser


# -- keyboard ---------------------------------------------------------------------------------
# Tab reaching every control of each figure with visible focus, and the main slider moved by
# arrow keys, are steps of test_figures.py's one flow per simulation (one page load each).


# -- theme and layout -------------------------------------------------------------------------
_BACKGROUND_LUMINANCE = """
() => {
  const pick = el => getComputedStyle(el).backgroundColor;
  let c = pick(document.body);
  if (c === "rgba(0, 0, 0, 0)" || c === "transparent") c = pick(document.documentElement);
  const [r, g, b] = c.match(/[\\d.]+/g).map(Number);
  const lin = v => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
  return 0.2126 * lin(r) + 0.7152 * lin(g) + 0.0722 * lin(b);
}
"""


def test_dark_system_theme_gives_a_dark_page_and_the_toggle_is_remembered(new_context):
    page = new_context(color_scheme="dark").new_page()
    page.goto("/")
    assert page.evaluate(_BACKGROUND_LUMINANCE) < 0.1, "a dark system theme should give a dark page"

    page.click("#theme-toggle")
    assert page.get_attribute("html", "data-theme") == "light"
    assert page.evaluate(_BACKGROUND_LUMINANCE) > 0.6, "the toggle should switch to light"
    page.reload()
    assert page.get_attribute("html", "data-theme") == "light", "the choice was forgotten"
    assert page.evaluate(_BACKGROUND_LUMINANCE) > 0.6

    page.click("#theme-toggle")
    page.reload()
    assert page.evaluate(_BACKGROUND_LUMINANCE) < 0.1
    assert page.get_attribute("#theme-toggle", "aria-pressed") == "true"


LAYOUT_PAGES = {
    "contents": lambda site: ("/", None),
    "chapter with a figure": lambda site: (site.chapter_with_figure(), site.featured_sim()),
    "lab": lambda site: (f"/simulations/{site.featured_sim()}/", site.featured_sim()),
}
_OVERFLOWING = """
() => {
  const w = document.documentElement.clientWidth;
  return Array.from(document.querySelectorAll("body *"))
    .filter(el => el.getBoundingClientRect().right > w + 1)
    .slice(0, 8).map(el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "")
                     + (el.className && el.className.baseVal === undefined ? "." + el.className : "")
                     + " right=" + Math.round(el.getBoundingClientRect().right));
}
"""


@pytest.mark.parametrize("width", [700, 1920])
@pytest.mark.parametrize("kind", LAYOUT_PAGES)
def test_no_horizontal_overflow(new_context, figures, site, kind, width):
    page = new_context(viewport={"width": width, "height": 900}).new_page()
    url, slug = LAYOUT_PAGES[kind](site)
    if slug:
        figures.open(page, url, slug)
    else:
        page.goto(url)
    scroll, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert scroll <= client + 1, (
        f"{url} at {width} px scrolls sideways ({scroll} > {client}): {page.evaluate(_OVERFLOWING)}")


# -- axe-core -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def axe_source(pytestconfig: pytest.Config) -> str:
    """axe.min.js, downloaded once into the pytest cache and verified."""
    try:
        return axe.source(Path(pytestconfig.cache.mkdir("devtools")))
    except vendor.VendorError as exc:
        pytest.fail(str(exc), pytrace=False)


# The page's CSP allows scripts from 'self' only, so add_script_tag(content=…) (an inline
# script) would be blocked, and page.evaluate(source) would work only because DevTools
# bypasses CSP. Instead axe is served at a same-origin URL by route interception: it loads
# like any of the site's own scripts, under the real CSP, and the watch still sees it all.
AXE_PAGES = {
    "contents": lambda site: ("/", None),
    "chapter with a figure": lambda site: (site.chapter_with_figure(), site.featured_sim()),
    "lab": lambda site: (f"/simulations/{site.featured_sim()}/", site.featured_sim()),
    "checklist": lambda site: ("/checklist/", None),
    "chapter with two figures": lambda site: _two_figure_chapter(),
}


def _two_figure_chapter() -> tuple[str, str]:
    """A chapter with more than one live figure (its ids must not collide), and its last."""
    from monograph import content

    page = next(p for p in content.book().pages if len(p.figures) > 1)
    return page.url, page.figures[-1].simulation


@pytest.mark.parametrize("kind", AXE_PAGES)
def test_axe_finds_no_serious_or_critical_violation(page, figures, site, axe_source, kind):
    page.route(f"**{axe.AXE_PATH}", lambda route: route.fulfill(
        body=axe_source, content_type="application/javascript; charset=utf-8"))
    url, slug = AXE_PAGES[kind](site)
    if slug:
        figures.open(page, url, slug)
    else:
        page.goto(url)
    page.add_script_tag(url=axe.AXE_PATH)
    violations = page.evaluate(axe.RUN_AXE)
    bad = [v for v in violations if v["impact"] in ("serious", "critical")]
    assert not bad, f"axe-core {axe.AXE_VERSION} on {url}:\n" + "\n".join(
        f"  {v['impact']} {v['id']}: {v['help']}\n" + "\n".join(
            f"    {n['target']}: {n['summary']}" for n in v["nodes"][:6])
        for v in bad)
