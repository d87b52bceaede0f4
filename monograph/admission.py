"""Admission control: the book's overload advice, applied to the book's own server.

What is bounded, per process:
- Requests doing Python work at once (`MAX_ACTIVE`, probes exempt): more threads than
  that only take turns on the GIL; the rest wait their turn, for at most `MAX_WAIT_MS`.
  A request waiting for a cold run gives its slot back, so cached hits keep flowing.
- CPU work in flight (cold simulation runs and image renders): `MAX_RUNS` at once, of which
  at most one is a full run; `MAX_QUEUE` may wait, each for at most `MAX_WAIT_MS`.
- A request's life: it must be answered within `DEADLINE_MS` of its arrival. Work is never
  started unless, at its estimated cost (`Costs`: learned from the runs themselves), it
  would finish by then with `RENDER_MARGIN_MS` to spare for rendering the answer.

Beyond those bounds a request gets a cheap 503 with `Retry-After`. Before refusing, an
interactive request (a page or a slider move, never a data export) is *degraded* when its
full run would not be done within `FULL_BUDGET_MS` of its arrival (the gate predicts the
wait from what runs and waits, and each kind of run's cost): it runs a quicker, smaller
sample (`Simulation.quick`), labelled as a preview with its wider confidence interval, and
cached apart from the full result. When the full run fits the budget, it gets the full run.

Per client (REMOTE_ADDR, or the proxy's X-Forwarded-For when MONOGRAPH_BEHIND_PROXY is on),
through the Django cache so that every process and replica sharing it counts together:
- simulation CPU time spent on its cold runs (`RATE_RUN_MS` per `RATE_WINDOW_S`), and
- data exports and images (`RATE_EXPORTS` per window),
beyond which it gets a 429 with `Retry-After`.

Cheap paths never meet the run gate: static files and probes meet nothing; pages whose
figure is cached and cached results take a request slot for a few milliseconds. Only a
cache miss asks for a run slot (`sims.run` and `images.render`).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import Counter

from simulations import Simulation

from .statuses import is_data_path

log = logging.getLogger("monograph.admission")

SHED = Counter("monograph_shed_total", "Requests refused by admission control",
               ["status", "reason"])
DEGRADED = Counter("monograph_degraded_runs_total",
                   "Quick (preview) runs served instead of full runs under pressure")

# Routes a reader drives interactively: these may get a labelled quick preview.
INTERACTIVE = frozenset({"figure", "chapter", "lab", "embed"})
# Probes and metrics answer even when every request slot is taken.
UNGATED = frozenset({"healthz", "readyz", "metrics"})
# Routes that budget their own runs (a sweep has its own deadline and caches each point):
# their runs are not gated one by one, or a sweep would be cut off at the first deadline.
SELF_BUDGETED = frozenset({"sweep_page", "sweep_embed", "sweep_json", "sweep_csv",
                           "sweep_svg", "sweep_png"})
# Routes whose every request counts against the client's export allowance.
EXPORTS = frozenset({"result_json", "result_csv", "result_svg", "result_png",
                     "sweep_json", "sweep_csv", "sweep_svg", "sweep_png"})


@dataclass(frozen=True)
class Config:
    """The limits, from settings.ADMISSION (environment variables, see the README)."""

    enabled: bool = True
    max_runs: int = 2
    max_active: int = 4
    max_queue: int = 64
    max_wait_s: float = 1.0
    deadline_s: float = 1.0
    full_budget_s: float = 0.25
    margin_s: float = 0.15
    default_cost_s: float = 0.25
    degrade: bool = True
    rate_window_s: int = 10
    rate_run_ms: int = 6000
    rate_exports: int = 30
    retry_after_s: int = 1

    @classmethod
    def current(cls) -> Config:
        return cls(**getattr(settings, "ADMISSION", {}))


class Shed(Exception):
    """A request refused before its work started: 429 (this client) or 503 (everyone)."""

    def __init__(self, status: int, reason: str, retry_after: int, message: str,
                 detail: str = ""):
        super().__init__(message)
        self.status, self.reason, self.retry_after, self.message = (
            status, reason, max(1, int(retry_after)), message)
        self.detail = detail  # for the log only: the figures behind the decision


@dataclass
class Ticket:
    """One request's standing: who sent it, when it must be done, what it may get."""

    client: str
    arrived: float  # clock()
    deadline: float  # clock()
    interactive: bool
    holding: bool = False  # inside the gate already (an image render re-running its result)
    lane: Lane | None = None  # the request slot it holds, if any (released to wait for runs)

    def leave_lane(self) -> None:
        if self.lane is not None:
            self.lane.release()
            self.lane = None


