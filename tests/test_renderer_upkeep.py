"""The renderer's memory upkeep, against a stand-in for kaleido (no Chromium needed): a
garbage collection when quiet or every GC_EVERY images, a page reload after a failure,
and never beside an image."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest

from monograph import renderer


class FakeTab:
    """A kaleido tab: `tab.tab.send_command` reaches Chromium, `tab.reload()` the page."""

    def __init__(self, log: list[str]) -> None:
        self.tab, self.log = self, log

    async def send_command(self, name: str, params: dict | None = None) -> dict:
        self.log.append(name)
        return {}

    async def reload(self) -> None:
        self.log.append("reload")


class FakeKaleido:
    """Takes a ready tab for each image and puts it back, as kaleido does."""

    def __init__(self, tabs: int = 1) -> None:
        self.log: list[str] = []
        self.tabs_ready: asyncio.Queue = asyncio.Queue()
        for _ in range(tabs):
            self.tabs_ready.put_nowait(FakeTab(self.log))

    async def calc_fig(self, fig: str, opts: dict) -> bytes:
        tab = await self.tabs_ready.get()
        try:
            self.log.append("image")
            await asyncio.sleep(0.01)
            if fig == "bad":
                raise ValueError("plotly.js refused the figure")
            return b"png"
        finally:
            await self.tabs_ready.put(tab)


GC = "HeapProfiler.collectGarbage"


def run(coro):
    """Its own event loop in its own thread: a browser test may hold this thread's."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, asyncio.wait_for(coro, 10)).result()


def test_a_quiet_renderer_collects_garbage_once_after_its_last_image(monkeypatch):
    monkeypatch.setattr(renderer, "GC_IDLE_S", 0.05)

    async def scenario() -> list[str]:
        k = FakeKaleido()
        upkeep = renderer._Upkeep(k, tabs=1)
        for _ in range(3):  # closer together than GC_IDLE_S: no collection between them
            await upkeep.render("fig", {})
        await asyncio.sleep(0.3)
        return k.log

    assert run(scenario()) == ["image", "image", "image", GC]


def test_under_steady_load_garbage_never_outlives_gc_every_images_and_the_queue(monkeypatch):
    """4 clients draw 8 images each, one after another, and the renderer is never quiet:
    a collection waits its turn behind the images already queued (one per other client),
    so at most GC_EVERY + 3 images go by without one."""
    monkeypatch.setattr(renderer, "GC_IDLE_S", 60)
    clients = 4

    async def scenario() -> list[str]:
        k = FakeKaleido()
        upkeep = renderer._Upkeep(k, tabs=1)

        async def client() -> None:
            for _ in range(8):
                await upkeep.render("fig", {})
                await asyncio.sleep(0.001)  # the reply's way to the client and the next request

        await asyncio.gather(*(client() for _ in range(clients)))
        return k.log

    log = run(scenario())
    assert log.count("image") == 32
    runs = "".join("i" if entry == "image" else "G" for entry in log).split("G")
    assert len(runs) >= 4  # at least 3 collections in 32 images
    assert max(len(r) for r in runs[:-1]) <= renderer.GC_EVERY + clients - 1
    assert min(len(r) for r in runs[:-1]) >= 1  # never two in a row, never before an image


def test_a_failed_image_reloads_every_tab_and_the_next_image_draws(monkeypatch):
    monkeypatch.setattr(renderer, "GC_IDLE_S", 60)

    async def scenario() -> tuple[list[str], bytes | str]:
        k = FakeKaleido(tabs=2)
        upkeep = renderer._Upkeep(k, tabs=2)
        with pytest.raises(ValueError, match="refused"):
            await upkeep.render("bad", {})
        await asyncio.sleep(0.05)
        return k.log, await upkeep.render("fig", {})

    log, out = run(scenario())
    assert log == ["image", "reload", "reload", "image"]
    assert out == b"png"


def test_kaleido_still_returns_tabs_through_the_method_the_renderer_overrides():
    """renderer._kaleido keeps the page between images by overriding this (private) method;
    if a kaleido upgrade renames it, the override silently stops working."""
    import kaleido
    from kaleido._kaleido_tab._js_logger import JavascriptLogger

    assert "_return_kaleido_tab" in vars(kaleido.Kaleido)
    assert "tabs_ready" in kaleido.Kaleido.__annotations__
    assert callable(JavascriptLogger.reset)  # the override empties the tab's console log
