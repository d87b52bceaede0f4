"""Retry storms: naive retries turn a short capacity drop into an outage that outlives it.

Model. Users send a Poisson stream of requests at `load` × the service's normal
capacity: WORKERS workers with gamma-distributed service times (mean SERVICE_MS, CV 0.5)
behind one first-come-first-served queue, 30 requests/s in all (small, so that a
two-minute run stays within the time budget; the dynamics depend on ratios, not on the
scale). Every attempt carries a client timeout; on a timeout or an error the caller
retries by its policy (max retries, exponential backoff with one of Brooker's jitters,
a retry budget, a circuit breaker). With `layers` > 1 each layer retries its own call
with the same policy and the same per-attempt timeout, and nobody cancels an inner call
when its caller gives up. Neither does the server: it serves every attempt it queued,
and that wasted work is what keeps the queue long after the trigger has passed.

Trigger. From `trigger_at_s`, for `trigger_s` seconds, every worker runs at
`trigger_capacity` of its normal speed (a slow disk, a lost node, a noisy neighbour).
At 0 the service is down: whatever is queued or in service fails at once, new attempts
are refused immediately (fast errors), and it restarts with an empty queue.

Recovery. `recovery_s` counts from the trigger's end until, in every later 5 s window,
at least 90 % of the user requests that arrived (and finished) were answered in time;
null when that never holds to the end of the run.

Speed. SimPy keeps the clock for whatever falls due at an irregular time: a backoff
sleep, a success someone other than the user must hear of (with layers or a breaker), an
attempt failed by a crash. Two streams need no events because their times come in order
by themselves: user arrivals, and timeouts (each is its attempt's send time plus the
same per-attempt timeout, at every layer, and attempts are sent in time order). Between
two SimPy events both are run in time order, merged, and an immediate retry is sent from
its timeout at once; at equal times SimPy's event goes first. The tests check that this
gives the same runs as one SimPy event per timeout. The queue's start and finish times
are computed when an attempt arrives (the earliest free worker, Kiefer–Wolfowitz, with
the trigger's speed profile folded in); for FCFS without cancellation this is what
`simpy.Resource` produces (the tests check it) at a fraction of its events.
"""

from __future__ import annotations

import heapq
import math
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

import numpy as np
import simpy

from ..engine import plotting, stats
from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param, ParamError
from ..engine.plotting import PALETTE
from ..engine.words import pct

# -- model constants --------------------------------------------------------------------
WORKERS = 3  # server threads sharing one FCFS queue
SERVICE_MS = 100.0  # mean service time at full speed → capacity 30 requests/s
SERVICE_SHAPE = 4.0  # gamma shape: coefficient of variation 0.5
CAPACITY = WORKERS * 1000.0 / SERVICE_MS  # requests per second at full speed
BUDGET_BURST = 10.0  # retry tokens a layer's budget can save up (gRPC's max_tokens: 10)
BREAKER_WINDOW = 20  # outcomes the closed breaker looks back on
BREAKER_FAILURE_RATE = 0.5  # opens when at least half of them failed
BREAKER_OPEN_S = 5.0  # fails fast this long before letting trial calls through
BREAKER_PROBES = 5  # trial calls in half-open; all must succeed to close again
RECOVERY_WINDOW_S = 5  # recovery is judged over sliding 5 s windows
RECOVERY_SHARE = 0.9  # "back within 10 % of demand"
MAX_WORK = 400_000  # worst-case work units (see worst_case_work) a run may cost: ~0.6 s
BACKOFF_WEIGHT = 2.5  # a retry after a backoff sleep costs a SimPy event: 2–3× an attempt
DRAW_BLOCK = 4096  # random numbers are drawn in blocks of this many
# The faint comparison line: Brooker's full jitter with the SRE book's 10 % budget.
CAREFUL = {"backoff_ms": 500.0, "backoff_cap_ms": 10000.0, "jitter": "full",
           "retry_budget": 0.1, "breaker": False}
CAREFUL_LABEL = "backoff 500 ms + full jitter + 10 % budget"
NAIVE = {"backoff_ms": 0.0, "jitter": "none", "retry_budget": 0.0, "breaker": False}
NAIVE_LABEL = "immediate retries, no budget, no breaker"


