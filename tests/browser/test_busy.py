"""A shed slider move, as a reader sees it: the last chart stays, a note says the server is
busy and when it will retry, and the retry after Retry-After draws the new result."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

SLUG = "fanout"


def test_a_503_keeps_the_last_chart_says_busy_and_retries_after_retry_after(page, figures, watch):
    watch.allow_console(r"status of 503|Response Status Error Code 503")  # the shed move, logged
    figures.open(page, f"/simulations/{SLUG}/", SLUG)
    chart = page.locator(f"#chart-{SLUG}")
    drawn = chart.get_attribute("data-drawn")
    shed = []

    def once_busy(route):
        if not shed:
            shed.append(route.request.url)
            route.fulfill(status=503, headers={"Retry-After": "1"}, body="busy",
                          content_type="text/plain")
        else:
            route.fallback()

    # A slider move fetches the page's result partial: the page URL with the new query.
    page.route(lambda url: f"/simulations/{SLUG}/?" in url, once_busy)
    before = figures.probe(page)
    slider = page.locator(f"#sl-{SLUG}-fanout")
    slider.focus()
    page.keyboard.press("ArrowRight")

    note = page.locator(f"#form-{SLUG} .busy-note")
    note.wait_for(state="visible")
    assert "retrying in 1 s" in note.inner_text()
    assert chart.get_attribute("data-drawn") == drawn, "the last chart must stay"

    figures.wait_redrawn(page, SLUG, before)  # the retry, a second later, went through
    assert len(shed) == 1
    assert note.inner_text() == ""
    watch.server_errors.clear()  # the one 503 was ours, from the route above
