"""Retry storms: the published results the `retries` simulation must reproduce."""

import json
import math

import numpy as np
import pytest
import simpy

from simulations import ParamError, execute, get, spawn_rngs
from simulations.models import retries as sim

SIM = get("retries")


def params(**overrides):
    """Parsed parameters: the defaults with some values replaced (as query text)."""
    p, _ = SIM.parse({k: str(int(v) if isinstance(v, bool) else v)
                      for k, v in overrides.items()})
    return p


def measure(seed=42, **overrides):
    """Run one policy (no comparison run) and measure it."""
    p = params(**overrides)
    return sim.measure(p, sim.simulate(p, sim.Policy.of(p), seed))


CAREFUL = {"backoff_ms": 500, "jitter": "full", "retry_budget": 0.1}


# -- metastability (Bronson et al., HotOS 2021; Huang et al., OSDI 2022) -----------------
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_immediate_retries_turn_a_ten_second_drop_at_80_percent_load_into_a_lasting_outage(
        seed):
    """Bronson et al. 2021, Huang et al. 2022: retries sustain the bad state after the trigger.

    Defaults: load 0.8, 3 immediate retries, no budget, capacity halved for 10 s at 30 s.
    Expected: goodput never recovers (recovery_s null) and stays below 10 % of demand over
    the last 30 s, while the server is busy with attempts whose callers gave up.
    """
    m = measure(seed)
    assert m.recovery_s is None
    assert m.goodput[-30:].sum() < 0.1 * m.demand[-30:].sum()
    assert m.wasted_work > 0.5  # most busy time served callers already gone
    assert m.amplification[0] > 3.0  # close to the 4 attempts every request can make


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_backoff_full_jitter_and_a_10_percent_budget_recover_from_the_same_drop(seed):
    """Same trigger and seed, careful policy: recovered soon after the trigger ends.

    Reference for "soon": a fluid model of the FCFS backlog. During the drop, demand
    λ = 0.8 × 30/s plus at most 10 % retries meets half capacity, leaving a backlog
    B = (1.1 λ − 15) × 10 s; it drains at C − 1.1 λ, and answers come back in time once
    the queue is shorter than C × timeout. Tolerance: 1.5 × that time plus the 5 s window.
    """
    m = measure(seed, **CAREFUL)
    lam, cap, drop = 0.8 * sim.CAPACITY, sim.CAPACITY, 10
    backlog = (1.1 * lam - 0.5 * cap) * drop
    fluid = (backlog - cap * 1.0) / (cap - 1.1 * lam)
    assert m.recovery_s is not None
    assert m.recovery_s <= 1.5 * fluid + sim.RECOVERY_WINDOW_S
    assert m.amplification[0] < 1.1


def test_the_same_drop_at_low_load_recovers_even_with_immediate_retries():
    """Metastability needs load: at 40 % there is room to drain the backlog (Bronson 2021)."""
    for seed in (1, 2, 3):
        assert measure(seed, load=0.4).recovery_s == 0


# -- amplification (Google SRE book, "Addressing Cascading Failures") --------------------
def test_three_layers_of_four_attempts_send_64_per_user_request_in_a_full_outage():
    """SRE book: 3 layers × (1 try + 3 retries) → 4³ = 64 attempts at the bottom.

    A full outage (capacity 0) for the whole run refuses every attempt at once, so every
    request makes exactly 64: no tolerance.
    """
    m = measure(load=0.2, layers=3, trigger_at_s=0, trigger_s=60, trigger_capacity=0,
                duration_s=60)
    assert m.amplification[0] == 64.0
    assert m.successes == 0


def test_during_a_ten_second_outage_three_layers_send_64_attempts_per_request():
    """SRE book's 64×, seen in the chapter's "Three layers retrying" set-up (defaults, a 10 s
    full outage): requests sent during it make 64 attempts; the run's average is lower."""
    m = measure(layers=3, trigger_capacity=0)
    assert m.trigger_amplification[0] == 64.0
    assert 1 < m.amplification[0] < 64
    assert m.recovery_s is not None  # fast errors leave no backlog behind


@pytest.mark.parametrize("layers", [1, 2, 3])
def test_a_10_percent_budget_per_layer_holds_amplification_near_1_1_per_layer(layers):
    """SRE book, "Handling Overload": retries ≤ 10 % of requests per client → 1.1^layers.

    Full outage for the whole run, so every attempt fails and the budget binds. Tolerance
    ±2 %: the only slack is the 10-token burst each layer starts with.
    """
    m = measure(load=1.5, layers=layers, retry_budget=0.1, max_retries=3,
                trigger_at_s=0, trigger_s=300, trigger_capacity=0, duration_s=300)
    assert m.amplification[0] == pytest.approx(1.1**layers, rel=0.02)


def test_a_bigger_budget_means_more_amplification():
    """Monotone: more retry tokens per first attempt, more attempts in an outage."""
    amps = [measure(load=1.0, max_retries=10, retry_budget=b, trigger_at_s=0,
                    trigger_s=120, trigger_capacity=0).amplification[0]
            for b in (0.05, 0.1, 0.2, 0.5, 1.0)]
    assert amps == sorted(amps)
    assert len(set(amps)) == len(amps)


