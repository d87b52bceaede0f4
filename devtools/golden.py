"""Golden results: every simulation's JSON at its defaults and at each chapter preset.

The files under tests/simulations/golden/ are the numbers a permalink promises to give
back. `tests/simulations/test_golden.py` recomputes them and compares exactly, so a
change that moves any number fails. When a model change is deliberate, bump that
simulation's `model_version` and regenerate:

    make golden            # writes missing files and files whose model_version changed
    make golden ARGS=--force   # also overwrite a file whose numbers changed without a bump

Without --force this refuses to overwrite numbers that moved under an unchanged
model_version: old permalinks would silently show different numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import simulations
from simulations import Simulation

ROOT = Path(__file__).resolve().parent.parent
GOLDEN_DIR = ROOT / "tests" / "simulations" / "golden"
CONTENT_DIR = ROOT / "content"
COMMAND = "make golden"
FIELDS = ("params", "seed", "metrics", "series", "summary")


def presets(slug: str, content_dir: Path = CONTENT_DIR) -> list[tuple[str, dict[str, str]]]:
    """(label, query) for the defaults and every preset the chapters give this simulation."""
    from monograph.content import load_book  # the chapters own the presets

    sim = simulations.get(slug)
    assert sim is not None
    out = [("defaults", sim.to_query(sim.defaults(), simulations.SEED.default))]
    for page in load_book(content_dir).pages:
        figure = page.figure(slug)
        if figure is not None:
            out += [(f"{page.slug}: {p.label}", dict(p.query)) for p in figure.presets]
    return out


def compute(sim: Simulation, query: dict[str, str]) -> dict[str, Any]:
    """The public JSON fields that must not move, as JSON would give them back."""
    params, seed = sim.parse(query)
    result = simulations.execute(sim, params, seed)
    return json.loads(json.dumps({k: result[k] for k in FIELDS}))


def golden(sim: Simulation) -> dict[str, Any]:
    """The whole golden document for one simulation."""
    return {
        "simulation": sim.slug,
        "model_version": sim.model_version,
        "runs": [{"name": name, "query": query, "result": compute(sim, query)}
                 for name, query in presets(sim.slug)],
    }


def path_for(slug: str) -> Path:
    return GOLDEN_DIR / f"{slug}.json"


def write(doc: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    # The presets come from the chapters, whose sweep embeds reverse() their URLs.
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monograph.settings")
    import django

    django.setup()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("slugs", nargs="*", help="simulations to regenerate (default: all)")
    parser.add_argument("--force", action="store_true",
                        help="overwrite numbers that changed under the same model_version")
    args = parser.parse_args(argv)
    registry = simulations.registry()
    unknown = sorted(set(args.slugs) - set(registry))
    if unknown:
        parser.error(f"unknown simulation {unknown[0]!r}: one of {', '.join(registry)}")
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    refused = 0
    for slug in args.slugs or list(registry):
        sim, path = registry[slug], path_for(slug)
        doc = golden(sim)
        old = json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        if old == doc:
            print(f"{slug}: unchanged")
            continue
        if old is not None and old.get("model_version") == sim.model_version and not args.force:
            print(f"{slug}: numbers changed but model_version is still {sim.model_version}; "
                  f"bump model_version in simulations/models/{slug}.py (or pass --force)",
                  file=sys.stderr)
            refused += 1
            continue
        write(doc, path)
        print(f"{slug}: written ({len(doc['runs'])} runs, model_version {sim.model_version})")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
