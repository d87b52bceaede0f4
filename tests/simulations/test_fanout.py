"""The fan-out simulation reproduces "The Tail at Scale" and behaves like a queue should.

References:
- Dean & Barroso, "The Tail at Scale", CACM 56(2), 2013: with 1 % slow calls, a
  request fanning out to 100 servers is slow 63 % of the time (1 − 0.99^100); hedging
  after a short delay cut the 99.9th-percentile latency from 1,800 ms to 74 ms for
  about 2 % more requests.
- The closed form 1 − (1 − p)^N: the chance that at least one of N independent calls
  is slow.
"""

import json
import math

import numpy as np
import pytest
import simpy

from simulations import ParamError, execute, get
from simulations.models import fanout as model

SIM = get("fanout")


def run(seed=42, **query):
    """Parse a query like the web layer does, run it, return the JSON result."""
    params, default_seed = SIM.parse({k: str(v) for k, v in query.items()})
    return execute(SIM, params, seed if seed is not None else default_seed)


def value(result, name):
    return result["metrics"][name]["value"]


def ci(result, name):
    return result["metrics"][name]["ci95"]


# -- the closed form and the paper ------------------------------------------------------
def ran(result):
    """Requests the run simulated: it may stop before the requested count (model.PRECISION)."""
    return result["sample"]["ran"]


def test_fanout_matches_closed_form_at_100_backends():
    """63 % of requests hit a slow call at N = 100, p = 1 % (Dean & Barroso 2013)."""
    result = run(fanout=100, slow_prob=0.01, requests=4000)
    n = ran(result)
    expected = 1 - 0.99**100  # 0.634, the paper's "63 %"
    assert result["metrics"]["share_slow"]["closed_form"] == pytest.approx(expected, abs=1e-6)
    # Tolerance: 3 binomial standard errors at the n requests run (≈ ±2.3 points at 4,000).
    tolerance = 3 * math.sqrt(expected * (1 - expected) / n)
    assert value(result, "share_slow") == pytest.approx(expected, abs=tolerance)
    lo, hi = ci(result, "share_slow")
    assert lo <= expected <= hi


def test_fanout_matches_closed_form_at_10_backends():
    """About 10 % of requests hit a slow call at N = 10, p = 1 %: 1 − 0.99¹⁰ ≈ 9.6 %."""
    result = run(fanout=10, slow_prob=0.01, requests=4000)
    n = ran(result)
    expected = 1 - 0.99**10  # 0.0956
    tolerance = 3 * math.sqrt(expected * (1 - expected) / n)  # 3 standard errors ≈ ±1.4 pt
    assert value(result, "share_slow") == pytest.approx(expected, abs=tolerance)


def test_one_backend_is_slow_exactly_as_often_as_one_call():
    """With N = 1 the closed form is p itself; 3 standard errors of tolerance."""
    result = run(fanout=1, slow_prob=0.05, requests=5000)
    n = ran(result)
    assert result["metrics"]["share_slow"]["closed_form"] == pytest.approx(0.05)
    assert value(result, "share_slow") == pytest.approx(0.05, abs=3 * math.sqrt(0.05 * 0.95 / n))


def test_share_slow_confidence_interval_covers_the_closed_form_across_seeds():
    """A 95 % interval should miss the closed form in about 1 run in 20.

    Over 20 seeds, at least 17 must cover it: P(16 or fewer | 95 % coverage) ≈ 1.6 %.
    """
    expected = 1 - 0.98**20
    covered = 0
    for seed in range(20):
        lo, hi = ci(run(seed=seed, fanout=20, slow_prob=0.02, requests=400), "share_slow")
        covered += lo <= expected <= hi
    assert covered >= 17


def test_no_slow_calls_means_no_slow_requests():
    result = run(fanout=50, slow_prob=0)
    assert value(result, "share_slow") == 0
    assert result["metrics"]["share_slow"]["closed_form"] == 0


# -- hedging ----------------------------------------------------------------------------
def tail_at_scale(hedge_ms=0, **overrides):
    """The paper's setting: 100 backends, 1 % slow calls, slow events of about a second."""
    query = {"fanout": 100, "slow_prob": 0.01, "slow_ms": 1000, "requests": 2000}
    return run(**(query | overrides), hedge_ms=hedge_ms)


def test_hedging_at_p95_cuts_p999_by_an_order_of_magnitude_for_a_few_percent_more_calls():
    """Dean & Barroso 2013: hedging after 10 ms cut P99.9 from 1,800 ms to 74 ms (24×)
    for 2 % more requests. Here: hedge after one call's P95, as the paper recommends.

    Tolerance: P99.9 must fall at least 10× even comparing the unhedged interval's lower
    bound with the hedged interval's upper bound; extra calls between 1 % and 8 %.
    """
    plain = tail_at_scale()
    p95 = value(plain, "backend_p95_ms")
    assert 20 < p95 < 30  # log-normal P95 = 10 ms × e^(1.645 × 0.5) ≈ 23 ms, plus queueing
    hedged = tail_at_scale(hedge_ms=round(p95))

    assert ci(plain, "p999_ms")[0] >= 10 * ci(hedged, "p999_ms")[1]
    assert ci(plain, "p99_ms")[0] >= 10 * ci(hedged, "p99_ms")[1]
    assert 0.01 <= value(hedged, "extra_load") <= 0.08
    assert value(plain, "extra_load") == 0


