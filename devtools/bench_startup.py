"""Bench pass: `make run` to the first page served, on a warm environment.

The very command a reader types (`make run`, on a free port): it installs nothing new (the
environment is warm: .venv synced, static files collected), starts gunicorn with its workers
and the machine's image renderer, and the time stops when `/` first answers 200. Three starts;
each server is stopped (its whole process group) before the next.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import localserver
from .bench import ROOT, BenchError, Context, Section, ok

ORDER = 90
STARTUP_BUDGET_S = 15.0
STARTS = 3
GIVE_UP_S = 90.0


def _first_page_s(port: int, log: Path) -> float:
    """Seconds from `make run` to the first 200 on `/`."""
    env = {**os.environ, "PORT": str(port), "HOST": localserver.HOST}
    env.pop("MAKEFLAGS", None)
    with log.open("wb") as out:
        start = time.monotonic()
        make = shutil.which("make") or "make"
        proc = subprocess.Popen([make, "--no-print-directory", "run", f"PORT={port}",  # noqa: S603
                                 f"HOST={localserver.HOST}"], cwd=ROOT, env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            url = f"http://{localserver.HOST}:{port}/"
            while time.monotonic() - start < GIVE_UP_S:
                if proc.poll() is not None:
                    raise BenchError(f"`make run` exited with {proc.returncode}: "
                                     f"{log.read_text(errors='replace')[-800:]}")
                try:
                    with urllib.request.urlopen(url, timeout=5) as resp:
                        if resp.status == 200:
                            return time.monotonic() - start
                except (urllib.error.URLError, ConnectionError, TimeoutError):
                    pass
                time.sleep(0.05)
            raise BenchError(f"`make run` served no page within {GIVE_UP_S:.0f} s")
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def sections(ctx: Context) -> list[Section]:
    ctx.log(f"startup pass: `make run` to the first page, {STARTS} starts…")
    localserver.collectstatic()  # warm: what `make run`'s own `static` step would do
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(STARTS):
            times.append(_first_page_s(localserver.free_port(), Path(tmp) / f"run{i}.log"))
    worst = max(times)
    section = Section(
        "`make run` to the first page", ("starts", "each s", "worst s",
                                         f"≤ {STARTUP_BUDGET_S:.0f} s"),
        [[str(STARTS), ", ".join(f"{t:.1f}" for t in times), f"{worst:.1f}",
          ok(worst <= STARTUP_BUDGET_S)]],
        "Warm environment (the locked .venv installed, static files collected): the time "
        "from running `make run` on a free port to the first 200 on `/`, which includes "
        "make's own up-to-date checks, gunicorn's start, its workers importing Django and "
        "the simulations, and the machine's renderer starting beside them.")
    if worst > STARTUP_BUDGET_S:
        section.failures.append(f"`make run` took {worst:.1f} s to serve its first page")
    return [section]
