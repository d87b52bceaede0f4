"""Logging: a request id on every line; JSON lines in production, readable text locally."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


class RequestIdFilter(logging.Filter):
    """Stamp each record with the current request's id ('-' outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line, with any `extra={...}` fields merged in."""

    RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "request_id"}

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in self.RESERVED:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class DisallowedHostFilter(logging.Filter):
    """Django's DisallowedHost records, at WARNING and at most once per host per window.

    Scanners send thousands of requests with made-up Host headers; Django logs each at ERROR
    with a traceback. Each host is logged once a window, with a count of the ones held back
    since, and the memory of hosts is bounded (the oldest are forgotten first).
    """

    HOST = re.compile(r"Invalid HTTP_HOST header: '(?P<host>[^']{0,200})")

    def __init__(self, window_s: float = 60.0, max_hosts: int = 1000) -> None:
        super().__init__()
        self.window_s = window_s
        self.max_hosts = max_hosts
        self._seen: OrderedDict[str, tuple[float, int]] = OrderedDict()
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        match = self.HOST.search(record.getMessage())
        host = match["host"] if match else "?"
        now = time.monotonic()
        with self._lock:
            last, held = self._seen.get(host, (float("-inf"), 0))
            if now - last < self.window_s:
                self._seen[host] = (last, held + 1)
                return False
            self._seen[host] = (now, 0)
            self._seen.move_to_end(host)
            while len(self._seen) > self.max_hosts:
                self._seen.popitem(last=False)
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info = record.exc_text = None  # the message says it all; no traceback
        record.msg = "Request refused: Host %r is not in ALLOWED_HOSTS%s"
        record.args = (host, f" ({held} more since the last line)" if held else "")
        return True