# -- jitter (Brooker, "Exponential Backoff And Jitter", AWS Architecture Blog, 2015) -----
def _attempt_cv(jitter, seed=7):
    """Coefficient of variation of attempts per 0.25 s during the outage after a crash.

    Load 1.2 builds a queue of live attempts (timeout 10 s); the crash at 30 s fails them
    all at once (a synchronised failure) and refuses attempts for 30 s.
    """
    p = params(load=1.2, timeout_ms=10000, max_retries=5, backoff_ms=1000,
               backoff_cap_ms=60000, jitter=jitter, trigger_capacity=0, trigger_s=30,
               duration_s=90)
    trace = sim.simulate(p, sim.Policy.of(p), seed)
    t = np.concatenate([trace.queue_in, trace.refused_t])
    t = t[(t >= 30) & (t < 60)]
    counts = np.bincount(((t - 30) / 0.25).astype(int), minlength=120)
    return counts.std() / counts.mean()


def test_without_jitter_retries_after_a_synchronised_failure_arrive_in_waves():
    """Brooker 2015: no jitter keeps a failed cohort together; every jitter spreads it.

    Without jitter the cohort retries 1, 3, 7, 15 s after the crash: the per-bin counts'
    CV is several times that of Poisson-like traffic. Tolerance: jittered CV at most half.
    """
    waves = _attempt_cv("none")
    assert waves > 0.5
    for jitter in ("full", "equal", "decorrelated"):
        assert _attempt_cv(jitter) < waves / 2, jitter


def test_backoff_waits_follow_brookers_formulas():
    """Brooker 2015: none = min(cap, base·2^n); full = U(0, that); equal = half + U(0, half);
    decorrelated = min(cap, U(base, 3 × previous wait))."""
    waits = [sim.backoff_s("none", 0.1, 0.5, r, 0.1, 0.9) for r in (1, 2, 3, 4)]
    assert waits == pytest.approx([0.1, 0.2, 0.4, 0.5])
    assert sim.backoff_s("full", 0.1, 10, 3, 0.1, 0.25) == pytest.approx(0.1)
    assert sim.backoff_s("equal", 0.1, 10, 3, 0.1, 0.0) == pytest.approx(0.2)
    assert sim.backoff_s("equal", 0.1, 10, 3, 0.1, 1.0) == pytest.approx(0.4)
    assert sim.backoff_s("decorrelated", 0.1, 10, 5, 0.3, 0.0) == pytest.approx(0.1)
    assert sim.backoff_s("decorrelated", 0.1, 10, 5, 0.3, 1.0) == pytest.approx(0.9)
    assert sim.backoff_s("decorrelated", 0.1, 0.5, 5, 0.3, 1.0) == pytest.approx(0.5)


# -- monotone in the trigger -------------------------------------------------------------
def test_a_longer_trigger_means_a_later_recovery():
    """Monotone: a longer capacity drop leaves a longer backlog (mean of 4 seeds)."""
    means = []
    for length in (2, 5, 10):
        runs = [measure(seed, trigger_s=length, **CAREFUL).recovery_s for seed in range(4)]
        assert None not in runs
        means.append(np.mean(runs))
    assert means == sorted(means)
    assert means[0] < means[-1]


def test_a_circuit_breaker_stops_the_storm():
    """The breaker fails fast for 5 s: the queue drains and the service recovers."""
    m = measure(breaker=True)
    assert m.recovery_s is not None
    assert m.breaker_open  # it did open
    assert m.wasted_work < 0.1


# -- the queue ---------------------------------------------------------------------------
@pytest.mark.parametrize("overrides", [
    {"load": 0.9, "max_retries": 0, "trigger_s": 0},
    # A storm: retries from timeouts at two layers, the trigger slowing the workers.
    {"load": 0.9, "layers": 2, "trigger_at_s": 5, "trigger_s": 10},
    # Retries after backoff sleeps (SimPy events) between timeouts (no events).
    {"load": 1.2, "backoff_ms": 100, "jitter": "full", "trigger_at_s": 5},
], ids=["no retries", "two layers in a storm", "backoff"])
def test_queue_start_times_match_simpy_resource(overrides):
    """The arrival-time FCFS computation equals a simpy.Resource fed the same attempts."""
    p = params(duration_s=30, **overrides)
    trace = sim.simulate(p, sim.Policy.of(p), 5)
    arrive = np.asarray(trace.queue_in)
    start = np.asarray(trace.queue_out)
    work = np.asarray(trace.busy_to) - start

    env = simpy.Environment()
    workers = simpy.Resource(env, capacity=sim.WORKERS)
    started = np.zeros_like(arrive)

    def attempt(i):
        yield env.timeout(arrive[i] - env.now)
        with workers.request() as req:
            yield req
            started[i] = env.now
            yield env.timeout(work[i])

    def source():
        for i in range(arrive.size):
            yield env.timeout(arrive[i] - env.now)
            env.process(attempt(i))

    env.process(source())
    env.run()
    assert started == pytest.approx(start, abs=1e-9)


