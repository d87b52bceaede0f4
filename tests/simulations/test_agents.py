"""The agents simulation: guardrails against damage, the approval queue against theory."""

from __future__ import annotations

import json
import math
from itertools import pairwise

import numpy as np
import pytest
import simpy

from simulations import ParamError, execute, get
from simulations.models.agents import (
    EXTRA_BLOCK,
    LOOP_EVERY_MIN,
    POLICIES,
    RESTART_DOWN_MIN,
    REVIEW_CATCH,
    STAMP_HALF_QUEUE,
    STAMP_MIN,
    action_harm,
    erlang_c_wait,
    make_stream,
    pass_share,
    run_policy,
)

SIM = get("agents")


def _parse(**overrides):
    params, _ = SIM.parse({k: str(v) for k, v in overrides.items()})
    return params


def _ops(seed: int = 42, **overrides):
    """Every policy on one stream of proposals, as the model's run() plays them."""
    params = _parse(**overrides)
    stream = make_stream(params, np.random.default_rng(seed))
    return {policy: run_policy(params, policy, stream, np.random.default_rng(seed + 1))
            for policy in POLICIES}


def _values(**overrides):
    params = _parse(**overrides)
    return {k: m.value for k, m in SIM.run(params, 42).metrics.items()}


# -- determinism and limits -------------------------------------------------------------
def test_same_parameters_and_seed_give_the_same_result():
    params, seed = SIM.parse({"policy": "approve", "seed": "9"})
    a, b = execute(SIM, params, seed), execute(SIM, params, seed)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_too_many_proposals_are_refused_naming_the_limit():
    with pytest.raises(ParamError) as err:
        SIM.parse({"proposals_per_day": "300", "days": "90"})
    assert err.value.name == "proposals_per_day"
    assert "4,200" in err.value.message and "46 or fewer" in err.value.message


def test_without_harmful_proposals_no_policy_causes_damage():
    for policy, op in _ops(harmful_share=0).items():
        assert op.impacts == [], policy
        assert op.incident_ids() == set(), policy


# -- the harmful shapes ------------------------------------------------------------------
def test_the_unbounded_pool_flood_takes_the_whole_database_down_and_a_small_bound_does_not():
    # 200 connections asked up to 1,500 against a database that takes 300: everyone fails.
    assert action_harm("pool_flood", None) == 1.0
    assert action_harm("pool_flood", 25) == 0.0  # 250 connections: under the limit
    assert action_harm("pool_flood", 100) == 1.0  # 400: a loose bound is no bound


def test_restarting_less_than_the_headroom_hurts_no_one():
    # The fleet runs at 70 % of capacity: 30 % of replicas may restart unnoticed.
    assert action_harm("restart_loop", 25) == 0.0
    assert action_harm("restart_loop", 50) == pytest.approx(1 - 0.5 / 0.7)
    assert action_harm("restart_loop", None) == 1.0


def test_an_autonomous_restart_loop_restarts_every_11_minutes():
    op = _ops(harmful_share=0.3)["autonomous"]
    by_episode: dict[int, list[float]] = {}
    for start, _, _, i in op.impacts:
        by_episode.setdefault(i, []).append(start)
    loops = [times for times in by_episode.values() if len(times) > 1]
    assert loops, "at 30 % harmful over 14 days some loop restarts more than once"
    for times in loops:
        assert np.allclose(np.diff(times), LOOP_EVERY_MIN)


def test_the_rate_limit_holds_every_target_to_its_actions_per_hour():
    limit = 2
    op = _ops(harmful_share=0.3, proposals_per_day=100, rate_limit_per_hour=limit)["bounded"]
    by_target: dict[int, list[float]] = {}
    for t, target in op.actions:
        by_target.setdefault(target, []).append(t)
    for times in by_target.values():
        # Any limit + 1 consecutive actions on one target span at least an hour.
        assert all(b - a >= 60 - 1e-9 for a, b in zip(times, times[limit:], strict=False))
    assert op.pages > 0, "at this load some loop must trip the limit"


# -- bounds ------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_bounds_shrink_the_worst_blast_radius_to_the_bound(seed):
    ops = _ops(seed, harmful_share=0.2, bound_pct=25)
    assert ops["autonomous"].worst_share() == 1.0
    # Below 50 % the bounded pool stays under the database's limit, so nothing exceeds it.
    assert ops["bounded"].worst_share() <= 0.25
    assert ops["fail_closed"].worst_share() <= 0.25


