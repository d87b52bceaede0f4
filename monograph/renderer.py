"""One image renderer per machine: a kaleido + Chromium process the web workers share.

The renderer is a small process (`python -m monograph.renderer --socket PATH`) that keeps
one headless Chromium open with a few kaleido tabs and answers render requests on a unix
socket. It imports no Django and loads nothing from the network: MathJax is off and
plotly.js is the vendored file in static/vendor/.

- Under gunicorn, the master starts it (`start_shared`, from gunicorn.conf.py) before the
  workers fork and puts its socket in MONOGRAPH_RENDERER_SOCKET, so every worker reaches the
  same warm renderer. If it is down, `render` raises RendererDown and the image views answer
  503 with Retry-After; the master restarts it.
- Anywhere else (runserver, tests, `manage.py export`), the first image starts a private
  renderer for this process, stopped at exit.

Wire format, both directions: a 4-byte big-endian length, then the body. A request is JSON
({"fig", "format", "width", "height"} or {"ping": true}); a reply is one status byte
(0 ok, 1 error) followed by the image bytes or the error text.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger("monograph.renderer")

SOCKET_ENV = "MONOGRAPH_RENDERER_SOCKET"
ROOT = Path(__file__).resolve().parent.parent
PLOTLY_JS = ROOT / "static" / "vendor" / "plotly-basic.min.js"
# Chromium with fewer processes and no name resolution (see the script's comment).
CHROMIUM_WRAPPER = ROOT / "scripts" / "renderer-chromium"
START_TIMEOUT_S = 45.0
RENDER_TIMEOUT_S = 30.0
RETRY_AFTER_S = 10
# A tiny figure drawn once at start, so the first reader's image finds Chromium and
# plotly.js loaded.
WARM_FIGURE = {"data": [{"type": "scatter", "x": [0, 1], "y": [0, 1]}], "layout": {}}


class RendererDown(RuntimeError):
    """No renderer answered; the message says why. Answer 503 and retry later."""


# -- wire format --------------------------------------------------------------------------------
def _frame(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise RendererDown("the image renderer closed the connection")
        buf += chunk
    return bytes(buf)


# -- the renderer process ------------------------------------------------------------------------
# Memory upkeep. Each image leaves its page's documents and plotly.js objects behind until
# V8 gets round to a full collection, which on its own it puts off: a tab grew from 35 MB to
# ~200 MB of private memory over 40 images. A forced collection brings it back to ~45 MB in
# 40-120 ms, so the renderer runs one when it has been quiet for GC_IDLE_S after an image,
# and after every GC_EVERY images when it never goes quiet. (docs/sharing.md has the numbers.)
GC_IDLE_S = 1.0
GC_EVERY = 8


def _kaleido(**kwargs: Any) -> Any:
    """A kaleido.Kaleido that keeps its page between images instead of reloading it.

    kaleido reloads the tab's page (and plotly.js) after every image, on the image's own
    time: about two thirds of a warm render, and every reload leaves a dead document for
    the garbage collector. The page is reloaded only after a failed image (_Upkeep)."""
    import kaleido

    class KeepPage(kaleido.Kaleido):
        async def _return_kaleido_tab(self, tab: Any) -> None:  # kaleido reloads here
            tab.js_logger.reset()  # as the reload would: the page's console log, emptied
            await self.tabs_ready.put(tab)

    return KeepPage(**kwargs)


class _Upkeep:
    """Renders through kaleido and tidies its tabs: a garbage collection when the renderer
    has been quiet for GC_IDLE_S, or before the next image once GC_EVERY have gone by
    without one (under steady load that image pays for it); a page reload after a failed
    image. Tidying takes each tab from kaleido's queue of ready tabs, so it never runs
    beside an image."""

    def __init__(self, k: Any, tabs: int) -> None:
        self.k, self.tabs = k, tabs
        self.busy = self.since = 0
        self.failed = False
        self.timer: asyncio.TimerHandle | None = None
        self.task: asyncio.Task | None = None

    async def render(self, fig: Any, opts: dict[str, Any]) -> bytes | str:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        if self.failed or self.since >= GC_EVERY:
            await self._tidy()
        self.busy += 1
        try:
            return await self.k.calc_fig(fig, opts=opts)
        except Exception:
            self.failed = True
            raise
        finally:
            self.busy -= 1
            self.since += 1
            if self.busy == 0:
                self.timer = asyncio.get_running_loop().call_later(
                    0 if self.failed else GC_IDLE_S, self._tidy_soon)

    def _tidy_soon(self) -> None:
        self.timer = None
        if self.task is None or self.task.done():
            self.task = asyncio.create_task(self._tidy())

    async def _tidy(self) -> None:
        # Reset before the first await, so that images finishing meanwhile count towards
        # the next collection and no other caller starts a second one for the same images.
        reload, self.failed, self.since = self.failed, False, 0
        for _ in range(self.tabs):
            tab = await self.k.tabs_ready.get()
            try:
                if reload:
                    await tab.reload()
                else:
                    await tab.tab.send_command("HeapProfiler.collectGarbage")
            except Exception:  # keep serving; the next tidy tries again
                log.exception("renderer upkeep failed")
            finally:
                await self.k.tabs_ready.put(tab)


async def _serve(socket_path: str, tabs: int, proxy_server: str | None) -> None:
    kwargs: dict[str, Any] = {}
    if proxy_server:
        kwargs["proxy_server"] = proxy_server
    async with _kaleido(n=tabs, timeout=RENDER_TIMEOUT_S, mathjax=False,
                        plotlyjs=PLOTLY_JS.as_uri(), **kwargs) as k:
        await k.calc_fig(WARM_FIGURE, opts={"format": "png", "width": 100, "height": 100})
        upkeep = _Upkeep(k, tabs)

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                size = struct.unpack(">I", await reader.readexactly(4))[0]
                req = json.loads(await reader.readexactly(size))
                if req.get("ping"):
                    out, status = b"pong", 0
                else:
                    try:
                        out = await upkeep.render(req["fig"], opts={
                            "format": req["format"], "width": int(req["width"]),
                            "height": int(req["height"]), "scale": 1})
                        status = 0
                        if isinstance(out, str):
                            out = out.encode()
                    except Exception as exc:  # report to the caller; keep serving
                        out, status = f"{type(exc).__name__}: {exc}".encode()[:2000], 1
                writer.write(bytes([status]) + _frame(out))
                await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                pass
            finally:
                writer.close()

        server = await asyncio.start_unix_server(handle, path=socket_path)
        parent = os.getppid()
        print("ready", flush=True)  # the parent waits for this line
        async with server:
            while os.getppid() == parent:  # the server that started us is gone: stop
                await asyncio.sleep(1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The shared image renderer (kaleido).")
    parser.add_argument("--socket", required=True, help="unix socket path to listen on")
    parser.add_argument("--tabs", type=int, default=int(os.environ.get("MONOGRAPH_RENDERER_TABS", "1")),
                        help="Chromium tabs drawing in parallel (default 1: each tab costs "
                             "~150 MB and two cores gain little from a second)")
    parser.add_argument("--proxy-server", default=None,
                        help="Chromium's proxy (tests point it at a dead port)")
    args = parser.parse_args(argv)
    if os.path.exists(args.socket):
        os.unlink(args.socket)
    asyncio.run(_serve(args.socket, args.tabs, args.proxy_server))


# -- starting one --------------------------------------------------------------------------------
def chromium_missing() -> str:
    """Why images cannot be drawn here, or '' when Chromium is installed."""
    if any(shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")):
        return ""
    return "static images need Chromium on the server (Debian: apt-get install chromium)"


def spawn(socket_path: str, *, proxy_server: str | None = None) -> subprocess.Popen:
    """Start a renderer and wait until it has drawn its warm-up figure and listens."""
    missing = chromium_missing()
    if missing:
        raise RendererDown(missing)
    cmd = [sys.executable, "-m", "monograph.renderer", "--socket", socket_path]
    if proxy_server:
        cmd += ["--proxy-server", proxy_server]
    env = {**os.environ, "BROWSER_PATH": os.environ.get("BROWSER_PATH", str(CHROMIUM_WRAPPER))}
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    ready = threading.Event()

    def _wait_line() -> None:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() == "ready":
            ready.set()

    threading.Thread(target=_wait_line, daemon=True).start()
    if not ready.wait(START_TIMEOUT_S):
        stop(proc)
        raise RendererDown(f"the image renderer did not start within {START_TIMEOUT_S:.0f} s")
    return proc


def stop(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Shared:
    """The machine's renderer, owned by the gunicorn master: started, watched, restarted."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp(prefix="monograph-renderer-")
        self.socket = os.path.join(self.dir, "renderer.sock")
        self.proc: subprocess.Popen | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        os.environ[SOCKET_ENV] = self.socket  # the workers fork after this and inherit it
        started = time.perf_counter()
        try:
            self.proc = spawn(self.socket)
            log.info("image renderer ready in %.1f s (pid %d, socket %s)",
                     time.perf_counter() - started, self.proc.pid, self.socket)
        except RendererDown as exc:
            log.warning("image renderer not started: %s; images answer 503", exc)
        threading.Thread(target=self._watch, daemon=True, name="renderer-watch").start()

    def _watch(self) -> None:
        backoff = 1.0
        while not self._stopping.is_set():
            if self.proc is not None:
                # ChildProcessError: gunicorn's SIGCHLD handler reaped it first.
                with contextlib.suppress(ChildProcessError):
                    self.proc.wait()
            if self._stopping.wait(backoff):
                return
            if chromium_missing():
                return
            log.warning("image renderer exited; restarting")
            try:
                self.proc = spawn(self.socket)
                backoff = 1.0
            except RendererDown as exc:
                log.warning("image renderer restart failed: %s", exc)
                self.proc = None
                backoff = min(backoff * 2, 60.0)

    def stop(self) -> None:
        self._stopping.set()
        stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


