"""Traffic spike vs limits: a viral link meets a per-client bucket, a shedder and an autoscaler.

Model. The endpoint normally sees NORMAL_RPS requests per second from LEGIT_CLIENTS
paying customers, each a light Poisson stream. From SURGE_AT_S, for `surge_s` seconds,
a surge adds (`surge_factor` − 1) × NORMAL_RPS more, shared equally by `surge_clients`
distinct clients: tens of thousands for a crowd following a link, a handful for a
scraper or a client stuck in a retry loop. That split decides whether a per-client
token bucket can help, because the bucket sees clients, not crowds.

Guards, in the order a request meets them:
- per-client token bucket (`token_bucket_rps` > 0): rate r, burst b, so a client gets at
  most b + r·t requests through in t seconds; the rest are refused at once (429);
- per-replica concurrency limit (`concurrency_limit` > 0): at most that many requests in
  flight (in service or queued) per replica; the excess is refused at once (503). With
  `priority_shedding` the customers' requests are admitted before the surge's (Stripe's
  reserved capacity for critical traffic), otherwise each class is admitted in
  proportion to its share of the offered load;
- without a limit, every request joins the queue until the listen backlog
  (BACKLOG_PER_REPLICA, gunicorn's default) is full; the kernel then drops connections,
  so those clients also wait out their timeout, only without using a worker.

Backend. Replicas of WORKERS_PER_REPLICA workers, SERVICE_S per request (100 requests/s
each: the chapter's example), one FIFO queue across the fleet (an ideal balancer).
Clients give up after TIMEOUT_S; the server never notices and serves every request it
queued, so work on a request whose client has gone is wasted. A request succeeds when
its wait plus SERVICE_S is within the timeout.

Autoscaler. With `autoscaling`, every SCALE_PERIOD_S (Kubernetes' HPA sync period) it
reads the request rate at the load balancer over the last period (after the bucket,
before the limit: an ALB request-count or KEDA policy) and asks for enough replicas to
run at SCALE_TARGET utilisation, at most `max_replicas`. Replicas it orders serve
`scale_lag_s` later (metrics, boot, warm-up); it scales in only to the highest
recommendation of the last SCALE_DOWN_WINDOW_S (the HPA's stabilisation window).

Speed. A 1,000× surge is 20,000 requests a second, far too many for one SimPy event
each, so flows are aggregated per DT_S step with NumPy: Poisson arrival counts per class
and step are drawn up front, and the bucket (per client of a class, every client of a
class sending its class's average rate) and the queue are fluid. SimPy keeps the clock:
a traffic process moves the flows one step at a time, the autoscaler wakes every period,
and each order of replicas is a process that waits out the lag. Waits come from the
cumulative admitted and served curves (FIFO: a request starts when the served count
reaches its place in line), read at SUBSTEPS points per step. The tests check the fluid
queue against a per-request `simpy.Resource` simulation of a small overload.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from ..engine import plotting, stats
from ..engine.core import Metric, Result, Simulation, spawn_rngs
from ..engine.params import Param
from ..engine.plotting import PALETTE
from ..engine.words import pct

# -- model constants --------------------------------------------------------------------
NORMAL_RPS = 20.0  # the chapter's normal load
LEGIT_CLIENTS = 200  # paying customers, 0.1 requests/s each
WORKERS_PER_REPLICA = 20  # 20 workers × 0.2 s → 100 requests/s per replica (the chapter's)
SERVICE_S = 0.2  # time one request holds a worker
BASE_REPLICAS = 1  # the fleet before the surge (100 requests/s: five times normal load)
TIMEOUT_S = 10.0  # clients give up after this long (the chapter's)
BACKLOG_PER_REPLICA = 2048  # gunicorn's default listen backlog: the queue without a limit
SURGE_AT_S = 60.0  # a minute of normal traffic first
TAIL_S = 420.0  # watched after the surge: drain, recovery, scale-in (> the 300 s window)
DT_S = 1.0  # flow step
SUBSTEPS = 8  # points per step at which FIFO waits are read
SCALE_PERIOD_S = 15.0  # HPA sync period (Kubernetes default)
SCALE_TARGET = 0.7  # utilisation the autoscaler aims for
SCALE_DOWN_WINDOW_S = 300.0  # HPA downscale stabilisation window (Kubernetes default)
RECOVERED_SHARE = 0.9  # "recovered": customers' success back above 90 % for good
MAX_POINTS = 240  # time-series points kept for the figure and the CSV (redraw cost)
SATURATION_WINDOW_S = 60.0  # saturation is judged per minute, as a dashboard would

CAPACITY_PER_REPLICA = WORKERS_PER_REPLICA / SERVICE_S
LEGIT_RPS_PER_CLIENT = NORMAL_RPS / LEGIT_CLIENTS


# -- parameters -------------------------------------------------------------------------
PARAMS = (
    Param(name="surge_factor", kind="float", default=300, min=1, max=1000, step=1,
          scale="log", unit="× normal", label="Surge",
          help=f"Total traffic during the surge as a multiple of normal ({NORMAL_RPS:g} "
               "requests/s); 1 = no surge."),
    Param(name="surge_s", kind="float", default=600, min=10, max=3600, step=10, unit="s",
          label="Surge length", help="How long the surge lasts."),
    Param(name="surge_clients", kind="int", default=50000, min=1, max=100000, step=1,
          scale="log", unit="clients", label="Surge clients",
          help="Distinct clients the surge comes from: a crowd (many) or a scraper (few)."),
    Param(name="token_bucket_rps", kind="float", default=0, min=0, max=100, step=0.1,
          unit="req/s", label="Token bucket rate",
          help="Requests per second each client may send; 0 = no per-client limit."),
    Param(name="token_bucket_burst", kind="int", default=20, min=1, max=1000, step=1,
          unit="requests", label="Token bucket burst",
          help="Requests a client may send at once before the rate applies."),
    Param(name="concurrency_limit", kind="int", default=0, min=0, max=2000, step=1,
          unit="per replica", label="Concurrency limit",
          help="Requests in flight per replica before the rest are refused at once; "
               "0 = none."),
    Param(name="priority_shedding", kind="bool", default=False, label="Shed by priority",
          help="With a concurrency limit, admit known customers before anonymous traffic."),
    Param(name="autoscaling", kind="bool", default=False, label="Autoscaling",
          help="Add replicas when the request rate rises, after the scaling lag."),
    Param(name="scale_lag_s", kind="float", default=120, min=0, max=900, step=5, unit="s",
          label="Scaling lag",
          help="From the autoscaler's decision to new replicas serving (metrics, boot, "
               "warm-up)."),
    Param(name="max_replicas", kind="int", default=20, min=1, max=500, step=1,
          scale="log", unit="replicas", label="Max replicas",
          help=f"The autoscaler's ceiling; each replica serves "
               f"{CAPACITY_PER_REPLICA:g} requests/s."),
)


@dataclass(frozen=True)
class SpikeParams:
    """Traffic spike vs limits: one field per entry of PARAMS, in order."""

    surge_factor: float
    surge_s: float
    surge_clients: int
    token_bucket_rps: float
    token_bucket_burst: int
    concurrency_limit: int
    priority_shedding: bool
    autoscaling: bool
    scale_lag_s: float
    max_replicas: int



# -- derived quantities, shared by the model and the closed forms ------------------------
def surge_rps(p: SpikeParams) -> float:
    """Requests per second the surge adds on top of normal traffic."""
    return (p.surge_factor - 1) * NORMAL_RPS


def busy_workers_per_replica(p: SpikeParams) -> int:
    """Workers a replica can keep busy: a limit below the worker count idles the rest."""
    limit = p.concurrency_limit
    return min(WORKERS_PER_REPLICA, limit) if limit > 0 else WORKERS_PER_REPLICA


def queue_room_per_replica(p: SpikeParams) -> int:
    """Requests a replica holds waiting: the limit's headroom, or the listen backlog."""
    limit = p.concurrency_limit
    return max(0, limit - WORKERS_PER_REPLICA) if limit > 0 else BACKLOG_PER_REPLICA