def test_bounds_remove_most_of_the_damage_for_a_few_human_minutes():
    """The chapter's claim, over 10 seeds at the defaults: bounded damage is under a
    quarter of the autonomous damage (the model gives about 12 %: only bad_config still
    hurts, at a quarter of the reach), costs under 10 human minutes a day, and still
    carries out at least 98 % of the good proposals."""
    auto = bounded = human = 0.0
    good_done = good_total = 0
    for seed in range(10):
        ops = _ops(seed)
        auto += ops["autonomous"].outage_minutes()
        bounded += ops["bounded"].outage_minutes()
        human += ops["bounded"].human_min / 14
        good_done += ops["bounded"].good_done
        good_total += ops["bounded"].good_total
    assert bounded < 0.25 * auto
    assert human / 10 < 10
    assert good_done / good_total >= 0.98


# -- propose and approve -----------------------------------------------------------------
def test_ample_reviewers_catch_harmful_proposals_at_the_configured_rate():
    """With 20 reviewers nobody ever waits, so no review is a rubber stamp and each
    harmful review catches with probability REVIEW_CATCH = 0.9. About 1,200 harmful
    reviews: sd = sqrt(0.9 × 0.1 / 1200) ≈ 0.009; tolerance 0.035 (4 sd)."""
    params = _parse(policy="approve", reviewers=20, harmful_share=0.3, proposals_per_day=44,
                    days=90)
    op = run_policy(params, "approve", make_stream(params, np.random.default_rng(5)),
                    np.random.default_rng(6))
    assert op.stamps == 0
    assert op.harm_reviews > 1000
    assert op.harm_caught / op.harm_reviews == pytest.approx(REVIEW_CATCH, abs=0.035)


def _approval_on_a_simpy_resource(params, stream, seed: int):
    """Propose and approve the textbook way: one SimPy process per proposal, a real
    simpy.Resource for the reviewers, the same draws per request (a proposal's own, then
    re-reviews in the order they are asked for). Returns review starts, stamps, restarts."""
    rng = np.random.default_rng(seed)
    n = len(stream.t)
    own = list(zip(rng.random(n), rng.standard_exponential(n), rng.random(n), strict=True))
    extra: list[tuple[float, float, float]] = []
    env = simpy.Environment()
    reviewers = simpy.Resource(env, capacity=params.reviewers)
    started: list[float] = []
    stamps: list[bool] = []
    restarts: list[tuple[float, int]] = []

    def review(i, draws):
        with reviewers.request() as req:
            yield req
            started.append(env.now)
            waiting = len(reviewers.queue)
            stamp = draws[0] < waiting / (waiting + STAMP_HALF_QUEUE)
            yield env.timeout(STAMP_MIN if stamp else params.review_min * draws[1])
        stamps.append(stamp)
        return not (stream.harmful[i] and not stamp and draws[2] < REVIEW_CATCH)

    def proposal(i):
        yield env.timeout(stream.t[i])
        approved = yield env.process(review(i, own[i]))
        if not (approved and stream.harmful[i] and stream.kind[i] == "restart_loop"):
            return
        stop_at = env.now + stream.notice_min[i]
        restarts.append((env.now, i))
        while env.now + LOOP_EVERY_MIN < stop_at:
            yield env.timeout(LOOP_EVERY_MIN)
            if not extra:
                extra.extend(reversed(list(zip(rng.random(EXTRA_BLOCK),
                                               rng.standard_exponential(EXTRA_BLOCK),
                                               rng.random(EXTRA_BLOCK), strict=True))))
            approved = yield env.process(review(i, extra.pop()))
            if not approved or env.now >= stop_at:
                return
            restarts.append((env.now, i))

    for i in range(n):
        env.process(proposal(i))
    env.run(until=(params.days + 1) * 1440)
    return started, stamps, restarts


def test_the_approval_queue_computed_on_request_is_what_a_simpy_resource_gives():
    """The model decides each review when it is asked for (the earliest free reviewer,
    and who else will have asked by then, rubber stamps and restart loops' re-reviews
    included). A simpy.Resource fed the same proposals and draws must start the same
    reviews at the same minutes, stamp the same ones and restart the same loops. Floats
    agree to rounding: the model schedules a re-review from the minute it asked."""
    params = _parse(policy="approve", reviewers=2, review_min=20, proposals_per_day=150,
                    harmful_share=0.3, days=7)
    stream = make_stream(params, np.random.default_rng(3))
    op = run_policy(params, "approve", stream, np.random.default_rng(4))
    started, stamps, restarts = _approval_on_a_simpy_resource(params, stream, 4)
    assert 0.2 < op.stamps / op.reviews < 0.8, "the queue must be long enough to stamp"
    assert len(restarts) > len({i for _, i in restarts}), "some loop must be re-reviewed"
    assert op.started == pytest.approx(started, rel=1e-12)
    assert (op.reviews, op.stamps) == (len(stamps), sum(stamps))
    loops = sorted((t, i) for t, minutes, _, i in op.impacts if minutes == RESTART_DOWN_MIN)
    assert [i for _, i in loops] == [i for _, i in sorted(restarts)]
    assert [t for t, _ in loops] == pytest.approx([t for t, _ in sorted(restarts)], rel=1e-12)


