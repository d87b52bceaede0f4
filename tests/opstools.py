"""Debian tools some tests drive (redis-server, promtool), and a real Redis on a free port.

`make test` installs the tools first (scripts/ensure-ops-tools.sh). Run alone, a test that
needs a missing tool is skipped with the command to run; under CI it fails instead, so a
broken install step cannot pass unseen.
"""

from __future__ import annotations

import contextlib
import os
import shutil

import pytest

from devtools import localserver
from devtools.localserver import RedisServer


def require(tool: str) -> str:
    """The tool's path, or skip (fail under CI) naming what installs it."""
    path = shutil.which(tool)
    if path:
        return path
    message = f"{tool} is not installed: run `make ops-deps` (scripts/ensure-ops-tools.sh)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def redis_server() -> contextlib.AbstractContextManager[RedisServer]:
    """A real redis-server on a free port for one test (skipped or failed when absent)."""
    return localserver.redis_server(require("redis-server"))
