"""Bench pass: what 40 participants following one live session cost, against 40 readers.

The real server (gunicorn, as `make run` starts it). For SECONDS each:
- followers: a facilitator opens a room and changes step every 5 s; 40 participants poll its
  state once a second with If-None-Match (what follow.js does), re-fetching the figure when
  the facilitator's state changes;
- readers: 40 readers each move a fan-out slider every 2 s to a value nobody asked for yet
  (cold runs, what a class exploring on its own does).
Reported: requests per second, latency p50/p95, and the server's CPU seconds per second of
wall time (all gunicorn processes, from /proc). Bounded, localhost only.
"""

from __future__ import annotations

import json
import os
import random
import re
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from .bench import Context, Section, fmt_ms, pct
from .localserver import gunicorn

ORDER = 60
PEOPLE = 40
SECONDS = 15.0
CLK = os.sysconf("SC_CLK_TCK")


def _server_cpu_s(port: int) -> float:
    """User + system CPU seconds of every process serving on this port (gunicorn and workers)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if f":{port}" not in cmd or "gunicorn" not in cmd:
                continue
            fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (after pid and comm)
        except OSError:
            continue
    return total / CLK


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, float, dict, bytes]:
    """Status, seconds taken, headers and body of a GET (an HTTP error is an answer too)."""
    req = urllib.request.Request(url, headers=headers or {})  # noqa: S310 - localhost
    t0 = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - localhost
            body = resp.read()
            return resp.status, time.perf_counter() - t0, dict(resp.headers), body
    except urllib.error.HTTPError as exc:
        return exc.code, time.perf_counter() - t0, dict(exc.headers), b""


def _followers(base: str) -> list[float]:
    req = urllib.request.Request(f"{base}/chapters/tail-latency/session/live", data=b"",  # noqa: S310 - localhost
                                 method="POST")
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(req, timeout=30)
        raise RuntimeError("opening a room did not redirect")
    except urllib.error.HTTPError as exc:
        location = exc.headers["Location"]
    code = re.search(r"live=([A-Z0-9]+)", location).group(1)
    key = location.split("#key=")[1]
    lat: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS

    def facilitator():
        step = 1
        while time.monotonic() < stop:
            step = step % 8 + 1
            body = json.dumps({"step": step, "query": f"fanout={10 * step}"}).encode()
            urllib.request.urlopen(urllib.request.Request(  # noqa: S310 - localhost
                f"{base}/s/{code}/state.json", data=body, method="POST",
                headers={"Content-Type": "application/json", "X-Live-Key": key}), timeout=30).read()
            time.sleep(5)

    def participant():
        etag, query = None, None
        while time.monotonic() < stop:
            status, took, headers, body = _get(f"{base}/s/{code}/state.json",
                                               {"If-None-Match": etag} if etag else {})
            mine = [took]
            if status == 200:
                etag = headers.get("ETag")
                state = json.loads(body)
                if state["query"] and state["query"] != query:
                    query = state["query"]
                    mine.append(_get(f"{base}/simulations/fanout/figure?{query}")[1])
            with lock:
                lat.extend(mine)
            time.sleep(1.0)

    threads = [threading.Thread(target=facilitator)] + [
        threading.Thread(target=participant) for _ in range(PEOPLE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat


def _readers(base: str) -> list[float]:
    lat: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + SECONDS
    rng = random.Random(7)
    values = iter(rng.sample(range(2, 501), 499))
    take = threading.Lock()

    def reader():
        while time.monotonic() < stop:
            with take:
                v = next(values, None)
            if v is None:
                return
            took = _get(f"{base}/simulations/fanout/figure?fanout={v}&requests=500")[1]
            with lock:
                lat.append(took)
            time.sleep(2.0)

    threads = [threading.Thread(target=reader) for _ in range(PEOPLE)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return lat


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def sections(ctx: Context) -> list[Section]:
    rows = []
    with gunicorn() as base:
        port = int(base.rsplit(":", 1)[1])
        for name, run in (("40 followers of one live session", _followers),
                          ("40 readers moving sliders", _readers)):
            cpu0, t0 = _server_cpu_s(port), time.monotonic()
            lat = run(base)
            wall = time.monotonic() - t0
            cpu = _server_cpu_s(port) - cpu0
            ctx.log(f"{name}: {len(lat)} requests, server CPU {cpu:.1f} s in {wall:.0f} s")
            ms = [x * 1000 for x in lat]
            rows.append([name, f"{len(lat) / wall:.1f}", fmt_ms(pct(ms, 50)), fmt_ms(pct(ms, 95)),
                         f"{cpu / wall:.2f}"])
    return [Section(
        title="Live sessions: followers against readers",
        head=("load", "requests/s", "p50", "p95", "server CPU s per s"),
        rows=rows,
        note=(f"{PEOPLE} clients for {SECONDS:.0f} s each against the real server on this "
              "machine. Followers poll the room once a second with an ETag (an unchanged room "
              "is a 304 from one cache read) and fetch the figure only when the facilitator "
              "changes it (a cached run); readers each ask for a new slider value every 2 s "
              "(cold runs)."),
    )]
