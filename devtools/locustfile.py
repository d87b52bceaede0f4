"""Locust scenarios for `make loadtest` (driven by devtools/loadtest.py, localhost only).

The driver names the user class to run:
- classroom: a participant drags the fan-out slider, a move every half second, as the
  browser client does: moves made while dragging ask for a preview (`preview=1`), and the
  release asks for the full run at the value let go. A drag is 2 to 5 moves, then the
  release, then the next drag at once. Like htmx's `hx-sync="this:queue last"`, at most
  one request is in flight, and moves made meanwhile collapse into the newest one, sent
  when the answer arrives (a release is never collapsed into a move).
- overload: every move is sent (no queue last), one every 2 s per user: with 100 users
  about 50 requests/s offered, whatever the server answers.
- cached: the same fragment again and again (the cache answers).
- cold: a fresh seed on every request (every request is a cold run).

Every request is written to LOG (CSV: start, latency ms, status, retry-after, asked: `full`
or `preview`, got: `full`, `drag` or `busy`, as the answer's `data-preview` says) so the
driver computes percentiles, the build-up over time and the share of previews itself.
"""

from __future__ import annotations

import itertools
import math
import os
import random
import re
import time

from locust import FastHttpUser, between, constant, constant_pacing, events, task

LOG = os.environ.get("LOG", "requests.csv")
MOVES_PER_S = 2.0
FANOUT_MAX = 500
PREVIEW_MARK = re.compile(rb'data-preview="(\w+)"')  # how a fragment says it is a preview
_log = open(LOG, "w", buffering=1)  # noqa: SIM115 - open for the whole run
_log.write("start,ms,status,retry_after,asked,got\n")
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
    body = (getattr(response, "content", b"") or b"") if status == 200 else b""
    got = m.group(1).decode() if (m := PREVIEW_MARK.search(body)) else "full"
    asked = "preview" if "preview=1" in name else "full"
    _log.write(f"{start_time or time.time():.3f},{response_time:.1f},{status},{retry},{asked},"
               f"{got}\n")


class _Slider:
    """A slider position on the log scale the page uses (log10 of fanout)."""

    def __init__(self) -> None:
        self.pos = random.uniform(0, math.log10(FANOUT_MAX))

    def move(self) -> int:
        self.pos = min(max(self.pos + random.choice((-1, 1)) * random.uniform(0.02, 0.12), 0),
                       math.log10(FANOUT_MAX))
        return max(1, round(10 ** self.pos))


def _fragment(fanout: int, seed: int = 42, preview: bool = False) -> str:
    return f"/simulations/fanout/figure?fanout={fanout}&seed={seed}" + ("&preview=1" * preview)


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
        name = path.split("?")[0] + (" preview=1" if "preview=1" in path else "")
        with self.client.get(path, headers=self.headers, catch_response=True,
                             name=name) as resp:
            resp.success()  # statuses are counted by the driver, not judged here


class Classroom(Participant):
    wait_time = constant(0)

    def on_start(self) -> None:
        super().on_start()
        self.next_move = time.monotonic() + random.uniform(0, 1 / MOVES_PER_S)
        self.value = self.slider.move()
        self.moves_left = random.randint(2, 5)  # moves before this drag's release

    @task
    def drag(self) -> None:
        # Wait for the next move, then send the newest value; moves made while a request
        # was in flight have collapsed into the newest (queue last). The move that ends
        # the drag is the release: the full run at the value let go.
        now = time.monotonic()
        if now < self.next_move:
            time.sleep(self.next_move - now)
        released = False
        while self.next_move <= time.monotonic() and not released:
            if self.moves_left == 0:
                released = True  # let go where the last move left it
            else:
                self.value = self.slider.move()
                self.moves_left -= 1
            self.next_move += 1 / MOVES_PER_S
        if released:
            self.moves_left = random.randint(2, 5)
        self.get(_fragment(self.value, preview=not released))


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
