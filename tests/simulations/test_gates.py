"""The launch-gates simulation: escapes, the DORA keys and restore times against theory.

The model's numbers are its own assumptions (see the module docstring); these tests check
that the simulation does what those assumptions imply, exactly where a closed form
exists and within a stated sampling tolerance where it is drawn.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from simulations import ParamError, execute, get
from simulations.models import gates
from simulations.models.gates import (
    CATCH,
    DEFECT_RATE,
    DETECT_H,
    FLAG_OFF_H,
    GATES,
    KINDS,
    ROLLBACK_PRACTISED_H,
    ROLLBACK_UNPRACTISED_H,
    Pipeline,
    diagnose_hours,
    draw_changes,
    escape_probability,
    escape_share,
    failure_probability,
    restore_hours,
)

SIM = get("gates")
CHAPTER = Path(__file__).resolve().parents[2] / "content" / "launch-gates.md"
PRESETS = {p["label"]: p["params"] for p in
           yaml.safe_load(CHAPTER.read_text(encoding="utf-8").split("---")[1])["presets"]}
NO_GATES = dict(ci=0, staging=0, runbook=0, canary=0, flags=0, rollback_practised=0)
CI_ONLY = dict(NO_GATES, ci=1)
# Many changes, and trains that keep up with them (160 changes a day), so that nearly
# every defect finishes the pipeline within the run: a queue would hold back exactly the
# defects that the later gates would judge, and bias the shares towards CI.
BIG = dict(changes_per_day=40, weeks=10, batch=20, deploy_every_h=3)


def _parse(**overrides):
    params, _ = SIM.parse({k: str(v) for k, v in overrides.items()})
    return params


def _run(seed: int = 42, **overrides):
    return SIM.run(_parse(**overrides), seed)


def _pipeline(seed: int, **overrides) -> Pipeline:
    """One pipeline alone (the run simulates three; the tests often need one)."""
    p = _parse(**overrides)
    return Pipeline(p, draw_changes(p, seed)).run()


def _value(result, name):
    return result.metrics[name].value


# -- closed forms ----------------------------------------------------------------------------
def test_escape_probability_is_the_product_of_each_gates_miss():
    """A logic bug meets CI (sees 70 %), staging at 90 % parity (30 % × 0.9 = 27 %), the
    go-live check (0 %) and the canary (60 %): it escapes with 0.3 × 0.73 × 1 × 0.4."""
    p = _parse()
    assert escape_probability("logic", p) == pytest.approx(0.3 * 0.73 * 1.0 * 0.4)
    assert escape_probability("logic", _parse(**NO_GATES)) == 1.0


def test_adding_a_gate_never_lets_more_defects_through():
    off = _parse(**NO_GATES)
    for gate in ("ci", "staging", "runbook", "canary"):
        on = _parse(**{**NO_GATES, gate: 1})
        for kind in KINDS:
            assert escape_probability(kind, on) <= escape_probability(kind, off)
        assert escape_share(on) < escape_share(off)


def test_simulated_escapes_match_the_product_of_misses():
    """CI alone: a defect escapes with Σ w_k (1 − c_ci,k) / Σ w_k ≈ 0.56. Two runs of
    2,800 changes give ≈ 600 finished defects: sd ≈ 0.02; tolerance 4 sd."""
    escaped = finished = 0
    for seed in (1, 2):
        pl = _pipeline(seed, **CI_ONLY, **BIG)
        escaped += pl.escaped
        finished += pl.escaped + sum(pl.caught.values())
    expected = escape_share(_parse(**CI_ONLY))
    sd = math.sqrt(expected * (1 - expected) / finished)
    assert abs(escaped / finished - expected) < 4 * sd


def test_each_gate_catches_its_closed_form_share_of_defects():
    """A defect stops at the first gate that can see it: gate i catches
    Σ_k w_k c_ik Π_{j<i} (1 − c_jk) of all defects (w_k: how common kind k is).
    Two runs at every gate, ≈ 600 defects; tolerance 4 binomial sd per gate."""
    p = _parse(**BIG)
    caught = dict.fromkeys(GATES, 0)
    finished = 0
    for seed in (3, 4):
        pl = Pipeline(p, draw_changes(p, seed)).run()
        for g in GATES:
            caught[g] += pl.caught[g]
        finished += pl.escaped + sum(pl.caught.values())
    total = sum(DEFECT_RATE.values())
    for i, g in enumerate(GATES):
        share = sum(DEFECT_RATE[k] / total * gates.catch_probability(g, k, p)
                    * math.prod(1 - gates.catch_probability(h, k, p) for h in GATES[:i])
                    for k in KINDS)
        sd = math.sqrt(share * (1 - share) / finished)
        assert abs(caught[g] / finished - share) < 4 * sd + 1e-9, g
    assert CATCH["canary"]["migration"] == 0 and caught["canary"] < caught["ci"]


def test_change_failure_rate_follows_one_minus_survival_to_the_power_of_the_batch():
    """No gates, batches of up to 4: a deploy fails unless every change in it is clean,
    1 − (1 − e′)^n per deploy (see failure_probability). Five runs, ≈ 750 deploys:
    sd ≈ 0.015; tolerance 4 sd plus 0.02 for the long-run approximation in e′."""
    failed = deploys = 0
    expected = []
    p = _parse(**NO_GATES, batch=4, deploy_every_h=6)
    for seed in range(1, 6):
        pl = Pipeline(p, draw_changes(p, seed)).run()
        failed += pl.failed_deploys
        deploys += pl.deploys
        expected.extend(failure_probability(p, np.asarray(pl.batch_sizes)))
    rate, want = failed / deploys, float(np.mean(expected))
    assert abs(rate - want) < 4 * math.sqrt(want * (1 - want) / deploys) + 0.02


# -- the DORA keys move the way the research says ------------------------------------------
def _pooled(seeds, **overrides) -> tuple[float, float]:
    """(change failure rate, deploys per week) over several runs of one pipeline."""
    failed = deploys = weeks = 0
    for seed in seeds:
        pl = _pipeline(seed, **overrides)
        failed, deploys, weeks = failed + pl.failed_deploys, deploys + pl.deploys, weeks + pl.p.weeks
    return failed / deploys, deploys / weeks


def test_more_gates_give_a_lower_change_failure_rate():
    seeds = range(1, 5)
    none, _ = _pooled(seeds, **NO_GATES)
    ci, _ = _pooled(seeds, **CI_ONLY)
    every, _ = _pooled(seeds)
    assert none > ci > every


def test_small_batches_deploy_more_often_and_fail_less():
    seeds = range(1, 5)
    small_cfr, small_freq = _pooled(seeds, batch=2, deploy_every_h=3)
    big_cfr, big_freq = _pooled(seeds, batch=20, deploy_every_h=24)
    assert small_freq > 3 * big_freq
    assert small_cfr < big_cfr


# -- time to restore -----------------------------------------------------------------------
def test_restore_time_is_detection_plus_the_remedy():
    rehearsed = _parse(runbook=0)
    unrehearsed = _parse(runbook=0, rollback_practised=0)
    # Rehearsed: roll back first, diagnose afterwards.
    assert restore_hours("config", False, 16, rehearsed) == DETECT_H + ROLLBACK_PRACTISED_H
    # Unrehearsed: find the culprit among 16 changes (1 + log2 16 = 5 bisection steps).
    assert restore_hours("config", False, 16, unrehearsed) == pytest.approx(
        DETECT_H + 5 * gates.DIAGNOSE_H + ROLLBACK_UNPRACTISED_H)
    # A flag needs no rollback at all; a secret is rotated whatever the rollback.
    assert restore_hours("logic", True, 16, unrehearsed) == DETECT_H + FLAG_OFF_H
    assert (restore_hours("secret", False, 4, rehearsed)
            == restore_hours("secret", False, 4, unrehearsed))


def test_every_simulated_rollback_takes_exactly_its_configured_time():
    """Per incident, the restore time is the formula's for its own batch: rehearsed
    rollbacks DETECT_H + ROLLBACK_PRACTISED_H, unrehearsed ones detection, bisection and
    ROLLBACK_UNPRACTISED_H."""
    for practised in (1, 0):
        pl = _pipeline(5, **{**NO_GATES, "rollback_practised": practised})
        rollbacks = [i for i in pl.incidents if i.how == "rollback"]
        assert len(rollbacks) >= 10
        for inc in rollbacks:
            want = (DETECT_H + ROLLBACK_PRACTISED_H if practised else
                    DETECT_H + diagnose_hours(inc.batch, False) + ROLLBACK_UNPRACTISED_H)
            assert inc.restore_h == pytest.approx(want)


def test_a_rehearsed_rollback_cuts_median_restore_by_an_order_of_magnitude():
    """Most defects without gates are rolled back (logic and config: 9 of 11), so the
    median incident is a rollback: DETECT_H + ROLLBACK_PRACTISED_H = 0.5 h rehearsed,
    at least DETECT_H + DIAGNOSE_H + ROLLBACK_UNPRACTISED_H = 6.25 h not (one change in
    the batch; more changes, more bisection). The mean falls less: rollbacks cannot fix
    secrets or one-way migrations."""
    base = PRESETS["No gates, small batches"]
    for seed in (1, 2, 3):
        slow = _run(seed, **base)
        fast = _run(seed, **{**base, "rollback_practised": 1})
        assert _value(fast, "restore_median_h") == pytest.approx(DETECT_H + ROLLBACK_PRACTISED_H)
        assert _value(slow, "restore_median_h") >= DETECT_H + gates.DIAGNOSE_H + ROLLBACK_UNPRACTISED_H
        median_cut = _value(slow, "restore_median_h") / _value(fast, "restore_median_h")
        mean_cut = _value(slow, "restore_mean_h") / _value(fast, "restore_mean_h")
        assert median_cut >= 10
        assert mean_cut < median_cut


# -- the chapter's story, from its own presets ---------------------------------------------
def test_gates_and_small_batches_beat_a_weekly_release_on_all_four_keys():
    for seed in (1, 42):
        weekly = _run(seed, **PRESETS["Weekly release, no gates"])
        gated = _run(seed, **PRESETS["Every gate, small batches"])
        assert _value(gated, "deploys_per_week") > 10 * _value(weekly, "deploys_per_week")
        assert _value(gated, "lead_time_median_h") < _value(weekly, "lead_time_median_h")
        assert _value(gated, "change_failure_rate") < _value(weekly, "change_failure_rate") / 10
        assert _value(gated, "restore_median_h") < _value(weekly, "restore_median_h") / 10


def test_skipping_gates_looks_faster_at_first_and_then_falls_behind():
    """The chapter: no gates leads for the first week or two, then the gated team stays ahead."""
    crossings = []
    for seed in range(1, 6):
        r = _run(seed, **PRESETS["Every gate, small batches"])
        s = r.series
        assert s["live_no_gates"][4] > s["live_yours"][4]
        assert s["live_yours"][-1] > s["live_no_gates"][-1]
        crossings.append(_value(r, "crossover_day"))
    assert all(c is not None and 4 < c < 35 for c in crossings)
    assert 7 <= np.median(crossings) <= 21


def test_a_weekly_batch_through_a_canary_is_stopped_and_waits_a_week():
    r = _run(42, **PRESETS["Every gate, weekly batch"])
    assert _value(r, "aborted_deploys") >= 1
    assert _value(r, "deploys_per_week") < 1
    assert _value(r, "lead_time_median_h") > 168


# -- contract --------------------------------------------------------------------------------
def test_the_reference_pipelines_are_the_same_team_on_the_same_changes():
    """Common random numbers: the run's no-gates line is exactly the no-gates run's own."""
    mine = _run(7)
    alone = _run(7, **NO_GATES)
    assert mine.series["live_no_gates"] == alone.series["live_yours"]
    assert mine.series["live_all_gates"] == mine.series["live_yours"]  # defaults: every gate


def test_same_seed_gives_identical_json_and_another_seed_does_not():
    params, seed = SIM.parse({"batch": "8"})
    a, b = execute(SIM, params, seed), execute(SIM, params, seed)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert json.dumps(a["series"]) != json.dumps(execute(SIM, params, seed + 1)["series"])


def test_series_are_aligned_and_changes_live_never_go_negative():
    out = execute(SIM, *SIM.parse({}))
    lengths = {len(v) for v in out["series"].values()}
    assert lengths == {8 * 7 + 1}
    for name in ("live_yours", "live_no_gates", "live_all_gates"):
        assert min(out["series"][name]) >= 0


@pytest.mark.parametrize(("query", "name", "needle"), [
    ({"changes_per_day": "40", "weeks": "52"}, "weeks", "lower weeks to 10 or fewer"),
    ({"changes_per_day": "2.5"}, "changes_per_day", "a whole number"),
    ({"ci": "maybe"}, "ci", "0 or 1"),
    ({"batch": "0"}, "batch", "between 1 and 100"),
    ({"staging_parity": "1.5"}, "staging_parity", "between 0 and 1"),
])
def test_bad_input_is_refused_naming_the_parameter(query, name, needle):
    with pytest.raises(ParamError) as err:
        SIM.parse(query)
    assert err.value.name == name
    assert needle in err.value.message
