"""The alerting simulation: burn-rate arithmetic, detection, reset time and false pages."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from simulations import ParamError, execute, get
from simulations.engine.stats import poisson_ci
from simulations.models.alerting import (
    INCIDENT_START_MIN,
    MONTH_MIN,
    QUIET_MONTHS,
    RESPONSE_MIN,
    baseline_error_rate,
    budget_share,
    count_pages,
    expected_path,
    quiet_pages,
)

SIM = get("alerting")

# The chapter's presets, as in content/observability.md (front matter `presets`).
LEAK_STATIC = dict(incident="leak", leak_rate=0.002, error_rate=0.03, incident_min=900,
                   noise=1.5, slo_target=0.999, policy="static", threshold=0.05)
LEAK_MULTI = {**LEAK_STATIC, "policy": "multi_window"}
OUTAGE_SINGLE = dict(incident="sudden", leak_rate=0.002, error_rate=1.0, incident_min=10,
                     noise=1.5, slo_target=0.999, policy="single_window", threshold=0.05)
QUIET_TWITCHY = dict(incident="none", leak_rate=0.002, error_rate=0.03, incident_min=900,
                     noise=1.5, slo_target=0.999, policy="static", threshold=0.005)


def _parse(**overrides):
    params, _ = SIM.parse({k: str(v) for k, v in overrides.items()})
    return params


def _run(seed: int = 42, **overrides):
    params = _parse(**overrides)
    return params, SIM.run(params, seed)


def _value(result, name):
    return result.metrics[name].value


def _steady_incident(burn: float, minutes: int, slo: float = 0.999) -> dict:
    """A sudden incident whose total error rate (with the normal errors) is burn × budget."""
    base = baseline_error_rate(slo)
    share = (burn * (1 - slo) - base) / (1 - base)
    # A 50 % static threshold never fires here, so nobody cuts the incident short.
    return dict(incident="sudden", error_rate=share, incident_min=minutes, noise=0,
                slo_target=slo, policy="static", threshold=0.5)


# -- the workbook's arithmetic ---------------------------------------------------------
@pytest.mark.parametrize(("burn", "hours", "share"), [(14.4, 1, 0.02), (6, 6, 0.05), (1, 72, 0.1)])
def test_budget_share_matches_the_workbook_table(burn, hours, share):
    # Google SRE Workbook, "Alerting on SLOs", table of burn rates for a 30-day SLO:
    # 14.4 × 1 h / 720 h = 2 %, 6 × 6 h / 720 h = 5 %, 1 × 3 d / 30 d = 10 %. Exact.
    assert budget_share(burn, hours) == pytest.approx(share)


@pytest.mark.parametrize(("burn", "minutes", "share"), [(14.4, 60, 0.02), (6, 360, 0.05)])
def test_a_steady_burn_spends_the_workbooks_share_of_a_30_day_budget(burn, minutes, share):
    """Simulated: 14.4× for 1 h spends 2 %, 6× for 6 h spends 5 % (SRE Workbook, "Alerting
    on SLOs"). Errors are binomial: 5,184 expected in the hour (sd 72, 1.4 %) and 12,960 in
    six hours (sd 0.9 %); tolerance 5 % relative, over 3.5 sd.
    """
    _, result = _run(**_steady_incident(burn, minutes))
    assert _value(result, "detect_min") is None
    assert _value(result, "budget_spent_total") == pytest.approx(share, rel=0.05)
    assert result.metrics["budget_spent_total"].closed_form == pytest.approx(share, rel=1e-6)


def test_the_peak_burn_rate_is_the_error_rate_over_the_budget_rate():
    # 3 % errors against a 0.1 % budget rate is a burn of 30 (the chapter's arithmetic),
    # plus the normal 0.02 % on the requests the incident spares: 30 + 0.2 × 0.97.
    _, result = _run(**LEAK_STATIC)
    assert _value(result, "peak_burn_rate") == pytest.approx(30 + 0.2 * 0.97, abs=1e-3)


# -- detection ----------------------------------------------------------------------------
def test_a_sudden_full_outage_is_paged_within_minutes_by_the_multi_window_policy():
    """A 100 % outage lifts the 1-hour average past 14.4 × 0.1 % in 0.0144 h = 52 s (SRE
    Workbook: the fast pair's detection time); the rule is evaluated every minute, so the
    first evaluation pages, having spent one minute of outage: 1 / 43.2 = 2.3 % of budget.
    """
    _, result = _run(**{**OUTAGE_SINGLE, "policy": "multi_window"})
    assert _value(result, "detect_min") == 1
    assert _value(result, "budget_spent_before_page") == pytest.approx(1 / 43.2, rel=0.01)


def test_the_leak_is_paged_by_the_six_hour_pair_near_the_closed_form():
    """A leak rising r per hour: the 6-hour window's average is b + r·t²/12 for t ≤ 6 h, so
    the 6× pair fires at t = sqrt(12 (6 × 0.1 % − b) / r) = 5.9 h (chapter, exercise 1), with
    r·t²/2 / 0.1 % / 720 h ≈ 4.8 % + 0.16 % normal errors spent: the pair's design 5 %.
    Noise moves the 6-hour average little: tolerance 15 minutes and 0.5 points, over 5 seeds.
    """
    params = _parse(**LEAK_MULTI)
    base = baseline_error_rate(params.slo_target)
    t_h = math.sqrt(12 * (6 * (1 - params.slo_target) - base) / params.leak_rate)
    assert expected_path(params, "multi_window")["detect_min"] == pytest.approx(60 * t_h, abs=2)
    for seed in range(5):
        result = SIM.run(params, seed)
        assert _value(result, "detect_min") == pytest.approx(60 * t_h, abs=15)
        assert _value(result, "budget_spent_before_page") == pytest.approx(0.05, abs=0.005)
        # On-call fixes it RESPONSE_MIN after the page.
        assert _value(result, "incident_min_lasted") == _value(result, "detect_min") + RESPONSE_MIN


def test_the_static_5_percent_threshold_never_pages_a_leak_that_levels_off_at_3_percent():
    """The chapter's opening: the leak spends r·T²/2 = 0.225 %·h of errors in T = 15 h, i.e.
    0.225 / 0.1 / 720 ≈ 31 % of the budget (plus 0.4 % normal errors). Tolerance 1 point."""
    _, result = _run(**LEAK_STATIC)
    assert _value(result, "detect_min") is None
    assert _value(result, "budget_spent_before_page") is None
    assert _value(result, "incident_min_lasted") == 900
    assert _value(result, "budget_spent_total") == pytest.approx(0.3125 + 0.004, abs=0.01)


def test_a_faster_leak_is_paged_sooner():
    slow = expected_path(_parse(**{**LEAK_MULTI, "leak_rate": 0.001}), "multi_window")
    fast = expected_path(_parse(**{**LEAK_MULTI, "leak_rate": 0.004}), "multi_window")
    assert fast["detect_min"] < slow["detect_min"]
    _, slow_run = _run(**{**LEAK_MULTI, "leak_rate": 0.001})
    _, fast_run = _run(**{**LEAK_MULTI, "leak_rate": 0.004})
    assert _value(fast_run, "detect_min") < _value(slow_run, "detect_min")


def test_every_policy_sees_the_same_errors_until_it_pages():
    """Common random numbers: the policies differ only in when on-call acts."""
    _, result = _run(**LEAK_MULTI)
    watches = result.figure_data.watches
    cums = [w.month.cumulative(w.end) for w in watches.values()]
    first_fix = min(w.end for w in watches.values())
    cut = 360 + first_fix  # padded index of the earliest fix
    assert all(np.array_equal(c[:cut + 1], cums[0][:cut + 1]) for c in cums)


# -- reset time ---------------------------------------------------------------------------
def test_one_window_keeps_paging_an_hour_after_a_short_outage_and_the_pairs_half_an_hour():
    """After a 10-minute full outage the 1-hour average stays above 14.4× until the bad
    minutes slide out: 60 minutes after the fix. The fast pair's 5-minute window clears in
    5; the slow pair's 30-minute window in 30 (SRE Workbook: the short window gives reset
    time). Tolerance 2 minutes for noise."""
    _, single = _run(**OUTAGE_SINGLE)
    _, multi = _run(**{**OUTAGE_SINGLE, "policy": "multi_window"})
    assert _value(single, "firing_after_fix_min") == pytest.approx(60, abs=2)
    assert _value(multi, "firing_after_fix_min") == pytest.approx(30, abs=2)


# -- false pages --------------------------------------------------------------------------
def test_without_noise_nothing_pages_falsely():
    """Poisson noise alone: a 5-minute window holds 6 errors on average; a 0.1 % threshold
    needs 31 (a < 1e-10 tail per evaluation), so no policy pages in QUIET_MONTHS months."""
    params = _parse(**{**QUIET_TWITCHY, "noise": 0, "threshold": 0.001})
    pages = quiet_pages(params, np.random.default_rng(1))
    assert pages == {"static": 0, "single_window": 0, "multi_window": 0}


def test_a_twitchy_static_threshold_pages_many_times_a_month_and_burn_rates_stay_quiet():
    """Chapter, exercise 3: at the default noise a 0.5 % threshold pages about 17 times a
    month (48-month calibration: 16.5), while the burn-rate policies page none (48 months: 0).
    Tolerances: at least 10 a month; at most one burn-rate page in QUIET_MONTHS months."""
    _, result = _run(**QUIET_TWITCHY)
    assert _value(result, "false_pages_per_month") >= 10
    lo, hi = result.metrics["false_pages_per_month"].ci95
    assert lo <= _value(result, "false_pages_per_month") <= hi
    assert result.figure_data.false_pages["multi_window"] <= 1
    assert result.figure_data.false_pages["single_window"] <= 1


def test_more_noise_and_lower_thresholds_page_more():
    """Same seed, so the quiet months share their random numbers; the gaps are wide
    (48-month calibration: 3.5 → 14 a month for noise 1.5 → 2, 17 → 0.7 for 0.5 % → 2 %)."""
    def rate(**over):
        return quiet_pages(_parse(**{**QUIET_TWITCHY, **over}), np.random.default_rng(2))
    assert rate(threshold=0.01, noise=2)["static"] > rate(threshold=0.01, noise=1.5)["static"]
    assert rate(threshold=0.005)["static"] > rate(threshold=0.02)["static"]


def test_count_pages_counts_each_start_of_firing():
    fires = np.array([[True, True, False, True, False, False, True],
                      [False] * 7])
    assert count_pages(fires).tolist() == [3, 0]


def test_poisson_ci_is_the_score_interval():
    # Score interval (x − μ)² = z²μ: for 0 events the upper end is z² = 3.84 (exact
    # Garwood: 3.69); for 10 events (5.43, 18.41) against Garwood's (4.80, 18.39).
    assert poisson_ci(0, 1) == (0.0, pytest.approx(3.8415, abs=1e-3))
    lo, hi = poisson_ci(10, 2)
    assert lo == pytest.approx(5.431 / 2, abs=1e-3) and hi == pytest.approx(18.41 / 2, abs=1e-2)


# -- the contract -------------------------------------------------------------------------
def test_same_seed_gives_identical_json_and_another_seed_differs():
    params = _parse(**LEAK_MULTI)
    a, b = execute(SIM, params, 7), execute(SIM, params, 7)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = execute(SIM, params, 8)
    assert json.dumps(a["series"]) != json.dumps(c["series"])


@pytest.mark.parametrize(("preset", "phrase"), [
    (LEAK_STATIC, "static threshold never paged"),
    (LEAK_MULTI, "multi-window burn rate paged after 5.9 h"),
    (OUTAGE_SINGLE, "1 h burn rate paged after 1 min"),
    (QUIET_TWITCHY, "every page is a false one"),
], ids=["leak-static", "leak-multi", "outage-single", "quiet"])
def test_figure_stays_small_and_summary_reads_from_the_numbers(preset, phrase):
    out = execute(SIM, _parse(**preset), 42)
    assert len(out["figure"]["data"]) <= 8
    assert all(len(t.get("x", [])) <= 1500 for t in out["figure"]["data"])
    assert phrase in out["summary"]
    assert "false pages" not in out["summary"] or "quiet months" in out["summary"]


def test_the_longest_incident_and_its_fix_fit_in_the_month():
    params = _parse(**{**LEAK_MULTI, "incident_min": 2880})
    assert INCIDENT_START_MIN + params.incident_min + RESPONSE_MIN < MONTH_MIN


@pytest.mark.parametrize(("name", "value"), [("incident", "meteor"), ("leak_rate", "0"),
                                             ("error_rate", "2"), ("incident_min", "0"),
                                             ("policy", "vibes"), ("slo_target", "1"),
                                             ("noise", "-1"), ("threshold", "nan")])
def test_bad_input_is_refused_naming_the_parameter(name, value):
    with pytest.raises(ParamError) as err:
        SIM.parse({name: value})
    assert err.value.name == name


def test_quiet_months_are_a_stated_number():
    _, result = _run(**QUIET_TWITCHY)
    assert str(QUIET_MONTHS) in result.metrics["false_pages_per_month"].label
