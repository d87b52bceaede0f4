"""Live figures, as a reader uses them: sliders, permalinks, presets, seeds, bad values, no JS.

Every registered simulation is exercised on its lab page; one is also driven on its chapter
page, where the permalink must stay the chapter's URL.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

import simulations
from simulations import ParamError

pytestmark = pytest.mark.browser

SIMS = simulations.registry()
SLUGS = list(SIMS)


def lab(slug: str) -> str:
    return f"/simulations/{slug}/"


def move_main_slider(page, slug: str, presses: int = 5) -> str:
    """Press → on the main slider (← if it is already at its top); return the new value."""
    main = SIMS[slug].main_param
    slider = page.locator(f"#sl-{slug}-{main}")
    number = page.locator(f"#in-{slug}-{main}")
    before = number.input_value()
    slider.focus()
    for _ in range(presses):
        page.keyboard.press("ArrowRight")
    if number.input_value() == before:
        for _ in range(presses):
            page.keyboard.press("ArrowLeft")
    after = number.input_value()
    assert after != before, f"arrow keys did not move #sl-{slug}-{main} (value {before})"
    return after


def slider_value(page, slug: str, name: str) -> float:
    """The value a slider stands for (log-scale sliders hold log10 of it)."""
    slider = page.locator(f"#sl-{slug}-{name}")
    pos = float(slider.input_value())
    return 10**pos if slider.get_attribute("data-scale") == "log" else pos


# -- one flow per simulation ----------------------------------------------------------------
# A reader's session on one lab, checked step by step on one page load (a page load, with
# plotly.js parsed and the first chart drawn, was most of the time of each of the eight
# tests these steps used to be). Each step is a function named after what it checks, so a
# failure's traceback says which one broke; the steps that move the state run after those
# that read it, and the refused value runs last (the 400 it provokes is allowed from then on,
# so no earlier step's page could hide one).
@pytest.mark.parametrize("slug", SLUGS)
def test_a_lab_is_driven_by_keyboard_sliders_permalinks_presets_and_seeds_and_refuses_bad_values(
        page, figures, watch, slug):
    the_embed_page_loads_clean(page, figures, slug)
    figures.open(page, lab(slug), slug)
    tab_reaches_every_control_of_the_figure_with_visible_focus(page, slug)
    the_main_slider_is_operable_by_arrow_keys(page, figures, slug)
    moving_the_main_slider_redraws_and_the_permalink_restores_it(page, figures, slug)
    new_seed_reruns_with_a_new_seed_in_the_url(page, figures, slug)
    a_preset_link_sets_every_value_it_names(page, figures, slug)
    # The refused request is a 400, which Chromium logs as a failed resource load.
    watch.allow_console(r"status of 400")
    an_invalid_value_shows_the_error_inline_and_keeps_the_last_good_chart(page, figures, slug)


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


def tab_reaches_every_control_of_the_figure_with_visible_focus(page, slug: str) -> None:
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


def the_main_slider_is_operable_by_arrow_keys(page, figures, slug: str) -> None:
    main = SIMS[slug].main_param
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


def moving_the_main_slider_redraws_and_the_permalink_restores_it(page, figures, slug: str) -> None:
    main = SIMS[slug].main_param
    chart = page.locator(f"#chart-{slug}")
    drawn = chart.get_attribute("data-drawn")
    metrics = figures.metrics(page, slug)
    before = figures.probe(page)

    value = move_main_slider(page, slug)
    figures.wait_redrawn(page, slug, before)

    assert chart.get_attribute("data-drawn") != drawn, "the chart was not redrawn"
    assert figures.metrics(page, slug) != metrics, "the metrics table did not change"
    assert figures.query(page).get(main) == value, f"{page.url} does not carry {main}={value}"
    assert page.url.split("?")[0].endswith(lab(slug)), "the permalink must be the page URL"

    # The URL is the state: reloading it shows the same settings and the same numbers.
    moved_metrics = figures.metrics(page, slug)
    figures.open(page, page.url, slug)
    assert page.input_value(f"#in-{slug}-{main}") == value
    assert slider_value(page, slug, main) == pytest.approx(float(value), rel=1e-3)
    assert figures.metrics(page, slug) == moved_metrics


def a_preset_link_sets_every_value_it_names(page, figures, slug: str) -> None:
    """Runs when the chapter declares a preset other than the current state (the lab's
    defaults may equal one of them; then another is chosen)."""
    presets = page.locator(f"#fig-{slug} a.preset")
    inactive = [i for i in range(presets.count())
                if presets.nth(i).get_attribute("aria-current") is None]
    if not inactive:
        return  # the chapter declares no presets (or only the current state): nothing to set
    preset = presets.nth(inactive[0])
    href = preset.get_attribute("href") or ""
    query = dict(parse_qsl(urlsplit(href).query, keep_blank_values=True))
    query.pop("mv", None)  # the model version: in the URL, not a control
    before = figures.probe(page)
    preset.click()
    figures.wait_redrawn(page, slug, before)

    url_query = figures.query(page)
    for name, want in query.items():
        field = page.locator(f"#form-{slug} [name='{name}']:not([type=hidden]):not(button)")
        if field.get_attribute("type") == "checkbox":
            assert field.is_checked() == (want == "1"), f"preset left {name} unchanged"
        else:
            assert field.input_value() == want, f"preset set {name}={field.input_value()}"
        assert url_query.get(name) == want, f"{page.url} does not carry {name}={want}"
    assert preset.get_attribute("aria-current") == "true", "the chosen preset is not marked"
    figures.open(page, page.url, slug)  # the permalink of a preset shows it as chosen
    assert presets.nth(inactive[0]).get_attribute("aria-current") == "true"


def new_seed_reruns_with_a_new_seed_in_the_url(page, figures, slug: str) -> None:
    seed_input = page.locator(f"#in-{slug}-seed")
    old = seed_input.input_value()
    before = figures.probe(page)
    page.click(f"#fig-{slug} button.new-seed")
    figures.wait_redrawn(page, slug, before)

    new = seed_input.input_value()
    assert new != old, "New seed kept the same seed"
    assert figures.query(page).get("seed") == new
    assert f"seed {new}" in page.inner_text(f"#result-{slug} .provenance")


def the_embed_page_loads_clean(page, figures, slug: str) -> None:
    """The embeddable figure, under the same watch (no console error, CSP violation or
    foreign request); test_reading.py loads every other kind of page the same way."""
    figures.load_clean(page, f"/simulations/{slug}/embed")


def an_invalid_value_shows_the_error_inline_and_keeps_the_last_good_chart(
        page, figures, slug: str) -> None:
    main = SIMS[slug].main_param
    chart = page.locator(f"#chart-{slug}")
    drawn = chart.get_attribute("data-drawn")
    metrics = figures.metrics(page, slug)
    url = page.url
    before = figures.probe(page)

    number = page.locator(f"#in-{slug}-{main}")
    p = SIMS[slug].param(main)
    too_big = int(p.max) * 10 + 1 if p.kind == "int" else p.max * 10 + 1
    number.fill(str(too_big))
    number.press("Enter")
    # The 400 answer is swapped in and settled (app.js's settle handler, which is what
    # would redraw, has run): no waiting on the clock.
    page.wait_for_function("n => window.__probe.errorSettles > n", arg=before["errorSettles"])
    error = page.locator(f"#err-{slug}-{main}")
    number = page.locator(f"#in-{slug}-{main}")  # the server's new form, errors marked

    assert main in error.inner_text(), f"the message should name {main}: {error.inner_text()!r}"
    assert number.get_attribute("aria-invalid") == "true"
    assert number.input_value() == str(too_big), "the refused value must stay for fixing"
    assert chart.get_attribute("data-drawn") == drawn, "the chart was redrawn after a refusal"
    assert figures.probe(page)["reacts"] == before["reacts"], "Plotly.react was called"
    assert figures.metrics(page, slug) == metrics, "the last good metrics were replaced"
    assert page.url == url, "a refused value must not reach the permalink"


def test_a_chapter_figure_keeps_the_chapter_url_as_its_permalink(page, figures, site):
    assert site.chapter_for_sim, "no simulation links to a chapter"
    slug, chapter = next(iter(site.chapter_for_sim.items()))
    main = SIMS[slug].main_param
    figures.open(page, chapter, slug)
    metrics = figures.metrics(page, slug)
    before = figures.probe(page)

    value = move_main_slider(page, slug)
    figures.wait_redrawn(page, slug, before)

    assert page.url.split("?")[0].endswith(chapter), f"{page.url} left the chapter"
    assert figures.query(page).get(main) == value
    moved = figures.metrics(page, slug)
    assert moved != metrics

    figures.open(page, page.url, slug)
    assert page.input_value(f"#in-{slug}-{main}") == value
    assert figures.metrics(page, slug) == moved


def _a_valid_new_value(slug: str) -> str:
    """A value of the main parameter a tenth of the way from its default to its max."""
    sim = SIMS[slug]
    p = sim.param(sim.main_param)
    assert p.kind in ("int", "float"), f"{slug}'s main parameter should be a number"
    for share in (0.1, 0.05, 0.02):
        value = p.default + (p.max - p.default) * share
        value = round(value) if p.kind == "int" else round(value, 4)
        if value == p.default:
            value = p.default + 1 if p.kind == "int" else p.default + (p.max - p.min) / 100
        text = p.to_query(value)
        try:
            sim.parse({p.name: text})
        except ParamError:
            continue
        return text
    pytest.fail(f"no valid non-default value for {slug}.{p.name} near its default")


@pytest.mark.parametrize("slug", SLUGS)
def test_without_javascript_the_run_button_rerenders_the_page(new_context, figures, slug):
    page = new_context(java_script_enabled=False).new_page()
    main = SIMS[slug].main_param
    # The page's load event waits for the static chart, which the server draws in
    # Chromium on first request: wait for the document, and for the image below.
    page.goto(lab(slug), wait_until="domcontentloaded")
    metrics = figures.metrics(page, slug)
    value = _a_valid_new_value(slug)

    page.fill(f"#in-{slug}-{main}", value)
    with page.expect_navigation(wait_until="domcontentloaded"):
        page.click(f"#form-{slug} button.run")

    assert float(figures.query(page)[main]) == float(value)
    assert float(page.input_value(f"#in-{slug}-{main}")) == float(value)
    assert figures.metrics(page, slug) != metrics, "the metrics table still shows the defaults"
    # The chart is a static image of the same state instead of an empty box.
    img = page.locator(f"#result-{slug} img.chart-img")
    assert f"{main}=" in img.get_attribute("src")
    assert page.locator(f"#chart-{slug}").is_hidden()
    # The load event waits for images (no page script runs here to poll with).
    page.wait_for_load_state("load", timeout=60_000)
    assert img.evaluate("i => i.complete && i.naturalWidth > 0"), "the static chart did not load"


def test_a_pinned_run_stays_beside_the_new_one_for_comparison(page, figures):
    slug = "fanout"
    figures.open(page, lab(slug), slug)
    chart = page.locator(f"#chart-{slug}")
    traces = page.evaluate(f"() => document.getElementById('chart-{slug}').data.length")
    first_share = page.inner_text(f"#result-{slug} tr[data-metric='share_slow'] td.value")

    page.click(f"#fig-{slug} button.pin-run")
    expect_note = page.locator(f"#fig-{slug} .pinned-note")
    assert expect_note.is_visible()
    before = figures.probe(page)
    move_main_slider(page, slug, presses=20)
    figures.wait_redrawn(page, slug, before)

    # The pinned run's traces are drawn under the new ones, and its numbers keep a column.
    assert page.evaluate(f"() => document.getElementById('chart-{slug}').data.length") \
        == 2 * traces
    pinned_cell = page.inner_text(f"#result-{slug} tr[data-metric='share_slow'] td.pinned-col")
    assert pinned_cell == first_share
    assert page.inner_text(f"#result-{slug} tr[data-metric='share_slow'] td.value") != first_share

    page.click(f"#fig-{slug} button.unpin")
    assert not expect_note.is_visible()
    assert page.locator(f"#result-{slug} .pinned-col").count() == 0
    assert chart.get_attribute("data-drawn")


def test_one_slider_step_sends_one_request(page, figures):
    # The slider's input event sends the values; its change event must not send them again.
    slug = "fanout"
    figures.open(page, lab(slug), slug)
    # A key press fires the slider's input and change events synchronously, so by the time
    # press() returns every event that could trigger a request has been dispatched.
    page.evaluate("""slug => {
      window.__changes = 0;
      document.getElementById("form-" + slug).addEventListener(
        "change", () => { window.__changes++; });
    }""", slug)
    before = figures.probe(page)
    page.locator(f"#sl-{slug}-fanout").focus()
    page.keyboard.press("ArrowRight")
    assert page.evaluate("() => window.__changes") == 0, "the slider's change reached htmx"
    figures.wait_redrawn(page, slug, before)
    assert figures.probe(page)["requests"] == before["requests"] + 1


def test_two_figures_in_one_chapter_keep_their_own_permalinks(page, figures):
    """Moving the second figure leaves the first one's state in the address bar, and the
    second figure's own permalink reopens the chapter with it at its state."""
    from monograph import content

    chapter = next(p for p in content.book().pages if len(p.figures) > 1)
    first, second = chapter.figures[0].simulation, chapter.figures[1].simulation
    figures.open(page, chapter.url, first)
    page.wait_for_selector(f"#chart-{second}[data-drawn]", state="attached")

    before = figures.probe(page)
    first_value = move_main_slider(page, first, presses=2)
    figures.wait_redrawn(page, first, before)
    state = figures.query(page)
    assert state.get(SIMS[first].main_param) == first_value and "figure" not in state

    before = figures.probe(page)
    second_value = move_main_slider(page, second, presses=2)
    figures.wait_redrawn(page, second, before)
    assert figures.query(page) == state, "the second figure overwrote the first's URL state"
    permalink = page.get_attribute(f"#result-{second} a.permalink", "href")
    assert permalink.startswith(f"{chapter.url}?figure={second}&")

    figures.open(page, permalink, second)
    main = SIMS[second].main_param
    assert page.input_value(f"#in-{second}-{main}") == second_value
    first_main = SIMS[first].param(SIMS[first].main_param)
    assert page.input_value(f"#in-{first}-{first_main.name}") == first_main.to_query(
        first_main.default)


def test_dragging_a_slider_shows_labelled_previews_and_letting_go_draws_the_full_run(
        page, figures):
    """A real mouse drag on fan-out's requests slider (its sample size): while the button is
    down the chart shows quick runs marked as previews; on release, the full run replaces them."""
    slug = "fanout"
    figures.open(page, lab(slug) + "?seed=77", slug)
    figures.drag(page, f"sl-{slug}-requests", (0.55, 0.6, 0.65))
    page.wait_for_function(
        f"() => document.getElementById('chart-{slug}').getAttribute('data-preview') === 'drag'",
        timeout=15_000)
    note = page.locator(f"#result-{slug} .preview-note.drag")
    assert "Preview while you drag" in note.inner_text()
    requested = page.locator(f"#in-{slug}-requests").input_value()
    before = figures.probe(page)
    page.mouse.up()
    figures.wait_redrawn(page, slug, before)
    page.wait_for_function(
        f"() => !document.getElementById('chart-{slug}').hasAttribute('data-preview')",
        timeout=15_000)
    assert page.locator(f"#result-{slug} .preview-note").count() == 0
    # The full run is the one the address bar and the number box name.
    assert figures.query(page)["requests"] == requested
    assert "preview" not in figures.query(page)
