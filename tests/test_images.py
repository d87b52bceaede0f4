"""Static images: drawn by kaleido in Debian's chromium (hence the browser marker)."""

import shutil

import pytest

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _needs_chromium():
    if not shutil.which("chromium"):
        pytest.fail("static images need Debian's chromium: run `make browser-deps`")


def test_svg_export_is_an_svg_of_the_figure_with_its_title(client):
    resp = client.get("/simulations/fanout.svg?fanout=20")
    assert resp.status_code == 200
    assert resp["Content-Type"] == "image/svg+xml"
    body = resp.content.decode()
    assert body.lstrip().startswith("<svg") and "Fan-out" in body


def test_png_export_in_the_dark_theme(client):
    resp = client.get("/simulations/fanout.png?theme=dark")
    assert resp.status_code == 200 and resp.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_image_bad_theme_is_a_400(client):
    assert client.get("/simulations/fanout.svg?theme=neon").status_code == 400


def test_a_sweep_exports_as_an_svg_with_its_title_and_closed_form(client):
    resp = client.get("/simulations/fanout/sweep.svg?vary=fanout&points=4&requests=300")
    assert resp.status_code == 200 and resp["Content-Type"] == "image/svg+xml"
    body = resp.content.decode()
    assert body.lstrip().startswith("<svg") and "sweep" in body and "closed form" in body