def full_queue_wait_s(p: SpikeParams) -> float:
    """Wait of a request that joins a full queue: queue room ÷ service rate per replica."""
    return queue_room_per_replica(p) * SERVICE_S / busy_workers_per_replica(p)


def bucket_passed_rps(rate: float, clients: int, p: SpikeParams) -> float:
    """Steady-state rate a class gets past its per-client buckets (fluid: min(λ, n·r))."""
    if p.token_bucket_rps <= 0:
        return rate
    return min(rate, clients * p.token_bucket_rps)


def steady_legit_success(p: SpikeParams) -> float | None:
    """Customers' success during a long surge without autoscaling (fluid steady state).

    Customers pass the bucket at min(λ_L, n_L·r), the crowd at min(λ_S, n_S·r). If the
    admitted load fits the fixed fleet's capacity C everyone is served at once; if not,
    the queue fills: with a concurrency limit the admitted requests wait at most
    full_queue_wait_s, and customers get C × their share of the offered load (or all of
    C they need, with priority); without one, the listen backlog's wait (2,048 × 0.2 s ÷
    20 = 20.5 s) exceeds the timeout and nobody is answered in time. None with
    autoscaling (no closed form) or without a surge.
    """
    if p.autoscaling or p.surge_factor <= 1:
        return None
    legit = bucket_passed_rps(NORMAL_RPS, LEGIT_CLIENTS, p)
    surge = bucket_passed_rps(surge_rps(p), p.surge_clients, p)
    capacity = BASE_REPLICAS * busy_workers_per_replica(p) / SERVICE_S
    through_bucket = legit / NORMAL_RPS
    if legit + surge <= capacity:
        return through_bucket
    if full_queue_wait_s(p) + SERVICE_S > TIMEOUT_S:
        return 0.0
    if p.concurrency_limit > 0 and p.priority_shedding:
        return through_bucket * min(1.0, capacity / legit) if legit > 0 else 0.0
    return through_bucket * capacity / (legit + surge)


