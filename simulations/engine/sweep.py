"""Sweeps: one or more metrics against one parameter, every other parameter held, with CIs.

A sweep is a list of ordinary runs, one per (x, series) point, so every point is cached and
reproducible like any figure. A metric that carries its own 95 % CI (a proportion, a quantile)
is reported with it; a metric that doesn't is run again with REPEATS consecutive seeds and
reported as the mean with a Student-t interval over those runs. Where a metric has a closed
form, its value at each point is drawn as a line, so the simulated points can be seen sitting
on (or off) the theory.

Pure Python: the caller supplies `run_json(params, seed)`, so the web layer can pass its
cached run and the CLI the same.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from . import plotting
from .core import Simulation
from .params import SEED, Param, ParamError
from .plotting import PALETTE, axis

# -- limits --------------------------------------------------------------------------------
MAX_POINTS = 40
DEFAULT_POINTS = 12
MAX_SERIES = 6
MAX_METRICS = 4
REPEATS = 5  # seeds per point for a metric with no CI of its own
MAX_RUNS = 240  # points × series × repeats: the budget a single sweep may spend
# Student t quantile for a two-sided 95 % interval with REPEATS − 1 = 4 degrees of freedom
# (standard tables, e.g. NIST/SEMATECH e-Handbook, table 1.3.6.7.2).
T95_4DF = 2.776445105

# Query names a sweep adds to a simulation's own parameters (no simulation may declare them).
SWEEP_NAMES = frozenset({"vary", "lo", "hi", "points", "metric", "by", "by_values"})

RunJson = Callable[[Any, int], Mapping[str, Any]]


# -- the request ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SweepSpec:
    """What to sweep: a numeric parameter over [lo, hi], some metrics, an optional series."""

    vary: str
    lo: float
    hi: float
    points: int
    metrics: tuple[str, ...]
    by: str | None = None
    by_values: tuple[Any, ...] = ()

    def xs(self, sim: Simulation) -> list[Any]:
        """The swept values, on the parameter's declared scale, distinct and in order."""
        return sweep_values(sim.param(self.vary), self.lo, self.hi, self.points)

    def series_values(self) -> tuple[Any, ...]:
        return self.by_values if self.by else (None,)


def numeric_params(sim: Simulation) -> list[Param]:
    """The parameters a sweep can vary."""
    return [p for p in sim.params if p.kind in ("int", "float")]


def sweep_values(p: Param, lo: float, hi: float, n: int) -> list[Any]:
    """n values from lo to hi, geometric on a log-scale parameter, whole numbers for ints."""
    raw = np.geomspace(lo, hi, n) if p.scale == "log" else np.linspace(lo, hi, n)
    if p.kind == "int":
        out = sorted({round(float(v)) for v in raw})
    else:
        out = [float(f"{v:.6g}") for v in raw]
        out = sorted(set(out))
    # Rounding can step a hair outside the declared range; clamp back inside it.
    return [min(max(v, p.min), p.max) for v in out]  # type: ignore[type-var]


def parse_spec(sim: Simulation, query: Mapping[str, str], metric_names: list[str]) -> SweepSpec:
    """Validate the sweep's own query names, or raise ParamError naming the one to fix."""
    numeric = numeric_params(sim)
    names = [p.name for p in numeric]
    vary = query.get("vary", sim.main_param if sim.main_param in names else names[0])
    if vary not in names:
        raise ParamError("vary", f"vary must name a numeric parameter of {sim.slug}: "
                                 + ", ".join(names) + f" (got {str(vary)[:40]!r})")
    p = sim.param(vary)
    lo = _bound(p, "lo", query.get("lo"), p.min)
    hi = _bound(p, "hi", query.get("hi"), p.max)
    if not lo < hi:
        raise ParamError("lo", f"lo must be below hi (got lo={lo:g}, hi={hi:g})")
    points = _int_in("points", query.get("points"), DEFAULT_POINTS, 2, MAX_POINTS)
    metrics = _metrics(query.get("metric"), metric_names)
    by, by_values = _series(sim, vary, query.get("by"), query.get("by_values"))
    return SweepSpec(vary, lo, hi, points, metrics, by, by_values)


def _bound(p: Param, name: str, raw: str | None, default: float | None) -> float:
    assert default is not None
    if raw is None or raw == "":
        return float(default)
    try:
        value = p.parse(raw)
    except ParamError as exc:
        raise ParamError(name, f"{name} must be a value of {p.name}: {exc.message}") from None
    return float(value)


