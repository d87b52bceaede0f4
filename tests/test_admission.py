"""Admission control: bounded work, cheap refusals with Retry-After, per-client limits,
quick previews under pressure, and statuses that say what happened (405, JSON 404)."""

from __future__ import annotations

import contextlib
import time

import pytest

import simulations
from monograph import admission

FANOUT = simulations.get("fanout")


@pytest.fixture
def limits(settings):
    """Tight limits for one test: only the named ones change."""

    def set_(**kw):
        settings.ADMISSION = {**settings.ADMISSION, **kw}

    return set_


@contextlib.contextmanager
def busy_gate(full: bool = True):
    """Another run holds a slot of this process's gate for the duration."""
    cfg = admission.Config.current()
    with admission.GATE.enter(cfg, time.monotonic() + 60, full=full):
        yield


# -- the gate ---------------------------------------------------------------------------
def test_a_cold_run_beyond_the_queue_gets_a_503_with_retry_after(client, limits):
    limits(max_runs=1, max_queue=0)
    with busy_gate():
        resp = client.get("/simulations/fanout.json?seed=11")
    assert resp.status_code == 503
    assert int(resp["Retry-After"]) >= 1
    assert resp.json()["reason"] == "queue_full"


def test_a_run_that_cannot_start_within_the_wait_is_shed(client, limits):
    limits(max_runs=1, max_queue=4, max_wait_s=0.05)
    with busy_gate():
        resp = client.get("/simulations/fanout.json?seed=12")
    assert resp.status_code == 503 and resp.json()["reason"] == "wait_timeout"


def test_requests_beyond_the_active_slots_wait_then_get_a_503_but_probes_answer(client, limits):
    limits(max_active=1, max_wait_s=0.05)
    cfg = admission.Config.current()
    admission.LANE.acquire(cfg, time.monotonic() + 60)  # another request is being served
    try:
        resp = client.get("/")
        assert resp.status_code == 503 and resp["Retry-After"]
        assert client.get("/healthz").status_code == 200
    finally:
        admission.LANE.release()
    assert client.get("/").status_code == 200


def test_a_request_waiting_for_a_cold_run_gives_its_slot_to_cached_hits(client, limits):
    assert client.get("/simulations/fanout.json?seed=23").status_code == 200  # now cached
    limits(max_active=1, max_runs=1, max_queue=4, max_wait_s=5.0)
    import threading

    from django.test import Client

    with busy_gate():  # its own client: test clients are not shared between threads
        waiting = threading.Thread(target=Client().get, args=("/simulations/drift.json?seed=24",))
        waiting.start()
        for _ in range(200):  # until it waits at the gate (not a timing assertion)
            if admission.GATE.waiting:
                break
            time.sleep(0.01)
        assert admission.GATE.waiting == 1
        assert client.get("/simulations/fanout.json?seed=23").status_code == 200
    waiting.join(timeout=30)


def test_work_whose_deadline_has_passed_is_dropped_before_it_starts(client, limits):
    limits(deadline_s=0.0)
    resp = client.get("/simulations/fanout.json?seed=13")
    assert resp.status_code == 503 and resp.json()["reason"] == "deadline"
    assert client.get("/healthz").status_code == 200  # probes never meet the gate


def test_cached_results_and_pages_bypass_a_full_gate(client, limits):
    assert client.get("/simulations/fanout.json?seed=14").status_code == 200
    limits(max_runs=1, max_queue=0)
    with busy_gate():
        assert client.get("/simulations/fanout.json?seed=14").status_code == 200
        assert client.get("/").status_code == 200
        assert client.get("/healthz").status_code == 200


def test_a_shed_slider_move_is_short_text_with_retry_after(client, limits):
    limits(max_runs=1, max_queue=0)
    with busy_gate():
        resp = client.get("/simulations/drift/figure?seed=15", HTTP_HX_REQUEST="true")
    assert resp.status_code == 503
    assert resp["Content-Type"].startswith("text/plain") and resp["Retry-After"]
    assert b"busy" in resp.content