# -- parameters -------------------------------------------------------------------------
PARAMS = (
    Param(name="load", kind="float", default=0.8, min=0.1, max=1.5, step=0.05,
          label="Load", unit="× capacity",
          help="User requests per second as a share of the service's normal capacity "
               f"({CAPACITY:g} requests/s)."),
    Param(name="timeout_ms", kind="float", default=1000, min=50, max=10000, step=10,
          unit="ms", scale="log", label="Timeout per attempt",
          help="How long a caller waits for one attempt before giving up on it."),
    Param(name="max_retries", kind="int", default=3, min=0, max=10, step=1,
          label="Max retries",
          help="Retries after the first attempt, per call, at every layer."),
    Param(name="backoff_ms", kind="float", default=0, min=0, max=5000, step=50, unit="ms",
          label="Backoff base",
          help="Wait before the first retry, doubling each retry; 0 = retry at once."),
    Param(name="backoff_cap_ms", kind="float", default=10000, min=0, max=60000, step=500,
          unit="ms", label="Backoff cap", help="The longest wait between two retries."),
    Param(name="jitter", kind="choice", default="none",
          choices=("none", "full", "equal", "decorrelated"), label="Jitter",
          help="Randomise the backoff as in Brooker's 'Exponential Backoff And Jitter'."),
    Param(name="retry_budget", kind="float", default=0, min=0, max=1, step=0.01,
          label="Retry budget",
          help="Retries allowed per first attempt, per layer (0.1 = 10 %); 0 = no budget."),
    Param(name="breaker", kind="bool", default=False, label="Circuit breaker",
          help="Open after half of 20 calls fail, fail fast for 5 s, then try 5 calls."),
    Param(name="layers", kind="int", default=1, min=1, max=3, step=1,
          label="Retrying layers",
          help="Nested callers (app, gateway, service), each retrying its own call."),
    Param(name="trigger_at_s", kind="float", default=30, min=0, max=600, step=1, unit="s",
          label="Trigger at", help="When the capacity drop starts."),
    Param(name="trigger_s", kind="float", default=10, min=0, max=300, step=1, unit="s",
          label="Trigger length", help="How long the capacity drop lasts; 0 = no trigger."),
    Param(name="trigger_capacity", kind="float", default=0.5, min=0, max=1, step=0.05,
          label="Capacity during trigger",
          help="Share of capacity left during the trigger; 0 = full outage (fast errors)."),
    Param(name="duration_s", kind="float", default=120, min=30, max=600, step=10, unit="s",
          label="Duration", help="Simulated time."),
)


@dataclass(frozen=True)
class RetriesParams:
    """Retry storms: one field per entry of PARAMS, in order."""

    load: float
    timeout_ms: float
    max_retries: int
    backoff_ms: float
    backoff_cap_ms: float
    jitter: Literal["none", "full", "equal", "decorrelated"]
    retry_budget: float
    breaker: bool
    layers: int
    trigger_at_s: float
    trigger_s: float
    trigger_capacity: float
    duration_s: float



@dataclass(frozen=True)
class Policy:
    """What a caller does when an attempt fails: the same at every layer."""

    max_retries: int
    backoff_ms: float
    backoff_cap_ms: float
    jitter: str
    retry_budget: float
    breaker: bool

    @classmethod
    def of(cls, p: RetriesParams) -> Policy:
        return cls(p.max_retries, p.backoff_ms, p.backoff_cap_ms, p.jitter, p.retry_budget,
                   bool(p.breaker))

    @property
    def careful(self) -> bool:
        """A budget or a breaker bounds the storm, so compare with naive retries instead."""
        return self.retry_budget > 0 or self.breaker


def compare_policy(p: RetriesParams) -> tuple[Policy, str]:
    """The other policy drawn faintly in the figure, with its legend label."""
    mine = Policy.of(p)
    if mine.careful:
        return replace(mine, **NAIVE), NAIVE_LABEL
    return replace(mine, **CAREFUL), CAREFUL_LABEL


def worst_case_work(p: RetriesParams, policy: Policy) -> float:
    """Work units if every attempt failed: R × (a + a² + … + a^L) × BACKOFF_WEIGHT if it sleeps.

    R is the number of user requests and a the attempts per call at each layer (1 +
    max_retries, or 1 + the budget): a^k attempts at layer k, the service's at the
    bottom. An attempt that times out costs no event of its own, a retry after a backoff
    sleep costs a SimPy event: measured, two to three times as much.
    """
    requests = p.load * CAPACITY * p.duration_s
    per_call = 1 + policy.max_retries
    if policy.retry_budget > 0:
        per_call = min(per_call, 1 + policy.retry_budget)
    sleeps = policy.max_retries > 0 and policy.backoff_ms > 0 and policy.backoff_cap_ms > 0
    attempts = sum(per_call**k for k in range(1, p.layers + 1))
    return requests * attempts * (BACKOFF_WEIGHT if sleeps else 1)


def check_limits(p: RetriesParams) -> None:
    """Refuse runs whose worst-case retry storm would exceed the time budget, naming it."""
    work = worst_case_work(p, Policy.of(p))
    if work > MAX_WORK:
        name = "layers" if p.layers > 1 else "max_retries"
        longest = math.floor(p.duration_s * MAX_WORK / work / 10) * 10
        fix = (f"lower duration_s to {longest:g} or less, or load, max_retries or layers"
               if longest >= 30 else "lower load, max_retries or layers")
        raise ParamError(
            name,
            f"requests (load × {CAPACITY:g}/s × duration_s) × attempts per request if every "
            f"attempt failed (all layers; × {BACKOFF_WEIGHT:g} with a backoff) must be at most "
            f"{MAX_WORK:,} (got {work:,.0f}): {fix}, or set a retry_budget",
        )


