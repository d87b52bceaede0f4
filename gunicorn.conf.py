"""gunicorn settings for `make run` and production (same image, MONOGRAPH_ENV decides)."""

import os

from prometheus_client import multiprocess

# Simulations are CPU-bound: one process per core, and a timeout well above the 2 s
# ceiling every simulation is held to (bigger requests are refused with a 400).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = 1
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


def on_exit(server):
    """Stop the image renderer with the server."""
    from monograph import renderer

    renderer.stop_shared()