_ticket: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("admission", default=None)


# -- what runs cost, learned from the runs themselves -------------------------------------
def clock() -> float:
    """The admission clock (monotonic seconds); tests replace it with a fake one."""
    return time.monotonic()


class Costs:
    """The wall-clock seconds a kind of run would take here and now, learned from the runs.

    A run's cost is split into what the kind of run needs and how crowded the machine is:
    - per kind (a simulation, its sample size, the magnitude of its main parameter): its CPU
      seconds, as a moving average and deviation, as TCP estimates a round trip (RFC 6298);
      the need is the average plus twice the deviation, so a dearer-than-usual run seldom
      overruns it. CPU time does not change with the load, so a busy spell cannot inflate
      it (and a kind whose estimate kept it from running would never be measured again);
    - for the process: the slowdown, wall time over CPU time of the recent runs of every
      kind (other threads and processes taking turns on the cores). It drifts back to 1
      when no run has reported for a while, so a spell of refusals cannot freeze it high.
    estimate = need × slowdown. Work measured only on the clock (an image render, done by
    another process) keeps its wall time and no slowdown. A kind never seen borrows the
    dearest estimate of its closest relatives (same simulation and sample size; then the same
    simulation, scaled to its sample size by `_scale`), else `Config.default_cost_s`.
    """

    ALPHA, BETA, K = 0.25, 0.25, 2.0
    SLOWDOWN_ALPHA, SLOWDOWN_HALF_LIFE_S = 0.2, 5.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._mean: dict[tuple[Any, ...], float] = {}
        self._dev: dict[tuple[Any, ...], float] = {}
        self._on_clock: set[tuple[Any, ...]] = set()  # measured in wall time: no slowdown
        self._slowdown, self._slowdown_at = 1.0, -math.inf

    def observe(self, key: tuple[Any, ...], wall: float, cpu: float | None = None) -> None:
        """A run of this kind took `wall` seconds, `cpu` of them on this thread's CPU."""
        with self._lock:
            if cpu is None:
                self._on_clock.add(key)
                seconds = wall
            else:
                seconds = max(cpu, 1e-4)
                ratio = max(1.0, wall / seconds)
                self._slowdown = ((1 - self.SLOWDOWN_ALPHA) * self._slowdown_now(clock())
                                  + self.SLOWDOWN_ALPHA * ratio)
                self._slowdown_at = clock()
            mean = self._mean.get(key)
            if mean is None:
                self._mean[key], self._dev[key] = seconds, seconds / 4
                return
            self._dev[key] = (1 - self.BETA) * self._dev[key] + self.BETA * abs(seconds - mean)
            self._mean[key] = (1 - self.ALPHA) * mean + self.ALPHA * seconds

    def slowdown(self) -> float:
        with self._lock:
            return self._slowdown_now(clock())

    def _slowdown_now(self, now: float) -> float:
        age = max(0.0, now - self._slowdown_at)
        return 1.0 + (self._slowdown - 1.0) * 0.5 ** (age / self.SLOWDOWN_HALF_LIFE_S)

    def estimate(self, key: tuple[Any, ...], default: float) -> float:
        with self._lock:
            for n in range(len(key), 0, -1):
                known = [self._need(k) * _scale(key, k) for k in self._mean if k[:n] == key[:n]]
                if known:
                    slow = 1.0 if key in self._on_clock else self._slowdown_now(clock())
                    return max(known) * slow
        return default

    def _need(self, key: tuple[Any, ...]) -> float:
        return self._mean[key] + self.K * self._dev[key]

    def clear(self) -> None:
        with self._lock:
            self._mean.clear()
            self._dev.clear()
            self._on_clock.clear()
            self._slowdown, self._slowdown_at = 1.0, -math.inf