def comparison(p: RetriesParams) -> tuple[Policy, str] | None:
    """The comparison run, or None when it would not fit in the time budget beside ours."""
    other, label = compare_policy(p)
    if worst_case_work(p, Policy.of(p)) + worst_case_work(p, other) > MAX_WORK:
        return None
    return other, label


# -- the model --------------------------------------------------------------------------
@dataclass
class Trace:
    """Everything one run recorded, as plain lists of times (seconds)."""

    arrivals: np.ndarray  # user request arrival times
    timeout_s: float
    queue_in: list[float]  # accepted attempts: when they joined the queue ...
    queue_out: list[float]  # ... when they left it (started, or dropped by a crash) ...
    busy_to: list[float]  # ... and when their worker was free again (= queue_out if dropped)
    refused_t: list[float]  # attempts refused at once by a crashed service
    finished_at: list[float]  # per user request: when it was answered or given up (inf)
    answered: list[bool]  # per user request: answered in time (by some attempt)
    attempts_per_request: list[int]
    breaker_open: list[tuple[float, float]]  # periods the innermost breaker was open


class _Call:
    """One layer's call: up to 1 + max_retries attempts at the layer below."""

    __slots__ = ("layer", "parent", "root", "sleep", "tries")

    def __init__(self, layer: int, parent: _Attempt | None, root: int, sleep: float):
        self.layer, self.parent, self.root, self.sleep, self.tries = layer, parent, root, sleep, 0


class _Attempt:
    """An outer layer's attempt: waits for the inner call or its own timeout."""

    __slots__ = ("call", "resolved")

    def __init__(self, call: _Call):
        self.call, self.resolved = call, False


def arrival_times(gen: np.random.Generator, rate: float, duration: float) -> np.ndarray:
    """Poisson arrival times in [0, duration) at `rate` per second."""
    n = int(rate * duration + 6 * math.sqrt(rate * duration) + 16)
    times = np.cumsum(gen.exponential(1 / rate, n))
    while times[-1] < duration:  # pragma: no cover - six sigma above the mean
        times = np.concatenate([times, times[-1] + np.cumsum(gen.exponential(1 / rate, n))])
    return times[times < duration]


def finish_time(start: float, work: float, t0: float, t1: float, speed: float) -> float:
    """When work (seconds at full speed) started at `start` ends, if [t0, t1) runs at speed."""
    if start < t0:
        if start + work <= t0:
            return start + work
        work -= t0 - start
        start = t0
    if start < t1:
        room = (t1 - start) * speed
        if work <= room:
            return start + work / speed
        work -= room
        start = t1
    return start + work


def backoff_s(jitter: str, base: float, cap: float, retry: int, previous: float,
              u: float) -> float:
    """Brooker's (2015) wait before retry number `retry` (1, 2, …); u ~ U[0, 1)."""
    if jitter == "decorrelated":
        return min(cap, base + u * (3 * previous - base))
    ceiling = min(cap, base * 2.0 ** (retry - 1))
    if jitter == "none":
        return ceiling
    if jitter == "full":
        return u * ceiling
    return ceiling / 2 + u * ceiling / 2  # equal


def _drawn(draw: Callable[[int], np.ndarray]) -> Callable[[], float]:
    """The next number of draw(DRAW_BLOCK), draw(DRAW_BLOCK), …: one at a time, cheaply."""

    def numbers() -> Iterator[float]:
        while True:
            yield from draw(DRAW_BLOCK).tolist()

    return numbers().__next__


