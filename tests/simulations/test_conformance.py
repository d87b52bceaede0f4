"""Every registered simulation must pass these, so each new one inherits the bar."""

from __future__ import annotations

import json
import re

import plotly.graph_objects as go
import pytest

import simulations
from simulations import ParamError, execute

SIMS = list(simulations.registry().values())
IDS = [s.slug for s in SIMS]


def _maxima(sim):
    """Every numeric parameter at its maximum (the most expensive corner, usually)."""
    values = {}
    for p in sim.params:
        if p.kind in ("int", "float"):
            values[p.name] = p.max
    return values


def test_the_four_core_simulations_are_registered():
    # The four simulations the book was first built around (docs/contract.md lists all).
    assert {"fanout", "retries", "canary", "drift"} <= set(simulations.registry())


@pytest.mark.parametrize("sim", SIMS, ids=IDS)
def test_defaults_are_valid_and_run_to_a_full_result(sim):
    params, seed = sim.parse({})
    out = execute(sim, params, seed)
    assert out["summary"].strip(), "a generated summary sentence is required"
    assert out["metrics"], "at least one metric"
    for name, m in out["metrics"].items():
        assert {"value", "unit", "label"} <= set(m), name
        if "ci95" in m and m["value"] is not None and None not in m["ci95"]:
            lo, hi = m["ci95"]
            assert lo <= hi, f"{name}: CI is inverted"
    assert out["series"], "at least one data series"
    json.dumps(out)  # JSON-safe throughout
    # The figure is valid Plotly JSON (plotly's own validator) and uses only trace
    # types of the basic bundle the page loads.
    go.Figure(out["figure"])
    assert {t.get("type", "scatter") for t in out["figure"]["data"]} <= {"scatter", "bar", "pie"}
    # Plotly draws its pseudo-HTML (<b>, <sup>, <span style>…) with style attributes,
    # which the pages' strict CSP blocks: figure text must be plain.
    text = json.dumps(out["figure"])
    for tag in ("<b>", "<i>", "<sup>", "<sub>", "<span", "<em>", "<a "):
        assert tag not in text, f"figure text uses {tag}"


@pytest.mark.parametrize("sim", SIMS, ids=IDS)
def test_same_parameters_and_seed_give_identical_results(sim):
    params, seed = sim.parse({"seed": "7"})
    a, b = execute(sim, params, seed), execute(sim, params, seed)
    for key in ("params", "metrics", "series", "figure", "summary"):
        assert json.dumps(a[key], sort_keys=True) == json.dumps(b[key], sort_keys=True), key


@pytest.mark.parametrize("sim", SIMS, ids=IDS)
def test_another_seed_gives_other_numbers(sim):
    a = execute(sim, *sim.parse({"seed": "1"}))
    b = execute(sim, *sim.parse({"seed": "2"}))
    assert json.dumps(a["series"], sort_keys=True) != json.dumps(b["series"], sort_keys=True)


@pytest.mark.parametrize("sim", SIMS, ids=IDS)
def test_every_bound_is_enforced_with_a_message_naming_the_parameter(sim):
    for p in sim.all_params:
        bad = []
        if p.kind in ("int", "float"):
            span = (p.max - p.min) or 1
            bad = [p.min - span, p.max + span, "nan", "not-a-number"]
        elif p.kind == "choice":
            bad = ["no-such-choice"]
        elif p.kind == "bool":
            bad = ["2"]
        elif p.kind == "int_list":
            bad = ["x", str(int(p.max) + 1)]
        for value in bad:
            with pytest.raises(ParamError) as err:
                sim.parse({p.name: str(value)})
            assert err.value.name == p.name
            assert p.name in err.value.message


@pytest.mark.parametrize("sim", SIMS, ids=IDS)
def test_unknown_parameters_are_refused(sim):
    with pytest.raises(ParamError, match="unknown parameter"):
        sim.parse({"definitely_not_a_param": "1"})


@pytest.mark.parametrize("sim", SIMS, ids=IDS)
def test_maxima_either_run_or_are_refused_naming_the_limit(sim):
    """The most expensive corner runs (its time is measured by `make bench`) or is refused."""
    try:
        params, seed = sim.parse({k: str(v) for k, v in _maxima(sim).items()})
    except ParamError as exc:
        declared = {p.name for p in sim.params}
        assert exc.name in declared, f"the refusal must name a parameter, not {exc.name!r}"
        assert exc.name in exc.message, exc.message  # …and say which one to change
        assert re.search(r"must be at most [\d,]+ \(got [\d,]+\)", exc.message), (
            f"the refusal must state the limit and the value: {exc.message!r}")
        return
    out = execute(sim, params, seed)
    assert out["metrics"]


@pytest.mark.parametrize("sim", SIMS, ids=IDS)
def test_declarations_are_complete(sim):
    assert sim.title and sim.description
    assert sim.main_param in {p.name for p in sim.params}
    for p in sim.params:
        assert p.label and p.help, f"{sim.slug}.{p.name} needs a label and help text"