def scale_target_replicas(rate_rps: float, p: SpikeParams) -> int:
    """Replicas the autoscaler asks for at this request rate."""
    per_replica = SCALE_TARGET * busy_workers_per_replica(p) / SERVICE_S
    return max(BASE_REPLICAS, min(p.max_replicas, math.ceil(rate_rps / per_replica - 1e-9)))


# -- the flow model ---------------------------------------------------------------------
@dataclass
class Flows:
    """Per-step flows of one run (requests per step unless named otherwise)."""

    legit_offered: np.ndarray
    surge_offered: np.ndarray
    legit_passed: np.ndarray  # through the token bucket
    surge_passed: np.ndarray
    legit_admitted: np.ndarray  # into the backend's queue
    surge_admitted: np.ndarray
    served: np.ndarray  # service starts
    replicas: np.ndarray  # serving during the step
    queue_end: np.ndarray  # waiting at the step's end
    orders: list[tuple[float, int]]  # (time ordered, replicas) for each scale-out

    @property
    def admitted(self) -> np.ndarray:
        return self.legit_admitted + self.surge_admitted


def horizon_s(p: SpikeParams) -> float:
    """The run's length: lead-in, surge, and the tail that shows recovery and scale-in."""
    return SURGE_AT_S + p.surge_s + TAIL_S


