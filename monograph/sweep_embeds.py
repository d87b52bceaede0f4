"""Live sweeps inside a chapter: `[[sweep <simulation> <query> | caption]]` on a line of its own.

The marker is validated when the book loads (an unknown simulation, parameter or metric, or a
sweep over its budget, stops start-up naming the file and line), and becomes a figure that
loads the sweep when it scrolls into view; its points stream in like on the sweep page.
"""

from __future__ import annotations

import hashlib
import html
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode

from django.urls import reverse

import simulations
from simulations import ParamError
from simulations.engine import sweep as engine

MARKER_RE = re.compile(r"^\[\[sweep(?P<rest>[^\]]*)\]\]\s*$")
_TOKEN = "MONOGRAPH-SWEEP-SLOT-{}"


@dataclass(frozen=True)
class SweepEmbed:
    """One validated sweep marker: where it goes and the canonical query it runs."""

    simulation: str
    title: str
    query: str
    caption: str

    @property
    def key(self) -> str:
        return hashlib.sha256(f"{self.simulation}?{self.query}".encode()).hexdigest()[:10]

    def html(self) -> str:
        url = reverse("sweep_page", args=[self.simulation]) + "?" + self.query
        caption = (f'<span class="sim-caption">{html.escape(self.caption)}</span>'
                   if self.caption else "")
        return (
            f'<figure class="sim sweep-embed" id="sweep-fig-{self.key}" '
            f'aria-labelledby="sweep-title-{self.key}"><figcaption class="sim-head">'
            f'<span class="sim-kicker">Live sweep</span><strong class="sim-title" '
            f'id="sweep-title-{self.key}">{html.escape(self.title)}</strong>{caption}</figcaption>'
            f'<div class="sweep-slot" hx-get="{html.escape(url)}" hx-trigger="revealed" '
            f'hx-swap="outerHTML"><p><a href="{html.escape(url)}">Open this sweep</a> '
            '(it runs when it scrolls into view).</p></div></figure>'
        )


def _error(path: Path, line: int, message: str):
    from .content import ContentError  # content imports this module

    return ContentError(path, f"line {line}", message)


def parse_marker(path: Path, line_no: int, rest: str) -> SweepEmbed:
    """Validate one marker's simulation and query the way the sweep URL would."""
    head, _, caption = rest.partition("|")
    parts = head.split()
    if len(parts) != 2:
        raise _error(path, line_no, "a sweep marker is [[sweep <simulation> <query> | caption]]"
                                    f" (got {rest.strip()[:60]!r})")
    slug, query = parts
    sim = simulations.get(slug)
    if sim is None:
        raise _error(path, line_no, f"unknown simulation {slug!r} in sweep marker "
                                    f"(registered: {', '.join(simulations.registry())})")
    pairs = parse_qsl(query, keep_blank_values=True)
    own = {k: v for k, v in pairs if k in engine.SWEEP_NAMES}
    held = {k: v for k, v in pairs if k not in engine.SWEEP_NAMES and k != "mv"}
    try:
        base, seed = sim.parse(held)
        run = simulations.execute(sim, base, seed)
        spec = engine.parse_spec(sim, own, list(run["metrics"]))
        with_ci = {k for k, m in run["metrics"].items() if m.get("ci95")}
        engine.plan(sim, spec, base, seed, with_ci)
    except ParamError as exc:
        raise _error(path, line_no, f"sweep marker: {exc.message}") from None
    label = engine.metric_meta(run["metrics"])[spec.metrics[0]]["label"]
    title = f"{label} against {sim.param(spec.vary).label.lower()}"
    return SweepEmbed(slug, title, urlencode(pairs), caption.strip())


def extract(path: Path, body: str, first_line: int = 1) -> tuple[str, tuple[SweepEmbed, ...]]:
    """Replace each marker line with a placeholder paragraph; return the validated embeds.

    `first_line` is the body's first line number in the file, so errors name the file's line.
    """
    out, found = [], []
    for i, line in enumerate(body.split("\n"), start=first_line):
        m = MARKER_RE.match(line.strip())
        if m:
            found.append(parse_marker(path, i, m.group("rest")))
            out.append(f"\n{_TOKEN.format(len(found) - 1)}\n")
        else:
            out.append(line)
    return "\n".join(out), tuple(found)


def insert(rendered: str, embeds: tuple[SweepEmbed, ...]) -> str:
    """Put each embed's figure where its placeholder paragraph ended up (after sanitising)."""
    for i, embed in enumerate(embeds):
        rendered = rendered.replace(f"<p>{_TOKEN.format(i)}</p>", embed.html())
    return rendered
