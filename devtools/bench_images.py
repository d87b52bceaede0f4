"""Images: the first after start, warm ones, concurrent ones, repeats, and renderer memory.

Against the real server (gunicorn, 2 workers, the machine's one renderer, a file cache the
workers share). Warm = the renderer is up and the image was never drawn before; the
result is cached first, so the time is the image's own (a separate row adds the
simulation). Memory is summed over the renderer's process tree, as RSS (shared pages
counted once per process) and as PSS (shared pages split between processes).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import localserver
from .bench import BenchError, Context, Section, fmt_ms, ok, pct

ORDER = 30
WARM_P95_MS = 300.0
FIRST_IMAGE_MS = 3000.0
RENDERER_MB = 600.0
CLIENTS = 4
HEAD = ("measure", "value", "budget", "verdict", "note")


def _fetch(url: str, headers: dict[str, str] | None = None) -> tuple[float, int, str]:
    """(ms, status, ETag) of one GET."""
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - our local server
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:  # noqa: S310
            resp.read()
            status, etag = resp.status, resp.headers.get("ETag", "")
    except urllib.error.HTTPError as exc:
        status, etag = exc.code, ""
    return (time.perf_counter() - start) * 1000, status, etag


def _procs() -> list[tuple[int, int, str]]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True,  # noqa: S607
                         text=True, check=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines()]
    return [(int(r[0]), int(r[1]), r[2]) for r in rows if len(r) == 3]


def renderer_tree(base: str) -> list[int]:
    """The renderer the gunicorn serving base started, and all its descendants."""
    procs = _procs()
    bind = base.split("//", 1)[1]
    servers = {pid for pid, _, args in procs if "gunicorn" in args and bind in args}
    found = [pid for pid, ppid, args in procs if "monograph.renderer" in args and ppid in servers]
    i = 0
    while i < len(found):
        found += [pid for pid, ppid, _ in procs if ppid == found[i]]
        i += 1
    return found


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) in MB, from /proc/<pid>/smaps_rollup."""
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss / 1024, pss / 1024


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes have used so far, from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


def sections(ctx: Context) -> list[Section]:
    if not ctx.browser:
        ctx.notes.append("image pass skipped (--no-browser: it needs chromium)")
        return []
    if localserver.chromium() is None:
        raise BenchError(f"{localserver.MISSING_CHROMIUM} (or pass --no-browser)")
    n = max(ctx.runs, 5)
    section = Section("Images", HEAD, [], " ".join(__doc__.split("\n\n")[1].split()))

    def row(what: str, value: float, unit: str, budget: float | None, note: str = "") -> None:
        passed = budget is None or value <= budget
        if not passed:
            section.failures.append(f"{what}: {value:,.0f} {unit} (budget {budget:,.0f})")
        section.rows.append([what, f"{fmt_ms(value)} {unit}",
                             f"≤ {budget:,.0f} {unit}" if budget else "–",
                             ok(passed) if budget else "–", note])

    ctx.log("image pass: starting gunicorn and the renderer…")
    with tempfile.TemporaryDirectory(prefix="bench-images-cache-") as cache_dir:
        previous = os.environ.get("MONOGRAPH_CACHE_URL")
        os.environ["MONOGRAPH_CACHE_URL"] = f"file://{cache_dir}"
        started = time.perf_counter()
        try:
            with localserver.gunicorn() as base:
                up_ms = (time.perf_counter() - started) * 1000
                first_ms = _fetch(f"{base}/simulations/fanout.png?seed=101")[0]
                row("server start → /healthz answers", up_ms, "ms", None,
                    "includes starting and warming the renderer")
                row("first image after start (PNG, never drawn)", first_ms, "ms",
                    FIRST_IMAGE_MS)

                ctx.log(f"  {n} warm images of each kind, one at a time")
                warm, warm_svg, with_sim = [], [], []
                cpu = 0.0
                for i in range(n):
                    _fetch(f"{base}/simulations/fanout.json?seed={1000 + i}")
                    tree = renderer_tree(base)
                    before = cpu_seconds(tree)
                    warm.append(_fetch(f"{base}/simulations/fanout.png?seed={1000 + i}")[0])
                    cpu += cpu_seconds(tree) - before
                    _fetch(f"{base}/simulations/retries.json?seed={2000 + i}")
                    warm_svg.append(_fetch(f"{base}/simulations/retries.svg?seed={2000 + i}")[0])
                    with_sim.append(_fetch(f"{base}/simulations/canary.png?seed={4000 + i}")[0])
                row(f"warm PNG p50 ({n} images)", pct(warm, 50), "ms", None)
                row(f"warm PNG p95 ({n} images)", pct(warm, 95), "ms", WARM_P95_MS)
                row("renderer CPU time per warm PNG (mean)", cpu / n * 1000, "ms", None,
                    "what a PNG costs Chromium whatever else the machine runs")
                row(f"warm SVG p95 ({n} images)", pct(warm_svg, 95), "ms", WARM_P95_MS)
                row("warm PNG p95, simulation not run yet either", pct(with_sim, 95), "ms",
                    None, "adds the simulation's own time")

                ctx.log(f"  {n} images from {CLIENTS} clients at once")
                t0 = time.perf_counter()
                with ThreadPoolExecutor(CLIENTS) as pool:
                    conc = [r[0] for r in pool.map(
                        _fetch, [f"{base}/simulations/cost.png?seed={3000 + i}"
                                 for i in range(n)])]
                row(f"PNG p95, {CLIENTS} clients at once", pct(conc, 95), "ms", None,
                    f"{n / (time.perf_counter() - t0):.1f} images/s")

                repeat = [_fetch(f"{base}/simulations/fanout.png?seed={1000 + i}")[0]
                          for i in range(n)]
                row("repeated PNG p95 (shared cache, either worker)", pct(repeat, 95), "ms",
                    None)
                url = f"{base}/simulations/fanout.png?seed=1000"
                ms, status, _ = _fetch(url, {"If-None-Match": _fetch(url)[2]})
                row(f"revalidated PNG (If-None-Match → {status})", ms, "ms", None)

                tree = renderer_tree(base)
                if not tree:
                    raise BenchError("no renderer process under the server: is Chromium there?")
                rss, pss = memory_mb(tree)
                row(f"renderer memory, RSS summed over {len(tree)} processes", rss, "MB",
                    RENDERER_MB, "shared pages counted once per process")
                row("renderer memory, PSS summed", pss, "MB", None,
                    "shared pages split: what the machine actually spends")
        except localserver.ServerDidNotStart as exc:
            raise BenchError(str(exc)) from None
        finally:
            if previous is None:
                os.environ.pop("MONOGRAPH_CACHE_URL", None)
            else:
                os.environ["MONOGRAPH_CACHE_URL"] = previous
    return [section]
