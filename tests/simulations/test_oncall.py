"""On-call load: the rotation's arithmetic, the Poisson incident counts and the SRE book's limits.

Reference points: Google, *Site Reliability Engineering* (2016), ch. 11 "Being On-Call":
at most two incidents per 12-hour shift (an incident costs about six hours all told), at
most 25 % of an engineer's time on call and at least 50 % on engineering, so a
single-site rotation with a primary and a secondary needs at least eight engineers.
"""

import math

import numpy as np
import pytest

from simulations import ParamError, get
from simulations.models import oncall as sim

SIM = get("oncall")


def params(**overrides):
    """Parsed parameters: the defaults with some values replaced (as query text)."""
    p, _ = SIM.parse({k: str(int(v) if isinstance(v, bool) else v)
                      for k, v in overrides.items()})
    return p


def metrics(seed=42, **overrides):
    return {k: m for k, m in SIM.run(params(**overrides), seed).metrics.items()}


def value(seed=42, **overrides):
    return {k: m.value for k, m in metrics(seed, **overrides).items()}


# -- incidents per shift are Poisson with the declared rate --------------------------------
def test_incident_counts_per_shift_have_the_poisson_mean_variance_and_zero_share():
    """Counts per shift ~ Poisson(rate × shift length): mean, variance and P(0) = e^−λ.

    21 incidents a week in 4-hour shifts is λ = 0.5 per shift over 4,368 shifts. The mean's
    standard error is √(λ/n) ≈ 0.011; the test allows 4 of them. The variance-to-mean ratio
    of a Poisson count is 1 (its standard error here is about √(2/n) ≈ 0.02; allowed 0.1),
    and the share of empty shifts is e^−0.5 ≈ 0.607 within 4 binomial standard errors.
    """
    p = params(incidents_per_week=21, shift_hours=4, weeks=104)
    load = sim.measure_load(p, sim.simulate(p, 7))
    counts = load.incidents_per_shift
    lam = 21 * 4 / 168
    n = counts.size
    assert n == 104 * 42
    assert counts.mean() == pytest.approx(lam, abs=4 * math.sqrt(lam / n))
    assert counts.var(ddof=1) / counts.mean() == pytest.approx(1.0, abs=0.1)
    p0 = math.exp(-lam)
    assert (counts == 0).mean() == pytest.approx(p0, abs=4 * math.sqrt(p0 * (1 - p0) / n))


def test_the_incident_rate_metric_brackets_the_declared_rate():
    """Incidents per 12 hours: the declared rate × 12 h is inside the run's 95 % CI."""
    m = metrics(incidents_per_week=28, weeks=52)
    rate = m["incidents_per_12h_shift"]
    assert rate.closed_form == pytest.approx(2.0)  # 28 a week = 2 per 12 hours
    assert rate.ci95[0] <= 2.0 <= rate.ci95[1]


def test_shifts_over_the_limit_match_the_poisson_tail():
    """The share of 12 h shifts with more than two incidents is P(N > 2), N ~ Poisson(λ).

    At 28 a week λ = 2 and P(N > 2) = 1 − 5e^−2 ≈ 0.323; over 208 shifts the binomial
    standard error is about 0.032, and the test allows four of them.
    """
    m = metrics(incidents_per_week=28, weeks=104)
    over = m["shifts_over_limit"]
    expected = 1 - 5 * math.exp(-2)
    assert over.closed_form == pytest.approx(expected, rel=1e-9)
    assert over.value == pytest.approx(expected, abs=4 * math.sqrt(expected * (1 - expected) / 208))


# -- the rotation's arithmetic -------------------------------------------------------------
@pytest.mark.parametrize("team", [2, 3, 4, 7, 8, 12])
def test_a_simple_rotation_puts_each_engineer_on_call_one_nth_of_the_time(team):
    """Round robin, one on call: 1/n each; with a secondary, 2/n; nobody off by > one shift."""
    for secondary, slots in ((False, 1), (True, 2)):
        p = params(team_size=team, secondary=secondary, weeks=10)
        load = sim.measure_load(p, sim.simulate(p, 1))
        horizon = 10 * 168
        assert load.oncall_h.sum() == pytest.approx(slots * horizon)
        assert load.oncall_h.mean() / horizon == pytest.approx(slots / team)
        assert load.oncall_h.max() - load.oncall_h.min() <= slots * p.shift_hours + 1e-9
        assert value(team_size=team, secondary=secondary)["oncall_share"] == pytest.approx(
            slots / team, abs=slots * 12 / (12 * 168))


def test_eight_is_the_smallest_single_site_team_within_a_quarter_on_call():
    """The SRE book's derivation: primary + secondary, ≤ 25 % on call → at least eight."""
    within = [n for n in range(2, 13) if value(team_size=n)["oncall_share"] <= 0.25 + 1e-9]
    assert within[0] == sim.SRE_MIN_SINGLE_SITE_TEAM == 8


def test_a_team_of_four_breaks_the_books_limits_and_a_team_of_eight_meets_them():
    """Same service (7 incidents a week, 0.5 per 12 h): only the team size differs."""
    four = value(team_size=4)
    eight = value(team_size=8, runbooks=True, rehearsed_rollback=True)
    assert four["oncall_share"] > sim.SRE_MAX_ONCALL_SHARE
    assert four["engineering_share"] < sim.SRE_MIN_ENGINEERING_SHARE
    assert eight["oncall_share"] <= sim.SRE_MAX_ONCALL_SHARE
    assert eight["engineering_share"] >= sim.SRE_MIN_ENGINEERING_SHARE
    assert eight["incidents_per_12h_shift"] <= sim.SRE_MAX_INCIDENTS_PER_12H


