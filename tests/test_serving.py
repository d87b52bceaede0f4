"""The serving model under slow clients: the real gunicorn, as `make run` starts it.

Two connections trickle a request one header line a second (a slow phone, or a slowloris).
With one synchronous worker per core they would hold both workers and every probe would
wait for them; with threads (docs/serving.md) each holds one thread and /healthz answers.
Bounded: two connections, about eight seconds, localhost only.
"""

from __future__ import annotations

import socket
import threading
import time
import urllib.request
from urllib.parse import urlsplit

import pytest

from devtools import localserver

TRICKLE_LINES = 6  # header lines per slow connection, one a second
PROBE_TIMEOUT_S = 4  # a probe stuck behind the slow clients would wait ≥ TRICKLE_LINES s


@pytest.fixture(scope="module")
def server():
    with localserver.gunicorn(workers=2) as url:
        yield url


def _trickle(url: str, replies: list[bytes]) -> None:
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\n")
        for i in range(TRICKLE_LINES):
            time.sleep(1)
            sock.sendall(b"Host: 127.0.0.1\r\n" if i == 0 else f"X-Slow-{i}: {i}\r\n".encode())
        sock.sendall(b"Connection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        replies.append(data)


def test_two_slow_clients_leave_healthz_answering(server):
    replies: list[bytes] = []
    slow = [threading.Thread(target=_trickle, args=(server, replies)) for _ in range(2)]
    for t in slow:
        t.start()
    time.sleep(1.5)  # both slow connections are now inside the server, mid-headers
    statuses = []
    while any(t.is_alive() for t in slow) and len(statuses) < TRICKLE_LINES:
        with urllib.request.urlopen(f"{server}/healthz", timeout=PROBE_TIMEOUT_S) as resp:
            statuses.append(resp.status)
        time.sleep(0.5)
    for t in slow:
        t.join(timeout=30)
    assert statuses and set(statuses) == {200}
    # The slow clients are served too, once their request is complete.
    assert len(replies) == 2 and all(r.startswith(b"HTTP/1.1 200") for r in replies)
