"""Images: the first after start, warm ones, concurrent ones, repeats, and renderer memory.

Against the real server (gunicorn, 2 workers, the machine's one renderer, a file cache the
workers share), from one client whose per-address limits are raised (a reader's limits
would turn most of the bench's requests into 429s; the CPU gate stays). Warm = the renderer
is up and the image was never drawn before; the result is cached first, so the time is the
image's own (a separate row adds the simulation). Renderer memory is what its process tree
holds with each physical page counted once (the budget's measure, see docs/sharing.md),
right after the timed images and at its peak while 4 clients draw; PSS and RSS summed are
shown beside it.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from . import localserver
from .bench import BenchError, Context, Section, fmt_ms, ok, pct

ORDER = 30
WARM_P95_MS = 300.0
FIRST_IMAGE_MS = 3000.0
RENDERER_MB = 600.0
CLIENTS = 4
REST_S = 3.0  # > monograph.renderer.GC_IDLE_S
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
    out = subprocess.run(["ps", "-eww", "-o", "pid=,ppid=,args="], capture_output=True,  # noqa: S607
                         text=True, check=True).stdout
    rows = [line.split(None, 2) for line in out.splitlines()]
    return [(int(r[0]), int(r[1]), r[2]) for r in rows if len(r) == 3]


def descendants(root: int, procs: list[tuple[int, int, str]] | None = None) -> list[int]:
    """root and every process under it."""
    procs = _procs() if procs is None else procs
    found, i = [root], 0
    while i < len(found):
        found += [pid for pid, ppid, _ in procs if ppid == found[i]]
        i += 1
    return found


def renderer_tree(base: str) -> list[int]:
    """The renderer the gunicorn serving base started, and all its descendants."""
    procs = _procs()
    bind = base.split("//", 1)[1]
    servers = {pid for pid, _, args in procs if "gunicorn" in args and bind in args}
    roots = [pid for pid, ppid, args in procs if "monograph.renderer" in args and ppid in servers]
    return [pid for root in roots for pid in descendants(root, procs)]


def _rollup(pid: int) -> dict[str, int]:
    """/proc/<pid>/smaps_rollup in kB ({} if the process is gone)."""
    out: dict[str, int] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
            key, _, rest = line.partition(":")
            with contextlib.suppress(ValueError, IndexError):
                out[key] = int(rest.split()[0])
    return out


def memory_mb(pids: list[int]) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) in MB, from /proc/<pid>/smaps_rollup."""
    rolls = [_rollup(pid) for pid in pids]
    return (sum(r.get("Rss", 0) for r in rolls) / 1024,
            sum(r.get("Pss", 0) for r in rolls) / 1024)


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_PRESENT, _PFN = np.uint64(1 << 63), np.uint64((1 << 55) - 1)


def _file_backed(name: str) -> bool:
    """A mapping of a file on disk (page cache), not anonymous or shared memory."""
    shared_memory = name.startswith(("/memfd:", "/dev/shm/", "/SYSV"))  # noqa: S108 - a name, not a file we write or name.endswith(" (deleted)")
    return name.startswith("/") and not shared_memory