def simulate(p: RetriesParams, policy: Policy, seed: int, *,
             timeout_events: bool = False) -> Trace:
    """Run the stack under one retry policy; the same seed gives the same user arrivals.

    timeout_events: give every timeout its own SimPy event instead of running them in
    order between events (slower; the tests check that both give the same run).
    """
    rng = spawn_rngs(seed, "arrivals", "service", "backoff")
    duration = float(p.duration_s)
    timeout = p.timeout_ms / 1000
    arrivals = arrival_times(rng["arrivals"], p.load * CAPACITY, duration)
    service_gen, backoff_gen = rng["service"], rng["backoff"]
    service_scale = SERVICE_MS / 1000 / SERVICE_SHAPE
    next_work = _drawn(lambda n: service_gen.gamma(SERVICE_SHAPE, service_scale, n))
    next_uniform = _drawn(backoff_gen.random)

    t0 = float(p.trigger_at_s)
    t1 = t0 + p.trigger_s
    speed = float(p.trigger_capacity)
    triggered = p.trigger_s > 0 and t0 < duration and speed < 1
    crash = triggered and speed == 0
    slow = triggered and speed > 0
    last = p.layers - 1

    max_retries = policy.max_retries
    base = policy.backoff_ms / 1000
    cap = policy.backoff_cap_ms / 1000
    jitter = policy.jitter
    backoff = base > 0 and cap > 0
    budget = policy.retry_budget
    tokens = [BUDGET_BURST] * p.layers
    breaker = policy.breaker
    # Successes need an event only when someone other than the user must hear of them.
    notify_success = breaker or p.layers > 1

    env = simpy.Environment()
    free = [0.0] * WORKERS  # heap: when each worker can take the next attempt
    queue_in: list[float] = []
    queue_out: list[float] = []
    busy_to: list[float] = []
    refused_t: list[float] = []
    finished_at = [math.inf] * len(arrivals)
    answered = [False] * len(arrivals)
    per_request = [0] * len(arrivals)

    # SimPy keeps the clock for whatever falls due at an irregular time: a success someone
    # must hear of, a backoff sleep, a failure when the service crashes. Two streams come
    # in time order by themselves and need no events: user arrivals, and timeouts (every
    # one is its send time plus the same `timeout`, and sends happen in time order).
    # `advance` runs them, merged, up to the next SimPy event; at equal times SimPy's
    # events go first, and SimPy runs its own in the order they were scheduled.
    expiring: deque[tuple[float, Any, Any]] = deque()  # (when, callback, value), in order
    clock = 0.0  # env.now, kept here for the callbacks
    horizon = math.inf  # when the next SimPy event is due

    def at(when: float, value: Any, callback: Any) -> None:
        """Schedule callback(value, now) for absolute time `when` (≥ the clock)."""
        nonlocal horizon
        delay = when - clock
        env.timeout(delay, (callback, value)).callbacks.append(fire)
        when = clock + delay  # the time SimPy computes from the delay
        if when < horizon:
            horizon = when

    def expire_by_event(item: tuple[float, Any, Any]) -> None:
        at(item[0], item[2], item[1])

    expire = expire_by_event if timeout_events else expiring.append

    def fire(ev: simpy.Event) -> None:
        nonlocal clock, horizon
        now = clock = env.now
        callback, value = ev.value
        callback(value, now)
        horizon = peek()
        if arrival_list[next_arrival] < horizon or (expiring and expiring[0][0] < horizon):
            advance()

    # -- circuit breaker, one per layer (closed 0, open 1, half-open 2) -------------------
    state = [0] * p.layers
    open_until = [0.0] * p.layers
    window: list[deque[int]] = [deque() for _ in range(p.layers)]
    failures = [0] * p.layers
    probes = [0] * p.layers
    probe_ok = [0] * p.layers
    breaker_open: list[tuple[float, float]] = []

    def trip(k: int, now: float) -> None:
        state[k], open_until[k] = 1, now + BREAKER_OPEN_S
        window[k].clear()
        failures[k] = 0
        if k == last:
            breaker_open.append((now, now + BREAKER_OPEN_S))

    def allow(k: int, now: float) -> bool:
        if state[k] == 0:
            return True
        if state[k] == 1:
            if now < open_until[k]:
                return False
            state[k], probes[k], probe_ok[k] = 2, 0, 0
        if probes[k] < BREAKER_PROBES:
            probes[k] += 1
            return True
        return False

    def record(k: int, ok: bool, now: float) -> None:
        if state[k] == 0:
            w = window[k]
            if len(w) == BREAKER_WINDOW:
                failures[k] -= w.popleft()
            w.append(0 if ok else 1)
            failures[k] += 0 if ok else 1
            if len(w) == BREAKER_WINDOW and failures[k] >= BREAKER_FAILURE_RATE * BREAKER_WINDOW:
                trip(k, now)
        elif state[k] == 2:
            if not ok:
                trip(k, now)
            else:
                probe_ok[k] += 1
                if probe_ok[k] >= BREAKER_PROBES:
                    state[k] = 0
        # Open: late outcomes of attempts sent before it opened change nothing.

    # -- callers --------------------------------------------------------------------------
    def start_call(call: _Call, now: float) -> None:
        if budget > 0:
            k = call.layer
            tokens[k] = min(BUDGET_BURST, tokens[k] + budget)
        send(call, now)

    def send(call: _Call, now: float) -> None:
        k = call.layer
        if breaker and not allow(k, now):
            done(call, False, now)  # fail fast: an open breaker is not worth retrying
        elif k == last:
            to_service(call, now)
        else:
            attempt = _Attempt(call)
            start_call(_Call(k + 1, attempt, call.root, base), now)
            if not attempt.resolved:
                expire((now + timeout, on_attempt_timeout, attempt))

    def failed(call: _Call, now: float) -> None:
        k = call.layer
        if breaker:
            record(k, False, now)
        if call.tries < max_retries and (budget == 0 or tokens[k] >= 1):
            if budget > 0:
                tokens[k] -= 1
            call.tries += 1
            if backoff:
                call.sleep = wait = backoff_s(jitter, base, cap, call.tries, call.sleep,
                                              next_uniform() if jitter != "none" else 0.0)
                if wait > 0:
                    at(now + wait, call, send)
                    return
            if k == last and not breaker:
                to_service(call, now)  # what send does, one call sooner
            else:
                send(call, now)
        else:
            done(call, False, now)

    def succeeded(call: _Call, now: float) -> None:
        if breaker:
            record(call.layer, True, now)
        done(call, True, now)

    def done(call: _Call, ok: bool, now: float) -> None:
        attempt = call.parent
        if attempt is None:
            finished_at[call.root] = now
            answered[call.root] = ok
        elif not attempt.resolved:
            attempt.resolved = True
            (succeeded if ok else failed)(attempt.call, now)

    def on_attempt_timeout(attempt: _Attempt, now: float) -> None:
        if not attempt.resolved:
            attempt.resolved = True
            failed(attempt.call, now)

    # -- the service ----------------------------------------------------------------------
    heapreplace = heapq.heapreplace
    join, leave, release = queue_in.append, queue_out.append, busy_to.append

    def to_service(call: _Call, now: float) -> None:
        per_request[call.root] += 1
        if crash and t0 <= now < t1:
            refused_t.append(now)
            failed(call, now)  # refused at once: the service is down
            return
        due = now + timeout
        work = next_work()
        start = free[0]
        if start < now:
            start = now
        join(now)
        end = start + work
        if crash and now < t0 and end > t0:
            # Queued or in service when the service crashes: fails at t0 (or times out).
            if start < t0:
                heapreplace(free, t0)
                leave(start)
            else:
                leave(t0)
            release(t0)
            fail_at = t0 if t0 < due else due
        else:
            if slow and end > t0 and start < t1:
                end = finish_time(start, work, t0, t1, speed)
            heapreplace(free, end)
            leave(start)
            release(end)
            if end <= due:
                if notify_success:
                    at(end, call, succeeded)
                else:
                    # Only the user hears of it: no event needed.
                    finished_at[call.root] = end
                    answered[call.root] = True
                return
            fail_at = due
        if call.parent is None and not breaker and call.tries >= max_retries:
            finished_at[call.root] = fail_at  # the last attempt: nothing follows it
        elif fail_at == due:
            expire((due, failed, call))
        else:
            at(fail_at, call, failed)  # failed by a crash before its timeout

    # -- users ----------------------------------------------------------------------------
    arrival_list = [*arrivals.tolist(), math.inf]  # a sentinel after the last
    peek = env.peek
    next_arrival = 0

    def advance() -> None:
        """Start arrivals and expire timeouts, in time order, until the next SimPy event."""
        nonlocal next_arrival
        i = next_arrival
        arrive = arrival_list[i]
        popleft = expiring.popleft
        while True:
            if expiring:
                expire = expiring[0][0]
                if expire <= arrive:  # a timeout before an arrival due at the same time
                    if expire >= horizon:
                        break
                    _, callback, value = popleft()
                    callback(value, expire)
                    continue
            if arrive >= horizon:  # (always true for the sentinel)
                break
            start_call(_Call(0, None, i, base), arrive)
            i += 1
            arrive = arrival_list[i]
        next_arrival = i

    def begin(_: simpy.Event) -> None:
        nonlocal horizon
        horizon = peek()  # the `until` event at least: nothing due at the end or later runs
        advance()

    env.timeout(0).callbacks.append(begin)
    env.run(until=duration)
    return Trace(arrivals, timeout, queue_in, queue_out, busy_to, refused_t,
                 finished_at, answered,
                 per_request, breaker_open)


