"""The rerun-roulette simulation: flip rates, pinning, noise estimates and the GPU queue.

References:
- The flip probability. With n runs per variant and independent Normal(0, σ²) run noise,
  mean(B) − mean(A) ~ Normal(Δ, 2σ²/n), so P(A measures better) = Φ(−Δ / (σ·√(2/n)))
  (the distribution of a difference of independent normal means; any statistics text,
  e.g. Rice, Mathematical Statistics and Data Analysis, §11.2). The chapter quotes it:
  Δ = 0.5, σ = 1 gives about 36 % at one run each, 13 % at ten, under 3 % at thirty.
- The runs needed: P(flip) ≤ 5 % ⇔ Δ / (σ·√(2/n)) ≥ z₀.₉₅ = 1.645, so
  n ≥ 2·(1.645·σ/Δ)²: 22 runs at Δ = 0.5, σ = 1 and 87 at Δ = 0.25 (the chapter's
  exercise 3).
- The σ interval: the chi-square interval for a normal standard deviation; chi-square
  quantiles checked against the table in the NIST/SEMATECH e-Handbook of Statistical
  Methods, §1.3.6.7.4.
- The GPU queue: for list scheduling of jobs on m identical machines, the makespan lies
  between total work / m and total work / m + the longest job (Graham 1966).
"""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from simulations import ParamError, execute, get
from simulations.models import reruns as model

SIM = get("reruns")
PHI = NormalDist()


def _run(seed: int = 42, **query):
    """Parse a query like the web layer does and run it; return the Result."""
    params, _ = SIM.parse({k: str(v) for k, v in query.items()})
    return SIM.run(params, seed)


def _value(result, name):
    return result.metrics[name].value


# -- the closed forms -------------------------------------------------------------------
@pytest.mark.parametrize(("n", "expected"), [(1, 0.3618), (10, 0.1318), (30, 0.0264)])
def test_flip_closed_form_gives_the_chapters_numbers(n, expected):
    """36 % at one run each, 13 % at ten, under 3 % at thirty (Δ = 0.5, σ = 1)."""
    assert model.flip_probability(0.5, 1.0, n) == pytest.approx(expected, abs=1e-4)
    assert _run(runs_per_variant=n, reruns=100).metrics["flip_rate"].closed_form == \
        pytest.approx(expected, abs=1e-4)


def test_no_real_difference_flips_half_the_time_by_formula():
    assert model.flip_probability(0.0, 1.0, 10) == 0.5


def test_runs_needed_for_5pct_matches_the_chapters_22_and_87():
    """n ≥ 2·(1.645·σ/Δ)²: 21.6 → 22 at Δ = 0.5 and 86.6 → 87 at Δ = 0.25."""
    assert model.runs_needed(0.5, 1.0) == 22
    assert model.runs_needed(0.25, 1.0) == 87
    assert model.runs_needed(0.0, 1.0) is None
    assert _value(_run(delta=0.5, sigma=1, reruns=100), "runs_needed_for_5pct") == 22


@pytest.mark.parametrize(("delta", "sigma"), [(0.5, 1.0), (0.25, 1.0), (0.1, 3.0), (2.0, 0.3)])
def test_runs_needed_is_the_smallest_n_with_at_most_5pct_flips(delta, sigma):
    n = model.runs_needed(delta, sigma)
    assert model.flip_probability(delta, sigma, n) <= 0.05 + 1e-12
    if n > 1:
        assert model.flip_probability(delta, sigma, n - 1) > 0.05


def test_halving_the_difference_needs_about_four_times_the_runs():
    """Noise is paid quadratically: n ∝ (σ/Δ)², up to rounding up."""
    assert model.runs_needed(0.1, 1.0) / model.runs_needed(0.2, 1.0) == pytest.approx(4, rel=0.02)


def test_flip_closed_form_falls_with_runs_and_rises_with_noise():
    by_runs = [model.flip_probability(0.5, 1.0, n) for n in (1, 2, 5, 10, 50, 200)]
    by_noise = [model.flip_probability(0.5, s, 10) for s in (0.1, 0.5, 1, 2, 5)]
    assert by_runs == sorted(by_runs, reverse=True)
    assert by_noise == sorted(by_noise)
    assert all(p < 0.5 for p in by_runs + by_noise)