def _int_in(name: str, raw: str | None, default: int, lo: int, hi: int) -> int:
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if not text.isdigit() or len(text) > 6 or not lo <= int(text) <= hi:
        raise ParamError(name, f"{name} must be a whole number between {lo} and {hi} "
                               f"(got {text[:40]!r})")
    return int(text)


def _metrics(raw: str | None, known: list[str]) -> tuple[str, ...]:
    if raw is None or raw.strip() == "":
        return (known[0],)
    names = tuple(dict.fromkeys(m.strip() for m in raw.split(",") if m.strip()))
    if not names or len(names) > MAX_METRICS:
        raise ParamError("metric", f"metric must list 1 to {MAX_METRICS} metric names, "
                                   f"comma-separated (got {len(names)})")
    for m in names:
        if m not in known:
            raise ParamError("metric", f"unknown metric {m[:40]!r}: choose from "
                                       + ", ".join(known))
    return names


def _series(sim: Simulation, vary: str, by: str | None, raw: str | None
            ) -> tuple[str | None, tuple[Any, ...]]:
    if by is None or by == "":
        return None, ()  # by_values without by (a form left half-filled) draws no series
    names = [p.name for p in sim.params if p.name != vary]
    if by not in names:
        raise ParamError("by", f"by must name another parameter of {sim.slug}: "
                               + ", ".join(names) + f" (got {by[:40]!r})")
    p = sim.param(by)
    if raw is None or raw.strip() == "":
        if p.kind == "choice":
            values: tuple[Any, ...] = p.choices
        elif p.kind == "bool":
            values = (False, True)
        else:
            raise ParamError("by_values", f"by_values must list the values of {by} to draw, "
                                          f"comma-separated ({p.describe()})")
    else:
        items = [s.strip() for s in raw.split(",") if s.strip()]
        try:
            values = tuple(dict.fromkeys(p.parse(s) for s in items))
        except ParamError as exc:
            raise ParamError("by_values", f"by_values: {exc.message}") from None
    if not 1 <= len(values) <= MAX_SERIES:
        raise ParamError("by_values", f"by_values must list 1 to {MAX_SERIES} values "
                                      f"(got {len(values)})")
    return by, values


# -- planning -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Point:
    """One (x, series) point of a sweep: the parameters to run and the seeds to run them with."""

    index: int
    x: Any
    series: Any
    params: Any
    seeds: tuple[int, ...]