# -- measuring --------------------------------------------------------------------------
@dataclass
class Measures:
    """One run's time series (per 1 s bin) and headline numbers."""

    demand: np.ndarray
    attempts: np.ndarray
    goodput: np.ndarray
    queue: np.ndarray
    amplification: tuple[float, float, float]
    trigger_amplification: tuple[float, float, float] | None  # requests sent in the trigger
    successes: int
    finished: int
    recovery_s: float | None
    wasted_work: float
    peak_queue: int
    breaker_open: list[tuple[float, float]]


def _mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    if x.size == 0:
        return (0.0, 0.0, 0.0)
    return stats.mean_ci(x, floor=0.0)


def _per_second(times: list[float] | np.ndarray, bins: int) -> np.ndarray:
    idx = np.asarray(times, dtype=float).astype(int)
    return np.bincount(idx, minlength=bins)[:bins]


def trigger_end(p: RetriesParams) -> float:
    """When recovery is measured from: the end of the trigger (0 if none falls in the run)."""
    if p.trigger_s > 0 and p.trigger_capacity < 1 and p.trigger_at_s < p.duration_s:
        return float(p.trigger_at_s + p.trigger_s)
    return 0.0


def recovery_time(answered: np.ndarray, finished: np.ndarray, since: float) -> float | None:
    """Seconds after `since` until goodput stays within 10 % of demand, to the end of the run.

    Judged by arrival: in every 5 s window from then on, at least 90 % of the user
    requests that arrived and finished (answered or given up) were answered. Counting
    by arrival time rather than answer time keeps a healthy service from failing the
    test when a burst at a window's edge is answered in the next window.
    """
    bins = len(answered)
    first = math.ceil(since)
    last = bins - RECOVERY_WINDOW_S  # the last window that fits in the run
    if first > last:
        return None
    kernel = np.ones(RECOVERY_WINDOW_S)
    good = np.convolve(answered, kernel, "valid")[first:last + 1]
    judged = np.convolve(finished, kernel, "valid")[first:last + 1]
    # A window with nothing finished cannot show recovery (requests still pending).
    bad = np.flatnonzero((good < RECOVERY_SHARE * judged) | (judged == 0))
    if bad.size == 0:
        return max(0.0, first - since)
    if first + int(bad[-1]) == last:
        return None
    return first + int(bad[-1]) + 1 - since


