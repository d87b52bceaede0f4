"""The real server on a free local port, and the system's chromium: shared by the browser
tests and `make bench`, so both measure exactly what `make run` serves."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from django.conf import settings

HOST = "127.0.0.1"
START_TIMEOUT_S = 60
# Headless, and quiet on a closed network (no background fetches). No sandbox: CI runs
# as root in a container, where chromium's sandbox cannot start.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium() -> Path | None:
    """The system's chromium (`CHROMIUM` overrides; else chromium on PATH), or None.

    Never a browser build downloaded by Playwright: `make browser-deps` installs Debian's.
    """
    override = os.environ.get("CHROMIUM")
    if override:
        return Path(override) if Path(override).exists() else None
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


MISSING_CHROMIUM = ("chromium is not installed: `make browser-deps` installs Debian's "
                    "(apt-get install chromium), or set CHROMIUM to its path")


class ServerDidNotStart(RuntimeError):
    """gunicorn exited or never answered /healthz; the message ends with its log."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def static_is_stale() -> bool:
    """True when staticfiles/ is missing or older than a file in static/ (hashed names change)."""
    manifest = Path(settings.STATIC_ROOT) / "staticfiles.json"
    if not manifest.exists():
        return True
    built = manifest.stat().st_mtime
    return any(p.stat().st_mtime > built
               for d in settings.STATICFILES_DIRS for p in Path(d).rglob("*") if p.is_file())


def collectstatic() -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        raise ServerDidNotStart(f"manage.py collectstatic failed:\n{result.stdout}\n{result.stderr}")


def _wait_healthy(url: str, proc: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerDidNotStart(f"gunicorn exited with {proc.returncode} before answering "
                                    f"/healthz:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise ServerDidNotStart(f"gunicorn did not answer {url}/healthz within {START_TIMEOUT_S} s:"
                            f"\n{log.read_text()[-4000:]}")


@contextlib.contextmanager
def gunicorn(workers: int = 2) -> Iterator[str]:
    """The book served as `make run` serves it (gunicorn, WhiteNoise); yields the base URL."""
    if static_is_stale():
        collectstatic()
    with tempfile.TemporaryDirectory(prefix="monograph-server-") as tmp:
        prom = Path(tmp) / "prometheus"
        prom.mkdir()
        log = Path(tmp) / "gunicorn.log"
        port = free_port()
        url = f"http://{HOST}:{port}"
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(prom), "PYTHONUNBUFFERED": "1"}
        with log.open("wb") as out:
            proc = subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
                [sys.executable, "-m", "gunicorn", "monograph.wsgi:application",
                 "-c", "gunicorn.conf.py", "--bind", f"{HOST}:{port}", "--workers", str(workers)],
                cwd=settings.BASE_DIR, env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            _wait_healthy(url, proc, log)
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
