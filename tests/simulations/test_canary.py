"""The canary simulation: exposure per strategy, the analysis's power and its false alarms."""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from simulations import ParamError, execute, get
from simulations.models.canary import (
    FLAG_OFF_S,
    HUMAN_RESPONSE_S,
    PRESETS,
    make_plan,
    repeat_trials,
    run_scenario,
    samples_needed,
)

SIM = get("canary")
PHI = NormalDist()

# The power reference from the issue: errors rising from 0.1 % to 0.2 % need about 23,500
# requests per arm for 80 % power at α = 0.05, two-sided (standard normal-approximation
# sample size, e.g. Fleiss, Statistical Methods for Rates and Proportions, §4.2). The
# analysis is one-sided, so the same rejection region is one-sided α = 0.025.
BASE = 0.001
DOUBLING = 0.001 / 0.999  # defect that takes the new version from 0.1 % to exactly 0.2 %
REFERENCE_N = 23_500

# One look only: steps 50,100 with a 50 s bake gives a single look, at the end of the
# bake, and 940 req/s × 50 % × 50 s puts 23,500 requests in each arm.
SINGLE_LOOK = dict(strategy="canary", steps="50,100", bake_s=50, rps=940, base_error_rate=BASE,
                   alpha=0.025, min_samples=20_000)


def _parse(**overrides):
    params, _ = SIM.parse({k: str(v) for k, v in overrides.items()})
    return params


def _run(seed: int = 42, **overrides):
    params = _parse(**overrides)
    return params, SIM.run(params, seed)


def _value(result, name):
    return result.metrics[name].value


def _power(n_c: float, n_b: float, p1: float, p2: float, alpha: float) -> float:
    """Power of the one-sided pooled two-proportion z-test (normal approximation)."""
    pbar = (n_c * p2 + n_b * p1) / (n_c + n_b)
    se0 = math.sqrt(pbar * (1 - pbar) * (1 / n_c + 1 / n_b))
    se1 = math.sqrt(p2 * (1 - p2) / n_c + p1 * (1 - p1) / n_b)
    return PHI.cdf(((p2 - p1) - PHI.inv_cdf(1 - alpha) * se0) / se1)


# -- a healthy release ------------------------------------------------------------------
def test_healthy_canary_is_promoted_after_every_bake():
    params, result = _run(defect_rate=0)
    assert _value(result, "rolled_back") is False
    assert _value(result, "detect_s") is None
    assert _value(result, "users_hurt") == 0
    # 1,5,25,50,100 with 300 s bakes: four bakes before 100 %.
    assert _value(result, "rollout_s") == pytest.approx(4 * params.bake_s)
    assert result.series["share_new_pct"][-1] == 100


def test_single_look_false_rollback_rate_equals_alpha():
    """One look on a healthy release rejects with probability α: the definition of α.

    23,500 requests per arm (≈ 23 errors each) keep the normal approximation honest.
    4,000 trials: sd = sqrt(0.025 × 0.975 / 4000) ≈ 0.0025; tolerance 0.01 (4 sd).
    """
    params = _parse(**SINGLE_LOOK, defect_rate=0)
    trials = repeat_trials(params, "canary", 0.0, 4000, np.random.default_rng(1))
    assert np.all(trials["looks"] <= 1)
    assert trials["rolled_back"].mean() == pytest.approx(params.alpha, abs=0.01)


@pytest.mark.parametrize("overrides", [{}, {"rps": 5000, "base_error_rate": 0.01}],
                         ids=["defaults", "large-counts"])
def test_false_rollback_rate_with_many_looks_lies_between_alpha_and_looks_times_alpha(
        overrides):
    """Peeking K times: P(any look rejects) ≤ Σ P(look k rejects) = K·α (union bound,
    Bonferroni), and ≥ α, the chance of the last look alone. Cumulative looks are strongly
    correlated, so the truth sits well inside. 2,000 trials: sd ≤ 0.007; both margins
    are more than 4 sd wide at these settings (≈ 0.09 against 0.01 and 0.15–0.20).
    """
    params = _parse(defect_rate=0, **overrides)
    trials = repeat_trials(params, "canary", 0.0, 2000, np.random.default_rng(2))
    rate = trials["rolled_back"].mean()
    looks = np.median(trials["looks"][~trials["rolled_back"]])
    assert looks >= 10
    assert params.alpha < rate < looks * params.alpha


