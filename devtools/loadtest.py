"""`make loadtest`: the classroom of 25, the 50 requests/s overload, and capacity, measured
with Locust against the real gunicorn (started as `make run` starts it, on a free local
port), then written to docs/loadtest.md and docs/capacity.md.

    python -m devtools.loadtest                # the configuration as shipped
    python -m devtools.loadtest --baseline     # before: no admission control, 1 thread
    python -m devtools.loadtest --quick        # 20 s runs, to try the tooling

Bounded: at most 100 users, 60 s per scenario, localhost only. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "monograph.settings")
LOCUSTFILE = Path(__file__).with_name("locustfile.py")
WORKERS = 2

# name: (user class, users, seconds, extra server environment)
SCENARIOS = {
    "classroom": ("Classroom", 25, 60, {}),
    "overload": ("Overload", 100, 60, {}),
}
# Users started per second (default: all in the first second). The overload's users send at
# once when started and then every 2 s: started 50 a second, they offer 50 requests/s from
# the first second on; all 100 in one second would offer a 100-request burst first.
SPAWN_RATE = {"Overload": 50}
CAPACITY = {
    "cached": ("Cached", 8, 20, {}),
    "cold": ("Cold", 4, 20, {"MONOGRAPH_DEGRADE": "0"}),
}


@contextmanager
def server(env: dict[str, str]):
    import django

    django.setup()
    from devtools import localserver

    saved = dict(os.environ)
    os.environ.update(env)
    try:
        with localserver.gunicorn(workers=WORKERS) as url:
            yield url
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run_locust(url: str, user_class: str, users: int, seconds: int, log: Path) -> None:
    cmd = [sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
           "-u", str(users), "-r", str(SPAWN_RATE.get(user_class, users)), "-t", f"{seconds}s",
           "--stop-timeout", "5",
           "--host", url, "--loglevel", "WARNING", user_class]
    subprocess.run(cmd, check=True, env={**os.environ, "LOG": str(log)},  # noqa: S603
                   stdout=subprocess.DEVNULL, timeout=seconds + 120)


def counters(url: str) -> dict[str, float]:
    """Shed and degraded counts from /metrics (summed over workers)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:  # noqa: S310
        text = resp.read().decode()
    out: dict[str, float] = {}
    for line in text.splitlines():
        m = re.match(r"^(monograph_shed_total|monograph_degraded_runs_total)(\{[^}]*\})? (\S+)$", line)
        if m:
            out[m[1] + (m[2] or "")] = out.get(m[1] + (m[2] or ""), 0) + float(m[3])
    return out


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q / 100 * (len(values) - 1)))]


def analyse(log: Path, seconds: int) -> dict:
    rows = list(csv.DictReader(log.open()))
    start = min(float(r["start"]) for r in rows)
    ms = [float(r["ms"]) for r in rows]
    status = [int(r["status"]) for r in rows]
    shed = [r for r in rows if r["status"] in ("429", "503")]
    buckets = []
    for b in range(0, seconds, 10):
        part = [r for r in rows if b <= float(r["start"]) - start < b + 10]
        lat = [float(r["ms"]) for r in part]
        buckets.append((b, len(lat), pct(lat, 50), pct(lat, 95),
                        sum(r["status"] in ("429", "503") for r in part),
                        sum(float(r["ms"]) > 1000 for r in part)))
    ok = [float(r["ms"]) for r in rows if r["status"] == "200"]
    full_asked = [r for r in rows if r["asked"] == "full" and r["status"] == "200"]
    return {
        "requests": len(rows), "rps": len(rows) / seconds,
        "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99), "max": max(ms),
        "ok": status.count(200), "s429": status.count(429), "s503": status.count(503),
        "s5xx_other": sum(1 for s in status if s >= 500 and s != 503),
        "failed": status.count(0),
        "shed_with_retry_after": sum(1 for r in shed if r["retry_after"]),
        "shed": len(shed),
        "within_1s": sum(1 for m in ms if m <= 1000) / len(ms),
        # the overload target, request by request: answered within 1 s, or refused with
        # Retry-After (however long the refusal took)
        "met": sum(1 for r in rows if (r["status"] == "200" and float(r["ms"]) <= 1000)
                   or (r["status"] in ("429", "503") and r["retry_after"])) / len(rows),
        "ok_p95": pct(ok, 95),
        "drag": sum(r["got"] == "drag" for r in rows),
        "busy": sum(r["got"] == "busy" for r in rows),
        "full_asked": len(full_asked),
        "full_got": sum(r["got"] == "full" for r in full_asked),
        "full_p95": pct([float(r["ms"]) for r in full_asked], 95),
        "drag_p95": pct([float(r["ms"]) for r in rows if r["asked"] == "preview"], 95),
        "buckets": buckets,
    }


