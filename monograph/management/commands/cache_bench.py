"""python manage.py cache_bench [--runs N] [--redis URL] — what a cache hit costs, per backend.

Times the shared-cache candidates with a real result payload: a raw `cache.get` of that
payload, and a cached figure request through Django's test client (what a slider move
costs when someone has already asked for the same chart). Redis is a redis-server this
command starts on a free local port, unless --redis names one. Prints a Markdown table.
"""

from __future__ import annotations

import contextlib
import logging
import pickle
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator

from django.core.cache import caches
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.http import QueryDict
from django.test import Client, override_settings
from prometheus_client import REGISTRY

import simulations

from ... import localserver, sims
from ...settings import _cache

SIM = "fanout"


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def _time(fn: Callable[[], object], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _sim_runs() -> float:
    return REGISTRY.get_sample_value("monograph_simulation_runs_total", {"simulation": SIM}) or 0


class Command(BaseCommand):
    help = "Time cache hits (raw get and a cached figure request) for locmem, file and Redis."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--runs", type=int, default=300)
        parser.add_argument("--redis", help="an existing redis:// URL (default: start one)")

    @contextlib.contextmanager
    def _redis(self, url: str | None) -> Iterator[str | None]:
        if url:
            yield url
        elif shutil.which("redis-server"):
            with localserver.redis_server() as server:
                yield server.url
        else:
            self.stderr.write("redis-server not found (make ops-deps): Redis skipped")
            yield None

    def handle(self, *args, **opts) -> None:
        logging.getLogger("monograph.access").setLevel(logging.WARNING)  # one line per request
        runs = opts["runs"]
        sim = simulations.get(SIM)
        state = sims.resolve_strict(sim, QueryDict())
        query = state.querystring
        with tempfile.TemporaryDirectory() as tmp, self._redis(opts["redis"]) as redis_url:
            backends = {"locmem://": "locmem://", "file (local disk)": f"file://{tmp}/cache"}
            if redis_url:
                backends["redis (localhost)"] = redis_url
            rows = []
            for label, url in backends.items():
                with override_settings(CACHES={"default": _cache(url)}):
                    cache = caches["default"]
                    cache.clear()
                    payload = sims.run(state)  # a miss: fills the cache
                    size_kb = len(pickle.dumps({k: v for k, v in payload.items()
                                                if k != "cached"})) / 1024
                    key = sims._key(state)
                    raw = _time(lambda cache=cache, key=key: cache.get(key), runs)
                    client = Client(SERVER_NAME="127.0.0.1", HTTP_HX_REQUEST="true")
                    path = f"/simulations/{SIM}/figure?{query}"
                    first = client.get(path)  # warm the code path
                    if first.status_code != 200:
                        raise CommandError(f"{path} answered {first.status_code}")
                    runs_before = _sim_runs()
                    view = _time(lambda client=client, path=path: client.get(path), runs)
                    if _sim_runs() != runs_before:
                        raise CommandError(f"{label}: the cached figure ran the simulation again")
                    rows.append((label, size_kb, raw, view))
                    cache.clear()
        self.stdout.write(f"`{SIM}` at its defaults, {runs} runs each, one process.\n")
        self.stdout.write("| backend | payload KB (pickled) | get p50 ms | get p95 ms "
                          "| cached figure p50 ms | cached figure p95 ms |")
        self.stdout.write("|---|---|---|---|---|---|")
        for label, size_kb, raw, view in rows:
            self.stdout.write(f"| {label} | {size_kb:.0f} | {statistics.median(raw):.3f} | "
                              f"{_pct(raw, 95):.3f} | {statistics.median(view):.2f} | "
                              f"{_pct(view, 95):.2f} |")