_shared: Shared | None = None


def start_shared() -> Shared:
    """Called by gunicorn's master before it forks the workers."""
    global _shared
    if _shared is None:
        _shared = Shared()
        _shared.start()
    return _shared


def stop_shared() -> None:
    global _shared
    if _shared is not None:
        _shared.stop()
        _shared = None


_private_lock = threading.Lock()
_private: tuple[subprocess.Popen, str] | None = None


def _private_socket() -> str:
    """This process's own renderer (no gunicorn master gave us one), started on first use."""
    global _private
    with _private_lock:
        if _private is not None and _private[0].poll() is None:
            return _private[1]
        path = os.path.join(tempfile.mkdtemp(prefix="monograph-renderer-"), "renderer.sock")
        proc = spawn(path)
        _private = (proc, path)
        atexit.register(stop, proc)
        return path


def socket_path() -> str:
    return os.environ.get(SOCKET_ENV) or _private_socket()


# -- the client -----------------------------------------------------------------------------------
def _call(request: dict[str, Any], path: str | None = None,
          timeout: float = RENDER_TIMEOUT_S + 5) -> bytes:
    path = path or socket_path()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(path)
            sock.sendall(_frame(json.dumps(request, separators=(",", ":")).encode()))
            status = _recv_exact(sock, 1)[0]
            size = struct.unpack(">I", _recv_exact(sock, 4))[0]
            body = _recv_exact(sock, size)
        except (FileNotFoundError, ConnectionRefusedError) as exc:
            raise RendererDown("the image renderer is not running") from exc
        except TimeoutError as exc:
            raise RendererDown("the image renderer did not answer in time") from exc
        except OSError as exc:
            raise RendererDown(f"the image renderer is unreachable ({exc})") from exc
    if status != 0:
        raise RendererDown(f"the image renderer failed: {body.decode(errors='replace')}")
    return body


def render(fig: dict[str, Any], fmt: str, width: int, height: int,
           path: str | None = None) -> bytes:
    """The figure as SVG or PNG bytes, drawn by the shared (or private) renderer."""
    return _call({"fig": fig, "format": fmt, "width": width, "height": height}, path)


def ping(path: str | None = None) -> bool:
    try:
        return _call({"ping": True}, path, timeout=5) == b"pong"
    except RendererDown:
        return False


if __name__ == "__main__":
    main()