def measure(p: RetriesParams, trace: Trace) -> Measures:
    """Bin a run's records into per-second series and compute its metrics."""
    duration = float(p.duration_s)
    bins = math.ceil(duration)
    arrived = trace.arrivals.astype(int)
    done_at = np.asarray(trace.finished_at)
    finished = done_at < duration
    answered = finished & np.asarray(trace.answered, dtype=bool)
    demand = np.bincount(arrived, minlength=bins)[:bins]
    goodput = _per_second(done_at[answered], bins)
    joined = np.asarray(trace.queue_in, dtype=float)  # each list converted once
    start = np.asarray(trace.queue_out, dtype=float)
    attempts = _per_second(joined, bins) + _per_second(trace.refused_t, bins)

    left = np.sort(start, kind="stable")  # nearly sorted already: the stable sort is O(n)
    edges = np.minimum(np.arange(1, bins + 1, dtype=float), duration)
    queue = (np.searchsorted(joined, edges, "right") - np.searchsorted(left, edges, "right"))
    waiting = np.arange(1, joined.size + 1) - np.searchsorted(left, joined, "right")
    peak_queue = int(waiting.max()) if waiting.size else 0

    end = np.minimum(np.asarray(trace.busy_to, dtype=float), duration)
    busy = np.clip(end - start, 0, None).sum()
    wasted = np.clip(end - np.maximum(start, joined + trace.timeout_s), 0, None).sum()

    per_request = np.asarray(trace.attempts_per_request, dtype=float)
    amplification = _mean_ci(per_request)
    during = (trace.arrivals >= p.trigger_at_s) & (trace.arrivals < p.trigger_at_s + p.trigger_s)
    in_trigger = _mean_ci(per_request[during]) if trigger_end(p) > 0 and during.any() else None
    recovery = recovery_time(np.bincount(arrived[answered], minlength=bins)[:bins],
                             np.bincount(arrived[finished], minlength=bins)[:bins],
                             trigger_end(p))
    return Measures(
        demand=demand, attempts=attempts, goodput=goodput, queue=queue,
        amplification=amplification, trigger_amplification=in_trigger,
        successes=int(answered.sum()),
        finished=int(finished.sum()), recovery_s=recovery,
        wasted_work=float(wasted / busy) if busy > 0 else 0.0, peak_queue=peak_queue,
        breaker_open=trace.breaker_open,
    )


def capacity_curve(p: RetriesParams, bins: int) -> np.ndarray:
    """Service capacity (requests/s) in each 1 s bin, the trigger averaged in."""
    lo = np.arange(bins, dtype=float)
    overlap = np.clip(np.minimum(lo + 1, p.trigger_at_s + p.trigger_s)
                      - np.maximum(lo, p.trigger_at_s), 0, 1)
    return CAPACITY * (1 - overlap * (1 - p.trigger_capacity))


# -- results ----------------------------------------------------------------------------


def _recovery_words(r: float | None, has_trigger: bool) -> str:
    if r is None:
        return "never recovered within the run"
    if not has_trigger:
        return "kept up with demand"
    return "recovered at once" if r < 1 else f"recovered {r:.0f} s after the trigger ended"