def table(name: str, a: dict, extra: dict[str, float]) -> str:
    runs = sum(v for k, v in extra.items() if k.startswith("monograph_degraded"))
    reasons = ", ".join(f"{m[2]} {m[1]}: {v:.0f}" for k, v in sorted(extra.items())
                        if (m := re.search(r'reason="([^"]+)",status="(\d+)"', k))) or "none"
    lines = [
        f"#### {name}",
        "",
        "| requests | req/s | p50 | p95 | p99 | max | 200 | 429 | 503 | other 5xx | no answer "
        "| shed with Retry-After | answered ≤ 1 s | answered ≤ 1 s or shed with Retry-After "
        "| drag previews | busy previews | full runs asked → full |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {a['requests']} | {a['rps']:.1f} | {a['p50']:.0f} ms | {a['p95']:.0f} ms "
        f"| {a['p99']:.0f} ms | {a['max']:.0f} ms | {a['ok']} | {a['s429']} | {a['s503']} "
        f"| {a['s5xx_other']} | {a['failed']} | {a['shed_with_retry_after']} of {a['shed']} "
        f"| {a['within_1s']:.1%} | {a['met']:.1%} | {a['drag']} | {a['busy']} "
        f"| {a['full_got']} of {a['full_asked']} ({a['full_got'] / max(a['full_asked'], 1):.0%}) |",
        "",
        f"p95 of requests asking for the full run (a release, or every move without drag "
        f"previews): {a['full_p95']:.0f} ms"
        + (f"; of `preview=1` requests: {a['drag_p95']:.0f} ms." if a["drag"] else "."),
        "",
        f"Refusals by reason (server side): {reasons}. Quick preview runs (server side): "
        f"{runs:.0f}.",
        "",
        "Build-up over the run (by the second the request was sent):",
        "",
        "| seconds | requests | p50 | p95 | refused | over 1 s |",
        "|---|---|---|---|---|---|",
    ]
    lines += [f"| {b}–{b + 10} | {n} | {p50:.0f} ms | {p95:.0f} ms | {shed} | {slow} |" if n else
              f"| {b}–{b + 10} | 0 | – | – | – | – |" for b, n, p50, p95, shed, slow in a["buckets"]]
    return "\n".join(lines) + "\n"


def replace_section(path: Path, marker: str, body: str, header: str) -> None:
    text = path.read_text() if path.exists() else header
    begin, end = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
    block = f"{begin}\n{body}\n{end}"
    if begin in text:
        text = re.sub(re.escape(begin) + ".*?" + re.escape(end), lambda _: block, text, flags=re.S)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", action="store_true",
                    help="measure without admission control and with one thread per worker")
    ap.add_argument("--quick", action="store_true", help="20 s per scenario (trying the tooling)")
    ap.add_argument("--skip-capacity", action="store_true")
    ap.add_argument("--only", choices=sorted(SCENARIOS), help="one scenario (not written to docs)")
    args = ap.parse_args()
    label = "baseline" if args.baseline else "current"
    base_env = {"MONOGRAPH_BEHIND_PROXY": "1", "MONOGRAPH_LOG_LEVEL": "WARNING"}
    if args.baseline:
        base_env |= {"MONOGRAPH_ADMISSION": "0", "THREADS": "1"}
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    cores = os.cpu_count() or 1
    out = [f"Measured {stamp} on this machine ({cores} cores, shared with other work), "
           f"{WORKERS} gunicorn workers, Locust on the same machine. Command: "
           f"`python -m devtools.loadtest{' --baseline' if args.baseline else ''}`"
           f" (`make loadtest{' BASELINE=1' if args.baseline else ''}`).\n"]
    with tempfile.TemporaryDirectory(prefix="loadtest-") as tmp:
        for name, (cls, users, seconds, env) in SCENARIOS.items():
            if args.only and name != args.only:
                continue
            seconds = 20 if args.quick else seconds
            with server(base_env | env) as url:
                log = Path(tmp) / f"{name}.csv"
                load_before = os.getloadavg()[0]
                run_locust(url, cls, users, seconds, log)
                extra = counters(url)
            a = analyse(log, seconds)
            load = os.getloadavg()[0]
            out.append(table(f"{name}: {users} users, {seconds} s (machine load average "
                             f"{load_before:.1f} before, {load:.1f} at the end)", a, extra))
            print(f"{name}: p50 {a['p50']:.0f} p95 {a['p95']:.0f} p99 {a['p99']:.0f} ms, "
                  f"{a['rps']:.1f} req/s, 429 {a['s429']}, 503 {a['s503']}, "
                  f"other 5xx {a['s5xx_other']}, no answer {a['failed']}, drag previews "
                  f"{a['drag']}, busy previews {a['busy']}, full {a['full_got']} of "
                  f"{a['full_asked']} asked (p95 {a['full_p95']:.0f} ms), >1 s {1 - a['within_1s']:.2%}, "
                  f"answered ≤ 1 s or refused with "
                  f"Retry-After {a['met']:.2%}, load {load:.1f}; "
                  f"refused by 10 s: {[bk[4] for bk in a['buckets']]}, over 1 s by 10 s: "
                  f"{[bk[5] for bk in a['buckets']]}; {extra}", flush=True)
        if args.only:
            return
        replace_section(ROOT / "docs" / "loadtest.md", f"loadtest:{label}", "\n".join(out),
                        "# Load test\n")
        if args.baseline or args.skip_capacity:
            return
        cap = [f"Measured {stamp}, {WORKERS} workers on {cores} shared cores; fragment requests "
               f"(`/simulations/fanout/figure`, defaults). Command: `make loadtest`.\n",
               "| request | users | req/s | per core | p50 | p95 |", "|---|---|---|---|---|---|"]
        for name, (cls, users, seconds, env) in CAPACITY.items():
            with server(base_env | env) as url:
                log = Path(tmp) / f"{name}.csv"
                run_locust(url, cls, users, seconds, log)
            a = analyse(log, seconds)
            ok = a["ok"] / seconds
            cap.append(f"| {name} | {users} | {ok:.1f} | {ok / min(WORKERS, cores):.1f} "
                       f"| {a['p50']:.0f} ms | {a['p95']:.0f} ms |")
            print(f"capacity {name}: {ok:.1f} req/s answered 200", flush=True)
        replace_section(ROOT / "docs" / "capacity.md", "capacity:measured", "\n".join(cap),
                        "# Capacity\n")


if __name__ == "__main__":
    main()
