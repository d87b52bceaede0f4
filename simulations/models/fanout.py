"""Fan-out tail latency: one slow backend in a hundred makes most requests slow.

Model. User requests arrive as a Poisson stream and each fans out to `fanout` shards.
Every shard has REPLICAS replicas, each a first-come-first-served queue with SERVERS
worker threads. A call's service time is log-normal around `base_ms` (the median);
with probability `slow_prob` it also takes `slow_ms` (a GC pause, a cold cache), and
the slow call holds its worker the whole time. A request completes when every shard
has answered. Hedging (`hedge_ms` > 0) follows gRPC's hedging policy: while a shard
has not answered, another copy goes to a replica not yet tried every `hedge_ms`, up
to one copy per replica; the first answer wins and every copy runs to completion, so
hedges add real load.

Speed. SimPy keeps the clock: one timeout per request arrival and one per hedging
round. The queues themselves are FCFS multi-server queues whose start times are
computed when a call arrives (the earliest free worker, Kiefer–Wolfowitz), updated
with NumPy across all shards at once. For FCFS without cancellation this is exactly
what `simpy.Resource` produces (the tests check it) at a fraction of its events.

Sample. `requests` is the most a run simulates: from 2,000 requests on, at a few
checkpoints, it stops once its P99.9 is known within ±5 % (95 % CI), and says what it
ran (Result.sample); its intervals are those of the requests run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import simpy

from ..engine import plotting, stats
from ..engine.core import Metric, Result, Sample, Simulation, spawn_rngs
from ..engine.params import Param, check_work
from ..engine.plotting import PALETTE
from ..engine.words import ms, pct

# -- model constants --------------------------------------------------------------------
REPLICAS = 3  # copies of every shard; hedges go to replicas not tried yet
SERVERS = 16  # worker threads per replica
SIGMA = 0.5  # log-normal shape of normal service time (P99 ≈ 3.2 × median)
MAX_CALLS = 2_000_000  # fanout × requests; the worst case then runs in about 1.2 s
BLOCK_CALLS = 1 << 16  # random numbers are drawn in blocks of about this many calls
BACKEND_SAMPLE = 200_000  # per-call latencies kept for the backend percentiles
HEDGE_BUDGET = 0.2  # hedges a shard may receive per first call, on average
HEDGE_BURST = 20.0  # tokens a shard's hedge budget can save up
IDLE_GAP_MS = 1e6  # request spacing at load 0: longer than any call can take
BINS = 60
# Sized by precision: from CHECK_FROM requests on, at checkpoints CHECK_GROWTH apart, the run
# stops once the P99.9's 95 % CI half-width is within PRECISION of it, judged on the
# requests whose answers are final (hedging rounds over). The requested count is the cap,
# and the work limit caps that. Below CHECK_FROM the P99.9 rests on one or two samples.
PRECISION = 0.05
PRECISION_Q = 0.999
CHECK_FROM = 2000
CHECK_GROWTH = 1.5


# -- parameters -------------------------------------------------------------------------
PARAMS = (
    Param(name="fanout", kind="int", default=10, min=1, max=500, step=1, scale="log",
          label="Fan-out", unit="backends",
          help="Backend shards every user request must hear from before it can answer."),
    Param(name="slow_prob", kind="float", default=0.01, min=0, max=0.2, step=0.001,
          label="Slow-call probability",
          help="Chance that one backend call hits a slow event (GC pause, cold cache)."),
    Param(name="slow_ms", kind="float", default=200, min=10, max=2000, step=10, unit="ms",
          scale="log", label="Slow-event delay",
          help="Extra time a call takes when it hits a slow event."),
    Param(name="base_ms", kind="float", default=10, min=1, max=100, step=1, unit="ms",
          label="Median service time",
          help="Median time a backend needs for one call without a slow event."),
    Param(name="load", kind="float", default=0.5, min=0, max=0.95, step=0.05,
          label="Backend load",
          help="Utilisation of backend workers by first calls (hedges add on top)."),
    Param(name="hedge_ms", kind="float", default=0, min=0, max=1000, step=1, unit="ms",
          label="Hedge after",
          help="0 = no hedging; else send a copy to another replica after this delay."),
    Param(name="requests", kind="int", default=2000, min=200, max=20000, step=100,
          scale="log", label="Requests simulated",
          help="The most user requests one run simulates: it stops sooner once the "
               "P99.9 is known within ±5 % (95 % CI), from 2,000 requests on.",
          sample_size=True),
)


@dataclass(frozen=True)
class FanoutParams:
    """Fan-out tail latency: one field per entry of PARAMS, in order."""

    fanout: int
    slow_prob: float
    slow_ms: float
    base_ms: float
    load: float
    hedge_ms: float
    requests: int



def check_limits(p: FanoutParams) -> None:
    """Refuse runs too large for the 2 s budget, naming the limit."""
    check_work(p, ("fanout", "requests"), MAX_CALLS)


# -- the model --------------------------------------------------------------------------
def mean_service_ms(p: FanoutParams) -> float:
    """Expected service time of one call, slow events included."""
    return p.base_ms * math.exp(SIGMA**2 / 2) + p.slow_prob * p.slow_ms


def arrival_rate_per_ms(p: FanoutParams) -> float:
    """User requests per ms that keep every backend worker busy a share `load` of the time.

    Each request sends one first call to every shard, to one of REPLICAS replicas with
    SERVERS workers each, so per-worker utilisation is rate × mean service / (R × c).
    """
    return p.load * REPLICAS * SERVERS / mean_service_ms(p)


def share_slow_closed_form(slow_prob: float, n: int | np.ndarray) -> Any:
    """Probability that at least one of n independent calls is slow: 1 − (1 − p)^n."""
    return 1 - (1 - slow_prob) ** n


class _Backends:
    """FCFS queues with SERVERS workers for every (shard, replica), updated in bulk."""

    def __init__(self, shards: int):
        self.free_at = np.zeros((shards * REPLICAS, SERVERS))
        self._flat = self.free_at.reshape(-1)  # a view: one index per worker

    def call(self, now: float, queues: np.ndarray, service: np.ndarray,
             out: np.ndarray | None = None) -> np.ndarray:
        """Queue one call on each of `queues` (all distinct) at `now`; return finish times.

        Each call takes the worker that frees up first and starts when it does (or now):
        first come, first served, exactly as simpy.Resource would schedule it.
        """
        worker = queues * SERVERS + self.free_at[queues].argmin(axis=1)
        end = np.maximum(self._flat[worker], now, out=out)
        end += service
        self._flat[worker] = end
        return end


class _HedgeDraws:
    """Service times for hedged copies, drawn in chunks from their own stream."""

    CHUNK = 4096

    def __init__(self, gen: np.random.Generator, p: FanoutParams):
        self.gen, self.p = gen, p
        self.service = self.slow = np.empty(0)
        self.used = 0
        self.spent_ms = 0.0  # service time of the copies handed out in earlier chunks

    def take(self, m: int) -> tuple[np.ndarray, np.ndarray]:
        """The next m hedged calls' service times and slow flags."""
        if self.used + m > self.service.size:
            self.spent_ms += float(self.service[:self.used].sum())
            self.service, self.slow = _draw_calls(self.gen, self.gen, self.p,
                                                  max(self.CHUNK, m))
            self.used = 0
        cut = slice(self.used, self.used + m)
        self.used += m
        return self.service[cut], self.slow[cut]

    def busy_ms(self) -> float:
        """Worker time taken by every hedged copy handed out so far."""
        return self.spent_ms + float(self.service[:self.used].sum())