def test_hedging_rescues_slow_calls():
    """Without hedging 63 % of requests wait on a slow call; with it almost none do.

    A slow call beaten by its hedge does not count, so only requests where every copy
    to some shard was slow (p³ per shard: about 1 in 10,000 requests) remain.
    """
    hedged = tail_at_scale(hedge_ms=24)
    assert hedged["metrics"]["share_slow"].get("closed_form") is None
    assert ci(hedged, "share_slow")[1] < 0.01


def test_hedging_shrinks_the_tail_at_the_default_slow_delay_too():
    plain = run(fanout=100)
    hedged = run(fanout=100, hedge_ms=24)
    assert ci(hedged, "p999_ms")[1] < ci(plain, "p999_ms")[0] / 2
    assert ci(hedged, "p99_ms")[1] < ci(plain, "p99_ms")[0] / 2
    assert value(hedged, "extra_load") <= 0.08


def test_hedging_later_sends_fewer_extra_calls():
    extra = [value(run(fanout=100, hedge_ms=h), "extra_load") for h in (15, 24, 40, 80)]
    assert extra == sorted(extra, reverse=True)
    assert extra[-1] < 0.02


def test_hedge_budget_caps_extra_load_when_hedging_too_early():
    """Hedging after 1 ms would copy nearly every call; the budget caps it."""
    requests = 2000
    result = run(fanout=10, hedge_ms=1, requests=requests)
    # Each shard earns HEDGE_BUDGET tokens per first call and starts with HEDGE_BURST.
    cap = model.HEDGE_BUDGET + model.HEDGE_BURST / requests
    assert value(result, "extra_load") <= cap + 1e-9
    assert value(result, "utilisation") <= 0.5 * (1 + cap) * 1.1


def test_without_a_hedge_budget_early_hedging_overloads_and_never_recovers(monkeypatch):
    """Hedges add load, late calls get hedged: a loop. At load 0.7 hedging after 15 ms
    without a budget keeps growing the queues; with the budget the run stays steady.
    Threshold: median latency of the last tenth of requests vs the first tenth.
    """

    def drift(outcome):
        tenths = outcome.latency_ms.reshape(10, -1)
        return np.median(tenths[-1]) / np.median(tenths[0])

    params, seed = SIM.parse({"fanout": "10", "load": "0.7", "hedge_ms": "15"})
    assert drift(model.simulate(params, seed)) < 1.5
    monkeypatch.setattr(model, "HEDGE_BUDGET", math.inf)
    monkeypatch.setattr(model, "HEDGE_BURST", math.inf)
    assert drift(model.simulate(params, seed)) > 5


# -- queueing ---------------------------------------------------------------------------
def test_more_load_gives_a_higher_p99():
    """Same random draws, busier backends: P99 can only grow, and does beyond its CI."""
    results = [run(load=load) for load in (0.3, 0.6, 0.8, 0.95)]
    p99 = [value(r, "p99_ms") for r in results]
    assert p99 == sorted(p99)
    assert ci(results[-1], "p99_ms")[0] > ci(results[0], "p99_ms")[1]


def test_more_load_gives_a_higher_median_without_slow_calls():
    low, high = run(load=0.3, slow_prob=0), run(load=0.95, slow_prob=0)
    assert ci(high, "p50_ms")[0] > ci(low, "p50_ms")[1]


def test_load_sets_the_measured_backend_utilisation():
    """Arrival rate is chosen so first calls keep workers busy a share `load` of the time.

    Tolerance: ±10 % relative (the run's sampled service and arrival times).
    """
    for load in (0.2, 0.5, 0.9):
        assert value(run(load=load, requests=4000), "utilisation") == pytest.approx(
            load, rel=0.1)


def test_load_zero_means_no_queueing():
    """Requests never meet at load 0: a request's latency is only its calls' service."""
    result = run(load=0, fanout=1, slow_prob=0)
    # Log-normal median base_ms: P50 within 10 % of 10 ms at 2,000 samples.
    assert value(result, "p50_ms") == pytest.approx(10, rel=0.1)
    assert value(result, "utilisation") == 0


def test_fast_queue_schedules_exactly_like_a_simpy_resource():
    """The bulk FCFS queue must start every call when simpy.Resource would."""
    rng = np.random.default_rng(7)
    arrivals = np.cumsum(rng.exponential(1.0, 3000))
    service = rng.lognormal(math.log(10), 0.8, arrivals.size)  # ≈ 0.8 load on 16 workers

    env = simpy.Environment()
    resource = simpy.Resource(env, capacity=model.SERVERS)
    finished = np.empty(arrivals.size)

    def call(i):
        with resource.request() as request:
            yield request
            yield env.timeout(service[i])
            finished[i] = env.now

    def source():
        for i, t in enumerate(arrivals):
            yield env.timeout(t - env.now)
            env.process(call(i))

    env.process(source())
    env.run()

    backends = model._Backends(shards=1)
    queue = np.array([0])
    fast = np.array([backends.call(t, queue, service[i:i + 1])[0]
                     for i, t in enumerate(arrivals)])
    assert fast == pytest.approx(finished, abs=1e-9)
    assert np.mean(fast - arrivals - service > 1e-9) > 0.05  # some calls really queued