def arrivals(p: SpikeParams, seed: int, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Poisson arrival counts per step for customers and the surge, each on its own stream."""
    rng = spawn_rngs(seed, "legit", "surge")
    t = np.arange(steps) * DT_S
    legit = rng["legit"].poisson(NORMAL_RPS * DT_S, steps).astype(float)
    during = (t >= SURGE_AT_S) & (t < SURGE_AT_S + p.surge_s)
    surge = np.zeros(steps)
    if surge_rps(p) > 0:
        surge[during] = rng["surge"].poisson(surge_rps(p) * DT_S, int(during.sum()))
    return legit, surge


def simulate(p: SpikeParams, seed: int) -> Flows:
    """Move the flows step by step on a SimPy clock, with the autoscaler beside them."""
    steps = round(horizon_s(p) / DT_S)
    legit, surge = arrivals(p, seed, steps)
    rate, burst = float(p.token_bucket_rps), float(p.token_bucket_burst)
    bucket = rate > 0
    n_legit, n_surge = float(LEGIT_CLIENTS), float(p.surge_clients)
    limited = p.concurrency_limit > 0
    priority = limited and bool(p.priority_shedding)
    per_step = busy_workers_per_replica(p) / SERVICE_S * DT_S
    room = float(queue_room_per_replica(p))

    out = {k: [0.0] * steps for k in ("lp", "sp", "la", "sa", "served", "rep", "queue")}
    cum_passed = [0.0]  # requests through the bucket, cumulative: the autoscaler's metric
    fleet = {"ready": BASE_REPLICAS, "pending": 0}
    orders: list[tuple[float, int]] = []
    env = simpy.Environment()

    def traffic() -> Any:
        """One step of flows per DT_S: buckets, admission, the queue."""
        tokens_l = tokens_s = burst  # per client of each class; buckets start full
        queue = 0.0
        lp_, sp_, la_, sa_ = out["lp"], out["sp"], out["la"], out["sa"]
        served_, rep_, queue_ = out["served"], out["rep"], out["queue"]
        for k in range(steps):
            lo, so = legit[k], surge[k]
            if bucket:
                # Tokens refill while the step's requests arrive, so a heavy client gets
                # exactly b + r·t through in its first t seconds.
                avail = tokens_l + rate * DT_S
                per = min(lo / n_legit, avail)
                tokens_l = min(burst, avail - per)
                lp = per * n_legit
                avail = tokens_s + rate * DT_S
                per = min(so / n_surge, avail)
                tokens_s = min(burst, avail - per)
                sp = per * n_surge
            else:
                lp, sp = lo, so
            replicas = fleet["ready"]
            capacity = replicas * per_step
            offered = lp + sp
            admitted = min(offered, max(0.0, replicas * room - queue + capacity))
            if admitted >= offered:
                la, sa = lp, sp
            elif priority:
                la = min(lp, admitted)
                sa = admitted - la
            else:
                la = admitted * lp / offered
                sa = admitted - la
            served = min(queue + admitted, capacity)
            queue += admitted - served
            lp_[k], sp_[k], la_[k], sa_[k] = lp, sp, la, sa
            served_[k], rep_[k], queue_[k] = served, replicas, queue
            cum_passed.append(cum_passed[-1] + offered)
            yield env.timeout(DT_S)

    def boot(n: int) -> Any:
        """Replicas ordered now serve after the lag."""
        yield env.timeout(p.scale_lag_s)
        fleet["pending"] -= n
        fleet["ready"] += n

    def autoscaler() -> Any:
        """Every period: target replicas from the recent rate; scale in only after the window."""
        window = round(SCALE_PERIOD_S / DT_S)
        recent: deque[tuple[float, int]] = deque()
        while True:
            yield env.timeout(SCALE_PERIOD_S)
            k = min(len(cum_passed) - 1, round(env.now / DT_S))
            rate_rps = (cum_passed[k] - cum_passed[max(0, k - window)]) / (window * DT_S)
            want = scale_target_replicas(rate_rps, p)
            recent.append((env.now, want))
            while recent[0][0] <= env.now - SCALE_DOWN_WINDOW_S:
                recent.popleft()
            have = fleet["ready"] + fleet["pending"]
            if want > have:
                n = want - have
                orders.append((env.now, n))
                if p.scale_lag_s > 0:
                    fleet["pending"] += n
                    env.process(boot(n))
                else:
                    fleet["ready"] += n
            elif fleet["pending"] == 0:
                fleet["ready"] = min(fleet["ready"], max(w for _, w in recent))

    env.process(traffic())
    if p.autoscaling:
        env.process(autoscaler())
    env.run(until=steps * DT_S)
    return Flows(
        legit_offered=legit, surge_offered=surge,
        legit_passed=np.asarray(out["lp"]), surge_passed=np.asarray(out["sp"]),
        legit_admitted=np.asarray(out["la"]), surge_admitted=np.asarray(out["sa"]),
        served=np.asarray(out["served"]), replicas=np.asarray(out["rep"], dtype=int),
        queue_end=np.asarray(out["queue"]), orders=orders,
    )


# -- FIFO waits from the cumulative curves ----------------------------------------------
def _time_of(cum: np.ndarray, x: np.ndarray, tail_rate: float) -> np.ndarray:
    """When a piecewise-linear cumulative count (one segment per step) first reaches x.

    Counts beyond the run's last value are extrapolated at tail_rate per second (the
    fleet keeps serving after the horizon).
    """
    end = cum[-1]
    idx = np.clip(np.searchsorted(cum, np.minimum(x, end), side="left"), 1, len(cum) - 1)
    lo, hi = cum[idx - 1], cum[idx]
    frac = np.where(hi > lo, (np.minimum(x, end) - lo) / np.where(hi > lo, hi - lo, 1), 1.0)
    t = (idx - 1 + frac) * DT_S
    beyond = x > end
    if beyond.any():
        t = np.where(beyond, len(cum) - 1 + (x - end) / max(tail_rate, 1e-9), t)
    return t


@dataclass
class Waits:
    """Who was answered in time, by arrival step and by service step."""

    ok_share: np.ndarray  # per arrival step: share of admitted requests answered in time
    answered: np.ndarray  # per service step: services whose client was still waiting
    wait_s: np.ndarray  # waits at the sample points (arrival side), for percentiles
    weight: np.ndarray  # requests each sample point stands for


def fifo_waits(p: SpikeParams, f: Flows) -> Waits:
    """Read every admitted request's wait off the admitted and served curves (FIFO)."""
    steps = len(f.served)
    admitted, served = f.admitted, f.served
    cum_a = np.concatenate([[0.0], np.cumsum(admitted)])
    cum_d = np.concatenate([[0.0], np.cumsum(served)])
    tail_rate = f.replicas[-1] * busy_workers_per_replica(p) / SERVICE_S
    u = (np.arange(SUBSTEPS) + 0.5) / SUBSTEPS
    k = np.arange(steps)[:, None]
    deadline = TIMEOUT_S - SERVICE_S

    # Arrival side: request at place x arrived at step k + u and starts when cum_d hits x.
    x = cum_a[:-1, None] + u * admitted[:, None]
    wait = _time_of(cum_d, x.ravel(), tail_rate).reshape(x.shape) - (k + u) * DT_S
    wait = np.maximum(wait, 0.0)
    ok_share = (wait <= deadline + 1e-9).mean(axis=1)

    # Service side: a service at step j + u is for place x, which arrived at time_of(cum_a).
    x = cum_d[:-1, None] + u * served[:, None]
    waited = (k + u) * DT_S - _time_of(cum_a, x.ravel(), 0.0).reshape(x.shape)
    answered = served * (waited <= deadline + 1e-9).mean(axis=1)
    return Waits(ok_share=ok_share, answered=answered, wait_s=wait.ravel(),
                 weight=np.repeat(admitted / SUBSTEPS, SUBSTEPS))


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float) -> float:
    """The q-quantile of values x carrying weights w (the first value reaching q of the mass)."""
    keep = w > 0
    if not keep.any():
        return 0.0
    order = np.argsort(x[keep], kind="stable")
    xs, cw = x[keep][order], np.cumsum(w[keep][order])
    return float(xs[min(len(xs) - 1, np.searchsorted(cw, q * cw[-1], side="left"))])


