"""Accessibility as a reader meets it: keyboard only, visible focus, dark theme, narrow and wide
windows, and axe-core's automated checks.

axe-core is used by these tests only (never served to readers): devtools/axe.py fetches it
from the npm registry into the pytest cache on first use and checks its sha256.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import simulations
from devtools import axe, vendor

pytestmark = pytest.mark.browser

SIMS = simulations.registry()
SLUGS = list(SIMS)


# -- keyboard ---------------------------------------------------------------------------------
# Marks every control of the figure a keyboard user must reach; returns their descriptions.
_MARK_CONTROLS = """
slug => {
  const fig = document.getElementById("fig-" + slug);
  const sel = "a[href], button, input:not([type=hidden]), select, textarea, summary, "
            + "[tabindex]:not([tabindex='-1'])";
  // checkVisibility: rendered, not visibility:hidden, not inside a closed <details>.
  const visible = el => el.checkVisibility({visibilityProperty: true});
  return Array.from(fig.querySelectorAll(sel)).filter(el => !el.disabled && visible(el))
    .map((el, i) => { el.setAttribute("data-kb", String(i));
                      return el.id || el.className || el.tagName.toLowerCase(); });
}
"""
_FOCUSED = """
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return null;
  const style = getComputedStyle(el);
  return {kb: el.getAttribute("data-kb"), what: el.id || el.className || el.tagName,
          focusVisible: el.matches(":focus-visible"), outline: style.outlineStyle,
          outlineWidth: style.outlineWidth};
}
"""


@pytest.mark.parametrize("slug", SLUGS)
def test_tab_reaches_every_control_of_a_figure_with_visible_focus(page, figures, slug):
    figures.open(page, f"/simulations/{slug}/", slug)
    controls = page.evaluate(_MARK_CONTROLS, slug)
    assert controls, "the figure has no focusable control"
    page.locator("body").focus()
    reached: set[str] = set()
    invisible: list[str] = []
    total = page.evaluate("document.querySelectorAll('a[href], button, input, select, summary, "
                          "[tabindex]').length")
    for _ in range(total + 5):
        page.keyboard.press("Tab")
        focused = page.evaluate(_FOCUSED)
        if not focused or focused["kb"] is None:
            if reached:
                break  # Tab has left the figure: every control after it was passed
            continue
        reached.add(focused["kb"])
        if not focused["focusVisible"] or focused["outline"] == "none" \
                or focused["outlineWidth"] == "0px":
            invisible.append(f"{focused['what']} (outline {focused['outline']} "
                             f"{focused['outlineWidth']})")
    missed = [c for i, c in enumerate(controls) if str(i) not in reached]
    assert not missed, f"Tab never reached: {missed}"
    assert not invisible, f"focus is not visible on: {invisible}"


@pytest.mark.parametrize("slug", SLUGS)
def test_the_main_slider_is_operable_by_arrow_keys(page, figures, slug):
    main = SIMS[slug].main_param
    figures.open(page, f"/simulations/{slug}/", slug)
    slider = page.locator(f"#sl-{slug}-{main}")
    number = page.locator(f"#in-{slug}-{main}")
    start_pos, start_value = float(slider.input_value()), float(number.input_value())
    before = figures.probe(page)
    slider.focus()
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    up_pos = float(slider.input_value())
    assert up_pos > start_pos, "→ did not move the slider up"
    assert float(number.input_value()) > start_value, "the number box did not follow the slider"
    page.keyboard.press("ArrowLeft")
    assert float(slider.input_value()) < up_pos, "← did not move the slider down"
    figures.wait_redrawn(page, slug, before)
    assert figures.query(page)[main] == number.input_value()


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
}


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
