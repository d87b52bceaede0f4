"""The app's version: package version + git sha, computed once."""

from __future__ import annotations

import os
import subprocess
import tomllib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@cache
def version() -> str:
    """'0.1.0+abc1234' — the sha from MONOGRAPH_GIT_SHA, else git, else 'unknown'."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        base = tomllib.load(f)["project"]["version"]
    sha = os.environ.get("MONOGRAPH_GIT_SHA", "").strip()
    if not sha:
        try:
            sha = subprocess.run(
                ["git", "rev-parse", "--short=7", "HEAD"],  # noqa: S607
                cwd=ROOT, capture_output=True, text=True, timeout=5, check=True,
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            sha = ""
    return f"{base}+{sha[:12] or 'unknown'}"