def test_erlang_c_matches_textbook_values():
    # M/M/1 at ρ = 0.5, service 1: Wq = ρ/(μ − λ) = 1. M/M/2 at a = 1: C = 1/3, Wq = 1/3.
    assert erlang_c_wait(0.5, 1.0, 1) == pytest.approx(1.0)
    assert erlang_c_wait(1.0, 1.0, 2) == pytest.approx(1 / 3)
    assert erlang_c_wait(2.0, 1.0, 2) is None


def test_approval_queue_without_rubber_stamps_waits_as_long_as_m_m_c_predicts():
    """Poisson proposals (routine + incident fixes, no harmful loops), exponential reviews,
    FIFO, 2 reviewers: an M/M/2 queue. Expected Wq from Erlang C (Kleinrock vol. 1 §3.5).
    10 independent runs of 60 days (≈ 3,700 proposals each); the tolerance is 4 standard
    errors of the mean across runs, which accounts for the queue's autocorrelation."""
    params = _parse(policy="approve", reviewers=2, review_min=30, proposals_per_day=60,
                    harmful_share=0, days=60)
    expected = erlang_c_wait((60 + 1) / 1440, 30, 2)
    assert expected is not None and 5 < expected < 30
    means = []
    for seed in range(10):
        op = run_policy(params, "approve", make_stream(params, np.random.default_rng(seed)),
                        np.random.default_rng(100 + seed), stamping=False)
        means.append(np.mean(op.waits))
    se = np.std(means, ddof=1) / math.sqrt(len(means))
    assert abs(np.mean(means) - expected) < 4 * se + 0.02 * expected


def test_swamped_reviewers_rubber_stamp_more_and_catch_less():
    """One reviewer at 15 minutes a review can really review about 96 proposals a day.
    Past that, the queue turns reviews into stamps: the stamp share must rise and the
    share of harmful proposals stopped must fall with load (same seed, large gaps)."""
    stamps, stopped = [], []
    for load in (20, 60, 150, 280):
        v = _values(policy="approve", reviewers=1, review_min=15, proposals_per_day=load,
                    harmful_share=0.1)
        stamps.append(v["rubber_stamp_share"])
        stopped.append(v["harmful_stopped_share"])
    assert all(a < b for a, b in pairwise(stamps)), stamps
    assert stamps[0] < 0.1 < 0.5 < stamps[-1]
    assert stopped[0] > 0.75 and stopped[-1] < 0.5, stopped


# -- fail closed -------------------------------------------------------------------------
@pytest.mark.parametrize(("auc", "threshold"), [(0.8, 0.8), (0.95, 0.9), (0.6, 0.7)])
def test_fail_closed_stops_harmful_proposals_at_the_binormal_rate(auc, threshold):
    """A harmful proposal's logit is Normal(MU_GOOD − √2·Φ⁻¹(AUC), 1); it is stopped when
    below logit(threshold). ~1,200 harmful proposals: sd ≤ 0.015; tolerance 0.06 (4 sd),
    the rate limit stopping a few more at once."""
    v = _values(policy="fail_closed", harmful_share=0.3, proposals_per_day=44, days=90,
                confidence_auc=auc, threshold=threshold)
    expected = 1 - pass_share(True, auc, threshold)
    assert v["harmful_stopped_share"] == pytest.approx(expected, abs=0.06)


def test_a_meaningless_score_stops_harmful_and_good_proposals_alike():
    """At AUC 0.5 the threshold cannot tell them apart: both pass at Φ(MU_GOOD − logit t)."""
    assert pass_share(True, 0.5, 0.8) == pytest.approx(pass_share(False, 0.5, 0.8))
    v = _values(policy="fail_closed", harmful_share=0.3, proposals_per_day=44, days=90,
                confidence_auc=0.5)
    assert v["harmful_stopped_share"] == pytest.approx(1 - v["good_done_share"], abs=0.06)