def _draw_calls(service_gen: np.random.Generator, slow_gen: np.random.Generator, p: FanoutParams,
                size: Any) -> tuple[np.ndarray, np.ndarray]:
    """Service times of calls (log-normal plus slow events) and which calls were slow."""
    service = service_gen.lognormal(math.log(p.base_ms), SIGMA, size)
    slow = slow_gen.random(size) < p.slow_prob
    service += slow * p.slow_ms
    return service, slow


def checkpoints(limit: int) -> list[int]:
    """Request counts at which a run of at most `limit` requests may stop (below limit)."""
    out, k = [], CHECK_FROM
    while k < limit:
        out.append(k)
        k = int(round(k * CHECK_GROWTH, -2))
    return out


def relative_halfwidth(ci: tuple[float, float, float]) -> float:
    """Half the CI's width relative to the estimate (inf when the estimate is 0 or NaN)."""
    est, lo, hi = ci
    return (hi - lo) / 2 / est if est > 0 else math.inf


@dataclass
class _Outcome:
    """Raw per-request results of one run, before any statistics."""

    sent_at: np.ndarray  # arrival time of each request (ms)
    answer_at: np.ndarray  # requests × shards: when each shard's first answer came
    answer_slow: np.ndarray  # requests × shards: that answer came from a slow call
    hedges: np.ndarray  # extra calls sent by hedging, per request
    busy_ms: float  # worker time spent on all calls, hedges included
    span_ms: float  # time over which requests arrived
    events: int  # SimPy events processed
    limit: int = 0  # requests the run could have simulated (ran = len(sent_at))

    @property
    def latency_ms(self) -> np.ndarray:
        """Whole-request latency: until the last shard answered."""
        return self.answer_at.max(axis=1) - self.sent_at

    @property
    def waited_slow(self) -> np.ndarray:
        """Requests for which some shard's (first) answer came from a slow call."""
        return self.answer_slow.any(axis=1)