def test_work_beyond_two_six_hour_incidents_spills_out_of_the_shift():
    """Two incidents of about six hours fill a 12 h shift (the book's reasoning): rare spills
    at 0.5 per shift, a large share of time at 4 per shift, and engineering shrinks with it."""
    calm = value(team_size=8, incidents_per_week=7, weeks=26)
    busy = value(team_size=8, incidents_per_week=56, weeks=26)
    assert calm["spill_share"] < 0.01
    assert busy["spill_share"] > 0.1
    assert busy["engineering_share"] == pytest.approx(
        1 - busy["oncall_share"] - busy["spill_share"])


# -- time to restore ----------------------------------------------------------------------
def test_hands_on_restore_time_has_the_mean_its_assumptions_give():
    """E[work] = E[ack] + E[diagnosis] + E[mitigation], lognormal means median·e^(σ²/2).

    With runbooks and a rehearsed rollback: ack 5 min for the 40 of 168 weekly hours that
    are working hours, 15 otherwise; diagnosis 15·e^0.32; mitigation 0.7 × 5·e^0.18 +
    0.3 × 60·e^0.18. Over ~4,800 incidents the sample mean is within 4 standard errors.
    """
    p = params(incidents_per_week=50, weeks=96, runbooks=True, rehearsed_rollback=True)
    work = sim.simulate(p, 3).work_min
    in_hours = 40 / 168
    expected = (5 * in_hours + 15 * (1 - in_hours) + 15 * math.exp(0.8**2 / 2)
                + (0.7 * 5 + 0.3 * 60) * math.exp(0.6**2 / 2))
    se = work.std(ddof=1) / math.sqrt(work.size)
    assert work.mean() == pytest.approx(expected, abs=4 * se)


def test_pages_outside_working_hours_are_the_share_of_the_week_outside_them():
    """Incidents arrive around the clock: 128 of the week's 168 hours are outside 9–5, Mon–Fri."""
    p = params(incidents_per_week=50, weeks=52)
    run = sim.simulate(p, 5)
    off = ~sim.working_hours(run.arrivals_h)
    share = 128 / 168
    assert off.mean() == pytest.approx(share, abs=4 * math.sqrt(share * (1 - share) / off.size))
    assert sim.working_hours(np.array([9.0, 8.99, 24 * 5 + 10, 24 * 4 + 16.99])).tolist() == [
        True, False, False, True]


def test_runbooks_and_a_rehearsed_rollback_each_cut_the_time_to_restore():
    """Same incidents (same seed, same streams): each practice lowers the median."""
    base = value(weeks=26)["median_restore_min"]
    runbooks = value(weeks=26, runbooks=True)["median_restore_min"]
    rollback = value(weeks=26, rehearsed_rollback=True)["median_restore_min"]
    both = value(weeks=26, runbooks=True, rehearsed_rollback=True)["median_restore_min"]
    assert both < min(runbooks, rollback) and max(runbooks, rollback) < base


def test_the_median_restore_time_has_a_ci_that_contains_it():
    m = metrics()
    lo, hi = m["median_restore_min"].ci95
    assert lo <= m["median_restore_min"].value <= hi
    lo, hi = m["mean_restore_min"].ci95
    assert lo <= m["mean_restore_min"].value <= hi


# -- limits ---------------------------------------------------------------------------------
def test_runs_too_big_for_a_second_are_refused_naming_the_limit():
    with pytest.raises(ParamError) as err:
        SIM.parse({"incidents_per_week": "200", "weeks": "104"})
    assert err.value.name == "incidents_per_week"
    assert f"{sim.MAX_INCIDENTS:,}" in err.value.message


def test_a_quiet_service_still_gives_a_full_result():
    m = value(incidents_per_week=0, weeks=1)
    assert m["incidents"] == 0 and m["median_restore_min"] is None
    assert m["oncall_share"] == pytest.approx(0.5)


# -- the ownership chapter's exercises (content/ownership.md, seed 42, twelve weeks) -------
def test_good_practice_shortens_incidents_but_not_the_rotation():
    """Exercise 3: runbooks and a rehearsed rollback cut the median restore time for the
    team of four, and leave its on-call share where it was (50 %)."""
    base = value(team_size=4)
    both = value(team_size=4, runbooks=True, rehearsed_rollback=True)
    assert both["median_restore_min"] < base["median_restore_min"]
    assert both["oncall_share"] == base["oncall_share"] == pytest.approx(0.5)


def test_a_bigger_team_does_not_take_a_noisy_service_under_the_limit():
    """Exercise 4: at 35 incidents a week (2.5 per 12 h) doubling the team from 8 to 16
    halves the on-call share but leaves the share of shifts over the limit unchanged."""
    practice = {"runbooks": True, "rehearsed_rollback": True, "incidents_per_week": 35}
    eight, sixteen = value(team_size=8, **practice), value(team_size=16, **practice)
    assert sixteen["oncall_share"] == pytest.approx(eight["oncall_share"] / 2)
    assert sixteen["shifts_over_limit"] == eight["shifts_over_limit"] > 0.4
    assert sixteen["spill_share"] < eight["spill_share"]