def _scale(key: tuple[Any, ...], known: tuple[Any, ...]) -> float:
    """What a run of another sample size costs, from a known one, erring high: a larger
    sample at most proportionally more (ten times the sample, ten times the cost); a smaller
    one by the square root of the ratio (a tenth of the sample, about a third of the cost;
    measured on fan-out: a fifth to a quarter, the fixed part of a run does not shrink)."""
    if len(key) > 1 and len(known) > 1 and isinstance(key[1], int) and isinstance(known[1], int):
        ratio = key[1] / max(known[1], 1)
        return ratio if ratio >= 1 else math.sqrt(ratio)
    return 1.0


@contextlib.contextmanager
def costing(sim: Simulation, params: Any) -> Iterator[None]:
    """Measure one simulation run (wall and CPU time) to teach `COSTS`."""
    wall, cpu = clock(), time.thread_time()
    yield
    COSTS.observe(cost_key(sim, params), clock() - wall, time.thread_time() - cpu)


COSTS = Costs()
IMAGE = ("image",)


def cost_key(sim: Simulation, params: Any) -> tuple[Any, ...]:
    """The kind of a run, for its cost: simulation, sample size, and the main parameter's
    order of magnitude (the knob a reader drags; cost grows with it in every model here)."""
    sample = sim.sample_param
    size = getattr(params, sample.name) if sample is not None else None
    main = getattr(params, sim.main_param)
    if isinstance(main, int | float) and not isinstance(main, bool) and main > 0:
        main = round(math.log2(main))
    return (sim.slug, size, main if isinstance(main, int | float | str | bool) else repr(main))