def test_higher_alpha_never_rolls_back_fewer_healthy_releases():
    """Same draws, lower critical value: every rejection at α = 1 % is one at 5 % too."""
    strict = repeat_trials(_parse(defect_rate=0, alpha=0.01), "canary", 0.0, 500,
                           np.random.default_rng(3))
    loose = repeat_trials(_parse(defect_rate=0, alpha=0.05), "canary", 0.0, 500,
                          np.random.default_rng(3))
    assert np.all(loose["rolled_back"] >= strict["rolled_back"])
    assert np.all(loose["detect_s"] <= strict["detect_s"])
    assert loose["rolled_back"].sum() > strict["rolled_back"].sum()


@pytest.mark.parametrize("strategy", ["big_bang", "blue_green", "flag"])
def test_the_error_rate_alert_does_not_page_on_a_healthy_release(strategy):
    """The alert needs twice the normal rate over a full 5-minute window and ≥ 10 errors:
    at 60,000 requests per window (60 errors expected, 120 needed) a false page is a
    > 7 sd event. 1,000 trials, none rolled back (Wilson upper bound 0.4 %)."""
    params = _parse(strategy=strategy, defect_rate=0)
    trials = repeat_trials(params, strategy, 0.0, 1000, np.random.default_rng(4))
    assert trials["rolled_back"].sum() == 0


def test_the_simpy_run_and_the_vectorised_trials_roll_back_equally_often():
    """Both engines implement one schedule and one set of rules; their rates must agree.

    Healthy canary at the defaults: 200 SimPy runs against 4,000 trials; tolerance
    4 sd of the difference (sd ≈ sqrt(0.09 × 0.91 / 200) ≈ 0.02).
    """
    params = _parse(defect_rate=0)
    simpy_rate = np.mean([run_scenario(params, seed)["canary"].decided_s is not None
                          for seed in range(200)])
    trials = repeat_trials(params, "canary", 0.0, 4000, np.random.default_rng(5))
    p = trials["rolled_back"].mean()
    sd = math.sqrt(p * (1 - p) * (1 / 200 + 1 / 4000))
    assert abs(simpy_rate - p) < 4 * sd


# -- power: detection agrees with the sample-size calculation ------------------------------
def test_sample_size_formula_reproduces_the_reference_23500_per_arm():
    # One-sided α = 0.025 is the upper half of the two-sided 0.05 test in the reference.
    n = samples_needed(BASE, DOUBLING, alpha=0.025, power=0.8)
    assert n == pytest.approx(REFERENCE_N, rel=0.01)
    assert samples_needed(BASE, 0.0, alpha=0.025) is None


def test_single_look_detection_rate_matches_the_power_calculation():
    """At 23,500 requests per arm, a 0.1 % → 0.2 % defect is caught at the look about 80 %
    of the time (the reference). The expected power is computed here from the arm sizes;
    4,000 trials: sd ≈ 0.0063, tolerance 0.03 (normal-approximation slack + 4 sd)."""
    params = _parse(**SINGLE_LOOK, defect_rate=DOUBLING)
    plan = make_plan(params)
    look_s = plan.ticks_per_bake * plan.dt
    trials = repeat_trials(params, "canary", DOUBLING, 4000, np.random.default_rng(6))
    caught_at_look = (trials["detect_s"] <= look_s + 1e-9).mean()
    arm = params.rps * look_s / 2
    expected = _power(arm, arm, BASE, 2 * BASE, params.alpha)
    assert expected == pytest.approx(0.80, abs=0.01)
    assert caught_at_look == pytest.approx(expected, abs=0.03)


