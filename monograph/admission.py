"""Admission control: the book's overload advice, applied to the book's own server.

What is bounded, per process:
- Requests doing Python work at once (`MAX_ACTIVE`, probes exempt): more threads than
  that only take turns on the GIL; the rest wait their turn, for at most `MAX_WAIT_MS`.
  A request waiting for a cold run gives its slot back, so cached hits keep flowing.
- CPU work in flight (cold simulation runs and image renders): `MAX_RUNS` at once, of which
  at most one is a full run; `MAX_QUEUE` may wait, each for at most `MAX_WAIT_MS`.
- A request's life: work that would start after its deadline (`DEADLINE_MS` after it
  arrived) is dropped unstarted; the client has given up or soon will.

Beyond those bounds a request gets a cheap 503 with `Retry-After`. Before refusing, an
interactive request (a page or a slider move, never a data export) is *degraded*: under
pressure (runs in flight or waiting, or so within the last `BROWNOUT_MS`) it runs a
quicker, smaller sample (`Simulation.quick`), labelled as a preview
with its wider confidence interval, and cached apart from the full result.

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
from collections.abc import Callable, Iterator
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
    max_queue: int = 16
    max_wait_s: float = 0.5
    brownout_s: float = 2.0
    deadline_s: float = 1.0
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

    def __init__(self, status: int, reason: str, retry_after: int, message: str):
        super().__init__(message)
        self.status, self.reason, self.retry_after, self.message = (
            status, reason, max(1, int(retry_after)), message)


@dataclass
class Ticket:
    """One request's standing: who sent it, when it must be done, what it may get."""

    client: str
    deadline: float  # time.monotonic()
    interactive: bool
    holding: bool = False  # inside the gate already (an image render re-running its result)
    lane: Lane | None = None  # the request slot it holds, if any (released to wait for runs)

    def leave_lane(self) -> None:
        if self.lane is not None:
            self.lane.release()
            self.lane = None


_ticket: contextvars.ContextVar[Ticket | None] = contextvars.ContextVar("admission", default=None)


# -- per-process limits -----------------------------------------------------------------
class Lane:
    """At most `max_active` requests doing Python work at once in this process, in about the
    order they came; a request that cannot get a slot within its wait is shed. Threads beyond this
    would only take turns on the GIL, making every request slower (measured: docs/loadtest.md)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.active = 0

    def acquire(self, cfg: Config, deadline: float) -> None:
        with self._cond:
            until = min(time.monotonic() + cfg.max_wait_s, deadline)
            while self.active >= cfg.max_active:
                left = until - time.monotonic()
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


class Gate:
    """A counting gate for CPU work with a bounded, time-limited wait and one full-run lane."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.running = 0
        self.full_running = 0
        self.waiting = 0
        self.pressed_at = -math.inf

    def pressure(self, cfg: Config) -> bool:
        """Someone is computing or waiting, or was within the last `brownout_s`: a newcomer
        should not start a full sample. The memory keeps a busy spell from flapping between
        full runs (which slow everyone) and previews, one request at a time."""
        now = time.monotonic()
        with self._cond:
            if self.running > 0 or self.waiting > 0:
                self.pressed_at = now
                return True
            return now - self.pressed_at < cfg.brownout_s

    @contextlib.contextmanager
    def enter(self, cfg: Config, deadline: float, full: bool) -> Iterator[None]:
        with self._cond:
            if self._full(cfg, full) and self.waiting >= cfg.max_queue:
                raise Shed(503, "queue_full", cfg.retry_after_s,
                           "The server is busy: too many runs are waiting. Retry shortly.")
            self.waiting += 1
            try:
                until = min(time.monotonic() + cfg.max_wait_s, deadline)
                while self._full(cfg, full):
                    left = until - time.monotonic()
                    if left <= 0:
                        raise Shed(503, "wait_timeout", cfg.retry_after_s,
                                   "The server is busy: the run could not start in time. "
                                   "Retry shortly.")
                    self._cond.wait(left)
            finally:
                self.waiting -= 1
            if time.monotonic() >= deadline:
                raise Shed(503, "deadline", cfg.retry_after_s,
                           "The request's deadline passed before its run could start.")
            self.running += 1
            self.full_running += full
        try:
            yield
        finally:
            with self._cond:
                self.running -= 1
                self.full_running -= full
                self._cond.notify_all()

    def _full(self, cfg: Config, full: bool) -> bool:
        return self.running >= cfg.max_runs or (full and self.full_running >= 1)


GATE = Gate()


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

    Outside a request (warm-up, `manage.py simulate`) or with admission off: full, ungated
    (or the asked-for preview, ungated).
    """
    ticket, cfg = _ticket.get(), Config.current()
    if ticket is None or not cfg.enabled or ticket.holding:
        yield preview
        return
    _check_run_budget(ticket, cfg)
    quick = preview
    if quick is None and cfg.degrade and ticket.interactive and GATE.pressure(cfg):
        quick = sim.quick(params)
    ticket.leave_lane()  # the gate bounds it from here: a cheap request may have its slot
    with GATE.enter(cfg, ticket.deadline, full=quick is None):
        start = time.thread_time()  # CPU time: a crowded machine must not overcharge anyone
        ticket.holding = True
        try:
            if quick is not None and preview is None:
                DEGRADED.inc()
            yield quick
        finally:
            ticket.holding = False
            _used("run", ticket.client, cfg, max(1, round((time.thread_time() - start) * 1000)))


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
    """Admit other CPU-heavy work (an image render) through the same gate, never degraded."""
    ticket, cfg = _ticket.get(), Config.current()
    if ticket is None or not cfg.enabled or ticket.holding:
        yield
        return
    ticket.leave_lane()
    with GATE.enter(cfg, ticket.deadline, full=True):
        ticket.holding = True
        try:
            yield
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
        cfg = Config.current()
        ticket = Ticket(client=client_id(request),
                        deadline=time.monotonic() + cfg.deadline_s, interactive=False)
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
    log.info("shed %s %s: %s", exc.status, exc.reason, request.path)
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
