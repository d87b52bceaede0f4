"""Live numbers: a chapter quotes a simulation's result instead of typing it.

In a page's Markdown (and in `figure_caption`) an expression in double braces names a
simulation run and one of its metrics:

    {{ false_rollback_rate preset="1 % canary with analysis" | %0 }}
    {{ fanout:p999_ms fanout=100 load=0.9 hedge_ms=25 seed=7 | ,.0f ms }}

At load time the expression is parsed and checked (simulation, metric, preset, every
parameter through the simulation's own `parse`, the format) and replaced by a token; a
problem raises ContentError naming the file and line. At render time `fill` swaps each
token for the value from `sims.run` — the cached run that draws the figure — linked to the
figure at exactly those settings. The grammar is documented in docs/content-format.md.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

import simulations
from simulations import ParamError, Simulation

EXPRESSION = re.compile(r"(?<!\\)\{\{(.+?)\}\}")  # one line: line numbers stay exact
TOKEN = re.compile(r"LIVENUM(\d{4})Z")
FIELDS = ("value", "closed_form", "ci_low", "ci_high")
_METRIC = re.compile(
    r"^(?:(?P<sim>[a-z0-9-]+):)?(?P<metric>[a-z_][a-z0-9_]*)(?:\.(?P<field>[a-z_]+))?"
    r"(?:(?P<op>[*/])(?P<factor>\d+(?:\.\d+)?))?$")
_FORMAT = re.compile(r"^(?P<pre>[^%.,\d]*?)(?P<spec>%\d?|,?(?:\.\d+)?[fgd])(?P<suf>.*)$", re.S)


class LiveNumberError(ValueError):
    """An expression is invalid; `line` is its line in the file."""

    def __init__(self, line: int, message: str):
        self.line = line
        super().__init__(f"line {line}: {message}")


@dataclass(frozen=True)
class Format:
    """How a value is written: empty = the metric table's own format (sims.format_value)."""

    spec: str = ""
    prefix: str = ""
    suffix: str = ""

    def apply(self, value: Any, unit: str) -> str:
        from .sims import format_value

        if value is None or isinstance(value, bool) or not self.spec:
            return format_value(value, unit)
        if self.spec.startswith("%"):
            digits = int(self.spec[1:] or 1)
            text = f"{value * 100:.{digits}f} %"
        elif self.spec.endswith("d"):
            text = format(round(value), self.spec)
        else:
            text = format(float(value), self.spec)
        return f"{self.prefix}{text}{self.suffix}"


def parse_format(text: str) -> Format:
    text = text.strip()
    if not text:
        return Format()
    m = _FORMAT.match(text)
    if not m:
        raise ValueError(f"format {text!r} is not one of: %, %N, .Nf, ,.Nf, .Ng, ,d "
                         "(with text before or after, e.g. '€,.0f' or '.1f h')")
    fmt = Format(spec=m["spec"], prefix=m["pre"], suffix=m["suf"])
    fmt.apply(1234.5, "")  # a bad spec fails here, at load time
    return fmt


@dataclass(frozen=True)
class LiveNumber:
    """One parsed expression: which run, which number, how to write it."""

    source: str
    sim: str
    params: Any
    seed: int
    metric: str
    field: str
    factor: float
    fmt: Format
    preset: str
    line: int
    on_page_figure: bool  # one of the page's own figures shows this simulation
    first_figure: bool = True  # ...and it is the page's first (its URL needs no `figure=`)

    @property
    def simulation(self) -> Simulation:
        sim = simulations.get(self.sim)
        assert sim is not None
        return sim

    @property
    def query(self) -> dict[str, str]:
        return self.simulation.to_query(self.params, self.seed)

    @cached_property
    def querystring(self) -> str:
        return urlencode(self.query)

    def pick(self, payload: Mapping[str, Any]) -> tuple[Any, str]:
        """The number this expression names, from a run's public result, and its unit."""
        m = payload["metrics"][self.metric]
        if self.field == "value":
            value = m["value"]
        elif self.field == "closed_form":
            value = m.get("closed_form")
        else:
            ci = m.get("ci95")
            value = None if not ci else ci[0 if self.field == "ci_low" else 1]
        if value is not None and not isinstance(value, bool) and self.factor != 1:
            value = value * self.factor
        return value, m["unit"]


