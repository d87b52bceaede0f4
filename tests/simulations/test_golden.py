"""Golden results: the same permalink gives the same numbers, across processes and releases.

Each file under golden/ holds one simulation's public JSON (params, seed, metrics,
series, summary) at its defaults and at every chapter preset, written by `make golden`
(devtools/golden.py). The comparison is exact. A deliberate model change bumps the
simulation's `model_version` and regenerates; anything else that moves a number is a bug.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

import simulations
from devtools import golden

SLUGS = sorted(simulations.registry())


def _first_difference(want: Any, got: Any, where: str = "") -> str:
    """The JSON path of the first place two documents differ, with both values."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in [*want, *(k for k in got if k not in want)]:
            if key not in want or key not in got:
                return f"{where}.{key}: only in {'the file' if key in want else 'this run'}"
            if want[key] != got[key]:
                return _first_difference(want[key], got[key], f"{where}.{key}")
    if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (a, b) in enumerate(zip(want, got, strict=True)):
            if a != b:
                return _first_difference(a, b, f"{where}[{i}]")
    return f"{where}: the file has {str(want)[:80]}, this run gives {str(got)[:80]}"


@pytest.mark.parametrize("slug", SLUGS)
def test_every_simulation_gives_back_its_golden_numbers(slug):
    sim = simulations.get(slug)
    path = golden.path_for(slug)
    assert path.exists(), (f"no golden results for {slug}: run `{golden.COMMAND}` "
                           f"and commit {path.relative_to(golden.ROOT)}")
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["model_version"] == sim.model_version, (
        f"{slug} is at model_version {sim.model_version} but its golden file at "
        f"{doc['model_version']}: run `{golden.COMMAND}` and commit the new file")
    names = [name for name, _ in golden.presets(slug)]
    assert [r["name"] for r in doc["runs"]] == names, (
        f"{slug}'s presets changed: run `{golden.COMMAND}`")
    for run in doc["runs"]:
        got = golden.compute(sim, run["query"])
        assert got == run["result"], (
            f"{slug} at {run['name']!r} moved: {_first_difference(run['result'], got)}. "
            f"If the model changed on purpose, bump model_version in "
            f"simulations/models/{slug}.py and run `{golden.COMMAND}`.")
