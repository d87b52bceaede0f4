"""Debian tools some tests drive (redis-server, promtool), and a real Redis on a free port.

`make test` installs the tools first (scripts/ensure-ops-tools.sh). Run alone, a test that
needs a missing tool is skipped with the command to run; under CI it fails instead, so a
broken install step cannot pass unseen.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

import pytest

from monograph.localserver import free_port


def require(tool: str) -> str:
    """The tool's path, or skip (fail under CI) naming what installs it."""
    path = shutil.which(tool)
    if path:
        return path
    message = f"{tool} is not installed: run `make ops-deps` (scripts/ensure-ops-tools.sh)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


class RedisServer:
    """A throwaway redis-server on 127.0.0.1: no persistence, stopped and restarted at will."""

    def __init__(self, binary: str, port: int, workdir: str) -> None:
        self.binary, self.port, self.workdir = binary, port, workdir
        self.url = f"redis://127.0.0.1:{port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.workdir, "--maxmemory", "64mb",
             "--maxmemory-policy", "allkeys-lru"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _ping(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Kill it, as a crash would (no clean shutdown)."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@contextlib.contextmanager
def redis_server() -> Iterator[RedisServer]:
    binary = require("redis-server")
    with tempfile.TemporaryDirectory(prefix="monograph-redis-") as workdir:
        server = RedisServer(binary, free_port(), workdir)
        server.start()
        try:
            yield server
        finally:
            server.stop()
