"""Cache backends that degrade instead of failing, and the readiness check that reports them.

The result cache is an optimisation: when it is unreachable (Redis restarted, disk full) the
app serves uncached rather than answering 500. A failure opens a small circuit breaker:
the backend is skipped for RETRY_AFTER_S, then tried again, so an outage costs one socket
timeout every few seconds per process, not one per request. The outage is logged once per
process when it starts and once when it ends, and counted in
`monograph_cache_errors_total` / `monograph_cache_bypassed_total`.
"""

from __future__ import annotations

import logging
import pickle
import threading
import time
import zlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.filebased import FileBasedCache
from django.core.cache.backends.redis import RedisCache

from . import metrics

log = logging.getLogger("monograph.cache")

RETRY_AFTER_S = 5.0


class _Health:
    """Up or down, per cache location and process (Django makes one backend per thread)."""

    def __init__(self, location: str) -> None:
        self.location = location
        self.lock = threading.Lock()
        self.down_since: float | None = None
        self.retry_at = 0.0
        self.last_error = ""

    def skip(self) -> bool:
        """True while the breaker is open (down and not yet time to try again)."""
        return self.down_since is not None and time.monotonic() < self.retry_at

    def failed(self, op: str, exc: BaseException) -> None:
        metrics.CACHE_ERRORS.labels(op).inc()
        with self.lock:
            now = time.monotonic()
            self.retry_at = now + RETRY_AFTER_S
            self.last_error = f"{type(exc).__name__}: {exc}"
            if self.down_since is None:
                self.down_since = now
                log.warning("cache %s unreachable (%s): serving uncached, retrying every %.0f s",
                            self.location, self.last_error, RETRY_AFTER_S)

    def succeeded(self) -> None:
        if self.down_since is None:
            return
        with self.lock:
            if self.down_since is not None:
                log.info("cache %s reachable again after %.1f s", self.location,
                         time.monotonic() - self.down_since)
                self.down_since = None


_health: dict[str, _Health] = {}
_health_lock = threading.Lock()


def _health_for(location: str) -> _Health:
    with _health_lock:
        return _health.setdefault(location, _Health(location))


def _guarded(name: str, fallback: Callable[..., Any]) -> Callable[..., Any]:
    """One cache method: skipped while the breaker is open, the backend's errors swallowed."""

    def method(self: Degrading, *args: Any, **kwargs: Any) -> Any:
        health = self._health
        if health.skip():
            metrics.CACHE_BYPASSED.inc()
            return fallback(*args, **kwargs)
        try:
            value = getattr(super(Degrading, self), name)(*args, **kwargs)
        except self.errors as exc:
            health.failed(name, exc)
            return fallback(*args, **kwargs)
        health.succeeded()
        return value

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"The backend's {name}, or what a miss answers when it fails."
    return method


def _none(*args: Any, **kwargs: Any) -> None:
    return None


def _false(*args: Any, **kwargs: Any) -> bool:
    return False


# What a cache that cannot be reached answers: a miss, nothing stored, nothing deleted.
_FALLBACKS: dict[str, Callable[..., Any]] = {
    "get": lambda key, default=None, version=None: default,
    "get_many": lambda keys, version=None: {},
    "set": _none,
    "set_many": lambda data, timeout=None, version=None: list(data),
    "add": _false,
    "touch": _false,
    "delete": _false,
    "delete_many": _none,
    "has_key": _false,
    "clear": _none,
    # A counter that cannot be read fails open (rate limits stay usable without the cache).
    "incr": lambda key, delta=1, version=None: delta,
}


class Degrading:
    """Mixin for a cache backend: its operations degrade to a miss on `errors`."""

    errors: tuple[type[BaseException], ...] = ()
    _health: _Health

    def _location_text(self) -> str:
        raise NotImplementedError

    def _start_health(self) -> None:
        self._health = _health_for(f"{type(self).__name__}:{self._location_text()}")

    def raw(self) -> BaseCache:
        """The backend's own methods, without the breaker (for the readiness probe)."""
        return super()  # type: ignore[return-value]


for _name, _fallback in _FALLBACKS.items():
    setattr(Degrading, _name, _guarded(_name, _fallback))


class FileCache(Degrading, FileBasedCache):
    """Files in one directory, shared by every process of the machine; a miss on disk errors."""

    # A corrupt or half-written file reads as a miss; a full or read-only disk stores nothing.
    errors = (OSError, EOFError, pickle.UnpicklingError, zlib.error)

    def __init__(self, dir: str, params: dict[str, Any]) -> None:
        super().__init__(dir, params)
        self._start_health()

    def _location_text(self) -> str:
        return str(self._dir)


class SharedRedisCache(Degrading, RedisCache):
    """Redis, shared by every replica; a miss while it is unreachable."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        import redis

        super().__init__(server, params)
        self.errors = (redis.RedisError, OSError)
        self._start_health()

    def _location_text(self) -> str:
        # Never log a password: scheme, host, port and database only.
        parts = urlsplit(self._servers[0])
        return f"{parts.scheme}://{parts.hostname}:{parts.port or 6379}{parts.path}"


# -- readiness ------------------------------------------------------------------------------------
def readiness(backend: BaseCache) -> str:
    """'ok', 'disabled' (dummy), 'degraded' (unreachable: serving uncached) or 'failed'.

    A real round trip that ignores the breaker, so /readyz sees a recovery at once.
    """
    if isinstance(backend, DummyCache):
        return "disabled"
    if isinstance(backend, Degrading):
        raw = backend.raw()
        try:
            raw.set("readyz", "1", 10)
            ok = raw.get("readyz") == "1"
        except backend.errors as exc:
            backend._health.failed("readyz", exc)
            return "degraded"
        backend._health.succeeded()
        return "ok" if ok else "degraded"
    try:
        backend.set("readyz", "1", 10)
        return "ok" if backend.get("readyz") == "1" else "failed"
    except Exception:  # a readiness probe reports, it does not crash
        log.exception("cache readiness check failed")
        return "failed"