# -- measuring ---------------------------------------------------------------------------
@dataclass
class Measures:
    """Headline numbers of a run (counts are requests during the surge window)."""

    legit_sent: int
    legit_ok: int
    surge_sent: int
    surge_ok: int
    goodput_rps: float
    peak_saturation: float
    wasted_share: float
    shed_share: float
    bucket_share: float
    dropped_share: float
    p99_wait_s: float
    replicas_peak: int
    replica_hours: float
    recovery_s: float | None
    first_replica_s: float | None  # first added replica serving, seconds into the surge


def recovery_time(p: SpikeParams, legit_offered: np.ndarray, legit_ok: np.ndarray) -> float | None:
    """Seconds after the surge until customers' success stays above 90 % to the end of the run."""
    start = round((SURGE_AT_S + p.surge_s) / DT_S)
    offered, ok = legit_offered[start:], legit_ok[start:]
    bad = np.flatnonzero((offered > 0) & (ok < RECOVERED_SHARE * offered))
    if bad.size == 0:
        return 0.0
    if bad[-1] == len(offered) - 1:
        return None
    return float((bad[-1] + 1) * DT_S)


def measure(p: SpikeParams, f: Flows, w: Waits) -> Measures:
    """Turn flows and waits into the run's headline numbers."""
    steps = len(f.served)
    t = np.arange(steps) * DT_S
    in_surge = (t >= SURGE_AT_S) & (t < SURGE_AT_S + p.surge_s)
    legit_ok = f.legit_admitted * w.ok_share
    surge_ok = f.surge_admitted * w.ok_share
    offered = (f.legit_offered + f.surge_offered)[in_surge].sum()
    passed = (f.legit_passed + f.surge_passed)[in_surge].sum()
    admitted = f.admitted[in_surge].sum()
    refused_at_door = passed - admitted
    busy = f.served[in_surge].sum()
    # Busy workers over sliding minutes: one second's Poisson burst is not saturation.
    window = max(1, min(steps, round(SATURATION_WINDOW_S / DT_S)))
    kernel = np.ones(window)
    capacity_workers = f.replicas * WORKERS_PER_REPLICA / SERVICE_S * DT_S
    saturation = (np.convolve(f.served, kernel, "valid")
                  / np.convolve(capacity_workers, kernel, "valid"))
    first = None
    if f.orders:
        first = f.orders[0][0] + p.scale_lag_s - SURGE_AT_S
    return Measures(
        legit_sent=round(f.legit_offered[in_surge].sum()),
        legit_ok=round(legit_ok[in_surge].sum()),
        surge_sent=round(f.surge_offered[in_surge].sum()),
        surge_ok=round(surge_ok[in_surge].sum()),
        goodput_rps=float(w.answered[in_surge].sum() / (in_surge.sum() * DT_S)),
        peak_saturation=float(saturation.max()),
        wasted_share=float(1 - w.answered[in_surge].sum() / busy) if busy > 0 else 0.0,
        shed_share=float(refused_at_door / offered) if p.concurrency_limit > 0 and offered
        else 0.0,
        bucket_share=float((offered - passed) / offered) if offered else 0.0,
        dropped_share=float(refused_at_door / offered) if p.concurrency_limit == 0 and offered
        else 0.0,
        p99_wait_s=weighted_quantile(w.wait_s, w.weight, 0.99),
        replicas_peak=int(f.replicas.max()),
        replica_hours=float(f.replicas.sum() * DT_S / 3600),
        recovery_s=recovery_time(p, f.legit_offered, legit_ok) if p.surge_factor > 1 else None,
        first_replica_s=first,
    )


