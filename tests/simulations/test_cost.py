"""The cost simulation reproduces the chapter's arithmetic and measures honestly.

References:
- the cost chapter (content/cost.md): an O(n²) step invisible at 1,000 records costs a million
  times more at 1,000,000; $0.002 per call is $100,000 a day at 50 million calls.
- content/cost.md, exercise 1: at 1,000,000 records a 10 ms step becomes 10,000 s as
  O(n²), 2,000× (about 20 s) as O(n log n), 1,000× (10 s) as O(n).
- content/cost.md, exercises 2 and 3: $1,000 / $0.002 = 500,000 calls a day; an O(n²)
  step of 10 ms at 1,000 records fits one hour up to (3,600 s / 10 ms)^½ × 1,000 =
  600,000 records.
- Ordinary least squares on log-log data (any regression text, e.g. Montgomery, Peck &
  Vining, *Introduction to Linear Regression Analysis*, §2.4): the fitted slope is
  unbiased when the model is a power law, and its 95 % interval covers the truth in
  about 95 % of runs.
"""

import json
import math
import statistics

import numpy as np
import pytest

from simulations import ParamError, execute, get, spawn_rngs
from simulations.models import cost as model

SIM = get("cost")


def parse(**query):
    params, _ = SIM.parse({k: str(v) for k, v in query.items()})
    return params


def run(seed=42, **query):
    """Parse a query like the web layer does, run it, return the JSON result."""
    return execute(SIM, parse(**query), seed)


def metrics(seed=42, **query):
    """Only the model (no figure): faster for tests that repeat runs."""
    return model.run(parse(**query), seed).metrics


def value(result, name):
    return result["metrics"][name]["value"]


def closed(result, name):
    return result["metrics"][name]["closed_form"]


# -- the chapter's arithmetic -----------------------------------------------------------
def test_quadratic_step_costs_a_million_times_more_at_a_million_records():
    """(10⁶ / 10³)² = 10⁶; 10 ms becomes 10,000 s (cost.md, exercise 1)."""
    result = run(records=1_000_000, complexity="n2", measured_ms=10)
    assert value(result, "work_factor") == pytest.approx(1e6)
    assert closed(result, "run_time_s") == pytest.approx(10_000)
    assert value(result, "over_time_budget") is True


@pytest.mark.parametrize(("complexity", "factor"), [("n_log_n", 2000), ("n", 1000)])
def test_sorting_or_hashing_grows_two_or_one_thousand_fold_at_a_million_records(
        complexity, factor):
    """cost.md, exercise 1: 10⁶ ln 10⁶ / (10³ ln 10³) = 2,000 exactly; linear gives 1,000."""
    result = run(records=1_000_000, complexity=complexity, measured_ms=10)
    assert value(result, "work_factor") == pytest.approx(factor)
    assert closed(result, "run_time_s") == pytest.approx(factor * 0.010)
    assert value(result, "over_time_budget") is False


def test_fifty_million_calls_at_a_fifth_of_a_cent_cost_100000_dollars_a_day():
    """The cost chapter: $0.002 × 50,000,000 = $100,000 a day.

    Tolerance: each simulated day's volume varies by DAY_SIGMA (10 %), so the mean of
    7 days has a standard error of about 3.8 %; allow 3 of them (±11.3 %).
    """
    result = run(price_per_call=0.002, calls_per_day=50_000_000, budget_per_day=1000)
    assert closed(result, "daily_cost_usd") == pytest.approx(100_000)
    tolerance = 3 * model.DAY_SIGMA / math.sqrt(model.DAYS)
    assert value(result, "daily_cost_usd") == pytest.approx(100_000, rel=tolerance)
    lo, hi = result["metrics"]["daily_cost_usd"]["ci95"]
    assert lo <= 100_000 <= hi
    assert value(result, "over_budget") is True
    assert value(result, "days_over_budget") == model.DAYS


def test_the_budget_pays_for_500000_calls_a_day():
    """cost.md, exercise 2: $1,000 / $0.002 = 500,000 calls."""
    result = run(price_per_call=0.002, budget_per_day=1000, calls_per_day=500_000)
    assert value(result, "max_calls_in_budget") == pytest.approx(500_000)
    assert closed(result, "daily_cost_usd") == pytest.approx(1000)
    # Exactly at the line, a budget set at the average is broken on some days and kept
    # on others (7 days, each over with probability ≈ ½).
    assert 0 < value(result, "days_over_budget") < model.DAYS


def test_a_99_percent_cache_brings_fifty_million_calls_back_to_the_budget():
    """100× the budget needs 99 % of calls served from cache: 0.002 × 5·10⁷ × 0.01 = 1,000."""
    result = run(calls_per_day=50_000_000, cache_hit_rate=0.99)
    assert closed(result, "daily_cost_usd") == pytest.approx(1000)
    assert value(result, "max_calls_in_budget") == pytest.approx(50_000_000)
    assert "budget_gone_at_h" not in result["metrics"] or \
        result["metrics"]["budget_gone_at_h"].get("closed_form") is None


