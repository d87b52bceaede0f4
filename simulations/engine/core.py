"""The simulation contract: declaration, parsed parameters, results."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .params import SEED, Param, ParamError

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]*$")
QUICK_FACTOR = 10  # a quick run's sample is this many times smaller than the full one


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


@dataclass(frozen=True)
class Sample:
    """What a run sized by precision simulated: `ran` of at most `limit` `unit`.

    A model may stop before its sample-size parameter once its headline `estimate` (e.g.
    "P99.9") is precise enough: its 95 % CI half-width relative to it within `target`.
    `precision` is the relative half-width the run ended with, `reached` whether it is
    within the target. The confidence intervals the run reports are those of the samples
    actually run. The limit is bounded by the simulation's work limit (its `check`), so a
    run's cost is capped without reading a clock: the same parameters and seed always run
    the same sample.
    """

    ran: int
    limit: int
    unit: str
    estimate: str
    target: float
    precision: float

    @property
    def reached(self) -> bool:
        return self.precision <= self.target

    @property
    def message(self) -> str:
        """One line for the provenance: 'ran 1,400 of up to 2,000 requests: P99.9 ±1.9 %'."""
        ran = (f"ran {self.ran:,} of up to {self.limit:,} {self.unit}" if self.ran < self.limit
               else f"ran all {self.ran:,} {self.unit}")
        known = (f"{self.estimate} ±{self.precision:.1%}".replace("%", " %")
                 if self.precision < 10 else f"{self.estimate} imprecise")
        aim = "" if self.reached else f" (aim: ±{self.target:.0%})".replace("%", " %")
        return f"{ran}: {known}{aim}"

    def to_json(self) -> dict[str, Any]:
        return {"ran": self.ran, "limit": self.limit, "unit": self.unit,
                "estimate": self.estimate, "target": self.target,
                "precision": _plain(self.precision), "reached": self.reached,
                "message": self.message}


@dataclass
class Result[F]:
    """What a run returns: metrics, data series, a summary sentence, and figure inputs.

    `figure_data` is the model's own typed (frozen dataclass) input to its figure builder:
    whatever the figure needs that is not part of the public series. `sample` is set by a
    model that sizes its run by the precision it must reach (Sample).
    """

    metrics: dict[str, Metric]
    series: dict[str, list[Any]]
    summary: str
    figure_data: F | None = None
    sample: Sample | None = None


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
# The Python type a parameter of each kind has in a model's params dataclass.
KIND_TYPES: dict[str, Any] = {
    "int": int, "float": float, "bool": bool, "choice": str, "int_list": tuple[int, ...],
}


def check_params_type(slug: str, params: tuple[Param, ...], params_type: type) -> None:
    """Refuse a params dataclass that does not match the Param declarations field for field."""
    if not (dataclasses.is_dataclass(params_type)
            and params_type.__dataclass_params__.frozen):  # type: ignore[attr-defined]
        raise TypeError(f"simulation {slug}: params_type must be a frozen dataclass")
    hints = typing.get_type_hints(params_type)
    fields = [f.name for f in dataclasses.fields(params_type)]
    declared = [p.name for p in params]
    if fields != declared:
        raise TypeError(f"simulation {slug}: {params_type.__name__} fields {fields} "
                        f"must be the declared parameters, in order: {declared}")
    for p in params:
        want, got = KIND_TYPES[p.kind], hints[p.name]
        if p.kind == "choice" and typing.get_origin(got) is typing.Literal:
            if set(typing.get_args(got)) != set(p.choices):
                raise TypeError(f"simulation {slug}: {p.name} is Literal{list(typing.get_args(got))}"
                                f" but declares choices {list(p.choices)}")
            continue
        if got != want:
            raise TypeError(f"simulation {slug}: {params_type.__name__}.{p.name} is {got}, "
                            f"but a {p.kind} parameter must be {want}")


@dataclass(frozen=True)
class Simulation[P, F]:
    """A simulation as declared by its module: the only place its parameters are named.

    `params_type` is the model's frozen dataclass of parameters, checked field for field
    against `params`; `run(params, seed)` returns a `Result[F]` and `figure(result, params)`
    turns it into a Plotly figure dict. `model_version` is bumped on purpose whenever a
    change to the model changes its numbers (the golden results test insists).
    """

    slug: str
    title: str
    description: str
    params: tuple[Param, ...]
    run: Callable[[P, int], Result[F]]
    figure: Callable[[Result[F], P], dict[str, Any]]
    params_type: type[P]
    # Cross-parameter limits (e.g. total work); raises ParamError naming the limit.
    check: Callable[[P], None] | None = None
    # The limits `check` enforces, in words, for the API description (one sentence each).
    limits: tuple[str, ...] = ()
    main_param: str = ""
    model_version: int = 1

    def __post_init__(self) -> None:
        if not SLUG_RE.match(self.slug):
            raise TypeError(f"simulation slug {self.slug!r} must be lowercase letters and -")
        names = [p.name for p in self.params]
        if len(set(names)) != len(names) or "seed" in names:
            raise TypeError(f"simulation {self.slug}: parameter names must be unique, not seed")
        if self.check is not None and not self.limits:
            raise TypeError(f"simulation {self.slug}: a check needs its limits in words "
                            "(limits=...), for the API description")
        if sum(p.sample_size for p in self.params) > 1:
            raise TypeError(f"simulation {self.slug}: at most one parameter is the sample size")
        check_params_type(self.slug, self.params, self.params_type)
        if not self.main_param:
            object.__setattr__(self, "main_param", self.params[0].name)
        if self.main_param not in names:
            raise TypeError(f"simulation {self.slug}: main_param {self.main_param!r} is not declared")

    # -- parameters -----------------------------------------------------------------------
    @property
    def all_params(self) -> tuple[Param, ...]:
        return (*self.params, SEED)

    def param(self, name: str) -> Param:
        for p in self.all_params:
            if p.name == name:
                return p
        raise KeyError(name)

    def defaults(self) -> P:
        return self.params_type(**{p.name: p.default for p in self.params})

    def validate(
        self, query: Mapping[str, Any], *, ignore: frozenset[str] = frozenset()
    ) -> tuple[P, int, dict[str, ParamError]]:
        """Parse every raw value once: (params, seed, errors by parameter name).

        Invalid and unknown values are reported and replaced by defaults. The
        cross-parameter check runs on the result; when it refuses, the parameter it names
        falls back to its default (and, if that is not enough, every parameter does).
        """
        declared = {p.name: p for p in self.all_params}
        errors: dict[str, ParamError] = {}
        for name in sorted(set(query) - set(declared) - ignore):
            errors[name] = ParamError(
                name, f"unknown parameter {name[:40]!r}: {self.slug} accepts "
                + ", ".join(sorted(declared)))
        values: dict[str, Any] = {}
        for p in self.all_params:
            if p.name in query:
                try:
                    values[p.name] = p.parse(query[p.name])
                except ParamError as exc:
                    errors[p.name] = exc
        seed = values.pop(SEED.name, SEED.default)
        params = self.params_type(**{p.name: values.get(p.name, p.default) for p in self.params})
        refusal = self._refusal(params)
        if refusal is not None:
            errors.setdefault(refusal.name, refusal)
            values.pop(refusal.name, None)
            params = self.params_type(**{p.name: values.get(p.name, p.default)
                                         for p in self.params})
            if self._refusal(params) is not None:
                params = self.defaults()
        return params, seed, errors

    def _refusal(self, params: P) -> ParamError | None:
        if self.check is None:
            return None
        try:
            self.check(params)
        except ParamError as exc:
            return exc
        return None

    def parse(
        self, query: Mapping[str, Any], *, ignore: frozenset[str] = frozenset()
    ) -> tuple[P, int]:
        """Validate a mapping of raw values (a query string) into (params, seed), strictly.

        Omitted names take their default; an unknown name, a bad value or a refused
        combination raises ParamError (unknown names first, then in declaration order),
        so a typo in a wiki link fails loudly instead of silently showing the defaults.
        """
        params, seed, errors = self.validate(query, ignore=ignore)
        if errors:
            order = [*sorted(set(errors) - {p.name for p in self.all_params}),
                     *(p.name for p in self.all_params)]
            raise errors[next(n for n in order if n in errors)]
        return params, seed

    @property
    def sample_param(self) -> Param | None:
        """The parameter declared as the run's sample size, if any."""
        return next((p for p in self.params if p.sample_size), None)

    def quick(self, params: P, factor: int = QUICK_FACTOR) -> P | None:
        """The same run on a sample `factor` times smaller (never below the declared
        minimum): quicker, with wider confidence intervals. None when there is no sample
        size to lower. A quick run is a preview, never a stand-in for the full one.
        """
        p = self.sample_param
        if p is None or factor <= 1:
            return None
        value = getattr(params, p.name)
        assert p.min is not None
        smaller = max(int(p.min), value // factor)
        if smaller >= value:
            return None
        return dataclasses.replace(params, **{p.name: smaller})  # type: ignore[type-var]

    def to_query(self, params: P, seed: int) -> dict[str, str]:
        """Every effective parameter as URL text (the permalink's query)."""
        out = {p.name: p.to_query(getattr(params, p.name)) for p in self.params}
        out["seed"] = str(seed)
        return out

    def params_json(self, params: P) -> dict[str, Any]:
        return {p.name: p.to_json(getattr(params, p.name)) for p in self.params}


def spawn_rngs(seed: int, *names: str) -> dict[str, np.random.Generator]:
    """Independent random streams from one seed, one per stochastic input, by name.

    Adding a stream at the end leaves earlier streams unchanged, so name order matters.
    """
    children = np.random.SeedSequence(seed).spawn(len(names))
    return {n: np.random.default_rng(c) for n, c in zip(names, children, strict=True)}


# -- running ------------------------------------------------------------------------------
def execute[P, F](sim: Simulation[P, F], params: P, seed: int) -> dict[str, Any]:
    """Run a simulation and shape the public JSON result (without version/timing)."""
    result = sim.run(params, seed)
    return {
        "simulation": sim.slug,
        "title": sim.title,
        "model_version": sim.model_version,
        "params": sim.params_json(params),
        "seed": seed,
        "metrics": {k: m.to_json() for k, m in result.metrics.items()},
        "summary": result.summary,
        "series": {k: _plain(v) for k, v in result.series.items()},
        "figure": sim.figure(result, params),
        "sample": result.sample.to_json() if result.sample is not None else None,
    }