# -- per-process limits -----------------------------------------------------------------
class Lane:
    """At most `max_active` requests doing Python work at once in this process, in about the
    order they came; a request that cannot get a slot within its wait is shed. Threads beyond this
    would only take turns on the GIL, making every request slower (measured: docs/loadtest.md)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.active = 0

    def acquire(self, cfg: Config, deadline: float) -> None:
        """Wait for a slot, at most `max_wait_s` and never so late that the answer could not
        be rendered by the deadline (`margin_s` before it)."""
        with self._cond:
            until = min(clock() + cfg.max_wait_s, deadline - cfg.margin_s)
            while self.active >= cfg.max_active:
                left = until - clock()
                if left <= 0:
                    raise Shed(503, "busy", cfg.retry_after_s,
                               "The server is busy. Retry shortly.")
                self._cond.wait(left)
            self.active += 1

    def release(self) -> None:
        with self._cond:
            self.active -= 1
            self._cond.notify()


LANE = Lane()


@dataclass(eq=False)
class Job:
    """A run admitted to the gate: full or not, its estimated seconds, the last moment it may
    start (to finish by its deadline), when it started."""

    full: bool
    cost: float
    latest: float = math.inf
    started: float | None = None


class Gate:
    """A counting gate for CPU work with a bounded, time-limited wait and one full-run lane.

    It knows what runs and what waits, with each one's estimated cost, so it can predict
    when a newcomer would start (`predicted_wait`): the basis for choosing a full run or a
    preview, and for never starting work that cannot finish by its deadline.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.jobs: list[Job] = []  # running and waiting, in arrival order

    @property
    def waiting(self) -> int:
        return sum(j.started is None for j in self.jobs)

    @property
    def idle(self) -> bool:
        """Nothing runs or waits: a newcomer would delay nobody."""
        with self._cond:
            return not self.jobs

    def predicted_wait(self, cfg: Config, full: bool, now: float) -> float:
        """Seconds before a newcomer could start: the runs in flight finish at their
        estimates, the waiting ones take the slots (and the full lane) in turn, then it."""
        with self._cond:
            return self._predicted_wait(cfg, full, now)

    def _predicted_wait(self, cfg: Config, full: bool, now: float) -> float:
        running = [(j, max(now, j.started + j.cost)) for j in self.jobs if j.started is not None]
        slots = sorted([now] * cfg.max_runs + [end for _, end in running])[-cfg.max_runs:]
        lane = max([now] + [end for j, end in running if j.full])

        def place(is_full: bool, cost: float) -> float:
            nonlocal lane
            slots.sort()
            start = max(slots[0], lane) if is_full else slots[0]
            # It takes the slot freed last by then, leaving the earlier ones to others: a
            # full run waiting for the lane holds no slot meanwhile.
            i = max(i for i, free in enumerate(slots) if free <= start)
            slots[i] = start + cost
            if is_full:
                lane = start + cost
            return start

        for j in self.jobs:
            if j.started is None:
                place(j.full, j.cost)
        return place(full, 0.0) - now

    @contextlib.contextmanager
    def enter(self, cfg: Config, full: bool, cost: float, latest_start: float) -> Iterator[Job]:
        """Wait for a slot (and the full lane for a full run), at most `max_wait_s` and never
        past `latest_start`: the last moment from which the run, at its estimated cost, still
        finishes by the request's deadline. Work that cannot is never started. Waiting runs
        start earliest-deadline first, so a burst sheds as few as it can."""
        job = Job(full, cost, latest_start)
        with self._cond:
            if self._blocked(cfg, full) and self.waiting >= cfg.max_queue:
                raise Shed(503, "queue_full", cfg.retry_after_s,
                           "The server is busy: too many runs are waiting. Retry shortly.")
            self.jobs.append(job)
            try:
                patience = clock() + cfg.max_wait_s
                while self._blocked(cfg, full) or self._after_another(cfg, job):
                    left = min(patience, latest_start) - clock()
                    if left <= 0:
                        raise (_too_late(cfg, job, waited=clock() - patience + cfg.max_wait_s)
                               if latest_start <= patience else
                               Shed(503, "wait_timeout", cfg.retry_after_s,
                                    "The server is busy: the run could not start in time. "
                                    "Retry shortly."))
                    self._cond.wait(left)
                if clock() > latest_start:
                    raise _too_late(cfg, job, waited=clock() - patience + cfg.max_wait_s)
            except Shed:
                self.jobs.remove(job)
                self._cond.notify_all()
                raise
            job.started = clock()
        try:
            yield job
        finally:
            with self._cond:
                self.jobs.remove(job)
                self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no run is in flight or waiting (at most `timeout`); True if idle."""
        with self._cond:
            return self._cond.wait_for(lambda: not self.jobs, timeout)

    def _after_another(self, cfg: Config, job: Job) -> bool:
        """Another waiting run that could start now must start sooner: it goes first."""
        return any(j is not job and j.started is None and j.latest < job.latest
                   and not self._blocked(cfg, j.full) for j in self.jobs)

    def _blocked(self, cfg: Config, full: bool) -> bool:
        running = [j for j in self.jobs if j.started is not None]
        return len(running) >= cfg.max_runs or (full and any(j.full for j in running))


def _too_late(cfg: Config, job: Job, waited: float) -> Shed:
    return Shed(503, "deadline", cfg.retry_after_s,
                "The server is busy: this run could not finish before the request's deadline. "
                "Retry shortly.",
                detail=f"{'full' if job.full else 'quick'} run estimated at "
                       f"{job.cost * 1000:.0f} ms (slowdown {COSTS.slowdown():.1f}), waited "
                       f"{waited * 1000:.0f} ms")


GATE = Gate()


def when_idle[T](items: Iterable[T], max_pause_s: float = 5.0) -> Iterator[T]:
    """Hand out background work (the live-number warm-up) one item at a time, each once
    this process's gate is idle (or after `max_pause_s`): readers' runs go first."""
    for item in items:
        GATE.wait_idle(max_pause_s)
        yield item


# -- per-client rate limits (through the shared cache) ------------------------------------
def client_id(request: HttpRequest) -> str:
    """REMOTE_ADDR; behind our proxy, the address it appended to X-Forwarded-For (the last)."""
    if settings.ADMISSION_BEHIND_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last[:64]
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def _window_key(bucket: str, client: str, window: int, now: float) -> tuple[str, int]:
    wid = int(now // window)
    digest = hashlib.sha256(client.encode()).hexdigest()[:24]
    return f"rl:{bucket}:{window}:{wid}:{digest}", math.ceil((wid + 1) * window - now)


def count(bucket: str, client: str, window_s: int, add: int = 1) -> tuple[int, int]:
    """Add to a client's fixed-window counter; return (total, seconds until the window ends).

    The cache is the shared store: with Redis every replica counts together. If it fails,
    the limit fails open (the gate still protects the process) and says so in the log.
    Every per-client limit of the app counts here (runs, exports, live rooms, guesses).
    """
    key, retry = _window_key(bucket, client, window_s, time.time())
    try:
        if add == 0:
            return int(cache.get(key, 0)), retry
        cache.add(key, 0, window_s + 1)
        try:
            return int(cache.incr(key, add)), retry
        except ValueError:  # expired between add and incr
            cache.set(key, add, window_s + 1)
            return add, retry
    except Exception:  # a rate limit is not worth an outage
        log.warning("rate limit store unavailable; not limiting", exc_info=True)
        return 0, retry


def _used(bucket: str, client: str, cfg: Config, add: int) -> tuple[int, int]:
    return count(bucket, client, cfg.rate_window_s, add)


def _check_exports(ticket: Ticket, cfg: Config) -> None:
    used, retry = _used("export", ticket.client, cfg, 1)
    if used > cfg.rate_exports:
        raise Shed(429, "exports", retry,
                   f"Too many downloads from your address: at most {cfg.rate_exports} per "
                   f"{cfg.rate_window_s} s. Retry in {retry} s.")


def _check_run_budget(ticket: Ticket, cfg: Config) -> None:
    used, retry = _used("run", ticket.client, cfg, 0)
    if used >= cfg.rate_run_ms:
        raise Shed(429, "run_budget", retry,
                   f"Your address has used its simulation time ({cfg.rate_run_ms / 1000:g} s "
                   f"per {cfg.rate_window_s} s). Cached results still load; retry new "
                   f"settings in {retry} s.")


# -- what the rest of the app calls -------------------------------------------------------
@contextlib.contextmanager
def cold_run(sim: Simulation, params: Any, preview: Any | None = None) -> Iterator[Any | None]:
    """Admit one cold simulation run: yields None for the full run, or the quick params to
    run instead (a labelled preview). Raises Shed when it cannot be admitted. `preview`:
    the quick params a dragging slider asked for, admitted as a quick run.

    The choice, from the gate's predicted wait and each kind of run's learned cost:
    - the preview a dragging slider asked for, when it asked;
    - else the full run when it would be done within `full_budget_s` of the request's
      arrival (the latency a reader should see, less rendering), or when this process's gate
      is idle (degrading then would spare nobody), and always for a request that cannot be
      degraded;
    - else, for an interactive request whose model has a sample size, the quick preview;
    - and never work that would not finish by the deadline, less `margin_s` for rendering
      the answer: that is shed unstarted (503, reason `deadline`).
    Outside a request (warm-up, `manage.py simulate`) or with admission off: full, ungated
    (or the asked-for preview, ungated).
    Every run's wall time teaches `COSTS` (`sims` reports it, cache hits excluded).
    """
    ticket, cfg = _ticket.get(), Config.current()
    if ticket is None or not cfg.enabled or ticket.holding:
        yield preview
        return
    _check_run_budget(ticket, cfg)
    quick = preview
    cost = COSTS.estimate(cost_key(sim, params if quick is None else quick), cfg.default_cost_s)
    smaller = sim.quick(params) if quick is None and cfg.degrade and ticket.interactive else None
    if smaller is not None:
        now = clock()
        done = now + GATE.predicted_wait(cfg, True, now) + cost
        fits_deadline = done + cfg.margin_s <= ticket.deadline
        # Degrade unless the full run fits the latency budget, or nobody's run would wait
        # behind it (a reader alone, letting go of a slider).
        if not (fits_deadline and (done <= ticket.arrived + cfg.full_budget_s or GATE.idle)):
            quick = smaller
            cost = COSTS.estimate(cost_key(sim, quick), cfg.default_cost_s)
    ticket.leave_lane()  # the gate bounds it from here: a cheap request may have its slot
    latest_start = ticket.deadline - cost - cfg.margin_s
    with GATE.enter(cfg, quick is None, cost, latest_start):
        cpu = time.thread_time()  # CPU time: a crowded machine must not overcharge anyone
        ticket.holding = True
        try:
            if quick is not None and preview is None:
                DEGRADED.inc()
            yield quick
        finally:
            ticket.holding = False
            _used("run", ticket.client, cfg, max(1, round((time.thread_time() - cpu) * 1000)))


@contextlib.contextmanager
def ungated() -> Iterator[None]:
    """Run the book's own bounded work outside the gate: the live numbers a page's text
    quotes (a fixed set the content declares, cached per process and warmed at start), so a
    busy server never answers a chapter with a 503 because of its own prose."""
    ticket = _ticket.get()
    if ticket is None or ticket.holding:
        yield
        return
    ticket.holding = True
    try:
        yield
    finally:
        ticket.holding = False


@contextlib.contextmanager
def heavy_work() -> Iterator[None]:
    """Admit other CPU-heavy work (an image render) through the same gate, never degraded,
    never started when it would not finish by the deadline."""
    ticket, cfg = _ticket.get(), Config.current()
    if ticket is None or not cfg.enabled or ticket.holding:
        yield
        return
    ticket.leave_lane()
    cost = COSTS.estimate(IMAGE, cfg.default_cost_s)
    with GATE.enter(cfg, True, cost, ticket.deadline - cost - cfg.margin_s) as job:
        ticket.holding = True
        try:
            yield
            COSTS.observe(IMAGE, clock() - (job.started or 0.0))  # another process's CPU
        finally:
            ticket.holding = False


PREVIEW_WORDS = {  # reason → (why, what next)
    "busy": ("Quick preview while the server is busy", "Run again for the full result."),
    "drag": ("Preview while you drag", "The full run follows when you let go."),
}


def preview_label(sim: Simulation, params: Any, quick: Any, reason: str = "busy"
                  ) -> dict[str, Any]:
    """How a quick run differs from the one asked for, in data and in words."""
    p = sim.sample_param
    assert p is not None
    asked, got = getattr(params, p.name), getattr(quick, p.name)
    why, then = PREVIEW_WORDS[reason]
    return {"reason": reason, "parameter": p.name, "value": got, "requested": asked,
            "message": (f"{why}: {got:,} instead of {asked:,} ({p.label.lower()}), so the "
                        f"confidence intervals are wider. {then}")}


# -- middleware ---------------------------------------------------------------------------
def _route_name(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.url_name if match is not None and match.url_name else ""


class AdmissionMiddleware:
    """Gives every request a ticket (client, deadline); limits exports; turns Shed into
    a 429/503 with Retry-After: JSON for data URLs, a short text for pages and fragments."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        cfg, now = Config.current(), clock()
        ticket = Ticket(client=client_id(request), arrived=now, deadline=now + cfg.deadline_s,
                        interactive=False)
        token = _ticket.set(ticket)
        try:
            return self.get_response(request)
        finally:
            ticket.leave_lane()
            _ticket.reset(token)

    def process_view(self, request: HttpRequest, view: Any, args: Any, kwargs: Any
                     ) -> HttpResponse | None:
        ticket, cfg = _ticket.get(), Config.current()
        if ticket is None:
            return None
        name = _route_name(request)
        ticket.interactive = name in INTERACTIVE
        ticket.holding = name in SELF_BUDGETED
        if not cfg.enabled or name in UNGATED:
            return None
        try:
            if name in EXPORTS:
                _check_exports(ticket, cfg)
            LANE.acquire(cfg, ticket.deadline)
            ticket.lane = LANE
        except Shed as exc:
            return shed_response(request, exc)
        return None

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, Shed):
            return shed_response(request, exception)
        return None


def shed_response(request: HttpRequest, exc: Shed) -> HttpResponse:
    SHED.labels(str(exc.status), exc.reason).inc()
    log.info("shed %s %s: %s %s", exc.status, exc.reason, request.path, exc.detail)
    if is_data_path(request.path):
        resp: HttpResponse = JsonResponse({"error": exc.message, "reason": exc.reason,
                                           "retry_after": exc.retry_after}, status=exc.status)
    else:
        resp = HttpResponse(exc.message, status=exc.status, content_type="text/plain; charset=utf-8")
    resp["Retry-After"] = str(exc.retry_after)
    resp["Cache-Control"] = "no-store"
    # Logged above at INFO: under overload an ERROR per refusal would flood the logs.
    resp._has_been_logged = True  # type: ignore[attr-defined]
    return resp
