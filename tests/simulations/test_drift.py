"""The drift simulation: PSI, the two monitors, concept drift and retraining policies."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from simulations import ParamError, execute, get
from simulations.models.drift import (
    MAX_SAMPLES,
    PSI_BINS,
    _bin_shares,
    _psi_rows,
    check_limits,
    psi,
    psi_noise_floor,
)

SIM = get("drift")

# The chapter's presets, as in content/drift.md (front matter `presets`).
SLOW_CREEP = dict(drift_per_day=0.01, shift_day=60, shift_size=0, concept_drift=0,
                  label_delay_days=7, psi_threshold=0.2, policy="never",
                  retrain_every_days=30, days=365, samples_per_day=500, slo_accuracy=0.85)
SUDDEN_SHIFT = dict(drift_per_day=0, shift_day=60, shift_size=1.5, concept_drift=0,
                    label_delay_days=14, psi_threshold=0.2, policy="never",
                    retrain_every_days=30, days=180, samples_per_day=500, slo_accuracy=0.85)
CONCEPT = dict(drift_per_day=0, shift_day=60, shift_size=0, concept_drift=0.5,
               label_delay_days=14, psi_threshold=0.2, policy="never", retrain_every_days=30,
               days=180, samples_per_day=500, slo_accuracy=0.85)
RETRAIN_ON_ALERT = dict(drift_per_day=0.01, shift_day=90, shift_size=1.5, concept_drift=0,
                        label_delay_days=7, psi_threshold=0.2, policy="on_alert",
                        retrain_every_days=30, days=365, samples_per_day=500,
                        slo_accuracy=0.85)


def _run(seed: int = 42, **overrides):
    """Parse like a URL would, then run; returns (params, Result)."""
    params, _ = SIM.parse({k: str(v) for k, v in overrides.items()})
    return params, SIM.run(params, seed)


def _value(result, name):
    return result.metrics[name].value


# -- PSI --------------------------------------------------------------------------------------
def test_psi_of_the_textbook_example_is_0_0875():
    # Issue + chapter: bins (0.2, 0.5, 0.3) vs (0.1, 0.6, 0.3) →
    # 0.1·ln 2 + 0.1·ln 1.2 = 0.087547 (exact arithmetic, so a tight tolerance).
    assert psi((0.2, 0.5, 0.3), (0.1, 0.6, 0.3)) == pytest.approx(0.1 * math.log(2)
                                                                  + 0.1 * math.log(1.2))
    assert psi((0.2, 0.5, 0.3), (0.1, 0.6, 0.3)) == pytest.approx(0.0875, abs=5e-5)


def test_psi_is_zero_for_identical_shares_and_symmetric():
    assert psi((0.25, 0.25, 0.5), (0.25, 0.25, 0.5)) == 0.0
    # (a − e)·ln(a/e) is unchanged when a and e swap: PSI is the symmetrised KL divergence.
    assert psi((0.2, 0.5, 0.3), (0.1, 0.6, 0.3)) == psi((0.1, 0.6, 0.3), (0.2, 0.5, 0.3))


def test_psi_of_an_empty_bin_is_large_but_finite():
    value = psi((0.5, 0.5), (1.0, 0.0))
    assert math.isfinite(value)
    assert value > 0.25


@pytest.mark.parametrize(("expected", "actual"), [
    ((0.5, 0.5), (0.2, 0.3, 0.5)),      # different bin counts
    ((1.0,), (1.0,)),                   # one bin says nothing
    ((0.5, 0.5), (-0.1, 1.1)),          # negative share
    ((0.5, math.nan), (0.5, 0.5)),      # not a number
])
def test_psi_refuses_malformed_shares(expected, actual):
    with pytest.raises(ValueError, match=r"psi|shares"):
        psi(expected, actual)


def test_psi_of_two_samples_of_one_distribution_matches_its_noise_floor():
    """E[PSI] ≈ (B − 1)(1/n_a + 1/n_e) for samples of one distribution.

    Derivation: for small differences (a − e)·ln(a/e) ≈ (a − e)²/p, so PSI ≈ Σ (a − e)²/p,
    the two-sample chi-square statistic times (1/n_a + 1/n_e) ~ χ²(B − 1), mean B − 1
    (Yurdakul, "Statistical Properties of Population Stability Index", 2018). The
    approximation needs ≳ 10 expected counts per bin: true here (50 and 350).
    """
    rng = np.random.default_rng(2018)
    n_e, n_a, reps = 3500, 500, 400
    values = []
    for _ in range(reps):
        ref = rng.standard_normal((n_e, 2)).astype(np.float32)
        cur = rng.standard_normal((n_a, 2)).astype(np.float32)
        ordered = np.sort(ref, axis=0)
        edges = ordered[np.arange(1, PSI_BINS) * n_e // PSI_BINS].T
        values.append(_psi_rows(_bin_shares(ref, edges, ordered=ordered),
                                _bin_shares(cur, edges)))
    mean = float(np.mean(values))
    floor = psi_noise_floor(n_a, n_e)
    assert floor == pytest.approx(9 * (1 / 500 + 1 / 3500))
    # 800 draws with sd ≈ √18·(1/n_a + 1/n_e) ≈ 0.0097 → SE ≈ 0.00034 (1.7 % of the
    # floor); 8 % leaves room for the second-order approximation's own bias (~2 %).
    assert mean == pytest.approx(floor, rel=0.08)


# -- no drift -----------------------------------------------------------------------------------
def test_without_drift_accuracy_is_steady_and_psi_sits_at_its_noise_floor():
    _, r = _run(drift_per_day=0)
    acc = np.asarray(r.series["true_accuracy"])
    mean = _value(r, "mean_accuracy")
    # Binomial noise of a 500-sample day: SE = √(p(1 − p)/500) ≈ 0.013 at p ≈ 0.91.
    # Five SE on any of 180 days has probability ~1e-4 under the null.
    se_day = math.sqrt(mean * (1 - mean) / 500)
    assert np.all(np.abs(acc - mean) < 5 * se_day)
    # No trend: the two halves' means differ by < 5 SE of a 90-day mean difference.
    assert abs(acc[:90].mean() - acc[90:].mean()) < 5 * se_day * math.sqrt(2 / 90)
    assert mean > 0.85 + 0.04
    for feature in ("psi_x1", "psi_x2"):
        values = np.asarray(r.series[feature])
        floor = r.figure_data.psi_floor  # (B − 1)(1/500 + 1/3500) ≈ 0.0206, derived above
        # The daily part of the noise averages out over 180 days (SE ≈ 3.5 % of the
        # floor); the reference sample is shared by all days, so allow 25 %.
        assert values.mean() == pytest.approx(floor, rel=0.25)
        # χ²(9) tail: P(PSI > 0.1) = P(χ² > 44) ≈ 1e-6 a day.
        assert values.max() < 0.1
    assert _value(r, "input_alert_day") is None
    assert _value(r, "output_alert_day") is None
    assert _value(r, "days_below_slo") == 0


# -- covariate shift -----------------------------------------------------------------------------
def test_sudden_covariate_shift_alerts_on_inputs_before_accuracy():
    p, r = _run(**SUDDEN_SHIFT)
    acc = np.asarray(r.series["true_accuracy"])
    # The shifted inputs are in the first batch after the step: PSI ≫ 0.2 that day.
    assert _value(r, "input_alert_day") == p.shift_day
    out = _value(r, "output_alert_day")
    # No label exists for shifted data before shift_day + delay; the rolling week of
    # accuracy then needs a few days to fall below the SLO.
    assert p.shift_day + p.label_delay_days <= out <= p.shift_day + p.label_delay_days + 7
    # A covariate shift must hurt the day-0 model, or the chapter's story fails.
    assert acc[: p.shift_day - 1].mean() > p.slo_accuracy + 0.04
    assert acc[p.shift_day - 1:].mean() < p.slo_accuracy - 0.03


def test_label_delay_moves_the_accuracy_alert_and_not_the_input_alert():
    days = {}
    for delay in (0, 7, 30):
        _, r = _run(**{**SUDDEN_SHIFT, "label_delay_days": delay})
        days[delay] = (_value(r, "input_alert_day"), _value(r, "output_alert_day"))
    assert {i for i, _ in days.values()} == {60}
    # Same data at every delay (same seed), so the lag after the delay is identical.
    lags = {o - delay for delay, (_, o) in days.items()}
    assert len(lags) == 1


def test_slow_creep_warns_on_inputs_before_users_notice():
    _, r = _run(**SLOW_CREEP)
    first_in = _value(r, "input_alert_day")
    first_bad = _value(r, "first_day_below_slo")
    first_out = _value(r, "output_alert_day")
    assert first_in < first_bad < first_out
    assert _value(r, "days_below_slo") > 100
    assert _value(r, "retrains") == 0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_more_drift_means_lower_accuracy(seed):
    accs = [_value(_run(seed, drift_per_day=d)[1], "mean_accuracy")
            for d in (0, 0.005, 0.01, 0.02)]
    assert accs == sorted(accs, reverse=True)


# -- concept drift ---------------------------------------------------------------------------------
def test_concept_drift_lowers_accuracy_while_psi_stays_at_noise():
    """Concept drift changes P(y | x), not P(x): no label-free input monitor can see it.

    NannyML's documentation says the same of its own label-free performance estimate
    (CBPE assumes no concept drift): https://nannyml.readthedocs.io/en/stable/how_it_works/
    performance_estimation.html
    """
    p, r = _run(**CONCEPT)
    acc = np.asarray(r.series["true_accuracy"])
    assert _value(r, "input_alert_day") is None
    out = _value(r, "output_alert_day")
    assert out is not None
    assert out >= p.shift_day + p.label_delay_days
    assert acc[p.shift_day - 1:].mean() < p.slo_accuracy - 0.05
    before = np.asarray(r.series["psi_x1"][: p.shift_day - 1])
    after = np.asarray(r.series["psi_x1"][p.shift_day - 1:])
    # Both are the sampling floor (≈ 0.021); means of ~60 and ~120 days agree within
    # ~4 SE (SE of each ≈ 0.0097/√60 ≈ 0.0013).
    assert abs(after.mean() - before.mean()) < 0.006


def test_concept_drift_of_a_quarter_turn_makes_the_old_model_a_coin_flip():
    p, r = _run(**{**CONCEPT, "concept_drift": 1})
    after = np.asarray(r.series["true_accuracy"][p.shift_day - 1:])
    # 120 days × 500 samples: SE ≈ 0.002; the geometry gives ≈ 0.5 (±0.03 for the
    # curvature of the true boundary).
    assert after.mean() == pytest.approx(0.5, abs=0.03)


# -- retraining ---------------------------------------------------------------------------------
def test_retraining_on_alert_restores_accuracy_after_a_shift():
    p, never = _run(**SUDDEN_SHIFT)
    _, fixed = _run(**{**SUDDEN_SHIFT, "policy": "on_alert"})
    assert _value(fixed, "retrains") >= 1
    tail_fixed = np.mean(fixed.series["true_accuracy"][-30:])
    tail_never = np.mean(never.series["true_accuracy"][-30:])
    # 30 days × 500 samples: SE ≈ 0.002 each; the gap is ~10 points.
    assert tail_fixed > p.slo_accuracy + 0.03
    assert tail_fixed > tail_never + 0.05
    assert _value(fixed, "days_below_slo") < _value(never, "days_below_slo")


def test_retraining_on_the_accuracy_alert_repairs_concept_drift():
    p, r = _run(**{**CONCEPT, "policy": "on_alert"})
    assert _value(r, "retrains") >= 1
    assert np.mean(r.series["true_accuracy"][-30:]) > p.slo_accuracy + 0.03


def test_the_retrain_on_alert_preset_keeps_most_days_above_the_slo():
    _, r = _run(**RETRAIN_ON_ALERT)
    _, never = _run(**{**RETRAIN_ON_ALERT, "policy": "never"})
    assert _value(r, "retrains") >= 3
    assert _value(r, "days_below_slo") < _value(never, "days_below_slo") / 4


@pytest.mark.parametrize(("every", "expected"), [(30, 12), (90, 4)])
def test_scheduled_retraining_runs_on_its_schedule(every, expected):
    # Starts on days every, 2·every, … ≤ 365; each serves 2 days later, inside the year.
    _, r = _run(**{**SLOW_CREEP, "policy": "scheduled", "retrain_every_days": every})
    assert _value(r, "retrains") == expected


def test_more_frequent_retraining_means_fewer_bad_days():
    below = [_value(_run(**{**SLOW_CREEP, "policy": pol, "retrain_every_days": k})[1],
                    "days_below_slo")
             for pol, k in (("never", 30), ("scheduled", 90), ("scheduled", 30))]
    assert below[0] > below[1] >= below[2]


def test_a_new_model_is_unmeasured_until_its_own_labels_arrive():
    p, r = _run(**{**SUDDEN_SHIFT, "policy": "on_alert"})
    deploy = r.figure_data.retrain_deploys[0]
    observed = r.series["observed_accuracy"]
    # Days deploy … deploy + delay − 1 have no matured cohort of the new model.
    gap = observed[deploy - 1: deploy - 1 + p.label_delay_days]
    assert gap == [None] * p.label_delay_days
    assert observed[deploy - 1 + p.label_delay_days] is not None


# -- the contract ---------------------------------------------------------------------------------
def test_presets_parse_and_report_every_required_metric():
    for preset in (SLOW_CREEP, SUDDEN_SHIFT, CONCEPT, RETRAIN_ON_ALERT):
        params, seed = SIM.parse({k: str(v) for k, v in preset.items()})
        out = execute(SIM, params, seed)
        assert {"mean_accuracy", "days_below_slo", "input_alert_day", "output_alert_day",
                "retrains"} <= set(out["metrics"])
        lo, hi = out["metrics"]["mean_accuracy"]["ci95"]
        assert lo <= out["metrics"]["mean_accuracy"]["value"] <= hi


def test_same_seed_gives_identical_json_and_another_seed_does_not():
    params, _ = SIM.parse({k: str(v) for k, v in RETRAIN_ON_ALERT.items()})
    a = json.dumps(execute(SIM, params, 5), sort_keys=True)
    b = json.dumps(execute(SIM, params, 5), sort_keys=True)
    c = json.dumps(execute(SIM, params, 6), sort_keys=True)
    assert a == b
    assert a != c


def test_the_figure_stacks_accuracy_over_psi_with_basic_traces_only():
    params, seed = SIM.parse({"days": "730", "policy": "scheduled"})
    fig = execute(SIM, params, seed)["figure"]
    layout = fig["layout"]
    assert layout["yaxis2"]["domain"][0] > layout["yaxis"]["domain"][1]
    assert {t["type"] for t in fig["data"]} == {"scatter"}
    assert all(len(t["x"]) <= 1500 for t in fig["data"])
    names = {t["name"] for t in fig["data"]}
    assert {"true accuracy (what users get)", "observed accuracy (labels, late)",
            "PSI x1", "PSI x2", "retrained model deployed"} <= names


@pytest.mark.parametrize(("name", "value"), [
    ("drift_per_day", "0.5"),
    ("shift_size", "-1"),
    ("concept_drift", "2"),
    ("label_delay_days", "61"),
    ("psi_threshold", "0"),
    ("policy", "sometimes"),
    ("samples_per_day", "10"),
    ("days", "731"),
    ("slo_accuracy", "1"),
])
def test_bad_input_is_refused_naming_the_parameter(name, value):
    with pytest.raises(ParamError) as err:
        SIM.parse({name: value})
    assert err.value.name == name
    assert name in err.value.message


def test_too_much_work_is_refused_naming_the_limit():
    too_big = SimpleNamespace(days=731, samples_per_day=5000)
    with pytest.raises(ParamError, match="days × samples_per_day") as err:
        check_limits(too_big)
    assert err.value.name == "samples_per_day"
    # The declared maxima themselves are within the limit (they run in well under 2 s).
    check_limits(SimpleNamespace(days=730, samples_per_day=5000))
    assert MAX_SAMPLES == 730 * 5000
