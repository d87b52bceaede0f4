"""python manage.py bench_images [--requests N] [--clients C] [--output PATH] — image budgets.

Against the real server (gunicorn, 2 workers, the machine's one renderer, a file cache the
workers share): how long gunicorn takes to answer, the first image after that, warm images
(renderer up, image never drawn before) one at a time and from C clients at once, repeats
(served from the shared cache, whichever worker answers), and the renderer's memory.
Prints a table and writes an "Images" section into docs/performance.md (after `manage.py
bench`, which rewrites the rest). A benchmark, not a test: budgets are reported.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from ... import localserver
from .bench import DOCS, _machine, _md_table, _ms, _text_table, ok, pct

WARM_P95_MS = 300.0
FIRST_IMAGE_MS = 3000.0
RENDERER_MB = 600.0
START, END = "<!-- bench_images:start -->", "<!-- bench_images:end -->"


def _fetch(url: str) -> tuple[float, int, str]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as resp:  # noqa: S310 - our local server
        body = resp.read()
        return (time.perf_counter() - start) * 1000, len(body), resp.headers.get("ETag", "")


def _tree(root: int) -> list[int]:
    out = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True,  # noqa: S607
                         check=True).stdout
    kids: dict[int, list[int]] = {}
    for line in out.splitlines():
        pid, ppid = map(int, line.split())
        kids.setdefault(ppid, []).append(pid)
    found, i = [root], 0
    while i < len(found):
        found += kids.get(found[i], [])
        i += 1
    return found


def _memory_mb(pids: list[int]) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) in MB. RSS counts pages shared between processes once per
    process (Chromium's binary and zygote pages), PSS splits them: the real share."""
    rss = pss = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
    return rss / 1024, pss / 1024


def _renderer_pids(base: str) -> list[int]:
    """The renderer started by the gunicorn serving base (its master's child)."""
    out = subprocess.run(["ps", "-eo", "pid=,ppid=,args="], capture_output=True,  # noqa: S607
                         text=True, check=True).stdout
    procs = [line.split(None, 2) for line in out.splitlines() if len(line.split(None, 2)) == 3]
    bind = base.split("//", 1)[1]
    servers = {int(pid) for pid, _, args in procs if "gunicorn" in args and bind in args}
    return [int(pid) for pid, ppid, args in procs
            if "monograph.renderer" in args and int(ppid) in servers]