# -- results ----------------------------------------------------------------------------


def _summary(p: SpikeParams, m: Measures) -> str:
    """Two sentences from the numbers: what customers got, and why."""
    legit = m.legit_ok / m.legit_sent if m.legit_sent else 1.0
    if p.surge_factor <= 1:
        return (f"No surge: {pct(legit)} of customers' requests were answered within "
                f"the {TIMEOUT_S:g} s timeout, the backend at {pct(m.peak_saturation)} "
                "at its busiest.")
    first = (f"During the {p.surge_factor:g}× surge {pct(legit)} of customers' requests "
             f"were answered within the {TIMEOUT_S:g} s timeout, with the backend at "
             f"{pct(m.peak_saturation)} at its busiest.")
    if m.wasted_share >= 0.5:
        why = (f" {pct(m.wasted_share)} of its work went to clients who had already "
               f"given up: queued requests waited {m.p99_wait_s:.0f} s (P99).")
    elif m.bucket_share >= 0.5:
        why = (f" The token bucket refused {pct(m.bucket_share)} of requests at the door, "
               "nearly all from the few heavy clients.")
    elif m.shed_share > 0.01:
        waited = (f"waited at most {m.p99_wait_s:.1f} s (P99)" if m.p99_wait_s >= 0.05
                  else "did not wait")
        who = ("customers first" if p.priority_shedding
               else "customers shed in proportion to their share of the load")
        why = (f" The limit refused {pct(m.shed_share)} of requests in a millisecond; "
               f"those it admitted {waited}, {who}.")
    elif m.dropped_share > 0.01:
        why = (f" The listen backlog overflowed: {pct(m.dropped_share)} of requests were "
               "dropped and timed out.")
    else:
        why = " Nothing had to be refused."
    if p.autoscaling and m.first_replica_s is not None:
        why += (f" The autoscaler's first replicas served {m.first_replica_s:.0f} s into the "
                f"surge; it peaked at {m.replicas_peak} replicas.")
    return first + why


def _bin_edges(steps: int) -> tuple[int, np.ndarray]:
    """Steps per plotted point and the start step of each point."""
    width = max(1, math.ceil(steps / MAX_POINTS))
    return width, np.arange(0, steps, width)


def _binned(x: np.ndarray, starts: np.ndarray) -> np.ndarray:
    return np.add.reduceat(x, starts)


