"""The simulation contract: declaration, parsed parameters, results."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .params import SEED, Param, ParamError

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]*$")


# -- results ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Metric:
    """One headline number: value, unit, label, and its honesty (CI, closed form)."""

    value: float | int | bool | None
    unit: str
    label: str
    ci95: tuple[float, float] | None = None
    closed_form: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"value": _plain(self.value), "unit": self.unit, "label": self.label}
        if self.ci95 is not None:
            out["ci95"] = [_plain(self.ci95[0]), _plain(self.ci95[1])]
        if self.closed_form is not None:
            out["closed_form"] = _plain(self.closed_form)
        return out


@dataclass
class Result:
    """What a run returns: metrics, data series, a summary sentence, and figure inputs."""

    metrics: dict[str, Metric]
    series: dict[str, list[Any]]
    summary: str
    # Anything else the figure builder needs that is not part of the public series.
    extra: dict[str, Any] = field(default_factory=dict)


def _plain(x: Any) -> Any:
    """NumPy scalars and arrays to plain JSON-safe Python, floats rounded sensibly."""
    if isinstance(x, np.ndarray):
        return [_plain(v) for v in x.tolist()]
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    if isinstance(x, np.bool_ | bool):
        return bool(x)
    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, float | np.floating):
        f = float(x)
        if f != f or f in (float("inf"), float("-inf")):
            return None
        return float(f"{f:.6g}")
    return x


def plain(x: Any) -> Any:
    """Public alias: make a value JSON-safe (used for series)."""
    return _plain(x)


# -- declaration ------------------------------------------------------------------------
@dataclass(frozen=True)
class Simulation:
    """A simulation as declared by its module: the only place its parameters are named."""

    slug: str
    title: str
    chapter: str
    description: str
    params: tuple[Param, ...]
    run: Callable[[Any, int], Result]
    figure: Callable[[Result, Any], dict[str, Any]]
    caption: str = ""
    # Cross-parameter limits (e.g. total work); raises ParamError naming the limit.
    check: Callable[[Any], None] | None = None
    main_param: str = ""

    def __post_init__(self) -> None:
        if not SLUG_RE.match(self.slug):
            raise TypeError(f"simulation slug {self.slug!r} must be lowercase letters and -")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names) or "seed" in names:
            raise TypeError(f"simulation {self.slug}: parameter names must be unique, not seed")
        fields = [(p.name, Any) for p in self.params]
        cls = dataclasses.make_dataclass(f"{self.slug.title()}Params", fields, frozen=True)
        object.__setattr__(self, "params_type", cls)
        if not self.main_param:
            object.__setattr__(self, "main_param", self.params[0].name)

    # -- parameters -----------------------------------------------------------------------
    @property
    def all_params(self) -> tuple[Param, ...]:
        return (*self.params, SEED)

    def param(self, name: str) -> Param:
        for p in self.all_params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> Any:
        return self.params_type(**{p.name: p.default for p in self.params})

    def parse(
        self, query: Mapping[str, Any], *, ignore: frozenset[str] = frozenset()
    ) -> tuple[Any, int]:
        """Validate a mapping of raw values (a query string) into (params, seed).

        Omitted names take their default; unknown names are refused, so a typo in a
        wiki link fails loudly instead of silently showing the defaults.
        """
        known = {p.name for p in self.all_params}
        unknown = sorted(set(query) - known - ignore)
        if unknown:
            name = unknown[0]
            raise ParamError(
                name,
                f"unknown parameter {name[:40]!r}: {self.slug} accepts "
                + ", ".join(sorted(known)),
            )
        values = {}
        for p in self.params:
            values[p.name] = p.parse(query[p.name]) if p.name in query else p.default
        seed = SEED.parse(query["seed"]) if "seed" in query else SEED.default
        params = self.params_type(**values)
        if self.check is not None:
            self.check(params)
        return params, seed

    def to_query(self, params: Any, seed: int) -> dict[str, str]:
        """Every effective parameter as URL text (the permalink's query)."""
        out = {p.name: p.to_query(getattr(params, p.name)) for p in self.params}
        out["seed"] = str(seed)
        return out

    def params_json(self, params: Any) -> dict[str, Any]:
        return {p.name: p.to_json(getattr(params, p.name)) for p in self.params}


def spawn_rngs(seed: int, *names: str) -> dict[str, np.random.Generator]:
    """Independent random streams from one seed, one per stochastic input, by name.

    Adding a stream at the end leaves earlier streams unchanged, so name order matters.
    """
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: np.random.default_rng(c) for n, c in zip(names, children, strict=True)}


# -- running ------------------------------------------------------------------------------
def execute(sim: Simulation, params: Any, seed: int) -> dict[str, Any]:
    """Run a simulation and shape the public JSON result (without version/timing)."""
    result = sim.run(params, seed)
    return {
        "simulation": sim.slug,
        "title": sim.title,
        "params": sim.params_json(params),
        "seed": seed,
        "metrics": {k: m.to_json() for k, m in result.metrics.items()},
        "summary": result.summary,
        "series": {k: _plain(v) for k, v in result.series.items()},
        "figure": sim.figure(result, params),
    }
