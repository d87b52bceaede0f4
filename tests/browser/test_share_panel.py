"""The share panel in a real browser: the copy buttons put each snippet on the clipboard."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser


def test_each_copy_button_puts_its_snippet_on_the_clipboard(new_context, base_url, figures):
    ctx = new_context(permissions=["clipboard-read", "clipboard-write"])
    page = ctx.new_page()
    figures.open(page, f"{base_url}/simulations/fanout/?fanout=20&seed=7", "fanout")
    page.locator("#share-fanout > summary").click()
    for field in ("link", "md", "img", "iframe"):
        value = page.input_value(f"#share-fanout-{field}")
        page.click(f"button[data-copy='share-fanout-{field}']")
        page.wait_for_function("id => document.querySelector(`button[data-copy='${id}']`)"
                               ".textContent === 'Copied'", arg=f"share-fanout-{field}")
        assert page.evaluate("() => navigator.clipboard.readText()") == value
    assert "fanout=20" in page.input_value("#share-fanout-md")


def test_the_share_panel_follows_the_sliders(page, base_url, figures):
    figures.open(page, f"{base_url}/simulations/fanout/", "fanout")
    before = figures.probe(page)
    page.fill("#in-fanout-fanout", "33")
    page.press("#in-fanout-fanout", "Enter")
    figures.wait_redrawn(page, "fanout", before)
    assert "fanout=33" in page.input_value("#share-fanout-md")
    assert "fanout=33" in page.get_attribute("#share-fanout a[data-share='png']", "href")