def simulate(p: FanoutParams, seed: int, *, precision: float | None = PRECISION) -> _Outcome:
    """Run the SimPy model once and return the raw per-request outcome.

    With a `precision`, the arrivals stop at the first checkpoint where the P99.9 so far
    has a relative 95 % CI half-width within it; `None` runs every requested request.
    """
    rng = spawn_rngs(seed, "arrivals", "service", "slow", "replica", "hedge")
    n, shards = p.requests, p.fanout
    rate = arrival_rate_per_ms(p)
    gaps = rng["arrivals"].exponential(1.0, n)
    # At load 0 requests never meet: space them further apart than any call can take.
    # A gap longer than IDLE_GAP_MS is as idle as IDLE_GAP_MS; capping it keeps the clock
    # small enough that float64 still resolves a millisecond at vanishing loads.
    with np.errstate(over="ignore"):  # a gap of inf ms is capped like any other
        gaps = np.minimum(gaps / rate, IDLE_GAP_MS) if rate > 0 else np.full(n, IDLE_GAP_MS)

    env = simpy.Environment()
    backends = _Backends(shards)
    hedge_draws = _HedgeDraws(rng["hedge"], p)
    shard_base = np.arange(shards) * REPLICAS
    sent_at = np.empty(n)
    answer_at = np.empty((n, shards))
    answer_slow = np.empty((n, shards), dtype=bool)
    queue_of = np.empty((n, shards), dtype=np.intp)  # first call's (shard, replica)
    # The replica a queue's k-th hedge goes to: the next ones round the shard's ring.
    ring = np.arange(shards * REPLICAS)
    hedge_queue = np.stack([ring - ring % REPLICAS + (ring + k) % REPLICAS
                            for k in range(REPLICAS)])
    hedges = np.zeros(n, dtype=np.int64)
    hedge_ms = float(p.hedge_ms)
    tokens = np.full(shards, HEDGE_BURST)
    primary_ms = 0.0
    events = [0]

    def hedge_round(i: int, k: int, waiting: np.ndarray) -> None:
        events[0] += 1
        now = env.now
        answer = answer_at[i]
        funded = tokens[waiting] >= 1
        if not funded.all():
            waiting = waiting[funded]
        if waiting.size:
            tokens[waiting] -= 1
            hedges[i] += waiting.size
            service, slow = hedge_draws.take(waiting.size)
            end = backends.call(now, hedge_queue[k, queue_of[i, waiting]], service)
            better = end < answer[waiting]
            won = waiting[better]
            answer[won] = end[better]
            answer_slow[i, won] = slow[better]
        schedule(i, k + 1)

    def schedule(i: int, k: int) -> None:
        # Answer times are known once a call is queued, so the shards still silent when
        # a hedging round fires are known now; without any, no round is scheduled.
        if k >= REPLICAS:
            return
        due = sent_at[i] + k * hedge_ms
        waiting = (answer_at[i] > due).nonzero()[0]
        if waiting.size:
            timer = env.timeout(due - env.now)
            timer.callbacks.append(lambda _ev: hedge_round(i, k, waiting))

    stops = set(checkpoints(n)) if precision is not None else set()
    ran = n

    settle_ms = (REPLICAS - 1) * hedge_ms  # a request's last hedging round, after it is sent

    def precise_enough(k: int) -> bool:
        # Only requests whose hedging is over have their final latency.
        final = int(np.searchsorted(sent_at[:k], env.now - settle_ms, "right"))
        if final < CHECK_FROM:
            return False
        lat = answer_at[:final].max(axis=1) - sent_at[:final]
        return relative_halfwidth(stats.quantile_ci(lat, PRECISION_Q)) <= precision

    def arrivals():  # a SimPy process: one timeout per request
        nonlocal primary_ms, ran
        block = max(1, BLOCK_CALLS // shards)
        for first in range(0, n, block):
            rows = slice(first, min(n, first + block))
            service, answer_slow[rows] = _draw_calls(rng["service"], rng["slow"], p,
                                                     (rows.stop - first, shards))
            before = primary_ms
            primary_ms += float(service.sum())
            queues = queue_of[rows]
            queues[:] = shard_base + rng["replica"].integers(0, REPLICAS, service.shape)
            for row in range(rows.stop - first):
                i = first + row
                yield env.timeout(gaps[i])
                events[0] += 1
                sent_at[i] = now = env.now
                backends.call(now, queues[row], service[row], out=answer_at[i])
                if hedge_ms > 0:
                    np.minimum(tokens + HEDGE_BUDGET, HEDGE_BURST, out=tokens)
                    schedule(i, 1)
                if i + 1 in stops and precise_enough(i + 1):
                    ran = i + 1  # the calls drawn for later requests were never sent
                    primary_ms = before + float(service[:row + 1].sum())
                    return

    env.process(arrivals())
    env.run()  # hedging rounds of the last requests still run after the arrivals stop
    span = float(gaps[:ran].sum()) if rate > 0 else 0.0
    busy = primary_ms + hedge_draws.busy_ms()
    return _Outcome(sent_at[:ran], answer_at[:ran], answer_slow[:ran], hedges[:ran], busy,
                    span, events[0], limit=n)


# -- results ----------------------------------------------------------------------------


def run(p: FanoutParams, seed: int) -> Result[FanoutFigure]:
    """Simulate, then turn the outcome into metrics, series and a summary."""
    out = simulate(p, seed)
    n = len(out.sent_at)  # requests run: fewer than asked when P99.9 was precise enough
    hedging = p.hedge_ms > 0
    # Sorted once: every percentile and histogram below reads the same order statistics.
    lat = np.sort(out.latency_ms)
    # One backend's answer time: every shard is alike, so a column sample suffices.
    kept = min(p.fanout, max(1, BACKEND_SAMPLE // n))
    backend = np.sort((out.answer_at[:, :kept] - out.sent_at[:, None]).ravel())

    slow_count = int(out.waited_slow.sum())
    closed = float(share_slow_closed_form(p.slow_prob, p.fanout))
    share = slow_count / n
    p50, p99, p999 = stats.quantiles_ci(lat, (0.5, 0.99, 0.999), presorted=True)
    b95, b99 = stats.quantiles_ci(backend, (0.95, 0.99), presorted=True)
    if hedging:
        extra, extra_lo, extra_hi = stats.mean_ci(out.hedges / p.fanout, floor=0.0)
        extra_metric = Metric(extra, "calls per call",
                              "Extra backend calls sent by hedging, per first call",
                              ci95=(extra_lo, extra_hi))
    else:
        extra = 0.0
        extra_metric = Metric(0.0, "calls per call",
                              "Extra backend calls sent by hedging, per first call")
    capacity = p.fanout * REPLICAS * SERVERS * out.span_ms
    utilisation = out.busy_ms / capacity if capacity > 0 else 0.0

    slow_label = ("Requests that waited on a slow call: some shard's answer came from a "
                  "call that hit a slow event")
    if hedging:
        slow_label += " (a slow call beaten by its hedge does not count)"
    metrics = {
        "share_slow": Metric(share, "share", slow_label,
                             ci95=stats.proportion_ci(slow_count, n),
                             closed_form=None if hedging else closed),
        "p50_ms": Metric(p50[0], "ms", "Request latency, median (P50)", ci95=p50[1:]),
        "p99_ms": Metric(p99[0], "ms", "Request latency, P99", ci95=p99[1:]),
        "p999_ms": Metric(p999[0], "ms", "Request latency, P99.9", ci95=p999[1:]),
        "extra_load": extra_metric,
        "backend_p95_ms": Metric(b95[0], "ms", "One backend's answer time, P95", ci95=b95[1:]),
        "backend_p99_ms": Metric(b99[0], "ms", "One backend's answer time, P99", ci95=b99[1:]),
        "utilisation": Metric(utilisation, "share",
                              "Backend utilisation measured, hedges included"),
    }

    lo = float(min(lat[0], backend[0]))
    hi = float(max(lat[-1], backend[-1]))
    edges = np.geomspace(lo, hi, BINS + 1)
    _, _, backend_share = stats.histogram(backend, BINS, log=True, lo=lo, hi=hi,
                                          presorted=True)
    _, _, request_share = stats.histogram(lat, BINS, log=True, lo=lo, hi=hi,
                                          presorted=True)
    curve_n = np.unique(np.geomspace(1, 500, 80).round().astype(int))
    series = {
        "bin_lo_ms": edges[:-1].round(3).tolist(),
        "bin_hi_ms": edges[1:].round(3).tolist(),
        "backend_share": backend_share,
        "request_share": request_share,
        "fanout_n": curve_n.tolist(),
        "share_slow_closed_form": share_slow_closed_form(p.slow_prob, curve_n).tolist(),
    }

    if hedging:
        summary = (
            f"Hedging after {ms(p.hedge_ms)} sent {pct(extra)} extra backend calls; "
            f"{pct(share)} of requests still waited on a slow call "
            f"(closed form without hedging: {pct(closed)}), and the P99.9 request took "
            f"{ms(p999[0])}."
        )
    else:
        summary = (
            f"{pct(share)} of requests waited on at least one slow backend call "
            f"(closed form {pct(closed)} for {p.fanout} "
            f"{'backend' if p.fanout == 1 else 'backends'}). The median request took "
            f"{ms(p50[0])}, while 95 % of single backend calls answer within {ms(b95[0])}."
        )
    figure_data = FanoutFigure(
        edges=edges, share=share, share_ci=stats.proportion_ci(slow_count, n),
        p50=p50[0], p99=p99[0], p999=p999[0], backend_p95=b95[0], events=out.events,
    )
    precision = relative_halfwidth(p999)
    sample = Sample(ran=n, limit=out.limit, unit="requests", estimate="P99.9",
                    target=PRECISION, precision=precision)
    return Result(metrics=metrics, series=series, summary=summary, figure_data=figure_data,
                  sample=sample)


# -- figure -----------------------------------------------------------------------------
@dataclass(frozen=True)
class FanoutFigure:
    """What the figure needs beyond the public series."""

    edges: np.ndarray  # histogram bin edges (ms), log-spaced
    share: float  # requests that waited on a slow call
    share_ci: tuple[float, float]
    p50: float  # request latency percentiles (ms)
    p99: float
    p999: float
    backend_p95: float  # one backend's answer time, P95 (ms)
    events: int  # SimPy events processed


def _steps(edges: np.ndarray, share: list[float]) -> tuple[list[float], list[float]]:
    """A histogram as a step outline: each bin's share held from its left to right edge."""
    x = np.repeat(edges, 2)[1:-1]
    y = np.repeat(np.asarray(share) * 100, 2)
    return [round(float(v), 3) for v in x], [round(float(v), 3) for v in y]


def build_figure(result: Result[FanoutFigure], p: FanoutParams) -> dict[str, Any]:
    """Top: latency of one backend vs the whole request; bottom: share slow vs fan-out."""
    s, fd = result.series, result.figure_data
    assert fd is not None
    bx, by = _steps(fd.edges, s["backend_share"])
    rx, ry = _steps(fd.edges, s["request_share"])
    blue, orange, grey = PALETTE["blue"], PALETTE["orange"], PALETTE["grey"]
    backend_name = "one backend (first answer)" if p.hedge_ms > 0 else "one backend call"
    data: list[dict[str, Any]] = [
        {"type": "scatter", "mode": "lines", "x": bx, "y": by, "name": backend_name,
         "line": {"color": blue, "width": 1.5}, "fill": "tozeroy",
         "fillcolor": "rgba(59,130,246,0.15)", "hovertemplate": "%{x:.1f} ms: %{y:.2f} %"},
        {"type": "scatter", "mode": "lines", "x": rx, "y": ry,
         "name": f"whole request ({p.fanout} backends)",
         "line": {"color": orange, "width": 2, "dash": "dash"}, "fill": "tozeroy",
         "fillcolor": "rgba(245,158,11,0.15)", "hovertemplate": "%{x:.1f} ms: %{y:.2f} %"},
    ]
    shapes: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = [
        plotting.panel_title("Latency: one backend call vs the whole request", y=1.0),
        plotting.panel_title("Requests that waited on a slow call: simulated vs closed form", y=0.36),
    ]
    log_lo, log_hi = math.log10(fd.edges[0]), math.log10(fd.edges[-1])
    markers = (("p50", "P50", orange, "dot", 1.0), ("p99", "P99", orange, "dash", 0.9),
               ("p999", "P99.9", orange, "dashdot", 0.8),
               ("backend_p95", "one call P95", blue, "dot", 0.6))
    for key, text, color, dash, y in markers:
        x = getattr(fd, key)
        shape, note = plotting.vline(x, f"{text} {ms(x)}", color, yref="y domain", dash=dash)
        note["x"] = math.log10(x)  # annotations on a log axis take log10(x)
        note["y"] = y
        # Labels near the right edge would be cut off: put them left of their line.
        if (note["x"] - log_lo) > 0.75 * (log_hi - log_lo):
            note["xanchor"] = "right"
        shapes.append(shape)
        notes.append(note)

    curve_label = f"closed form 1 − (1 − p)^N, p = {p.slow_prob:g}"
    lo, hi = fd.share_ci
    point_label = "simulated" + (f", hedged after {p.hedge_ms:g} ms" if p.hedge_ms > 0 else "")
    data += [
        {"type": "scatter", "mode": "lines", "x": s["fanout_n"],
         "y": [round(100 * v, 3) for v in s["share_slow_closed_form"]], "name": curve_label,
         "line": {"color": grey, "width": 2}, "xaxis": "x2", "yaxis": "y2",
         "hovertemplate": "N = %{x}: %{y:.1f} %"},
        {"type": "scatter", "mode": "markers", "x": [p.fanout], "y": [100 * fd.share],
         "name": point_label + " (95 % CI)", "xaxis": "x2", "yaxis": "y2",
         "marker": {"color": PALETTE["red"], "size": 10, "symbol": "diamond"},
         "error_y": {"type": "data", "symmetric": False,
                     "array": [100 * (hi - fd.share)],
                     "arrayminus": [100 * (fd.share - lo)]},
         "hovertemplate": "N = %{x}: %{y:.1f} %"},
    ]
    return plotting.figure(
        data,
        height=640,
        margin={"l": 64, "r": 24, "t": 28, "b": 110},
        xaxis=plotting.axis("latency (ms, log scale)", type="log", anchor="y",
                            dtick=1),  # powers of ten only: half the redraw time,
        yaxis=plotting.axis("share of calls / requests (%)", domain=[0.52, 0.97],
                             rangemode="tozero"),
        xaxis2=plotting.axis("fan-out N (backends per request, log scale)", type="log", dtick=1,
                             anchor="y2"),
        yaxis2=plotting.axis("waited on a slow call (%)", domain=[0, 0.32],
                             range=[0, 105], anchor="x2"),
        shapes=shapes,
        annotations=notes,
    )


SIMULATION = Simulation(
    slug="fanout",
    title="Fan-out tail latency",
    description="One slow backend in a hundred makes most requests slow; hedging buys it back.",
    params=PARAMS,
    params_type=FanoutParams,
    run=run,
    figure=build_figure,
    check=check_limits,
    limits=(f"fanout × requests must be at most {MAX_CALLS:,}.",),
    main_param="fanout",
    model_version=2,  # 2: runs of more than 2,000 requests stop once P99.9 is within ±5 %
)
