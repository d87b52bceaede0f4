"""The generated part of docs/contract.md: every simulation's parameters and metrics.

    make contract        # rewrite the reference section between its markers

Parameters come from the declarations; metric names from the golden results at the
defaults (tests/simulations/golden/, kept true by the golden test). tests/test_contract.py
fails, naming this command, when the section and the code disagree.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import simulations

from .golden import path_for

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "contract.md"
COMMAND = "make contract"
SECTION = re.compile(r"(<!-- reference:start[^>]*-->\n)(.*?)(<!-- reference:end -->)", re.S)


def metric_names(slug: str) -> list[str]:
    doc = json.loads(path_for(slug).read_text(encoding="utf-8"))
    return list(doc["runs"][0]["result"]["metrics"])


def reference() -> str:
    """The generated Markdown: one heading per simulation, its parameters and metrics."""
    out = []
    for slug, sim in simulations.registry().items():
        out += [f"### `{slug}`: {sim.title}", "", sim.description, "",
                "| parameter | allowed | default |", "|---|---|---|"]
        out += [f"| `{p.name}` | {p.describe()} | `{p.to_query(p.default)}` |"
                for p in sim.params]
        out += ["", "Metrics: " + ", ".join(f"`{m}`" for m in metric_names(slug)) + ".", ""]
    return "\n".join(out)


def documented() -> str:
    match = SECTION.search(DOC.read_text(encoding="utf-8"))
    if match is None:
        raise LookupError(f"{DOC} lost its reference markers")
    return match.group(2)


def main() -> int:
    text = DOC.read_text(encoding="utf-8")
    new = SECTION.sub(lambda m: m.group(1) + reference() + m.group(3), text)
    DOC.write_text(new, encoding="utf-8")
    print(f"{DOC.relative_to(ROOT)}: {'unchanged' if new == text else 'rewritten'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
