"""Warm a process before it serves: import lazily-loaded code and run every default.

The book's own advice (tail latency: cold caches and warm-up): the first request after
a deploy should not pay for imports such as numpy.ma (~60 ms) or fill the cache. Called
by gunicorn before it forks workers, so they inherit a warm interpreter and cache. The
settings the chapters quote as live numbers are many (and some slow), so each worker runs
those in a background thread once it serves, keeping `make run`'s first page fast.
"""

from __future__ import annotations

import logging
import threading
import time

from django.http import QueryDict

import simulations

from . import admission, content, livenumbers, sims

log = logging.getLogger("monograph")


def warm() -> None:
    """Parse the content and run each simulation once at its defaults."""
    start = time.perf_counter()
    content.book()
    for sim in simulations.registry().values():
        sims.run(sims.resolve(sim, QueryDict()))
    log.info("warmed up in %.0f ms (%d simulations)", (time.perf_counter() - start) * 1000,
             len(simulations.registry()))


def warm_live_numbers() -> None:
    """Run every setting the text quotes (live numbers), so chapter pages find them cached."""
    start = time.perf_counter()
    book = content.book()
    # Readers first: each setting waits until no reader's run is in flight or waiting.
    count = livenumbers.warm(admission.when_idle(n for page in book.pages for n in page.live))
    log.info("live numbers warmed in %.0f ms (%d settings)",
             (time.perf_counter() - start) * 1000, count)


def warm_live_numbers_in_background() -> threading.Thread:
    """Warm the live numbers without holding up the first page: a worker calls this once
    it serves. A page asked for meanwhile runs what it needs itself (the same cached path),
    so nothing waits on the thread; with a shared cache (Redis) the second worker's pass is
    all cache hits."""
    def run() -> None:
        try:
            warm_live_numbers()
        except Exception:  # a warm-up is an optimisation: log it, never kill the worker
            log.exception("live-number warm-up failed")

    thread = threading.Thread(target=run, name="warm-live-numbers", daemon=True)
    thread.start()
    return thread