def test_quadratic_step_fits_a_one_hour_window_up_to_600000_records():
    """cost.md, exercise 3: 3,600 s / 10 ms = 360,000 = (n / 1,000)², so n = 600,000."""
    result = run(complexity="n2", measured_ms=10, time_budget_s=3600)
    assert closed(result, "max_records_in_budget") == pytest.approx(600_000)


@pytest.mark.parametrize("complexity", model.COMPLEXITIES)
@pytest.mark.parametrize(("measured_ms", "budget_s"), [(10, 3600), (0.1, 86_400), (60_000, 1)])
def test_max_records_inverts_the_closed_form(complexity, measured_ms, budget_s):
    n = model.max_records_closed_form(complexity, measured_ms, budget_s)
    assert model.run_time_closed_form_s(complexity, measured_ms, n) == pytest.approx(budget_s)


def test_budget_runs_out_in_the_first_hour_at_a_hundred_times_the_budget():
    """At 100× the budget the money is gone once 1 % of the day's calls are made.

    Closed form: the traffic curve's cumulative share reaches 1 % at about 00:32. The
    simulated median day may differ by the day-to-day spread (10 % in volume, so about
    3 minutes at this hour); allow 0.1 h.
    """
    result = run(calls_per_day=50_000_000, price_per_call=0.002, budget_per_day=1000)
    expected = closed(result, "budget_gone_at_h")
    assert 0.4 < expected < 0.7
    assert value(result, "budget_gone_at_h") == pytest.approx(expected, abs=0.1)
    assert "00:3" in result["summary"]


def test_a_bill_under_budget_never_runs_out():
    result = run(calls_per_day=20_000)
    assert value(result, "budget_gone_at_h") is None
    assert value(result, "days_over_budget") == 0
    assert value(result, "over_budget") is False


# -- measuring and extrapolating --------------------------------------------------------
def test_measured_time_at_1000_records_averages_the_declared_measurement():
    """The straggler calibration makes the simulated mean at 1,000 records measured_ms.

    Tolerance: one run's mean of 5 jobs has a spread of about 5 % (log sd ≈ 0.11 per
    job); the average over 30 seeds has a standard error under 1 %; allow 3 %.
    """
    runs = [metrics(seed, measured_ms=10)["measured_at_1000_ms"].value for seed in range(30)]
    assert statistics.fmean(runs) == pytest.approx(10, rel=0.03)


@pytest.mark.parametrize(("complexity", "exponent"), [("n", 1.0), ("n2", 2.0)])
def test_fitted_exponent_recovers_the_growth_rate_and_its_interval_covers_it(
        complexity, exponent):
    """OLS on a true power law: slope unbiased; its 95 % interval covers it ~95 % of runs.

    Over 40 seeds at least 33 intervals must cover (P ≤ 1 % at 95 % coverage), and the
    average slope must be within 0.02 of the truth (its standard error is about 0.003).
    """
    runs = [metrics(seed, complexity=complexity)["fitted_exponent"] for seed in range(40)]
    assert all(m.closed_form == pytest.approx(exponent) for m in runs)
    assert statistics.fmean(m.value for m in runs) == pytest.approx(exponent, abs=0.02)
    covered = sum(m.ci95[0] <= exponent <= m.ci95[1] for m in runs)
    assert covered >= 33


def test_extrapolated_quadratic_run_time_interval_covers_the_closed_form():
    """Three decades beyond the last measurement the fit's interval still covers k·n².

    Over 40 seeds at least 33 of the 95 % intervals must cover 10,000 s.
    """
    runs = [metrics(seed, complexity="n2", records=1_000_000)["run_time_s"]
            for seed in range(40)]
    covered = sum(m.ci95[0] <= m.closed_form <= m.ci95[1] for m in runs)
    assert covered >= 33
    # The interval is wide: extrapolating three decades turns ±5 % into about ±25 %.
    widths = [m.ci95[1] / m.ci95[0] for m in runs]
    assert 1.3 < statistics.median(widths) < 2.0


def test_a_power_law_fitted_to_n_log_n_overestimates_far_out():
    """n log n is not a power law: its local slope falls as n grows (1 + 1/ln n).

    A line fitted over 1,000–20,000 records has the slope of that range (≈ 1.12), so at
    10⁸ records it runs above the closed form; the noiseless fit is 1.51× too high.
    """
    expected = model.expected_exponent("n_log_n")
    assert expected == pytest.approx(1.12, abs=0.005)
    ratios = [
        m["run_time_s"].value / m["run_time_s"].closed_form
        for m in (metrics(seed, complexity="n_log_n", records=100_000_000) for seed in range(20))
    ]
    assert statistics.median(ratios) > 1.2