def _series(p: SpikeParams, f: Flows, w: Waits) -> dict[str, list[Any]]:
    """Per-second rates, success and saturation, binned to at most MAX_POINTS points."""
    steps = len(f.served)
    width, starts = _bin_edges(steps)
    seconds = np.diff(np.append(starts, steps)) * DT_S

    def rate(x: np.ndarray) -> list[float]:
        per_s = _binned(x, starts) / seconds
        # Three or so significant digits: enough for a log axis, half the JSON.
        return np.where(per_s >= 100, np.round(per_s), np.round(per_s, 1)).tolist()

    legit_ok = f.legit_admitted * w.ok_share
    surge_ok = f.surge_admitted * w.ok_share
    refused = f.legit_passed + f.surge_passed - f.admitted
    offered_l = _binned(f.legit_offered, starts)
    offered_s = _binned(f.surge_offered, starts)
    legit_share = np.where(offered_l > 0, _binned(legit_ok, starts)
                           / np.maximum(offered_l, 1e-12), np.nan)
    surge_share = np.where(offered_s > 0, _binned(surge_ok, starts)
                           / np.maximum(offered_s, 1e-12), np.nan)
    workers = _binned(f.replicas * WORKERS_PER_REPLICA / SERVICE_S * DT_S, starts)
    fast = p.concurrency_limit > 0
    return {
        "t_s": (starts * DT_S).tolist(),
        "legit_offered_per_s": rate(f.legit_offered),
        "surge_offered_per_s": rate(f.surge_offered),
        "bucket_refused_per_s": rate(f.legit_offered + f.surge_offered
                                     - f.legit_passed - f.surge_passed),
        "shed_per_s": rate(refused if fast else np.zeros(steps)),
        "dropped_per_s": rate(np.zeros(steps) if fast else refused),
        "capacity_per_s": rate(f.replicas * busy_workers_per_replica(p) / SERVICE_S * DT_S),
        "answered_per_s": rate(w.answered),
        "late_per_s": rate(f.served - w.answered),
        "legit_success": np.round(legit_share, 3).tolist(),
        "surge_success": np.round(surge_share, 3).tolist(),
        "saturation": np.round(_binned(f.served, starts) / workers, 3).tolist(),
        "queue": np.round(f.queue_end[np.minimum(starts + width - 1, steps - 1)]).tolist(),
        "replicas": f.replicas[starts].tolist(),
    }


def run(p: SpikeParams, seed: int) -> Result[SpikeFigure]:
    """Simulate the surge with the chosen guards, then shape metrics and series."""
    flows = simulate(p, seed)
    waits = fifo_waits(p, flows)
    m = measure(p, flows, waits)
    legit = m.legit_ok / m.legit_sent if m.legit_sent else 1.0
    surge = m.surge_ok / m.surge_sent if m.surge_sent else None
    metrics = {
        "legit_success_rate": Metric(
            legit, "share", "Customers' requests answered in time during the surge",
            ci95=stats.proportion_ci(m.legit_ok, m.legit_sent),
            closed_form=steady_legit_success(p)),
        "surge_success_rate": Metric(
            surge, "share", "Surge requests answered in time",
            ci95=stats.proportion_ci(m.surge_ok, m.surge_sent) if m.surge_sent else None),
        "goodput_rps": Metric(m.goodput_rps, "req/s",
                              "Requests answered in time per second during the surge"),
        "peak_saturation": Metric(m.peak_saturation, "share",
                                  "Backend saturation in its busiest minute (busy workers)"),
        "wasted_share": Metric(m.wasted_share, "share",
                               "Backend work during the surge spent on clients who had "
                               "already given up"),
        "shed_share": Metric(m.shed_share, "share",
                             "Surge-window requests refused at once by the concurrency limit"),
        "bucket_share": Metric(m.bucket_share, "share",
                               "Surge-window requests refused by the token bucket (429)"),
        "p99_wait_s": Metric(m.p99_wait_s, "s",
                             "P99 queue wait of requests the backend admitted"),
        "replicas_peak": Metric(m.replicas_peak, "replicas", "Most replicas serving at once"),
        "replica_hours": Metric(m.replica_hours, "h", "Replica-hours used in the run (cost)"),
        "recovery_s": Metric(m.recovery_s, "s",
                             "Seconds after the surge until customers' success stays "
                             "above 90 % (null: not within the run)"),
    }
    figure_data = SpikeFigure(surge_end=SURGE_AT_S + p.surge_s, orders=tuple(flows.orders),
                              first_replica_s=m.first_replica_s)
    return Result(metrics=metrics, series=_series(p, flows, waits), summary=_summary(p, m),
                  figure_data=figure_data)


# -- figure -----------------------------------------------------------------------------
def _log_or_gap(values: list[float]) -> list[float | None]:
    """Zeros cannot sit on a log axis: leave a gap instead."""
    return [v if v and v > 0 else None for v in values]


def _percent(values: list[float]) -> list[float | None]:
    return [None if v is None or v != v else round(100 * v, 1) for v in values]


@dataclass(frozen=True)
class SpikeFigure:
    """What the figure needs beyond the public series."""

    surge_end: float  # when the surge stops (s)
    orders: tuple[tuple[float, int], ...]  # (time ordered, replicas) for each scale-out
    first_replica_s: float | None  # first added replica serving, seconds into the surge


