"""Static images: drawn by the one renderer (kaleido in Debian's chromium), hence the browser
marker; they name their source, come in two themes and bounded widths, and are cached."""

import shutil
import socket
import struct

import pytest

import simulations
from monograph import images, renderer
from monograph.version import version

pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _needs_chromium():
    if not shutil.which("chromium"):
        pytest.fail("static images need Debian's chromium: run `make browser-deps`")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_svg_export_is_an_svg_of_the_figure_with_its_title(client):
    resp = client.get("/simulations/fanout.svg?fanout=20")
    assert resp.status_code == 200
    assert resp["Content-Type"] == "image/svg+xml"
    body = resp.content.decode()
    assert body.lstrip().startswith("<svg") and "Fan-out" in body


def test_png_export_in_the_dark_theme(client):
    resp = client.get("/simulations/fanout.png?theme=dark")
    assert resp.status_code == 200 and resp.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_image_names_its_source_changed_parameters_seed_versions_and_short_link(client):
    body = client.get("/simulations/fanout.svg?fanout=20&seed=7&slow_ms=200").content.decode()
    # Plotly draws each word run as SVG text; the values must all be there.
    assert "fanout=20" in body and "seed 7" in body
    mv = simulations.get("fanout").model_version
    assert f"v{version()}" in body and f"model v{mv}" in body
    assert "slow_ms" not in body  # 200 is the default: only what differs is listed
    assert f"http://testserver/simulations/fanout/?fanout=20&amp;seed=7&amp;mv={mv}" in body


def test_width_sizes_the_png(client):
    data = client.get("/simulations/fanout.png?width=640").content
    assert png_size(data)[0] == 640


def test_an_image_is_drawn_once_then_served_from_the_shared_cache(client, monkeypatch):
    first = client.get("/simulations/fanout.png?fanout=12").content

    def boom(*args, **kwargs):
        raise AssertionError("drawn again")

    monkeypatch.setattr(renderer, "render", boom)
    assert client.get("/simulations/fanout.png?fanout=12").content == first


def test_an_image_etag_answers_304_without_drawing(client, monkeypatch):
    etag = client.get("/simulations/fanout.png?fanout=13")["ETag"]
    monkeypatch.setattr(images, "image", lambda *a, **k: pytest.fail("drawn for a 304"))
    resp = client.get("/simulations/fanout.png?fanout=13", headers={"If-None-Match": etag})
    assert resp.status_code == 304


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


@pytest.fixture(scope="module")
def offline_renderer(tmp_path_factory):
    """A renderer whose Chromium proxy points at a closed port, so any fetch of another
    host fails: (process, socket path)."""
    path = str(tmp_path_factory.mktemp("renderer") / "r.sock")
    proc = renderer.spawn(path, proxy_server=f"127.0.0.1:{dead_port()}")
    yield proc, path
    renderer.stop(proc)


def test_the_renderer_draws_with_its_network_blocked(offline_renderer):
    """The figure must draw with no network: plotly.js is local, MathJax is off."""
    _, path = offline_renderer
    fig = {"data": [{"type": "scatter", "x": [0, 1, 2], "y": [1, 3, 2]}],
           "layout": {"title": {"text": "offline"}}}
    assert png_size(renderer.render(fig, "png", 400, 300, path)) == (400, 300)
    svg = renderer.render(fig, "svg", 400, 300, path).decode()
    assert "offline" in svg  # plotly.js loaded (from disk) and drew the title
    assert 'class="js-line"' in svg  # and the trace


def test_the_renderer_keeps_drawing_after_a_figure_it_cannot_draw(offline_renderer):
    _, path = offline_renderer
    with pytest.raises(renderer.RendererDown, match="the image renderer failed"):
        renderer.render({"data": [{"type": "scatter", "x": [0, 1]}]}, "bmp", 400, 300, path)
    fig = {"data": [{"type": "bar", "x": [0, 1], "y": [2, 1]}], "layout": {}}
    assert png_size(renderer.render(fig, "png", 320, 200, path)) == (320, 200)


def test_the_renderers_chromium_runs_one_page_process_and_no_spare_or_browser_ui_ones(
        offline_renderer):
    """scripts/renderer-chromium turns off the spare renderer and the omnibox popups that
    Chromium's headless mode preloads: each is a process of 20-50 MB doing nothing here.
    A Chromium that renames those features brings them back, and this fails."""
    from devtools.bench_images import _procs, descendants, process_kind

    proc, _ = offline_renderer
    procs = _procs()
    args = {pid: a for pid, _, a in procs}
    kinds = [process_kind(args[pid]) for pid in descendants(proc.pid, procs)]
    assert kinds.count("Chromium renderer") == 1, kinds  # one tab, MONOGRAPH_RENDERER_TABS=1
    assert kinds.count("Chromium browser") == 1, kinds


def test_a_sweep_exports_as_an_svg_with_its_title_and_closed_form(client):
    resp = client.get("/simulations/fanout/sweep.svg?vary=fanout&points=4&requests=300")
    assert resp.status_code == 200 and resp["Content-Type"] == "image/svg+xml"
    body = resp.content.decode()
    assert body.lstrip().startswith("<svg") and "sweep" in body and "closed form" in body