# -- parsing --------------------------------------------------------------------------------
_metric_names: dict[tuple[str, int], frozenset[str]] = {}


def metric_names(sim: Simulation) -> frozenset[str]:
    """The metrics a simulation reports (one run at its defaults, remembered per process)."""
    key = (sim.slug, sim.model_version)
    if key not in _metric_names:
        result = sim.run(sim.defaults(), simulations.SEED.default)
        _metric_names[key] = frozenset(result.metrics)
    return _metric_names[key]


def _split_format(raw: str) -> tuple[str, str]:
    """The expression and its format: the first '|' outside quotes separates them."""
    quote = ""
    for i, ch in enumerate(raw):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch == "|":
            return raw[:i], raw[i + 1:]
    return raw, ""


def parse_expression(raw: str, line: int,
                     figures: Mapping[str, Mapping[str, Mapping[str, str]]]) -> LiveNumber:
    """One expression (the text between the braces) → a LiveNumber, or LiveNumberError.

    `figures` maps each of the page's figures (simulation slug, in page order) to its
    presets (label → query). An expression without `sim:` means the first figure; a
    `preset=` resolves against the figure of the simulation the expression names.
    """
    page_sim = next(iter(figures), None)
    source = " ".join(raw.split())
    expr, fmt_text = _split_format(source)
    try:
        words = shlex.split(expr)
    except ValueError as exc:
        raise LiveNumberError(line, f"{{{{ {source} }}}}: {exc}") from None
    if not words:
        raise LiveNumberError(line, "empty {{ }}: write {{ metric [name=value …] [| format] }}")
    m = _METRIC.match(words[0])
    if not m:
        raise LiveNumberError(line, f"{words[0]!r} is not [simulation:]metric[.field][*N|/N]")
    slug = m["sim"] or page_sim
    if slug is None:
        raise LiveNumberError(line, f"{words[0]!r}: this page has no simulation; write "
                                    "simulation:metric")
    sim = simulations.get(slug)
    if sim is None:
        known = ", ".join(simulations.registry())
        raise LiveNumberError(line, f"unknown simulation {slug!r} (registered: {known})")
    names = metric_names(sim)
    if m["metric"] not in names:
        raise LiveNumberError(line, f"{slug} has no metric {m['metric']!r} (it reports: "
                                    f"{', '.join(sorted(names))})")
    field = m["field"] or "value"
    if field not in FIELDS:
        raise LiveNumberError(line, f"field {field!r} must be one of {', '.join(FIELDS)}")
    factor = 1.0
    if m["factor"]:
        factor = float(m["factor"]) if m["op"] == "*" else 1 / float(m["factor"])
        if factor == 0 or factor == float("inf"):
            raise LiveNumberError(line, f"{words[0]!r}: cannot scale by zero")

    query: dict[str, str] = {}
    preset = ""
    for word in words[1:]:
        name, eq, value = word.partition("=")
        if not eq or not name:
            raise LiveNumberError(line, f"{word!r} must be name=value (quote values with "
                                        "spaces: preset=\"Big bang\")")
        if name == "preset":
            if slug not in figures:
                raise LiveNumberError(line, f"preset= names a preset of one of this page's "
                                            f"figures, and no figure here shows {slug}")
            presets = figures[slug]
            if value not in presets:
                raise LiveNumberError(line, f"unknown preset {value!r} (the {slug} figure's "
                                            f"presets: {', '.join(presets) or 'none'})")
            preset = value
            query = {**presets[value], **query}
        else:
            query[name] = value
    try:
        params, seed = sim.parse(query)
    except ParamError as exc:
        raise LiveNumberError(line, f"{{{{ {source} }}}}: {exc.message}") from None
    try:
        fmt = parse_format(fmt_text)
    except ValueError as exc:
        raise LiveNumberError(line, str(exc)) from None
    return LiveNumber(source=source, sim=slug, params=params, seed=seed, metric=m["metric"],
                      field=field, factor=factor, fmt=fmt, preset=preset, line=line,
                      on_page_figure=slug in figures, first_figure=slug == page_sim)


