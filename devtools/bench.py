"""make bench: measure the quality bars; print tables and write docs/performance.md.

    python -m devtools.bench [--runs N] [--no-browser] [--only SLUG] [--pass NAME]
                             [--output PATH] [--check]

A benchmark, not a test: budgets are reported, not enforced (unless --check).

Pluggable: every module `devtools/bench_*.py` that defines `sections(ctx) -> list[Section]`
is a pass (run in the order of its `ORDER`, default 100); each Section becomes one table
in the report, and its `failures` feed the verdict. Built in: bench_server (the figure
fragment through Django's test client) and bench_browser (the real server in chromium).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import logging
import os
import pkgutil
import platform
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "performance.md"


# -- what a pass gets and gives ------------------------------------------------------------
@dataclass
class Context:
    """What every pass is told: which simulations, how many runs, where to log."""

    sims: list  # the chosen simulations.Simulation objects
    runs: int
    log: Callable[[str], None]
    browser: bool = True  # False with --no-browser: passes that need chromium skip
    notes: list[str] = field(default_factory=list)  # lines for the verdict
    facts: dict[str, str] = field(default_factory=dict)  # e.g. browser version, for the header


@dataclass
class Section:
    """One table of the report."""

    title: str
    head: tuple[str, ...]
    rows: list[list[str]]
    note: str
    failures: list[str] = field(default_factory=list)  # budgets missed, in words


# -- formatting shared by the passes -------------------------------------------------------
def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=float), q))


def ok(passed: bool) -> str:
    return "pass" if passed else "**FAIL**"


def fmt_ms(x: float) -> str:
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def _md_table(head: tuple[str, ...], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out)


def _text_table(head: tuple[str, ...], rows: list[list[str]], cap: int = 48) -> str:
    def cut(c: str) -> str:
        c = c.replace("**", "").replace("`", "")
        return c if len(c) <= cap else c[: cap - 1] + "…"

    rows = [[cut(c) for c in r] for r in rows]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(head)]

    def line(cells: list[str] | tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, rows)])


def _machine() -> dict[str, str]:
    from monograph.version import version

    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "version": version(),
        "nproc": str(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                     else os.cpu_count()),
        "cpu": cpu,
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
        # Other work on the machine skews the browser numbers most: say how busy it was.
        "load": " / ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg")
                else "unknown",
    }


# -- the report ----------------------------------------------------------------------------
@dataclass
class Report:
    machine: dict[str, str]
    sections: list[Section]
    notes: list[str]
    facts: dict[str, str]

    @property
    def failures(self) -> list[str]:
        return [f for s in self.sections for f in s.failures]

    def markdown(self) -> str:
        m = self.machine
        browser = self.facts.get("browser", "")
        parts = [
            "# Performance",
            "",
            "Measured by `make bench` (`python -m devtools.bench`); budgets from the standing "
            "quality bars in `docs/contract.md`. Re-run it after changing a simulation, the "
            "figure template or the front-end bundle, and commit the new numbers. Profiles, "
            "before/after history and the open gaps are in `docs/performance-notes.md`.",
            "",
            f"- **Date:** {m['date']}",
            f"- **Version:** `{m['version']}`",
            f"- **Machine:** {m['nproc']} CPUs ({m['cpu']}), {m['os']}, Python {m['python']}"
            + (f", {browser}" if browser else ""),
            f"- **Load average when the run started (1 / 5 / 15 min):** {m['load']}",
            "- **Server:** gunicorn, 2 sync workers, `DEBUG` off, the default file cache in a "
            "fresh directory (browser pass); Django's test client in one process with the "
            "configured cache (server pass)",
            "",
        ]
        for s in self.sections:
            parts += [f"## {s.title}", "", s.note, "", _md_table(s.head, s.rows), ""]
        parts += ["## Verdict", ""]
        if self.failures:
            parts += [f"- over budget: {f}" for f in self.failures]
        else:
            parts.append("Every measured budget is met.")
        parts += [f"- {n}" for n in self.notes]
        return "\n".join(parts).rstrip() + "\n"


def passes() -> list:
    """Every devtools/bench_*.py module with a `sections` function, in ORDER."""
    import devtools

    found = []
    for info in pkgutil.iter_modules(devtools.__path__):
        if info.name.startswith("bench_"):
            module = importlib.import_module(f"devtools.{info.name}")
            if callable(getattr(module, "sections", None)):
                found.append(module)
    return sorted(found, key=lambda m: (getattr(m, "ORDER", 100), m.__name__))


# -- the command ---------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monograph.settings")
    import django

    django.setup()
    import simulations

    parser = argparse.ArgumentParser(prog="python -m devtools.bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20,
                        help="requests (and slider moves) per measurement (default 20)")
    parser.add_argument("--no-browser", action="store_true",
                        help="server-side measurements only (no gunicorn, no chromium)")
    parser.add_argument("--only", metavar="SLUG", action="append", default=[],
                        help="only this simulation (repeatable)")
    parser.add_argument("--pass", dest="passes", metavar="NAME", action="append", default=[],
                        help="only this pass, devtools/bench_NAME.py (repeatable), e.g. browser")
    parser.add_argument("--output", type=Path, default=None,
                        help=f"where to write the Markdown report (default {DOCS}; a partial "
                             "run writes it only when this is given)")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when a budget is missed")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    registry = simulations.registry()
    unknown = [s for s in args.only if s not in registry]
    if unknown:
        parser.error(f"unknown simulation(s) {unknown}; known: {', '.join(registry)}")
    chosen = [registry[s] for s in (args.only or registry)]
    known = {m.__name__.rsplit(".", 1)[-1].removeprefix("bench_"): m for m in passes()}
    bad = [n for n in args.passes if n not in known]
    if bad:
        parser.error(f"unknown pass(es) {bad}; known: {', '.join(known)}")
    selected = [m for n, m in known.items() if not args.passes or n in args.passes]
    partial = bool(args.only) or args.no_browser or bool(args.passes)

    # One log line per request would drown the table.
    logging.getLogger("monograph").setLevel(logging.WARNING)
    ctx = Context(chosen, args.runs, lambda msg: print(msg, file=sys.stderr),
                  browser=not args.no_browser)
    sections: list[Section] = []
    try:
        for module in selected:
            sections += module.sections(ctx)
    except BenchError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    if args.runs < 20:
        ctx.notes.append(f"only {args.runs} runs per measurement: p95 is rough below 20")
    report = Report(_machine(), sections, ctx.notes, ctx.facts)

    for s in report.sections:
        print(f"\n{s.title}\n{_text_table(s.head, s.rows)}")
    print()
    for f in report.failures:
        print(f"over budget: {f}")
    if not report.failures:
        print("every measured budget is met")
    for note in report.notes:
        print(f"note: {note}")

    target = args.output or (None if partial else DOCS)
    if target is not None:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(report.markdown())
        print(f"wrote {target}")
    else:
        print(f"partial run: {DOCS} left as it was (pass --output to write one)")
    return 1 if args.check and report.failures else 0


class BenchError(RuntimeError):
    """A pass cannot run (server did not start, chromium missing): the message says why."""


if __name__ == "__main__":
    sys.exit(main())