class Command(BaseCommand):
    help = "Measure image latency (first, warm, cached) and renderer memory; write docs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--requests", type=int, default=30,
                            help="warm images drawn one at a time (default 30)")
        parser.add_argument("--clients", type=int, default=4,
                            help="clients at once for the concurrent pass (default 4)")
        parser.add_argument("--output", type=Path, default=DOCS,
                            help=f"Markdown file to write the section into (default {DOCS})")

    def handle(self, *args, **opts) -> None:
        n, clients = opts["requests"], opts["clients"]
        if n < 5 or clients < 1:
            raise CommandError("--requests must be at least 5 and --clients at least 1")
        say = self.stderr.write
        rows: list[list[str]] = []
        failures: list[str] = []

        def row(what: str, value: float, unit: str, budget: float | None, note: str = "") -> None:
            passed = budget is None or value <= budget
            if not passed:
                failures.append(f"{what}: {value:,.0f} {unit} (budget {budget:,.0f})")
            rows.append([what, f"{_ms(value)} {unit}",
                         f"≤ {budget:,.0f} {unit}" if budget else "–",
                         ok(passed) if budget else "–", note])

        with tempfile.TemporaryDirectory(prefix="bench-images-cache-") as cache_dir:
            os.environ["MONOGRAPH_CACHE_URL"] = f"file://{cache_dir}"
            say("starting gunicorn (2 workers) and the renderer…")
            started = time.perf_counter()
            try:
                server = localserver.gunicorn()
                base = server.__enter__()
            except localserver.ServerDidNotStart as exc:
                raise CommandError(str(exc)) from None
            try:
                up_ms = (time.perf_counter() - started) * 1000
                first_ms, _, _ = _fetch(f"{base}/simulations/fanout.png?seed=101")
                row("server start → /healthz answers", up_ms, "ms", None,
                    "renderer started and warmed before the workers fork")
                row("first image after start (PNG, never drawn)", first_ms, "ms",
                    FIRST_IMAGE_MS)

                say(f"{n} warm images, one at a time…")
                warm, warm_svg, with_sim = [], [], []
                for i in range(n):
                    # The result is cached first (as when a reader's page asked for it):
                    # this times the image alone.
                    _fetch(f"{base}/simulations/fanout.json?seed={1000 + i}")
                    warm.append(_fetch(f"{base}/simulations/fanout.png?seed={1000 + i}")[0])
                    _fetch(f"{base}/simulations/retries.json?seed={2000 + i}")
                    warm_svg.append(_fetch(f"{base}/simulations/retries.svg?seed={2000 + i}")[0])
                    with_sim.append(_fetch(f"{base}/simulations/canary.png?seed={4000 + i}")[0])
                row(f"warm PNG p50 ({n} images never drawn, one at a time)", pct(warm, 50), "ms",
                    None)
                row(f"warm PNG p95 ({n} images never drawn, one at a time)", pct(warm, 95), "ms",
                    WARM_P95_MS)
                row("warm SVG p95", pct(warm_svg, 95), "ms", WARM_P95_MS)
                row("warm PNG p95, simulation not yet run either", pct(with_sim, 95), "ms",
                    None, "the simulation's own time added")

                say(f"{n} images from {clients} clients at once…")
                t0 = time.perf_counter()
                with ThreadPoolExecutor(clients) as pool:
                    conc = [r[0] for r in pool.map(
                        _fetch, [f"{base}/simulations/cost.png?seed={3000 + i}"
                                 for i in range(n)])]
                wall = time.perf_counter() - t0
                row(f"concurrent PNG p95 ({clients} clients)", pct(conc, 95), "ms", None,
                    f"{n / wall:.1f} images/s")

                say("repeats (shared cache)…")
                cached = [_fetch(f"{base}/simulations/fanout.png?seed={1000 + i % n}")[0]
                          for i in range(n)]
                row("repeat PNG p95 (shared cache, either worker)", pct(cached, 95), "ms", None)
                etag = _fetch(f"{base}/simulations/fanout.png?seed=1000")[2]
                req = urllib.request.Request(  # noqa: S310 - our local server
                    f"{base}/simulations/fanout.png?seed=1000",
                                             headers={"If-None-Match": etag})
                t1 = time.perf_counter()
                try:
                    urllib.request.urlopen(req, timeout=10)  # noqa: S310
                    status = 200
                except urllib.error.HTTPError as exc:
                    status = exc.code
                row(f"revalidation (If-None-Match → {status})",
                    (time.perf_counter() - t1) * 1000, "ms", None)

                pids = _renderer_pids(base)
                if not pids:
                    raise CommandError("no renderer process found under the server")
                rss, pss = _memory_mb([q for p in pids for q in _tree(p)])
                row("renderer memory, sum of RSS over its process tree", rss, "MB",
                    RENDERER_MB, "counts shared pages once per process")
                row("renderer memory, sum of PSS over its process tree", pss, "MB", None,
                    "shared pages split between processes: the real cost")
            finally:
                server.__exit__(None, None, None)
                os.environ.pop("MONOGRAPH_CACHE_URL", None)

        head = ["measure", "value", "budget", "verdict", "note"]
        self.stdout.write("\n" + _text_table(head, rows, cap=60))
        for f in failures:
            self.stdout.write(self.style.WARNING(f"over budget: {f}"))
        m = _machine()
        section = "\n".join([
            START, "## Images", "",
            f"`python manage.py bench_images --requests {n} --clients {clients}`, {m['date']}, "
            f"version `{m['version']}`, {m['nproc']} CPUs, load {m['load']}. gunicorn with 2 "
            "workers and a file cache they share; one renderer (kaleido + Chromium) per "
            "machine, started by the gunicorn master. Warm = the renderer is up and the image "
            "was never drawn before.", "",
            _md_table(head, rows), "",
            *(f"- over budget: {f}" for f in failures),
            END, ""])
        target: Path = opts["output"]
        text = target.read_text() if target.exists() else ""
        if START in text and END in text:
            text = re.sub(re.escape(START) + r".*?" + re.escape(END) + r"\n?",
                          lambda _: section, text, flags=re.S)
        else:
            text = text.rstrip() + "\n\n" + section
        target.write_text(text)
        self.stdout.write(f"wrote the Images section of {target}")