@pytest.mark.parametrize(("q", "df", "table"), [
    (0.025, 2, 0.0506), (0.975, 2, 7.378), (0.025, 8, 2.180), (0.975, 8, 17.535),
    (0.025, 18, 8.231), (0.975, 18, 31.526)])
def test_chi_square_quantiles_match_the_table(q, df, table):
    """Table values to 3–4 figures (NIST/SEMATECH §1.3.6.7.4); tolerance 0.1 %."""
    assert model.chi2_quantile(q, df) == pytest.approx(table, rel=1e-3)


def test_chi_square_cdf_with_two_degrees_of_freedom_is_exponential():
    for x in (0.1, 1.0, 5.0):
        assert model.chi2_cdf_even(x, 2)[0] == pytest.approx(1 - math.exp(-x / 2))


# -- the simulation agrees with them ------------------------------------------------------
@pytest.mark.parametrize(("n", "delta"), [(1, 0.5), (10, 0.5), (10, 0.0)])
def test_simulated_flip_rate_matches_the_closed_form(n, delta):
    """10,000 re-runs: binomial sd ≤ 0.005; tolerance 0.02 (4 sd)."""
    result = _run(delta=delta, sigma=1, runs_per_variant=n, reruns=10000)
    flip = result.metrics["flip_rate"]
    expected = model.flip_probability(delta, 1.0, n)
    assert flip.value == pytest.approx(expected, abs=0.02)
    assert flip.ci95[0] <= flip.value <= flip.ci95[1]


def test_flip_rate_interval_covers_the_closed_form_in_most_seeds():
    """A 95 % Wilson interval misses about 1 run in 20; over 30 seeds at least 25 must
    cover it (P(24 or fewer | 95 % coverage) < 1 %)."""
    expected = model.flip_probability(0.5, 1.0, 3)
    covered = 0
    for seed in range(30):
        lo, hi = _run(seed, runs_per_variant=3, reruns=500).metrics["flip_rate"].ci95
        covered += lo <= expected <= hi
    assert covered >= 25


def test_measured_difference_is_centred_on_delta_with_the_closed_form_spread():
    """Mean Δ and sd σ·√(2/n) = 0.447 at n = 10; 10,000 re-runs give sampling errors of
    0.0045 (mean) and 0.0032 (sd); tolerances 0.02 and 0.015 (about 4–5 errors)."""
    result = _run(delta=0.5, sigma=1, runs_per_variant=10, reruns=10000)
    assert _value(result, "mean_measured_delta") == pytest.approx(0.5, abs=0.02)
    assert result.metrics["mean_measured_delta"].closed_form == 0.5
    spread = result.metrics["spread_measured_delta"]
    assert spread.closed_form == pytest.approx(math.sqrt(0.2))
    assert spread.value == pytest.approx(math.sqrt(0.2), abs=0.015)


def test_more_runs_per_variant_flip_less_often():
    """At 1, 10 and 30 runs: 36 %, 13 % and 2.6 % expected, at least 7 sd apart at
    5,000 re-runs."""
    rates = [_value(_run(runs_per_variant=n, reruns=5000), "flip_rate") for n in (1, 10, 30)]
    assert rates[0] > rates[1] > rates[2]


# -- pinning: repeatable, not right -------------------------------------------------------
def test_pinned_reruns_all_land_on_the_same_point():
    result = _run(pinned_seed=1, reruns=500)
    assert _value(result, "repeatability") == 1.0
    assert _value(result, "flip_rate") in (0.0, 1.0)
    assert _value(result, "spread_measured_delta") == 0.0
    assert len(set(result.series["rerun_delta"])) == 1


def test_unpinned_reruns_never_repeat_exactly():
    assert _value(_run(pinned_seed=0, reruns=500), "repeatability") == 0.0


def test_pinning_replays_the_first_unpinned_rerun_of_the_same_seed():
    for seed in (1, 6, 42):
        free, pinned = _run(seed, reruns=200), _run(seed, pinned_seed=1, reruns=200)
        assert pinned.series["rerun_delta"][0] == free.series["rerun_delta"][0]