def test_interval_narrows_inside_the_measured_range():
    near = metrics(records=5000)["run_time_s"]
    far = metrics(records=10_000_000)["run_time_s"]
    assert near.ci95[1] / near.ci95[0] < far.ci95[1] / far.ci95[0]


# -- the SimPy pool ---------------------------------------------------------------------
def test_simpy_pool_schedules_like_list_scheduling():
    """The vectorised makespan used for calibration is exactly what the SimPy pool does."""
    durations = model.job_durations(parse(measured_ms=10), spawn_rngs(3, "chunks", "runs"))
    flat = durations.reshape(-1, model.CHUNKS)[:30]
    np.testing.assert_allclose(model.time_on_pool(flat), model.makespan(flat), rtol=1e-12)


def test_a_job_waits_for_its_slowest_worker():
    """Uneven chunks leave workers idle: the mean job takes longer than perfect balance."""
    assert 1.0 < model.straggler() < 1.5


# -- monotone properties ----------------------------------------------------------------
def test_run_time_grows_with_records_for_every_complexity():
    for complexity in model.COMPLEXITIES:
        times = [closed(run(records=n, complexity=complexity), "run_time_s")
                 for n in (1000, 10_000, 1_000_000)]
        assert times == sorted(times)
        fits = [value(run(records=n, complexity=complexity), "run_time_s")
                for n in (1000, 10_000, 1_000_000)]
        assert fits == sorted(fits)


def test_beyond_1000_records_the_steps_rank_n_then_n_log_n_then_n2():
    at = {c: closed(run(records=100_000, complexity=c), "run_time_s") for c in model.COMPLEXITIES}
    assert at["n"] < at["n_log_n"] < at["n2"]
    below = {c: closed(run(records=100, complexity=c), "run_time_s") for c in model.COMPLEXITIES}
    assert below["n2"] < below["n"]  # under 1,000 records the quadratic step is cheapest


def test_a_slower_measurement_fits_fewer_records_in_the_budget():
    fits = [closed(run(measured_ms=m), "max_records_in_budget") for m in (1, 10, 100)]
    assert fits == sorted(fits, reverse=True)


def test_the_bill_grows_with_calls_and_price_and_shrinks_with_cache_hits():
    by_calls = [value(run(calls_per_day=c), "daily_cost_usd") for c in (10_000, 1_000_000, 100_000_000)]
    assert by_calls == sorted(by_calls)
    by_price = [value(run(price_per_call=x), "daily_cost_usd") for x in (0.0001, 0.001, 0.01)]
    assert by_price == sorted(by_price)
    by_cache = [value(run(cache_hit_rate=h), "daily_cost_usd") for h in (0, 0.5, 0.9)]
    assert by_cache == sorted(by_cache, reverse=True)


# -- contract, determinism, input -------------------------------------------------------
def test_metrics_named_in_the_brief_are_present():
    result = run()
    for name in ("run_time_s", "daily_cost_usd", "over_budget", "max_records_in_budget"):
        assert name in result["metrics"]
    assert closed(result, "run_time_s") is not None
    assert closed(result, "daily_cost_usd") is not None


def test_same_seed_gives_identical_json():
    a, b = run(seed=9), run(seed=9)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_another_seed_changes_the_measurements_but_not_the_closed_forms():
    a, b = run(seed=1), run(seed=2)
    assert a["series"]["measured_s_n2"] != b["series"]["measured_s_n2"]
    assert closed(a, "run_time_s") == closed(b, "run_time_s")


def test_moving_records_redraws_the_marker_but_keeps_the_measurements():
    """The benchmark does not depend on `records`: dragging the slider moves the marker."""
    a, b = run(records=1000), run(records=1_000_000)
    assert a["series"]["measured_s_n2"] == b["series"]["measured_s_n2"]
    assert a["figure"]["layout"]["shapes"] != b["figure"]["layout"]["shapes"]


def test_chosen_complexity_is_highlighted():
    fig = run(complexity="n_log_n")["figure"]
    widths = {t["name"]: t["line"]["width"] for t in fig["data"] if "closed form" in t["name"]}
    assert widths[f"{model.COMPLEXITY_LABELS['n_log_n']}: closed form"] == 3
    assert sorted(widths.values()) == [1.5, 1.5, 3]


def test_figure_stays_small():
    fig = run()["figure"]
    assert len(fig["data"]) <= 8
    assert all(len(t.get("x", [])) <= 1500 for t in fig["data"])
    assert len(json.dumps(fig)) < 40_000


@pytest.mark.parametrize(("name", "bad"), [
    ("complexity", "n3"), ("records", "0"), ("records", "1e6"), ("cache_hit_rate", "1"),
    ("price_per_call", "-0.002"), ("calls_per_day", "lots"), ("measured_ms", "nan"),
])
def test_bad_input_is_refused_naming_the_parameter(name, bad):
    with pytest.raises(ParamError) as err:
        SIM.parse({name: bad})
    assert err.value.name == name
    assert name in err.value.message