# -- sized by precision ------------------------------------------------------------------
def test_checkpoints_start_at_two_thousand_requests_and_stay_below_the_limit():
    assert model.checkpoints(2000) == []
    points = model.checkpoints(20000)
    assert points[0] == model.CHECK_FROM == 2000
    assert points == sorted(set(points)) and points[-1] < 20000


def test_a_long_run_stops_once_its_p999_is_precise_enough_and_says_so():
    """At 100 backends (seed 42) P99.9 is known within ±5 % well before 20,000 requests."""
    result = run(fanout=100, requests=20000)
    sample = result["sample"]
    assert sample["limit"] == 20000
    assert sample["ran"] < 20000 and sample["ran"] in model.checkpoints(20000)
    assert sample["reached"] and sample["precision"] <= model.PRECISION
    # The reported interval is the one of the requests run, and gives that precision.
    p999, (lo, hi) = value(result, "p999_ms"), ci(result, "p999_ms")
    # (JSON rounds every number to 6 significant digits, hence the tolerance.)
    assert sample["precision"] == pytest.approx((hi - lo) / 2 / p999, rel=1e-4)
    assert f"ran {sample['ran']:,} of up to 20,000 requests" in sample["message"]


def test_stopping_early_leaves_the_requests_run_exactly_as_a_full_run_has_them():
    """The stop only drops later requests: the earlier ones are the same computation."""
    params, seed = SIM.parse({"fanout": "100", "requests": "20000"})
    early = model.simulate(params, seed)
    full = model.simulate(params, seed, precision=None)
    k = len(early.sent_at)
    assert k < len(full.sent_at) == 20000
    assert np.array_equal(early.latency_ms, full.latency_ms[:k])
    assert np.array_equal(early.answer_slow, full.answer_slow[:k])


def test_a_run_at_or_below_two_thousand_requests_runs_them_all():
    result = run(requests=2000)
    assert result["sample"]["ran"] == result["sample"]["limit"] == 2000
    assert result["sample"]["message"].startswith("ran all 2,000 requests: P99.9 ±")


# -- contract, determinism, bad input ---------------------------------------------------
def test_metrics_named_in_the_product_contract_are_present():
    result = run()
    for name in ("share_slow", "p50_ms", "p99_ms", "p999_ms", "extra_load"):
        assert name in result["metrics"]
    for name in ("share_slow", "p50_ms", "p99_ms", "p999_ms"):
        lo, hi = ci(result, name)
        assert lo <= value(result, name) <= hi
    assert value(result, "extra_load") == 0
    assert "waited on at least one slow backend call" in result["summary"]


def test_same_seed_gives_identical_json():
    first = json.dumps(run(seed=7, fanout=30, hedge_ms=20), sort_keys=True)
    again = json.dumps(run(seed=7, fanout=30, hedge_ms=20), sort_keys=True)
    assert first == again


def test_another_seed_gives_other_numbers():
    assert run(seed=1)["metrics"] != run(seed=2)["metrics"]


def test_figure_uses_basic_traces_and_stays_small():
    figure = run(fanout=100, hedge_ms=24)["figure"]
    assert {trace["type"] for trace in figure["data"]} == {"scatter"}
    assert all(len(trace["x"]) <= 1500 for trace in figure["data"])
    assert len(json.dumps(figure)) < 40_000


@pytest.mark.parametrize(
    ("name", "raw"),
    [("fanout", "0"), ("fanout", "501"), ("fanout", "ten"), ("fanout", "2.5"),
     ("slow_prob", "0.3"), ("slow_prob", "-0.1"), ("slow_ms", "5"), ("base_ms", "nan"),
     ("load", "1"), ("hedge_ms", "-1"), ("hedge_ms", "inf"), ("requests", "100"),
     ("requests", "20001"), ("seed", "-1"), ("fanouts", "10")],
)
def test_bad_input_is_refused_naming_the_parameter(name, raw):
    with pytest.raises(ParamError) as excinfo:
        SIM.parse({name: raw})
    assert excinfo.value.name == name
    assert name in excinfo.value.message


def test_too_much_work_is_refused_naming_the_limit():
    with pytest.raises(ParamError) as excinfo:
        SIM.parse({"fanout": "500", "requests": "20000"})
    assert excinfo.value.name == "requests"
    assert "fanout × requests must be at most 2,000,000" in excinfo.value.message
    assert "got 10,000,000" in excinfo.value.message
    SIM.parse({"fanout": "100", "requests": "20000"})  # the limit itself is allowed