def build_figure(result: Result[SpikeFigure], p: SpikeParams) -> dict[str, Any]:
    """Top: offered load by class vs served; middle: success and saturation; bottom: replicas."""
    s, fd = result.series, result.figure_data
    assert fd is not None
    width = s["t_s"][1] - s["t_s"][0] if len(s["t_s"]) > 1 else DT_S
    t = [x + width / 2 for x in s["t_s"]]  # bin centres
    blue, orange, green, red, purple, grey, teal = (
        PALETTE[c] for c in ("blue", "orange", "green", "red", "purple", "grey", "teal"))
    rate = "%{x:.0f} s: %{y:,.0f}/s"
    share = "%{x:.0f} s: %{y:.1f} %"
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "x": t, "y": _log_or_gap(s["surge_offered_per_s"]),
         "name": "surge offered", "line": {"color": orange, "width": 1.5, "dash": "dashdot"},
         "hovertemplate": rate},
        {"type": "scatter", "mode": "lines", "x": t, "y": _log_or_gap(s["legit_offered_per_s"]),
         "name": "customers offered", "line": {"color": blue, "width": 1.5, "dash": "dash"},
         "hovertemplate": rate},
        {"type": "scatter", "mode": "lines", "x": t, "y": _log_or_gap(s["capacity_per_s"]),
         "name": "capacity", "line": {"color": grey, "width": 1.5, "dash": "dot",
                                      "shape": "hv"},
         "hovertemplate": rate},
        {"type": "scatter", "mode": "lines", "x": t, "y": _log_or_gap(s["answered_per_s"]),
         "name": "answered in time", "line": {"color": green, "width": 2.5},
         "hovertemplate": rate},
        {"type": "scatter", "mode": "lines", "x": t, "y": _log_or_gap(s["late_per_s"]),
         "name": "served too late (wasted)", "line": {"color": red, "width": 1.5},
         "hovertemplate": rate},
        {"type": "scatter", "mode": "lines", "x": t, "y": _percent(s["legit_success"]),
         "name": "customers answered in time (%)", "line": {"color": teal, "width": 2},
         "xaxis": "x", "yaxis": "y2", "hovertemplate": share},
        {"type": "scatter", "mode": "lines", "x": t, "y": _percent(s["saturation"]),
         "name": "backend saturation (%)",
         "line": {"color": purple, "width": 1.5, "dash": "dash"},
         "xaxis": "x", "yaxis": "y2", "hovertemplate": share},
        {"type": "scatter", "mode": "lines", "x": t, "y": s["replicas"], "name": "replicas",
         "line": {"color": blue, "width": 1.5, "shape": "hv"}, "xaxis": "x", "yaxis": "y3",
         "hovertemplate": "%{x:.0f} s: %{y} replicas"},
    ]
    top = max([1.0, *(v for k in ("surge_offered_per_s", "legit_offered_per_s",
                                  "capacity_per_s") for v in s[k])])
    end = fd.surge_end
    shapes = [plotting.shade(SURGE_AT_S, end, "surge")]
    notes = [{"x": SURGE_AT_S, "y": 1, "yref": "paper", "text": f"{p.surge_factor:g}× surge",
              "showarrow": False, "xanchor": "left", "yanchor": "bottom",
              "font": {"size": 11, "color": PALETTE["red"]}}]
    horizon = horizon_s(p)
    peak = max(s["replicas"])
    return plotting.figure(
        data,
        height=620,
        xaxis=plotting.axis("time (s)", range=[0, horizon], anchor="y3"),
        yaxis=plotting.axis("requests per second", type="log", dtick=1, domain=[0.5, 1],
                            range=[-0.3, math.log10(top) + 0.3]),
        yaxis2=plotting.axis("share (%)", domain=[0.2, 0.44], range=[-3, 103], anchor="x"),
        yaxis3=plotting.axis("replicas", domain=[0, 0.14], anchor="x", tickformat="d",
                             range=[0, 1.15 * peak + 0.5], **({"dtick": 1} if peak <= 4 else {})),
        shapes=shapes,
        annotations=notes,
        hovermode="x unified",
    )


SIMULATION = Simulation(
    slug="spike",
    title="Traffic spike vs limits",
    description="A viral link brings 300 times normal traffic: without limits the backend "
                "runs flat out and answers almost nobody in time.",
    params=PARAMS,
    params_type=SpikeParams,
    run=run,
    figure=build_figure,
    main_param="surge_factor",
)