def _frames(pid: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The physical page frames a process maps (anonymous or shared memory; file-backed),
    from /proc/<pid>/pagemap; None if unreadable. Frame numbers read as 0 without
    CAP_SYS_ADMIN (not root)."""
    anon: list[np.ndarray] = []
    files: list[np.ndarray] = []
    try:
        smaps = Path(f"/proc/{pid}/smaps").read_text().splitlines()
        with open(f"/proc/{pid}/pagemap", "rb") as pagemap:
            area: tuple[int, int, str] | None = None
            for line in smaps:
                head = line.split(None, 5)
                if "-" in head[0] and not head[0].endswith(":"):
                    lo, hi = (int(x, 16) for x in head[0].split("-"))
                    area = (lo, hi, head[5].strip() if len(head) > 5 else "")
                elif head[0] == "Rss:" and area is not None and int(head[1]) > 0:
                    lo, hi, name = area
                    pagemap.seek(lo // _PAGE * 8)
                    entries = np.frombuffer(pagemap.read((hi - lo) // _PAGE * 8), np.uint64)
                    present = entries[(entries & _PRESENT) != 0] & _PFN
                    (files if _file_backed(name) else anon).append(present)
    except OSError:
        return None
    join = lambda parts: np.concatenate(parts) if parts else np.zeros(0, np.uint64)  # noqa: E731
    return join(anon), join(files)


def footprint_mb(pids: list[int]) -> tuple[float, float] | None:
    """(all, file-backed) MB of the physical pages the processes map, each page counted once
    however many of them map it; None when frame numbers are unreadable (not root).

    This is what the renderer holds on the machine whatever else runs: RSS summed counts a
    page shared by 5 processes 5 times; PSS summed gives away the share of pages also mapped
    by processes outside the tree (another Chromium's copy of the same binary)."""
    anon, files = [], []
    for pid in pids:
        got = _frames(pid)
        if got is not None:
            anon.append(got[0])
            files.append(got[1])
    every = np.unique(np.concatenate(anon + files)) if anon else np.zeros(0, np.uint64)
    if every.size and not every.any():
        return None
    file_only = np.setdiff1d(np.unique(np.concatenate(files)), np.unique(np.concatenate(anon)))
    mb = _PAGE / 2**20
    return np.count_nonzero(every) * mb, np.count_nonzero(file_only) * mb


def process_kind(args: str) -> str:
    """A name for a process of the renderer's tree, from its command line."""
    if "monograph.renderer" in args:
        return "renderer server (Python, kaleido)"
    if "_unix_pipe_chromium_wrapper" in args:
        return "choreographer's pipe wrapper (Python)"
    if "--type=" in args:
        kind = args.split("--type=", 1)[1].split()[0]
        if "--utility-sub-type=" in args:
            kind += " " + args.split("--utility-sub-type=", 1)[1].split()[0]
        return f"Chromium {kind}"
    return "Chromium browser" if "chrom" in args else args[:40]


def cpu_seconds(pids: list[int]) -> float:
    """CPU time (user + system) the processes have used so far, from /proc/<pid>/stat."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


# The bench is one client asking for far more than a reader would: lift the per-address
# limits (they would answer 429) but keep the CPU gate every image passes through.
SERVER_ENV = {"MONOGRAPH_RATE_EXPORTS": "1000000", "MONOGRAPH_RATE_RUN_MS": "100000000"}
PROCESS_HEAD = ("process", "RSS", "PSS", "private", "note")


class _Sampler:
    """The renderer's footprint every `every` seconds in a thread, keeping the peak."""

    def __init__(self, base: str, every: float = 0.5) -> None:
        self.base, self.every = base, every
        self.peak = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            got = footprint_mb(renderer_tree(self.base))
            if got is not None:
                self.peak = max(self.peak, got[0])
                self.samples += 1
            self._stop.wait(self.every)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _shed(results: list[tuple[float, int, str]]) -> str:
    """', k of n answered 503' when the server's CPU gate turned images away."""
    other = [status for _, status, _ in results if status != 200]
    return f"; {len(other)} of {len(results)} answered {sorted(set(other))}" if other else ""


def _by_process(tree: list[int]) -> Section:
    args = {pid: a for pid, _, a in _procs()}
    rows = []
    for pid in tree:
        r = _rollup(pid)
        if r:
            private = r.get("Private_Clean", 0) + r.get("Private_Dirty", 0)
            rows.append([process_kind(args.get(pid, "")), f"{r['Rss'] / 1024:,.0f} MB",
                         f"{r['Pss'] / 1024:,.0f} MB", f"{private / 1024:,.0f} MB",
                         f"{r.get('Anonymous', 0) / 1024:,.0f} MB anonymous"])
    return Section("Renderer memory by process", PROCESS_HEAD, rows,
                   "The renderer's processes after the timed images, from /proc/<pid>/smaps_rollup: "
                   "RSS (every page it maps), PSS (shared pages split between the processes "
                   "that map them) and private (mapped by this process alone).")


def sections(ctx: Context) -> list[Section]:
    if not ctx.browser:
        ctx.notes.append("image pass skipped (--no-browser: it needs chromium)")
        return []
    if localserver.chromium() is None:
        raise BenchError(f"{localserver.MISSING_CHROMIUM} (or pass --no-browser)")
    n = max(ctx.runs, 5)
    section = Section("Images", HEAD, [], " ".join(__doc__.split("\n\n")[1].split()))
    unexpected: list[str] = []

    def row(what: str, value: float, unit: str, budget: float | None, note: str = "") -> None:
        passed = budget is None or value <= budget
        if not passed:
            section.failures.append(f"{what}: {value:,.0f} {unit} (budget {budget:,.0f})")
        section.rows.append([what, f"{fmt_ms(value)} {unit}",
                             f"≤ {budget:,.0f} {unit}" if budget else "–",
                             ok(passed) if budget else "–", note])

    def fetch(url: str, headers: dict[str, str] | None = None,
              want: int = 200) -> tuple[float, int, str]:
        got = _fetch(url, headers)
        if got[1] != want:
            unexpected.append(f"{url.split('/', 3)[-1]} → {got[1]}")
        return got

    ctx.log("image pass: starting gunicorn and the renderer…")
    with tempfile.TemporaryDirectory(prefix="bench-images-cache-") as cache_dir:
        previous = os.environ.get("MONOGRAPH_CACHE_URL")
        os.environ["MONOGRAPH_CACHE_URL"] = f"file://{cache_dir}"
        started = time.perf_counter()
        try:
            with localserver.gunicorn(env=SERVER_ENV) as base:
                up_ms = (time.perf_counter() - started) * 1000
                first_ms = fetch(f"{base}/simulations/fanout.png?seed=101")[0]
                row("server start → /healthz answers", up_ms, "ms", None,
                    "includes starting and warming the renderer")
                row("first image after start (PNG, never drawn)", first_ms, "ms",
                    FIRST_IMAGE_MS)

                ctx.log(f"  {n} warm images of each kind, one at a time")
                warm, warm_svg, with_sim = [], [], []
                cpu = 0.0
                for i in range(n):
                    fetch(f"{base}/simulations/fanout.json?seed={1000 + i}")
                    tree = renderer_tree(base)
                    before = cpu_seconds(tree)
                    warm.append(fetch(f"{base}/simulations/fanout.png?seed={1000 + i}")[0])
                    cpu += cpu_seconds(tree) - before
                    fetch(f"{base}/simulations/retries.json?seed={2000 + i}")
                    warm_svg.append(fetch(f"{base}/simulations/retries.svg?seed={2000 + i}")[0])
                    with_sim.append(fetch(f"{base}/simulations/canary.png?seed={4000 + i}")[0])
                row(f"warm PNG p50 ({n} images)", pct(warm, 50), "ms", None)
                row(f"warm PNG p95 ({n} images)", pct(warm, 95), "ms", WARM_P95_MS)
                row("renderer CPU time per warm PNG (mean)", cpu / n * 1000, "ms", None,
                    "what a PNG costs Chromium whatever else the machine runs")
                row(f"warm SVG p95 ({n} images)", pct(warm_svg, 95), "ms", WARM_P95_MS)
                row("warm PNG p95, simulation not run yet either", pct(with_sim, 95), "ms",
                    None, "adds the simulation's own time")

                tree = renderer_tree(base)
                if not tree:
                    raise BenchError("no renderer process under the server: is Chromium there?")
                after = footprint_mb(tree)
                rss, pss = memory_mb(tree)
                by_process = _by_process(tree)

                ctx.log(f"  {n} images from {CLIENTS} clients at once")
                t0 = time.perf_counter()
                with ThreadPoolExecutor(CLIENTS) as pool:
                    conc = list(pool.map(_fetch, [f"{base}/simulations/cost.png?seed={3000 + i}"
                                                  for i in range(n)]))
                row(f"PNG p95, {CLIENTS} clients at once", pct([r[0] for r in conc], 95), "ms",
                    None, f"{n / (time.perf_counter() - t0):.1f} images/s{_shed(conc)}")

                repeat = [fetch(f"{base}/simulations/fanout.png?seed={1000 + i}")[0]
                          for i in range(n)]
                row("repeated PNG p95 (shared cache, either worker)", pct(repeat, 95), "ms",
                    None)
                url = f"{base}/simulations/fanout.png?seed=1000"
                ms, status, _ = fetch(url, {"If-None-Match": _fetch(url)[2]}, want=304)
                row(f"revalidated PNG (If-None-Match → {status})", ms, "ms", None)

                # Memory under load, apart from the timed rows (sampling costs CPU).
                ctx.log(f"  {n} more images from {CLIENTS} clients, renderer memory sampled")
                with _Sampler(base) as sampler, ThreadPoolExecutor(CLIENTS) as pool:
                    loaded = list(pool.map(_fetch, [f"{base}/simulations/drift.png?seed={5000 + i}"
                                                    for i in range(n)]))
                n_proc = len(tree)
                if after is None:
                    row(f"renderer memory, PSS summed over {n_proc} processes", pss, "MB",
                        RENDERER_MB, "page frames unreadable (not root): PSS stands in")
                else:
                    row(f"renderer memory after the timed images ({n_proc} processes, "
                        "each page once)", after[0], "MB", RENDERER_MB,
                        f"of which {after[1]:,.0f} MB file-backed (Chromium's binary, libraries)")
                    if sampler.samples:
                        row(f"renderer memory, peak while {CLIENTS} clients draw "
                            "(each page once)", sampler.peak, "MB", RENDERER_MB,
                            f"highest of {sampler.samples} samples{_shed(loaded)}")
                    row("renderer memory, PSS summed", pss, "MB", None,
                        "shares of pages other processes also map are left out")
                row("renderer memory, RSS summed", rss, "MB", None,
                    "a page mapped by k processes counted k times")
                time.sleep(REST_S)  # the renderer collects its garbage when quiet
                rest = footprint_mb(renderer_tree(base))
                if rest is not None:
                    row(f"renderer memory at rest ({REST_S:.0f} s after the last image)",
                        rest[0], "MB", None, "after its garbage collection when quiet")
                if unexpected:
                    section.failures.append(
                        f"{len(unexpected)} timed requests did not answer as expected: "
                        + ", ".join(unexpected[:5]))
        except localserver.ServerDidNotStart as exc:
            raise BenchError(str(exc)) from None
        finally:
            if previous is None:
                os.environ.pop("MONOGRAPH_CACHE_URL", None)
            else:
                os.environ["MONOGRAPH_CACHE_URL"] = previous
    return [section, by_process]
