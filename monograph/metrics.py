"""Prometheus metrics (multi-process aware under gunicorn via PROMETHEUS_MULTIPROC_DIR)."""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 5.0)

REQUESTS = Counter("monograph_http_requests_total", "HTTP requests", ["route", "method", "status"])
LATENCY = Histogram("monograph_http_request_seconds", "Server time per request", ["route"],
                    buckets=_BUCKETS)
SIM_RUNS = Counter("monograph_simulation_runs_total", "Simulation runs (cache misses)",
                   ["simulation"])
SIM_SECONDS = Histogram("monograph_simulation_seconds", "Time to run a simulation and build "
                        "its figure", ["simulation"], buckets=_BUCKETS)
SIM_CACHE = Counter("monograph_simulation_cache_total", "Simulation result cache lookups",
                    ["simulation", "result"])
SIM_REJECTED = Counter("monograph_simulation_rejected_total",
                       "Simulation requests refused for bad parameters", ["simulation"])


def exposition() -> tuple[bytes, str]:
    """The metrics page body and content type, aggregated across workers when needed."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST
CACHE_ERRORS = Counter("monograph_cache_errors_total",
                       "Cache operations that failed (the app served uncached)", ["operation"])
CACHE_BYPASSED = Counter("monograph_cache_bypassed_total",
                         "Cache operations skipped while the cache was marked unreachable")

# Request methods as a bounded label: anything else is counted as "other".
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str | None) -> str:
    return method if method in KNOWN_METHODS else "other"
