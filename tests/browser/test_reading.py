"""Reading the book: contents → chapter → next, by link and by keys; every page type is clean;
the checklist remembers ticks and copies itself as a pull-request template.

Every test runs under the watch (conftest.py): no console error, no CSP violation and no
request to another host on any page visited.
"""

from __future__ import annotations

import pytest

import simulations

pytestmark = pytest.mark.browser


def test_contents_lead_to_a_chapter_and_its_next_link_to_the_next(page):
    page.goto("/")
    first = page.locator(".contents .toc-list a[href^='/chapters/']").first
    title = first.inner_text()
    first.click()
    page.wait_for_url("**/chapters/**")
    assert page.locator("h1").inner_text() == title

    nxt = page.locator(".pager a.next")
    href = nxt.get_attribute("href")
    next_title = nxt.evaluate("a => a.lastChild.textContent.trim()")  # after "Next →"
    nxt.click()
    page.wait_for_url(f"**{href}")
    assert page.locator("h1").inner_text() == next_title
    prev = page.locator(".pager a.prev")
    assert prev.count() == 1, "a chapter reached by 'next' must offer 'previous'"


def test_arrow_keys_turn_the_pages_when_no_control_has_focus(page, site):
    start = site.chapters[1] if len(site.chapters) > 1 else site.chapters[0]
    page.goto(start)
    nxt = page.locator("link[rel=next]").get_attribute("href")
    prev = page.locator("link[rel=prev]").get_attribute("href")
    assert nxt and prev, f"{start} should have both neighbours"

    page.keyboard.press("ArrowRight")
    page.wait_for_url(f"**{nxt}")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**{start}")
    page.keyboard.press("ArrowLeft")
    page.wait_for_url(f"**{prev}")


def test_arrow_keys_on_a_slider_move_the_slider_not_the_page(page, figures, site):
    slug, chapter = next(iter(site.chapter_for_sim.items()))
    figures.open(page, chapter, slug)
    before = figures.probe(page)
    page.focus(f"#sl-{slug}-{simulations.get(slug).main_param}")
    page.keyboard.press("ArrowRight")
    figures.wait_redrawn(page, slug, before)  # the move was handled: the figure re-ran
    assert page.url.split("?")[0].endswith(chapter)


PAGE_TYPES = {
    "contents": lambda site: "/",
    "chapter with a figure": lambda site: site.chapter_with_figure(),
    "chapter without a figure": lambda site: site.chapter_without_figure(),
    "checklist": lambda site: "/checklist/",
    "gallery": lambda site: "/simulations/",
    "lab": lambda site: f"/simulations/{site.featured_sim()}/",
    # Every lab, and every simulation's embed page, is visited under the same watch by
    # test_figures.py (one flow per simulation).
    "embed, chart only": lambda site: f"/simulations/{site.featured_sim()}/embed?controls=0",
}


@pytest.mark.parametrize("kind", PAGE_TYPES)
def test_every_kind_of_page_loads_clean(page, site, figures, kind):
    figures.load_clean(page, PAGE_TYPES[kind](site))


def test_a_ticked_checklist_item_is_still_ticked_after_a_reload(page):
    page.goto("/checklist/")
    boxes = page.locator("#checklist input[type=checkbox]")
    assert boxes.count() > 0
    boxes.nth(1).check()
    assert page.inner_text("#tick-count") == "1"
    page.reload()
    assert boxes.nth(1).is_checked()
    assert not boxes.nth(0).is_checked()
    assert page.inner_text("#tick-count") == "1"


def test_a_teams_ticks_travel_by_link_and_become_a_pull_request_template(new_context):
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    lead = context.new_page()
    lead.goto("/checklist/")
    boxes = lead.locator("#checklist input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(3).check()
    keys = [boxes.nth(i).get_attribute("data-key") for i in (0, 3)]
    lead.click("#share-ticks")
    lead.wait_for_selector("#checklist-message:has-text('?ticks=')")
    link = lead.evaluate("navigator.clipboard.readText()")
    assert link.endswith("?ticks=" + ",".join(keys))

    # A teammate in another browser (empty storage) opens the link: offered, not imposed.
    mate = new_context().new_page()
    mate.goto(link)
    mate.wait_for_selector("#ticks-offer:not([hidden])")
    assert mate.locator("#checklist input:checked").count() == 0
    mate.click("#ticks-offer .accept")
    assert mate.inner_text("#tick-count") == "2"
    mate.reload()
    assert mate.locator("#checklist input:checked").count() == 2

    # The pull-request template holds only the two ticked items.
    href = mate.locator("#pr-template").get_attribute("href")
    text = mate.request.get(href).text()
    tasks = [line for line in text.splitlines() if line.startswith("- [ ] ")]
    assert len(tasks) == 2, text
    assert text.startswith("## ")


def test_the_watch_catches_console_errors_csp_violations_and_foreign_requests(page, watch):
    # 192.0.2.0/24 is reserved for documentation; the route aborts it before any packet leaves.
    page.route("http://192.0.2.1/**", lambda route: route.abort())
    page.goto("/")
    with page.expect_event("pageerror"):
        page.evaluate("""() => {
          console.error("deliberate");
          document.body.setAttribute("style", "color: red");  // blocked by style-src 'self'
          setTimeout(() => { throw new Error("deliberately uncaught"); });
        }""")
    with pytest.raises(Exception, match="ERR_FAILED"):
        page.goto("http://192.0.2.1/elsewhere")
    page.wait_for_timeout(100)

    assert any("deliberate" in e for e in watch.console_errors)
    assert any("style-src" in e for e in watch.csp_violations)
    assert any("deliberately uncaught" in e for e in watch.page_errors)
    assert watch.foreign_requests == ["http://192.0.2.1/elsewhere"]
    watch.forget()