# -- degrade before refusing ------------------------------------------------------------
def test_under_pressure_a_slider_move_gets_a_labelled_quick_preview(client, limits):
    limits(max_runs=2)
    with busy_gate():  # a full run is in progress: the newcomer must not start another
        resp = client.get("/simulations/fanout/figure?seed=16&requests=2000",
                          HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    text = resp.content.decode()
    assert 'class="preview-note"' in text and "200 instead of 2,000" in text
    # The permalink still asks for the full run the reader chose.
    assert "requests=2000" in resp["HX-Replace-Url"]


def test_previews_continue_for_the_brownout_after_a_busy_spell(client, limits):
    limits(max_runs=2, brownout_s=60.0)
    with busy_gate():  # a newcomer meets a busy gate…
        assert client.get("/simulations/fanout/figure?seed=19", HTTP_HX_REQUEST="true"
                          ).status_code == 200
    # …so the next one gets a preview too, though the gate is idle again.
    text = client.get("/simulations/fanout/figure?seed=20", HTTP_HX_REQUEST="true").content
    assert b'class="preview-note"' in text


def test_a_quick_preview_is_never_cached_as_the_full_result(client, limits):
    limits(max_runs=2)
    with busy_gate():
        client.get("/simulations/fanout/figure?seed=17", HTTP_HX_REQUEST="true")
    data = client.get("/simulations/fanout.json?seed=17").json()
    assert data["params"]["requests"] == 2000 and "preview" not in data
    assert data["cached"] is False


def test_exports_are_never_degraded(client, limits):
    limits(max_runs=2)
    with busy_gate(full=False):  # a preview is running: pressure, but the full lane is free
        data = client.get("/simulations/fanout.json?seed=18").json()
    assert data["params"]["requests"] == 2000 and "preview" not in data


def test_quick_lowers_the_declared_sample_size_never_below_its_minimum():
    p = FANOUT.defaults()
    quick = FANOUT.quick(p)
    assert quick.requests == 200 and quick.fanout == p.fanout
    assert FANOUT.quick(quick) is None  # already at the minimum: nothing quicker
    assert FANOUT.quick(p, factor=1) is None
    assert simulations.get("spike").quick(simulations.get("spike").defaults()) is None


def test_a_simulation_declares_at_most_one_sample_size():
    from dataclasses import replace

    params = tuple(replace(p, sample_size=True) if p.kind == "int" else p for p in FANOUT.params)
    with pytest.raises(TypeError, match="at most one"):
        replace(FANOUT, params=params)


# -- per-client limits ------------------------------------------------------------------
def test_exports_beyond_the_clients_allowance_get_a_429_with_retry_after(client, limits):
    limits(rate_exports=2, rate_window_s=60)
    for _ in range(2):
        assert client.get("/simulations/fanout.json").status_code == 200
    resp = client.get("/simulations/fanout.csv")
    assert resp.status_code == 429
    assert 1 <= int(resp["Retry-After"]) <= 60
    assert "at most 2" in resp.json()["error"]
    # Another address has its own allowance.
    assert client.get("/simulations/fanout.json", REMOTE_ADDR="10.0.0.9").status_code == 200


def test_a_client_that_used_its_simulation_time_gets_429_but_cached_results(client, limits):
    limits(rate_run_ms=1, rate_window_s=60)
    assert client.get("/simulations/fanout.json?seed=21").status_code == 200
    resp = client.get("/simulations/fanout.json?seed=22")
    assert resp.status_code == 429 and resp.json()["reason"] == "run_budget"
    assert client.get("/simulations/fanout.json?seed=21").status_code == 200  # cached


def test_forwarded_addresses_count_only_behind_a_proxy(client, limits, settings):
    limits(rate_exports=1, rate_window_s=60)
    settings.ADMISSION_BEHIND_PROXY = False
    assert client.get("/simulations/fanout.json", HTTP_X_FORWARDED_FOR="1.1.1.1").status_code == 200
    assert client.get("/simulations/fanout.json", HTTP_X_FORWARDED_FOR="2.2.2.2").status_code == 429
    settings.ADMISSION_BEHIND_PROXY = True
    assert client.get("/simulations/fanout.json",
                      HTTP_X_FORWARDED_FOR="6.6.6.6, 3.3.3.3").status_code == 200
    assert client.get("/simulations/fanout.json",
                      HTTP_X_FORWARDED_FOR="7.7.7.7, 3.3.3.3").status_code == 429


# -- statuses ---------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["post", "delete", "put", "patch"])
def test_writing_methods_get_405_with_allow_not_a_csrf_403(client, method):
    resp = getattr(client, method)("/simulations/fanout.json")
    assert resp.status_code == 405 and resp["Allow"] == "GET, HEAD"
    assert "is not allowed here (use GET, HEAD)" in resp.json()["error"]
    page = getattr(client, method)("/chapters/tail-latency/")
    assert page.status_code == 405 and page["Allow"] == "GET, HEAD"


def test_a_view_that_takes_a_post_says_so_and_refuses_other_methods(client):
    # A live room's state takes the facilitator's POST; DELETE is still refused, naming POST.
    resp = client.delete("/s/ABCDEF/state.json")
    assert resp.status_code == 405 and resp["Allow"] == "GET, HEAD, POST"
    assert client.post("/s/ABCDEF/state.json").status_code == 404  # no such room, not a 405


@pytest.mark.parametrize("path", ["/simulations/nope.json", "/simulations/nope.csv",
                                  "/simulations/nope.png", "/api/nope"])
def test_unknown_data_urls_get_a_json_404(client, path):
    resp = client.get(path)
    assert resp.status_code == 404
    assert resp["Content-Type"] == "application/json" and resp.json()["error"]


def test_an_unknown_page_still_gets_the_books_404_page(client):
    resp = client.get("/chapters/nope/")
    assert resp.status_code == 404 and resp["Content-Type"].startswith("text/html")


def test_openapi_states_cross_parameter_limits_and_every_flag_spelling(client):
    spec = client.get("/api/openapi.json").json()
    op = spec["paths"]["/simulations/fanout.json"]["get"]
    assert "fanout × requests must be at most 2,000,000" in op["description"]
    requests = next(p for p in op["parameters"] if p["name"] == "requests")
    assert "fanout × requests" in requests["description"]
    reruns = spec["paths"]["/simulations/reruns.json"]["get"]
    flag = next(p for p in reruns["parameters"] if p["name"] == "pinned_seed")
    for spelling in flag["schema"]["enum"]:  # everything the spec offers parses
        assert client.get(f"/simulations/reruns.json?pinned_seed={spelling}&reruns=100"
                          ).status_code == 200