def test_simpy_detection_at_the_single_look_matches_the_power_calculation():
    """The same check through the SimPy run: 150 seeds, sd ≈ 0.033, tolerance 0.12."""
    params = _parse(**SINGLE_LOOK, defect_rate=DOUBLING)
    caught = [run_scenario(params, seed)["canary"].detect_s == 50 for seed in range(150)]
    assert np.mean(caught) == pytest.approx(0.80, abs=0.12)


def test_defect_is_caught_once_each_arm_holds_the_80_percent_sample():
    """Looks every minute at 50 %: by the first look after each arm holds the 80 %-power
    sample, at least 80 % of defective releases are caught (earlier looks only add), and
    the first look, alone, catches exactly its own power's share. 2,000 trials: sd ≤ 0.01,
    tolerances 0.03 and 0.04."""
    n80 = samples_needed(BASE, DOUBLING, alpha=0.025)
    rps = round(2 * n80 / 300)  # each arm reaches n80 at 300 s, a look time
    params = _parse(**{**SINGLE_LOOK, "bake_s": 600, "rps": rps, "min_samples": 100},
                    defect_rate=DOUBLING)
    trials = repeat_trials(params, "canary", DOUBLING, 2000, np.random.default_rng(7))
    assert (trials["detect_s"] <= 300).mean() >= 0.80 - 0.03
    assert np.median(trials["detect_s"]) <= 300
    # At the 60 s look each arm holds a fifth of n80: that one look's power is about 0.24.
    first_look = _power(n80 / 5, n80 / 5, BASE, 2 * BASE, 0.025)
    assert (trials["detect_s"] <= 60).mean() == pytest.approx(first_look, abs=0.04)


def test_large_defect_is_caught_in_the_first_step():
    """A 20 % defect at 1 % of 1,000 req/s: 10 req/s reach 1,000 samples in 100 s; the
    120 s look sees ~240 canary errors against ~1 expected."""
    for seed in range(1, 6):
        params, result = _run(seed, strategy="canary", defect_rate=0.2, rps=1000)
        assert _value(result, "rolled_back") is True
        assert _value(result, "detect_s") < params.bake_s
        assert result.figure_data.decided_by == "analysis"
        assert result.figure_data.decided_share == pytest.approx(0.01)


# -- exposure: who gets hurt -----------------------------------------------------------------
def test_big_bang_hurts_more_users_than_the_canary_for_the_same_defect():
    for seed in range(1, 6):
        _, big = _run(seed, strategy="big_bang", defect_rate=0.01)
        _, canary = _run(seed, strategy="canary", defect_rate=0.01)
        assert _value(big, "users_hurt") > 10 * _value(canary, "users_hurt")
        # All strategies run on the same scenario whichever is chosen.
        assert big.figure_data.hurt_by_strategy == canary.figure_data.hurt_by_strategy


def test_big_bang_harm_follows_the_alert_timeline():
    """1 % defect at 200 req/s: the alert fires at its first evaluation (30 s), on-call
    acts HUMAN_RESPONSE_S later, the rollback takes rollback_s; harm ≈ rps × time × defect.
    Expected 390 × 200 × 0.01 × 0.999 ≈ 779, Poisson-like sd ≈ 28; tolerance 4 sd."""
    params, result = _run(strategy="big_bang", defect_rate=0.01)
    assert _value(result, "detect_s") == 30
    restore = 30 + HUMAN_RESPONSE_S + params.rollback_s
    assert _value(result, "restore_s") == pytest.approx(restore)
    expected = restore * params.rps * params.defect_rate * (1 - params.base_error_rate)
    assert abs(_value(result, "users_hurt") - expected) < 4 * math.sqrt(expected)


def test_blue_green_switches_back_instantly_and_the_flag_in_seconds():
    for strategy, delay in (("blue_green", 0.0), ("flag", FLAG_OFF_S)):
        _, result = _run(strategy=strategy, defect_rate=0.05)
        ex = result.figure_data
        assert ex.decided_by == "alert"
        assert ex.restored_s - ex.decided_s == pytest.approx(delay)


