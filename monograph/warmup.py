"""Warm a process before it serves: import lazily-loaded code and run every default.

The book's own advice (tail latency: cold caches and warm-up): the first request after
a deploy should not pay for imports such as numpy.ma (~60 ms) or fill the cache. Called
by gunicorn before it forks workers, so they inherit a warm interpreter and cache.
"""

from __future__ import annotations

import logging
import time

from django.http import QueryDict

import simulations

from . import content, sims

log = logging.getLogger("monograph")


def warm() -> None:
    """Parse the content and run each simulation once at its defaults."""
    start = time.perf_counter()
    content.book()
    for sim in simulations.registry().values():
        sims.run(sims.resolve(sim, QueryDict()))
    log.info("warmed up in %.0f ms (%d simulations)", (time.perf_counter() - start) * 1000,
             len(simulations.registry()))
