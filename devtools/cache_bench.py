"""What a cache hit costs, per backend: locmem, the file cache, Redis.

    python -m devtools.cache_bench [--runs N] [--redis URL]

Times the shared-cache candidates with a real result payload: a raw `cache.get` of that
payload, and a cached figure request through Django's test client (what a slider move
costs when someone has already asked for the same chart). Redis is a redis-server started
on a free local port, unless --redis names one. Prints a Markdown table (docs/cache.md).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import pickle
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator

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
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value("monograph_simulation_runs_total", {"simulation": SIM}) or 0


@contextlib.contextmanager
def _redis(url: str | None) -> Iterator[str | None]:
    from .localserver import redis_server

    if url:
        yield url
    elif shutil.which("redis-server"):
        with redis_server() as server:
            yield server.url
    else:
        print("redis-server not found (make ops-deps): Redis skipped", file=sys.stderr)
        yield None


def measure(runs: int, redis_url: str | None = None) -> list[tuple[str, float, list[float],
                                                                  list[float]]]:
    """(backend, pickled KB, raw get ms, cached figure ms) for each backend."""
    from django.core.cache import caches
    from django.http import QueryDict
    from django.test import Client, override_settings

    import simulations
    from monograph import sims
    from monograph.settings import _cache

    state = sims.resolve(simulations.get(SIM), QueryDict())
    path = f"/simulations/{SIM}/figure?{state.querystring}"
    rows = []
    with tempfile.TemporaryDirectory() as tmp, _redis(redis_url) as redis:
        backends = {"locmem://": "locmem://", "file (local disk)": f"file://{tmp}/cache"}
        if redis:
            backends["redis (localhost)"] = redis
        for label, url in backends.items():
            with override_settings(CACHES={"default": _cache(url)}):
                cache = caches["default"]
                cache.clear()
                size_kb = len(pickle.dumps(sims.run(state))) / 1024  # a miss: fills the cache
                key = sims._key(state)
                raw = _time(lambda cache=cache, key=key: cache.get(key), runs)
                client = Client(SERVER_NAME="127.0.0.1", HTTP_HX_REQUEST="true")
                first = client.get(path)  # warm the code path
                if first.status_code != 200:
                    raise RuntimeError(f"{path} answered {first.status_code}")
                before = _sim_runs()
                view = _time(lambda client=client: client.get(path), runs)
                if _sim_runs() != before:
                    raise RuntimeError(f"{label}: the cached figure ran the simulation again")
                rows.append((label, size_kb, raw, view))
                cache.clear()
    return rows


def table(rows: list[tuple[str, float, list[float], list[float]]], runs: int) -> str:
    out = [f"`{SIM}` at its defaults, {runs} runs each, one process; load average "
           f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}.", "",
           "| backend | payload KB (pickled) | get p50 ms | get p95 ms "
           "| cached figure p50 ms | cached figure p95 ms |",
           "|---|---|---|---|---|---|"]
    out += [f"| {label} | {kb:.0f} | {statistics.median(raw):.3f} | {_pct(raw, 95):.3f} | "
            f"{statistics.median(view):.2f} | {_pct(view, 95):.2f} |"
            for label, kb, raw, view in rows]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monograph.settings")
    import django

    django.setup()
    parser = argparse.ArgumentParser(prog="python -m devtools.cache_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--redis", help="an existing redis:// URL (default: start one)")
    args = parser.parse_args(argv)
    logging.getLogger("monograph.access").setLevel(logging.WARNING)  # one line per request
    print(table(measure(args.runs, args.redis), args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
