"""Locust scenarios for `make loadtest` (driven by devtools/loadtest.py, localhost only).

The driver names the user class to run:
- classroom: a participant moves the fan-out slider twice a second; like htmx's
  `hx-sync="this:queue last"` at most one request is in flight, and moves made meanwhile
  collapse into the newest one, sent when the answer arrives.
- overload: every move is sent (no queue last), one every 2 s per user: with 100 users
  about 50 requests/s offered, whatever the server answers.
- cached: the same fragment again and again (the cache answers).
- cold: a fresh seed on every request (every request is a cold run).

Every request is written to LOG (CSV: start, latency ms, status, retry-after, kind: `preview`
when the answer is a labelled quick preview, else `full`) so the driver computes
percentiles, the build-up over time and the share of previews itself.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import time

from locust import FastHttpUser, between, constant, constant_pacing, events, task

LOG = os.environ.get("LOG", "requests.csv")
MOVES_PER_S = 2.0
FANOUT_MAX = 500
PREVIEW_MARK = b'class="preview-note"'  # how a fragment says it is a quick preview
_log = open(LOG, "w", buffering=1)  # noqa: SIM115 - open for the whole run
_log.write("start,ms,status,retry_after,kind\n")
_seeds = itertools.count(1000)


@events.request.add_listener
def _record(request_type, name, response_time, response_length, response=None,
            exception=None, start_time=None, **kw):
    status = getattr(response, "status_code", 0) if response is not None else 0
    retry = ""
    if response is not None and getattr(response, "headers", None):
        retry = response.headers.get("Retry-After", "") or ""
    if exception is not None and not status:
        status = 0
    kind = "preview" if status == 200 and PREVIEW_MARK in (getattr(response, "content", b"") or b"") \
        else "full"
    _log.write(f"{start_time or time.time():.3f},{response_time:.1f},{status},{retry},{kind}\n")


class _Slider:
    """A slider position on the log scale the page uses (log10 of fanout)."""

    def __init__(self) -> None:
        self.pos = random.uniform(0, math.log10(FANOUT_MAX))

    def move(self) -> int:
        self.pos = min(max(self.pos + random.choice((-1, 1)) * random.uniform(0.02, 0.12), 0),
                       math.log10(FANOUT_MAX))
        return max(1, round(10 ** self.pos))


def _fragment(fanout: int, seed: int = 42) -> str:
    return f"/simulations/fanout/figure?fanout={fanout}&seed={seed}"


HEADERS = {"HX-Request": "true"}


class Participant(FastHttpUser):
    """Each simulated user has its own address, as behind the class's proxy."""

    abstract = True
    network_timeout = 35.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.slider = _Slider()
        self.headers = {**HEADERS, "X-Forwarded-For": f"10.1.{random.randrange(256)}."
                                                      f"{random.randrange(1, 255)}"}

    def get(self, path: str) -> None:
        with self.client.get(path, headers=self.headers, catch_response=True,
                             name=path.split("?")[0]) as resp:
            resp.success()  # statuses are counted by the driver, not judged here


class Classroom(Participant):
    wait_time = constant(0)

    def on_start(self) -> None:
        super().on_start()
        self.next_move = time.monotonic() + random.uniform(0, 1 / MOVES_PER_S)
        self.value = self.slider.move()

    @task
    def drag(self) -> None:
        # Wait for the next move, then send the newest value; moves made while a request
        # was in flight have collapsed into the newest (queue last).
        now = time.monotonic()
        if now < self.next_move:
            time.sleep(self.next_move - now)
        while self.next_move <= time.monotonic():
            self.value = self.slider.move()
            self.next_move += 1 / MOVES_PER_S
        self.get(_fragment(self.value))


class Overload(Participant):
    wait_time = constant_pacing(2.0)

    @task
    def drag(self) -> None:
        self.get(_fragment(self.slider.move()))


class Cached(Participant):
    wait_time = constant(0)

    @task
    def again(self) -> None:
        self.get(_fragment(10))


class Cold(Participant):
    wait_time = between(0, 0.01)

    @task
    def fresh(self) -> None:
        self.get(_fragment(10, next(_seeds)))
