"""gunicorn settings for `make run` and production (same image, MONOGRAPH_ENV decides)."""

import os

from prometheus_client import multiprocess

# Simulations are CPU-bound: one process per core, and a timeout well above the 2 s
# ceiling every simulation is held to (bigger requests are refused with a 400).
# Threads (gthread) so that a slow client holds one thread, not the process, and so that
# cached hits and pages never queue behind a cold run: the CPU work itself is bounded per
# process by admission control (monograph/admission.py), not by the thread count.
# Why threads and not an async worker or a proxy: docs/serving.md.
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
# 64: every request in flight is inside the app, where admission control sees its deadline;
# with fewer, a burst waits in gunicorn's own queue, unseen (measured: docs/loadtest.md).
threads = int(os.environ.get("THREADS", "64"))
keepalive = 5  # idle keep-alive connections wait in the poller, not in a thread
timeout = 30
graceful_timeout = 10
accesslog = None  # the app logs every request itself, with its request id
errorlog = "-"
preload_app = True  # validate content once, before forking: bad content stops the start


def child_exit(server, worker):
    """Drop a finished worker's Prometheus files."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)


def when_ready(server):
    """Warm the master before workers fork, so the first reader is not the warm-up.

    Also start the machine's one image renderer (kaleido + Chromium), shared by every
    worker over a unix socket: its socket path is in the environment the workers inherit.
    """
    from monograph import renderer
    from monograph.warmup import warm

    if os.environ.get("MONOGRAPH_IMAGES", "1") != "0":
        renderer.start_shared()
    warm()


def post_worker_init(worker):
    """Warm the chapters' live numbers in the background once the worker serves."""
    from monograph.warmup import warm_live_numbers_in_background

    warm_live_numbers_in_background()


def on_exit(server):
    """Stop the image renderer with the server."""
    from monograph import renderer

    renderer.stop_shared()