@pytest.mark.parametrize("overrides", [
    {},
    {"layers": 3, "duration_s": 40},
    {"layers": 2, "breaker": True, "trigger_capacity": 0},
    {"backoff_ms": 200, "jitter": "none", "trigger_capacity": 0, "timeout_ms": 400},
    {"backoff_ms": 50, "jitter": "decorrelated", "layers": 2, "retry_budget": 0.5},
    {"load": 1.4, "layers": 2, "timeout_ms": 3000, "trigger_capacity": 0.2},
], ids=["defaults", "three layers", "breaker in an outage", "backoff without jitter",
        "jitter and a budget at two layers", "long timeouts, many successes"])
def test_timeouts_run_between_simpy_events_give_the_same_run_as_one_event_each(overrides):
    """Timeouts come in time order (send time + the one timeout), so the model runs them,
    merged with the arrivals, between SimPy's events instead of scheduling each. Checked
    against SimPy ordering every timeout itself: the same attempts at the same times, the
    same answers. Tolerance 1e-9 s: SimPy stores a time as now + (time − now), which can
    differ from the time in its last bit."""
    p = params(**({"duration_s": 60} | overrides))
    policy = sim.Policy.of(p)
    merged = sim.simulate(p, policy, 3)
    evented = sim.simulate(p, policy, 3, timeout_events=True)
    assert max(merged.attempts_per_request) > 1  # timeouts and retries happened
    for field in ("queue_in", "queue_out", "busy_to", "refused_t", "finished_at"):
        assert getattr(merged, field) == pytest.approx(getattr(evented, field), abs=1e-9), field
    assert merged.answered == evented.answered
    assert merged.attempts_per_request == evented.attempts_per_request
    assert np.asarray(merged.breaker_open) == pytest.approx(np.asarray(evented.breaker_open),
                                                          abs=1e-9)


def test_work_started_before_a_slowdown_finishes_later():
    """Half speed during [10, 20): 1 s of work started at 9.5 runs 0.5 s, then 1 s more."""
    assert sim.finish_time(9.5, 1.0, 10, 20, 0.5) == pytest.approx(11.0)
    assert sim.finish_time(19.0, 1.0, 10, 20, 0.5) == pytest.approx(20.5)
    assert sim.finish_time(1.0, 1.0, 10, 20, 0.5) == 2.0


def test_arrivals_are_poisson_at_the_stated_rate():
    """Mean count λT with sd √(λT): 0.8 × 30/s × 120 s = 2,880 ± 4 sd."""
    times = sim.arrival_times(spawn_rngs(9, "arrivals")["arrivals"], 24.0, 120.0)
    assert abs(times.size - 2880) < 4 * math.sqrt(2880)
    assert times.max() < 120


# -- the contract ------------------------------------------------------------------------
def test_the_same_seed_gives_identical_json():
    p, seed = SIM.parse({})
    one = json.dumps(execute(SIM, p, seed), sort_keys=True)
    two = json.dumps(execute(SIM, p, seed), sort_keys=True)
    assert one == two
    other = json.dumps(execute(SIM, p, seed + 1), sort_keys=True)
    assert other != one


def test_the_result_carries_every_required_metric_and_a_comparison():
    p, seed = SIM.parse({})
    out = execute(SIM, p, seed)
    assert {"amplification", "success_rate", "recovery_s", "wasted_work",
            "peak_queue"} <= set(out["metrics"])
    assert out["metrics"]["recovery_s"]["value"] is None
    assert len(out["series"]["compare_goodput_per_s"]) == len(out["series"]["t_s"]) == 120
    assert "metastable" in out["summary"]


@pytest.mark.parametrize(("name", "value"), [
    ("load", "2"), ("load", "abc"), ("timeout_ms", "10"), ("max_retries", "11"),
    ("jitter", "random"), ("layers", "4"), ("trigger_capacity", "-0.1"),
    ("duration_s", "601"), ("breaker", "maybe"),
])
def test_bad_values_are_refused_naming_the_parameter(name, value):
    with pytest.raises(ParamError) as err:
        SIM.parse({name: value})
    assert err.value.name == name


def test_a_storm_too_large_for_the_time_budget_is_refused_naming_the_limit():
    with pytest.raises(ParamError) as err:
        SIM.parse({"layers": "3", "load": "1.5", "duration_s": "600"})
    assert err.value.name == "layers"
    assert f"{sim.MAX_WORK:,}" in err.value.message


def test_the_comparison_is_dropped_rather_than_refused_when_only_it_is_too_large():
    p = params(layers=3, load=1.5, duration_s=300, retry_budget=0.1)
    assert sim.comparison(p) is None
    out = sim.run(p, 1)
    assert out.series["compare_goodput_per_s"] == []
    SIM.figure(out, p)  # draws without the faint line