def tokenise(text: str, first_line: int,
             figures: Mapping[str, Mapping[str, Mapping[str, str]]], start: int = 0
             ) -> tuple[str, list[LiveNumber]]:
    """Replace every expression with a token; return the text and the parsed numbers."""
    numbers: list[LiveNumber] = []

    def replace(match: re.Match[str]) -> str:
        line = first_line + text.count("\n", 0, match.start())
        numbers.append(parse_expression(match.group(1), line, figures))
        return f"LIVENUM{start + len(numbers) - 1:04d}Z"

    out = EXPRESSION.sub(replace, text)
    if "{{" in out.replace("\\{{", ""):
        line = first_line + out.count("\n", 0, out.index("{{"))
        raise LiveNumberError(line, "'{{' without a closing '}}' on the same line (an expression "
                                    "sits on one line; write \\{{ for literal braces)")
    return out, numbers


def tokens_in(text: str) -> list[int]:
    return [int(i) for i in TOKEN.findall(text)]


# -- rendering ------------------------------------------------------------------------------
# The metrics of each setting the text quotes, remembered for the process: a run is
# deterministic for a version, parameters and seed, and the version is fixed per process.
_SEEN: dict[tuple[str, str], dict[str, Any]] = {}


def _runs(numbers: Iterable[LiveNumber]) -> dict[tuple[str, str], dict[str, Any]]:
    """One cached run per distinct setting (sims.run: the path the figures use)."""
    from . import admission, sims

    out: dict[tuple[str, str], dict[str, Any]] = {}
    for n in numbers:
        key = (n.sim, n.querystring)
        if key not in out:
            if key not in _SEEN:
                state = sims.State(n.simulation, n.params, n.seed)
                with admission.ungated():  # the book's own numbers are never shed
                    _SEEN[key] = {"metrics": sims.run(state).metrics}
            out[key] = _SEEN[key]
    return out


def values(numbers: Iterable[LiveNumber]) -> list[Any]:
    """Each number's value (tests compare them with what the prose claims)."""
    numbers = list(numbers)
    runs = _runs(numbers)
    return [n.pick(runs[(n.sim, n.querystring)])[0] for n in numbers]


def href(n: LiveNumber, page_url: str) -> str:
    """The figure at this number's settings: the page's own figure (named with `figure=`
    when it is not the first), else the simulation's lab."""
    if not n.on_page_figure:
        return f"{reverse('lab', kwargs={'sim': n.sim})}?{n.querystring}#fig-{n.sim}"
    named = "" if n.first_figure else f"{urlencode({'figure': n.sim})}&"
    return f"{page_url}?{named}{n.querystring}#fig-{n.sim}"


def fill(html: str, numbers: tuple[LiveNumber, ...], page_url: str) -> SafeString:
    """Swap each token in rendered (sanitised) HTML for its value, linked to its figure."""
    wanted = [numbers[i] for i in sorted(set(tokens_in(html)))]
    if not wanted:
        return mark_safe(html)  # noqa: S308 - sanitised at load time
    runs = _runs(wanted)

    def replace(match: re.Match[str]) -> str:
        n = numbers[int(match.group(1))]
        payload = runs[(n.sim, n.querystring)]
        value, unit = n.pick(payload)
        label = payload["metrics"][n.metric]["label"]
        where = f"preset “{n.preset}”" if n.preset else "these settings"
        title = f"{label}, from the {n.sim} simulation at {where} (seed {n.seed}): open the figure"
        return (f'<a class="live-number" href="{escape(href(n, page_url))}" '
                f'title="{escape(title)}">{escape(n.fmt.apply(value, unit))}</a>')

    return mark_safe(TOKEN.sub(replace, html))  # noqa: S308 - values escaped above


def warm(numbers: Iterable[LiveNumber]) -> int:
    """Run (and cache) every distinct setting; returns how many there were."""
    return len(_runs(numbers))


def check_placement(body: str, first_line: int) -> None:
    """Live numbers may not sit in headings (the table of contents is plain text)."""
    for i, line in enumerate(body.splitlines()):
        if line.lstrip().startswith("#") and TOKEN.search(line):
            raise LiveNumberError(first_line + i, "a live number cannot go in a heading")
