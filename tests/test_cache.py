"""The shared cache: every process of a machine (file) or of a fleet (Redis) sees one store,
and a cache that goes away means uncached serving, said once in the log and in /readyz."""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest
from django.core.cache import cache
from django.test import override_settings
from opstools import redis_server

from devtools.localserver import free_port, gunicorn
from monograph import cache as shared
from monograph.settings import _cache

QUERY = "/simulations/fanout.json?fanout=7&seed=4242"


def _get_json(url: str) -> tuple[int, dict]:
    with urllib.request.urlopen(url, timeout=30) as resp:
        return resp.status, json.loads(resp.read())


@pytest.fixture
def dead_redis():
    """Settings pointing at a Redis port nobody listens on."""
    with override_settings(CACHES={"default": _cache(f"redis://127.0.0.1:{free_port()}/0")}):
        yield


def test_the_default_cache_is_a_directory_every_worker_of_the_machine_shares():
    from monograph.settings import DEFAULT_CACHE_URL

    assert _cache(DEFAULT_CACHE_URL)["BACKEND"] == "monograph.cache.FileCache"
    assert _cache(DEFAULT_CACHE_URL)["OPTIONS"]["MAX_ENTRIES"] > 0  # bounded


def test_a_relative_file_cache_path_is_refused_with_the_form_to_use():
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match="file:///absolute/path"):
        _cache("file://relative/dir")


def test_a_corrupt_cache_file_reads_as_a_miss_not_an_error(tmp_path):
    with override_settings(CACHES={"default": _cache(f"file://{tmp_path}")}):
        cache.set("k", {"v": 1})
        for f in tmp_path.glob("*.djcache"):
            f.write_bytes(b"not a pickle")
        assert cache.get("k", "miss") == "miss"


def test_an_unreachable_redis_is_a_miss_logged_once_per_outage(dead_redis, caplog, monkeypatch):
    monkeypatch.setattr(shared, "RETRY_AFTER_S", 0.0)  # try the socket every time
    caplog.set_level(logging.INFO, logger="monograph.cache")
    for i in range(20):
        cache.set(f"k{i}", i)
        assert cache.get(f"k{i}") is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in caplog.records]
    assert "serving uncached" in warnings[0].getMessage()


def test_a_figure_is_served_while_redis_is_unreachable(client, dead_redis):
    resp = client.get(QUERY)
    assert resp.status_code == 200
    assert resp.json()["cached"] is False


def test_readyz_stays_ready_but_says_the_cache_is_degraded(client, dead_redis):
    resp = client.get("/readyz")
    assert resp.status_code == 200
    assert resp.json()["status"] == "degraded"
    assert resp.json()["checks"]["cache"] == "degraded"


def _computed_here_then_hit_there(client, url: str, server: str) -> None:
    """This test process runs the figure; the gunicorn server, another process, hits it."""
    with override_settings(CACHES={"default": _cache(url)}):
        here = client.get(QUERY).json()
    assert here["cached"] is False
    status, there = _get_json(server + QUERY)
    assert status == 200 and there["cached"] is True
    assert there["metrics"] == here["metrics"]


def test_a_result_computed_by_one_process_is_a_hit_in_another_on_the_same_machine(client, tmp_path):
    url = f"file://{tmp_path}/shared"
    with gunicorn(workers=1, env={"MONOGRAPH_CACHE_URL": url}) as server:
        _computed_here_then_hit_there(client, url, server)


def test_processes_share_one_redis_and_keep_serving_when_it_is_killed(client):
    with redis_server() as redis, gunicorn(workers=1, env={"MONOGRAPH_CACHE_URL": redis.url}) as url:
        _computed_here_then_hit_there(client, redis.url, url)
        assert _get_json(url + "/readyz")[1]["checks"]["cache"] == "ok"

        redis.stop()
        other = QUERY.replace("seed=4242", "seed=4243")
        for _ in range(3):
            status, body = _get_json(url + other)
            assert status == 200 and body["cached"] is False
        with urllib.request.urlopen(url + "/simulations/fanout/", timeout=30) as page:
            assert page.status == 200
        status, ready = _get_json(url + "/readyz")
        assert status == 200 and ready["checks"]["cache"] == "degraded"
        with urllib.request.urlopen(url + "/metrics", timeout=30) as resp:
            assert "monograph_cache_errors_total" in resp.read().decode()

        redis.start()  # back on the same port (empty): readiness sees it at once
        assert _get_json(url + "/readyz")[1]["checks"]["cache"] == "ok"


def test_the_cache_bench_times_a_hit_on_every_backend():
    from opstools import require

    from devtools import cache_bench

    require("redis-server")
    text = cache_bench.table(cache_bench.measure(runs=3), runs=3)
    for backend in ("locmem://", "file (local disk)", "redis (localhost)"):
        assert f"| {backend} |" in text