def _summary(p: RetriesParams, m: Measures, other: Measures | None, other_label: str) -> str:
    end = trigger_end(p)
    has_trigger = end > 0
    amp = m.amplification[0]
    wasted = pct(m.wasted_work)
    success = pct(m.successes / m.finished if m.finished else 1)
    if has_trigger and end > p.duration_s - RECOVERY_WINDOW_S:
        first = ("The trigger lasts until the end of the run, so recovery cannot be seen; "
                 f"{amp:.2f} attempts reached the service per user request.")
    elif m.recovery_s is None and has_trigger:
        first = (f"Goodput never came back after the {p.trigger_s:g} s trigger ended: a "
                 f"metastable failure. {amp:.2f} attempts reached the service per user "
                 f"request, and {wasted} of the server's busy time went to callers that "
                 "had already given up.")
    elif m.recovery_s is None:
        first = (f"The service never kept up with demand: {amp:.2f} attempts per user "
                 f"request, {wasted} of its busy time spent on callers that had given up.")
    elif has_trigger:
        when = "at once" if m.recovery_s < 1 else f"{m.recovery_s:.0f} s after the trigger ended"
        first = (f"Goodput was back within 10 % of demand {when}; {amp:.2f} attempts "
                 f"reached the service per user request and {success} of requests succeeded.")
    else:
        first = (f"No trigger fell in the run and the service kept up: {amp:.2f} attempts "
                 f"per user request, {success} of requests succeeded.")
    storm = m.trigger_amplification
    if storm and storm[0] >= 2 * amp:
        first += (f" Each request sent during the trigger caused {storm[0]:.1f} attempts on "
                  "average.")
    if other is None:
        return first
    if has_trigger and end > p.duration_s - RECOVERY_WINDOW_S:
        return (f"{first} With {other_label}: {other.amplification[0]:.2f} attempts per "
                "request.")
    return (f"{first} With {other_label}, the same run "
            f"{_recovery_words(other.recovery_s, has_trigger)} "
            f"({other.amplification[0]:.2f} attempts per request).")


def run(p: RetriesParams, seed: int) -> Result[RetriesFigure]:
    """Simulate the chosen policy and the comparison, then shape metrics and series."""
    m = measure(p, simulate(p, Policy.of(p), seed))
    compare = comparison(p)
    other = measure(p, simulate(p, compare[0], seed)) if compare else None
    label = compare[1] if compare else ""
    amp, amp_lo, amp_hi = m.amplification
    success = m.successes / m.finished if m.finished else 1.0
    metrics = {
        "amplification": Metric(amp, "×", "Attempts reaching the service per user request",
                                ci95=(amp_lo, amp_hi)),
        "success_rate": Metric(success, "share",
                               "User requests answered in time (of those finished in the run)",
                               ci95=stats.proportion_ci(m.successes, m.finished)),
        "recovery_s": Metric(m.recovery_s, "s",
                             "Seconds after the trigger ends until goodput stays within "
                             "10 % of demand (never = metastable)"),
        "wasted_work": Metric(m.wasted_work, "share",
                              "Server busy time spent on attempts whose caller had "
                              "already given up"),
        "peak_queue": Metric(m.peak_queue, "attempts", "Longest queue at the service"),
        "trigger_amplification": Metric(
            m.trigger_amplification[0] if m.trigger_amplification else None, "×",
            "Attempts reaching the service per user request sent during the trigger",
            ci95=m.trigger_amplification[1:] if m.trigger_amplification else None),
    }
    bins = len(m.demand)
    series = {
        "t_s": list(range(bins)),
        "demand_per_s": m.demand.tolist(),
        "attempts_per_s": m.attempts.tolist(),
        "goodput_per_s": m.goodput.tolist(),
        "queue": m.queue.tolist(),
        "capacity_per_s": np.round(capacity_curve(p, bins), 2).tolist(),
        # Empty when the comparison run would not fit in the time budget.
        "compare_goodput_per_s": other.goodput.tolist() if other else [],
    }
    figure_data = RetriesFigure(
        compare_label=label, recovery_s=m.recovery_s, trigger_end=trigger_end(p),
        compare_recovery_s=other.recovery_s if other else None,
        breaker_open=tuple(m.breaker_open),
    )
    return Result(metrics=metrics, series=series, summary=_summary(p, m, other, label),
                  figure_data=figure_data)


# -- figure -----------------------------------------------------------------------------
def _merged(periods: Sequence[tuple[float, float]], limit: int = 40) -> list[tuple[float, float]]:
    """Overlapping periods joined, at most `limit` of them (the figure stays small)."""
    out: list[tuple[float, float]] = []
    for lo, hi in sorted(periods):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out[:limit]


@dataclass(frozen=True)
class RetriesFigure:
    """What the figure needs beyond the public series."""

    compare_label: str  # the policy the faint comparison run used
    recovery_s: float | None  # seconds from the trigger's end to recovery, if it recovered
    trigger_end: float  # when the trigger ended (s); 0 without a trigger
    compare_recovery_s: float | None
    breaker_open: tuple[tuple[float, float], ...]  # periods the innermost breaker was open