def plan(sim: Simulation, spec: SweepSpec, base: Any, seed: int, metrics_with_ci: set[str]
         ) -> list[Point]:
    """Every point of the sweep, checked against the simulation's limits and the run budget."""
    repeats = 1 if set(spec.metrics) <= metrics_with_ci else REPEATS
    xs = spec.xs(sim)
    series = spec.series_values()
    runs = len(xs) * len(series) * repeats
    if runs > MAX_RUNS:
        fit = max(2, MAX_RUNS // (len(series) * repeats))
        raise ParamError("points", (
            f"this sweep needs {runs} runs ({len(xs)} points × {len(series)} series × "
            f"{repeats} seeds) and the limit is {MAX_RUNS}: use points={fit} or fewer, fewer "
            "by_values, or metrics that carry their own confidence interval"))
    seeds = tuple((seed + k) % (SEED.max + 1) for k in range(repeats))  # type: ignore[operator]
    out = []
    for s in series:
        for x in xs:
            changes = {spec.vary: x} | ({spec.by: s} if spec.by else {})
            params = replace(base, **changes)
            if sim.check is not None:
                try:
                    sim.check(params)
                except ParamError as exc:
                    at = f"{spec.vary}={_text(x)}" + (f", {spec.by}={_text(s)}" if spec.by else "")
                    raise ParamError(exc.name, f"at {at}: {exc.message}; narrow the range "
                                               "(lo/hi) or change the held parameters") from None
            out.append(Point(len(out), x, s, params, seeds))
    return out


def _text(v: Any) -> str:
    return f"{v:g}" if isinstance(v, float) else str(v)


# -- measuring -------------------------------------------------------------------------------
@dataclass(frozen=True)
class PointValue:
    """A metric at one point: value, 95 % CI, closed form, and how many runs it took."""

    value: float | None
    ci95: tuple[float, float] | None
    closed_form: float | None
    runs: int
    never: int = 0  # runs where the metric had no value (e.g. never recovered)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _num(self.value), "runs": self.runs}
        out["ci95"] = [_num(self.ci95[0]), _num(self.ci95[1])] if self.ci95 else None
        out["closed_form"] = _num(self.closed_form)
        if self.never:
            out["never"] = self.never
        return out


def _num(x: float | None) -> float | None:
    if x is None or not math.isfinite(x):
        return None
    return float(f"{x:.6g}")


def _as_float(v: Any) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    return float(v)


def measure(point: Point, metrics: tuple[str, ...], run_json: RunJson) -> dict[str, PointValue]:
    """Run a point (once, or once per seed) and summarise each metric with its 95 % CI."""
    results = [run_json(point.params, s) for s in point.seeds]
    out = {}
    for name in metrics:
        first = results[0]["metrics"][name]
        closed = _as_float(first.get("closed_form"))
        if len(results) == 1 or first.get("ci95"):
            ci = first.get("ci95")
            out[name] = PointValue(_as_float(first["value"]),
                                   (float(ci[0]), float(ci[1])) if ci and None not in ci else None,
                                   closed, 1, int(first["value"] is None))
            continue
        values = [_as_float(r["metrics"][name]["value"]) for r in results]
        seen = np.array([v for v in values if v is not None], dtype=float)
        never = len(values) - seen.size
        if seen.size == 0:
            out[name] = PointValue(None, None, closed, len(values), never)
            continue
        mean = float(seen.mean())
        if seen.size == REPEATS:
            half = T95_4DF * float(seen.std(ddof=1)) / math.sqrt(seen.size)
            ci: tuple[float, float] | None = (mean - half, mean + half)
        else:  # some runs had no value: the mean is over fewer runs, say so with no CI
            ci = None
        out[name] = PointValue(mean, ci, closed, len(values), never)
    return out


def metric_meta(metrics: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """Label (its short form, before any colon) and unit of every metric of any run."""
    return {k: {"label": m["label"].split(":")[0].strip(), "unit": m["unit"]}
            for k, m in metrics.items()}


# -- shaping ----------------------------------------------------------------------------------
def series_table(spec: SweepSpec, points: list[Point], values: Mapping[int, dict[str, PointValue]]
                 ) -> dict[str, list[Any]]:
    """The sweep in long form: one row per (point, metric), ready for CSV."""
    cols: dict[str, list[Any]] = {spec.vary: [], **({spec.by: []} if spec.by else {}),
                                  "metric": [], "value": [], "ci95_lo": [], "ci95_hi": [],
                                  "closed_form": [], "runs": []}
    for pt in points:
        got = values.get(pt.index)
        if got is None:
            continue
        for name in spec.metrics:
            v = got[name]
            cols[spec.vary].append(pt.x)
            if spec.by:
                cols[spec.by].append(pt.series)
            cols["metric"].append(name)
            cols["value"].append(_num(v.value))
            cols["ci95_lo"].append(_num(v.ci95[0]) if v.ci95 else None)
            cols["ci95_hi"].append(_num(v.ci95[1]) if v.ci95 else None)
            cols["closed_form"].append(_num(v.closed_form))
            cols["runs"].append(v.runs)
    return cols


def summary(sim: Simulation, spec: SweepSpec, points: list[Point],
            values: Mapping[int, dict[str, PointValue]], meta: Mapping[str, Mapping[str, str]]
            ) -> str:
    """One or two plain sentences about the sweep: the range covered and where it ended up."""
    done = sum(1 for p in points if p.index in values)
    p = sim.param(spec.vary)
    unit_text = f" {p.unit}" if p.unit and p.unit != "share" else ""
    first = f"{meta[spec.metrics[0]]['label']} against {p.label.lower()} from " \
            f"{_text(spec.lo)} to {_text(spec.hi)}{unit_text}"
    if done < len(points):
        return f"{first}: {done} of {len(points)} points computed so far."
    name = spec.metrics[0]
    row = [values[pt.index][name] for pt in points if pt.series == spec.series_values()[0]]
    ends = [v.value for v in (row[0], row[-1])]
    unit = meta[name]["unit"]
    text = f"{first}: it goes from {_fmt(ends[0], unit)} to {_fmt(ends[1], unit)}"
    fits = [_within(v) for v in row if v.closed_form is not None]
    if fits:
        text += (f"; the closed form lies inside the 95 % CI at {sum(fits)} of {len(fits)} "
                 "points")
    return text + "."


def _within(v: PointValue) -> bool:
    return bool(v.ci95 and v.closed_form is not None
                and v.ci95[0] - 1e-12 <= v.closed_form <= v.ci95[1] + 1e-12)


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "never"
    if unit == "share":
        return f"{100 * v:.3g} %"
    return f"{v:.3g}" + ("" if unit in ("", "count") else f" {unit}")


def figure(sim: Simulation, spec: SweepSpec, points: list[Point],
           values: Mapping[int, dict[str, PointValue]], meta: Mapping[str, Mapping[str, str]]
           ) -> dict[str, Any]:
    """Small multiples: one panel per metric, one trace per series, CIs as error bars."""
    p = sim.param(spec.vary)
    colours = list(PALETTE.values())
    n = len(spec.metrics)
    gap = 0.14
    height = (1 - gap * (n - 1)) / n
    data: list[dict[str, Any]] = []
    layout: dict[str, Any] = {}
    notes: list[dict[str, Any]] = []
    for m_i, name in enumerate(spec.metrics):
        axis_n = "" if m_i == 0 else str(m_i + 1)
        top = 1 - m_i * (height + gap)
        unit = meta[name]["unit"]
        share = unit == "share"
        for s_i, s in enumerate(spec.series_values()):
            colour = colours[s_i % len(colours)]
            row = [(pt, values[pt.index][name]) for pt in points
                   if pt.series == s and pt.index in values]
            label = f"{spec.by} = {_text(s)}" if spec.by else meta[name]["label"]
            scale = 100 if share else 1
            xs = [pt.x for pt, _ in row]
            ys = [None if v.value is None else v.value * scale for _, v in row]
            plus = [None if v.ci95 is None or v.value is None else (v.ci95[1] - v.value) * scale
                    for _, v in row]
            minus = [None if v.ci95 is None or v.value is None else (v.value - v.ci95[0]) * scale
                     for _, v in row]
            data.append({
                "type": "scatter", "mode": "lines+markers", "name": label, "x": xs, "y": ys,
                "xaxis": f"x{axis_n}", "yaxis": f"y{axis_n}", "legendgroup": str(s_i),
                "showlegend": m_i == 0, "line": {"color": colour, "width": 1.5},
                "marker": {"color": colour, "size": 6},
                "error_y": {"type": "data", "symmetric": False, "array": plus,
                            "arrayminus": minus, "color": colour, "thickness": 1.2, "width": 3},
            })
            # A point where no run produced a value (a recovery that never came) has nothing
            # to plot: say "never" at its x instead of leaving a silent gap.
            for pt, v in row:
                if v.value is None and v.never:
                    # Plotly places annotations on a log axis by log10 of the value.
                    at = math.log10(pt.x) if p.scale == "log" else pt.x
                    notes.append({"text": "never", "x": at, "xref": f"x{axis_n}",
                                  "y": 0.5 - 0.12 * s_i, "yref": f"y{axis_n} domain",
                                  "showarrow": False, "textangle": -90,
                                  "font": {"size": 11, "color": colour}})
            theory = [(pt.x, v.closed_form * scale) for pt, v in row if v.closed_form is not None]
            if theory:
                data.append({
                    "type": "scatter", "mode": "lines", "name": "closed form"
                    + (f" ({spec.by} = {_text(s)})" if spec.by else ""),
                    "x": [t[0] for t in theory], "y": [t[1] for t in theory],
                    "xaxis": f"x{axis_n}", "yaxis": f"y{axis_n}", "legendgroup": f"cf{s_i}",
                    "showlegend": m_i == 0, "hoverinfo": "x+y",
                    "line": {"color": colour, "width": 2, "dash": "dash"},
                })
        # The axis carries the short metric name and unit; the panel's label sits above it.
        y_title = name + (" (%)" if share else ("" if unit in ("", "count") else f" ({unit})"))
        layout[f"yaxis{axis_n}"] = axis(y_title, domain=[max(0.0, top - height), top],
                                        anchor=f"x{axis_n}", rangemode="tozero")
        label = meta[name]["label"]
        notes.append({"text": label if len(label) <= 80 else label[:79] + "…",
                      "xref": "paper", "yref": f"y{axis_n} domain", "x": 0, "y": 1.0,
                      "xanchor": "left", "yanchor": "bottom", "showarrow": False,
                      "font": {"size": 12}})
        x_title = p.label + (f" ({p.unit})" if p.unit and p.unit != "share" else "")
        layout[f"xaxis{axis_n}"] = axis(x_title if m_i == n - 1 else "",
                                        type="log" if p.scale == "log" else "linear",
                                        anchor=f"y{axis_n}",
                                        **({"matches": "x"} if m_i else {}),
                                        showticklabels=m_i == n - 1)
    return plotting.figure(data, height=300 + 170 * n, annotations=notes,
                           margin={"l": 64, "r": 56, "t": 40, "b": 110}, **layout)


def closed_form_coverage(points: list[Point], values: Mapping[int, dict[str, PointValue]],
                         metric: str) -> tuple[int, int]:
    """(points whose CI contains the closed form, points that have a closed form)."""
    fits = [_within(values[p.index][metric]) for p in points
            if p.index in values and values[p.index][metric].closed_form is not None]
    return sum(fits), len(fits)