def test_pinned_winner_is_wrong_across_seeds_as_often_as_the_closed_form_says():
    """Pinning fixes the answer, not its error: over 400 seeds, the pinned comparison
    crowns A about 36 % of the time. Binomial sd 0.024; tolerance 0.1 (4 sd)."""
    wrong = [_value(_run(seed, pinned_seed=1, reruns=100), "flip_rate") for seed in range(400)]
    assert np.mean(wrong) == pytest.approx(model.flip_probability(0.5, 1.0, 1), abs=0.1)


def test_the_pinned_summary_says_repeatable_not_right():
    text = _run(pinned_seed=1).summary
    assert "all 2,000 re-runs reproduced one result exactly" in text
    assert "36 %" in text and "repeatable, not right" in text


# -- measuring the noise -------------------------------------------------------------------
def test_one_run_per_variant_cannot_estimate_its_noise():
    metric = _run(runs_per_variant=1).metrics["sigma_estimate"]
    assert metric.value is None
    assert metric.closed_form == 1.0


def test_several_seeds_estimate_sigma_with_an_interval_that_covers_it():
    """n = 5 runs each, 8 degrees of freedom: a 95 % interval covers σ in about 95 % of
    seeds; over 40 seeds at least 34 must (P(33 or fewer | 95 %) < 1 %)."""
    covered = 0
    for seed in range(40):
        m = _run(seed, sigma=2, runs_per_variant=5, reruns=100).metrics["sigma_estimate"]
        covered += m.ci95[0] <= 2 <= m.ci95[1]
    assert covered >= 34


def test_pinned_seeds_still_estimate_sigma_from_several_runs():
    """Pinning fixes the list of seeds, not their number: ten pinned runs still differ."""
    m = _run(pinned_seed=1, runs_per_variant=10).metrics["sigma_estimate"]
    assert m.ci95[0] <= 1.0 <= m.ci95[1]


# -- the GPU queue (SimPy) ----------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_gpu_makespan_obeys_the_list_scheduling_bounds(n):
    """total / GPUS ≤ makespan ≤ total / GPUS + longest job (Graham 1966)."""
    finish, order = model.schedule_runs(n, np.random.default_rng(n))
    hours = np.random.default_rng(n).lognormal(math.log(model.RUN_HOURS), model.RUN_SHAPE, 2 * n)
    total = hours.sum()
    assert total / model.GPUS - 1e-9 <= finish.max() <= total / model.GPUS + hours.max() + 1e-9
    assert np.all(np.diff(finish[order]) >= 0)
    if 2 * n <= model.GPUS:  # every job starts at once
        assert finish == pytest.approx(hours)


def test_more_runs_never_finish_sooner():
    """Same seed, jobs appended to the same queue: the makespan cannot shrink."""
    hours = [_value(_run(runs_per_variant=n, reruns=100), "hours_to_answer")
             for n in (1, 2, 5, 10, 20, 50)]
    assert hours == sorted(hours)


def test_results_arriving_over_time_end_at_the_first_reruns_difference():
    result = _run(runs_per_variant=6, reruns=100)
    s = result.series
    assert len(s["run_finish_hours"]) == 12
    assert sorted(s["run_variant"]) == ["A"] * 6 + ["B"] * 6
    assert s["running_delta"][-1] == pytest.approx(s["rerun_delta"][0], abs=1e-3)
    assert s["run_finish_hours"] == sorted(s["run_finish_hours"])


# -- contract -----------------------------------------------------------------------------
def test_same_seed_gives_identical_json_and_another_seed_does_not():
    params, _ = SIM.parse({"runs_per_variant": "5"})
    a, b = execute(SIM, params, 3), execute(SIM, params, 3)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    assert execute(SIM, params, 4)["series"] != a["series"]


@pytest.mark.parametrize(("name", "value"), [("runs_per_variant", "0"), ("sigma", "0"),
                                             ("delta", "-0.5"), ("pinned_seed", "2"),
                                             ("reruns", "50")])
def test_bad_values_are_refused_naming_the_parameter(name, value):
    with pytest.raises(ParamError) as err:
        SIM.parse({name: value})
    assert err.value.name == name


def test_defaults_tell_the_demo_story():
    """One run each, unpinned: the worse variant wins about a third of re-runs."""
    result = _run()
    assert 0.3 < _value(result, "flip_rate") < 0.42
    assert "closed form 36 %" in result.summary