def build_figure(result: Result[RetriesFigure], p: RetriesParams) -> dict[str, Any]:
    """Top: demand, attempts, goodput (and the comparison's) per second; bottom: queue."""
    s, fd = result.series, result.figure_data
    assert fd is not None
    t = [x + 0.5 for x in s["t_s"]]  # bin centres
    grey, green, orange, purple = (PALETTE["grey"], PALETTE["green"], PALETTE["orange"],
                                   PALETTE["purple"])
    rate = "%{x:.0f} s: %{y:,.0f}/s"
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "x": t, "y": s["capacity_per_s"],
         "name": "service capacity", "line": {"color": grey, "width": 1, "dash": "dot"},
         "hovertemplate": rate},
        {"type": "scatter", "mode": "lines", "x": t, "y": s["demand_per_s"],
         "name": "user demand", "line": {"color": grey, "width": 1.5, "dash": "dash"},
         "hovertemplate": rate},
        {"type": "scatter", "mode": "lines", "x": t, "y": s["attempts_per_s"],
         "name": "attempts reaching the service", "line": {"color": orange, "width": 1.5},
         "hovertemplate": rate},
        {"type": "scatter", "mode": "lines", "x": t, "y": s["goodput_per_s"],
         "name": "goodput (answered in time)", "line": {"color": green, "width": 2.5},
         "hovertemplate": rate},
    ]
    if s["compare_goodput_per_s"]:
        data.append(
            {"type": "scatter", "mode": "lines", "x": t, "y": s["compare_goodput_per_s"],
             "name": f"goodput with {fd.compare_label}", "opacity": 0.55,
             "line": {"color": green, "width": 1.5, "dash": "dashdot"},
             "hovertemplate": rate})
    data.append(
        {"type": "scatter", "mode": "lines", "x": t, "y": s["queue"], "name": "queue length",
         "line": {"color": purple, "width": 1.5}, "fill": "tozeroy",
         "fillcolor": "rgba(168,85,247,0.15)", "xaxis": "x", "yaxis": "y2",
         "hovertemplate": "%{x:.0f} s: %{y:,} queued"})

    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    if fd.trigger_end > 0:
        shapes.append(plotting.shade(p.trigger_at_s, min(fd.trigger_end, p.duration_s),
                                     "trigger"))
        notes.append({"x": p.trigger_at_s, "y": 1, "yref": "paper", "text": "trigger",
                      "showarrow": False, "xanchor": "left", "yanchor": "bottom",
                      "font": {"size": 11, "color": PALETTE["red"]}})
    if fd.recovery_s is not None and fd.trigger_end > 0:
        shape, note = plotting.vline(fd.trigger_end + fd.recovery_s, "recovered", green,
                                     yref="y domain")
        note["y"] = 0.93  # below the trigger's label
        shapes.append(shape)
        notes.append(note)
    for lo, hi in _merged(fd.breaker_open):
        shapes.append({"type": "rect", "xref": "x", "yref": "y2 domain", "x0": lo,
                       "x1": min(hi, p.duration_s), "y0": 0.9, "y1": 1,
                       "fillcolor": PALETTE["grey"], "opacity": 0.5, "line": {"width": 0}})
    if fd.breaker_open:
        notes.append({"x": 0, "xref": "paper", "y": 1, "yref": "y2 domain", "yanchor": "bottom",
                      "xanchor": "left", "showarrow": False, "font": {"size": 11},
                      "text": "grey bars: breaker open (failing fast)"})

    # A 64-fold storm would flatten every other line: give attempts their own axis.
    top = max(max(s["demand_per_s"], default=0), max(s["goodput_per_s"], default=0),
              max(s["compare_goodput_per_s"], default=0), CAPACITY)
    peak = max(s["attempts_per_s"], default=0)
    layout: dict[str, Any] = {}
    if peak > 5 * top:
        data[2]["yaxis"] = "y3"
        data[2]["name"] += " (right axis)"
        right = plotting.axis("attempts per second", overlaying="y", side="right",
                              rangemode="tozero", showgrid=False, tickmode="auto",
                              tickfont={"color": orange})
        right["title"]["font"] = {"color": orange}
        layout["yaxis3"] = right
    else:
        top = max(top, peak)
    return plotting.figure(
        data,
        height=560,
        xaxis=plotting.axis("time (s)", range=[0, p.duration_s], anchor="y2"),
        yaxis=plotting.axis("per second", domain=[0.36, 1], range=[0, 1.05 * top]),
        yaxis2=plotting.axis("queue", domain=[0, 0.26], rangemode="tozero", anchor="x"),
        shapes=shapes,
        annotations=notes,
        hovermode="x unified",
        **layout,
    )


SIMULATION = Simulation(
    slug="retries",
    title="Retry storms",
    description="Immediate retries turn a ten-second capacity drop into an outage that "
                "outlives it; backoff, jitter and a budget recover.",
    params=PARAMS,
    params_type=RetriesParams,
    run=run,
    figure=build_figure,
    check=check_limits,
    limits=(f"The worst-case work, load × {CAPACITY:g}/s × duration_s requests times the attempts "
            f"each would make if every attempt failed (all layers; times {BACKOFF_WEIGHT:g} when "
            f"retries back off; a retry_budget caps the attempts), must be at most "
            f"{MAX_WORK:,}.",),
    main_param="load",
)