def test_longer_rollback_hurts_more_users():
    _, fast = _run(strategy="big_bang", defect_rate=0.01, rollback_s=60)
    _, slow = _run(strategy="big_bang", defect_rate=0.01, rollback_s=600)
    assert _value(slow, "users_hurt") > _value(fast, "users_hurt")


def test_a_defect_too_small_to_double_the_error_rate_is_never_paged():
    """0.1 % → 0.15 % stays under the alert's 2× threshold: nobody acts, and the harm is
    every defective request over the horizon, rps × H × d × (1 − b) ≈ 480 (sd ≈ 22,
    tolerance 4 sd)."""
    params, result = _run(strategy="big_bang", defect_rate=0.0005)
    assert _value(result, "detect_s") is None
    assert _value(result, "rolled_back") is False
    horizon = make_plan(params).horizon_s
    expected = params.rps * horizon * params.defect_rate * (1 - params.base_error_rate)
    assert abs(_value(result, "users_hurt") - expected) < 4 * math.sqrt(expected)


def test_presets_set_up_the_chapter_story():
    def run_preset(name):
        return _run(**PRESETS[name])

    _, big = run_preset("Big bang")
    assert _value(big, "rolled_back") and _value(big, "users_hurt") > 500
    params, one_pct = run_preset("1 % canary with analysis")
    assert _value(one_pct, "detect_s") < params.bake_s
    assert _value(one_pct, "users_hurt") < 0.05 * one_pct.figure_data.hurt_by_strategy["big_bang"]
    _, tiny = run_preset("Tiny defect slips through")
    assert _value(tiny, "rolled_back") is False and _value(tiny, "users_hurt") > 0
    assert _value(tiny, "catch_rate") < 0.5
    _, sensitive = run_preset("Too-sensitive analysis")
    assert _value(sensitive, "false_rollback_rate") > 0.5
    for overrides in PRESETS.values():
        _parse(**overrides)  # inside the declared ranges


# -- contract ------------------------------------------------------------------------------
def test_required_metrics_and_series_are_present_and_aligned():
    out = execute(SIM, *SIM.parse({}))
    assert {"users_hurt", "detect_s", "rolled_back", "rollout_s",
            "false_rollback_rate"} <= set(out["metrics"])
    lo, hi = out["metrics"]["false_rollback_rate"]["ci95"]
    assert lo <= out["metrics"]["false_rollback_rate"]["value"] <= hi
    lengths = {len(v) for v in out["series"].values()}
    assert len(lengths) == 1 and lengths.pop() <= 1500
    assert all(0 <= x <= 100 for x in out["series"]["share_new_pct"])
    hurt = out["series"]["users_hurt_canary"]
    assert hurt == sorted(hurt), "cumulative harm never decreases"


def test_same_seed_gives_identical_json_and_another_seed_does_not():
    params, seed = SIM.parse({"defect_rate": "0.002"})
    a, b = execute(SIM, params, seed), execute(SIM, params, seed)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = execute(SIM, params, seed + 1)
    assert json.dumps(a["series"]) != json.dumps(c["series"])


@pytest.mark.parametrize(("name", "value", "needle"), [
    ("steps", "5,1,100", "ascending"),
    ("steps", "1,5,5,100", "ascending"),
    ("steps", "1,5,50", "end at 100"),
    ("steps", "0,100", "between 1 and 100"),
    ("steps", ",".join(str(i) for i in range(90, 101)), "up to 10"),
    ("steps", "1,five,100", "comma-separated"),
    ("strategy", "yolo", "big_bang"),
    ("defect_rate", "0.6", "between 0 and 0.5"),
    ("alpha", "0", "between 0.0001 and 0.2"),
    ("min_samples", "5", "between 10 and 100000"),
])
def test_bad_input_is_refused_naming_the_parameter(name, value, needle):
    with pytest.raises(ParamError) as err:
        SIM.parse({name: value})
    assert err.value.name == name
    assert needle in err.value.message
