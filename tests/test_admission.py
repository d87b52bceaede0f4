"""Admission control: bounded work, cheap refusals with Retry-After, per-client limits,
quick previews under pressure, and statuses that say what happened (405, JSON 404)."""

from __future__ import annotations

import contextlib
import math
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
def busy_gate(full: bool = True, cost: float = 60.0):
    """Another run, estimated to take `cost` seconds, holds a slot of this process's gate."""
    cfg = admission.Config.current()
    with admission.GATE.enter(cfg, full, cost, latest_start=admission.clock() + 60):
        yield


@pytest.fixture
def fake_clock(monkeypatch):
    """admission's clock, stopped at 100 s until a test moves it (now[0] += …)."""
    now = [100.0]
    monkeypatch.setattr(admission, "clock", lambda: now[0])
    return now


@pytest.fixture
def costs(monkeypatch):
    """Fake run-cost estimates: full fan-out runs cost `full` seconds, quick ones `quick`."""

    def set_(full: float, quick: float):
        size = FANOUT.sample_param.name
        default = getattr(FANOUT.defaults(), size)
        monkeypatch.setattr(admission.COSTS, "estimate",
                            lambda key, _default: full if key[1] == default else quick)

    return set_


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


# -- predicting the wait and the cost (a fake clock, no timing) -----------------------------
def test_the_gate_predicts_a_newcomers_wait_from_what_runs_and_waits():
    cfg = admission.Config(max_runs=2)
    gate = admission.Gate()
    gate.jobs = [admission.Job(full=True, cost=1.0, started=0.0),   # full run, done at 1.0
                 admission.Job(full=False, cost=0.2, started=0.0)]  # preview, done at 0.2
    assert gate.predicted_wait(cfg, False, now=0.1) == pytest.approx(0.1)  # a slot at 0.2
    assert gate.predicted_wait(cfg, True, now=0.1) == pytest.approx(0.9)   # the lane at 1.0
    gate.jobs.append(admission.Job(full=True, cost=0.5))  # a full run waits for the lane
    assert gate.predicted_wait(cfg, True, now=0.1) == pytest.approx(1.4)   # after it: 1.5
    assert gate.predicted_wait(cfg, False, now=0.1) == pytest.approx(0.1)


def test_the_gate_never_starts_work_whose_latest_start_has_passed(fake_clock):
    cfg = admission.Config(max_runs=2)
    gate = admission.Gate()
    with pytest.raises(admission.Shed) as shed, gate.enter(cfg, True, 0.5, latest_start=99.9):
        pass
    assert shed.value.reason == "deadline" and gate.jobs == []
    with gate.enter(cfg, True, 0.5, latest_start=100.0) as job:  # just in time: it starts
        assert job.started == 100.0


def test_a_request_that_could_not_be_answered_by_its_deadline_does_not_wait_for_a_slot(
        fake_clock):
    cfg = admission.Config(max_active=1, margin_s=0.15)
    lane = admission.Lane()
    lane.active = 1  # another request holds the only slot
    with pytest.raises(admission.Shed) as shed:  # 0.1 s left, less than the margin
        lane.acquire(cfg, deadline=fake_clock[0] + 0.1)
    assert shed.value.status == 503 and lane.active == 1


def test_run_costs_are_learned_and_an_unseen_kind_borrows_its_dearest_relative(fake_clock):
    costs = admission.Costs()
    for _ in range(50):
        costs.observe(("fanout", 2000, 3), wall=0.1, cpu=0.1)
    assert costs.estimate(("fanout", 2000, 3), 9.0) == pytest.approx(0.1, abs=1e-3)
    costs.observe(("fanout", 2000, 9), wall=0.4, cpu=0.4)  # first sight: 0.4 + 2 × 0.4 / 4
    assert costs.estimate(("fanout", 2000, 9), 9.0) == pytest.approx(0.6)
    assert costs.estimate(("fanout", 2000, 6), 9.0) == pytest.approx(0.6)  # the dearer one
    # A tenth of the sample: scaled by the square root (erring high), not by a tenth.
    assert costs.estimate(("fanout", 200, 6), 9.0) == pytest.approx(0.6 * math.sqrt(0.1))
    assert costs.estimate(("fanout", 20000, 6), 9.0) == pytest.approx(6.0)  # ten times the sample
    assert costs.estimate(("drift", 200, 6), 9.0) == 9.0  # nothing known: the default


def test_a_run_that_costs_more_than_usual_raises_the_estimate_above_the_average(fake_clock):
    costs = admission.Costs()
    for seconds in [0.1, 0.1, 0.1, 0.1, 0.5] * 10:
        costs.observe(("fanout", 2000, 3), wall=seconds, cpu=seconds)
    # The mean moves toward 0.18 (the true average); the deviation term keeps the estimate
    # well above it, so the dear runs seldom overrun (RFC 6298's estimator, K = 2).
    assert costs.estimate(("fanout", 2000, 3), 9.0) > 0.3


def test_a_crowded_machine_slows_every_estimate_then_the_slowdown_fades(fake_clock):
    costs = admission.Costs()
    for _ in range(50):
        costs.observe(("fanout", 2000, 3), wall=0.1, cpu=0.1)
    for _ in range(50):  # other runs now take four times their CPU time on the clock
        costs.observe(("drift", None, 2), wall=0.04, cpu=0.01)
    assert costs.slowdown() == pytest.approx(4.0, rel=0.01)
    assert costs.estimate(("fanout", 2000, 3), 9.0) == pytest.approx(0.4, rel=0.02)
    fake_clock[0] += 10 * costs.SLOWDOWN_HALF_LIFE_S  # no run has reported since
    assert costs.estimate(("fanout", 2000, 3), 9.0) == pytest.approx(0.1, rel=0.02)


def test_work_measured_only_on_the_clock_keeps_its_wall_time(fake_clock):
    costs = admission.Costs()
    for _ in range(50):
        costs.observe(("drift", None, 2), wall=0.04, cpu=0.01)  # slowdown 4
    costs.observe(admission.IMAGE, wall=0.2)
    assert costs.estimate(admission.IMAGE, 9.0) == pytest.approx(0.3)  # 0.2 + 2 × 0.05


def test_the_cost_kind_is_the_simulation_its_sample_size_and_main_parameters_magnitude():
    p = FANOUT.defaults()
    key = admission.cost_key(FANOUT, p)
    assert key == ("fanout", p.requests, round(math.log2(p.fanout)))
    assert admission.cost_key(FANOUT, FANOUT.quick(p))[1] == p.requests // 10


# -- degrade before refusing ------------------------------------------------------------
def test_under_pressure_a_slider_move_gets_a_labelled_quick_preview(client, limits):
    limits(max_runs=2, full_budget_s=0.25)
    with busy_gate():  # a full run is in progress: the newcomer must not start another
        resp = client.get("/simulations/fanout/figure?seed=16&requests=2000",
                          HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    text = resp.content.decode()
    assert 'class="preview-note"' in text and "200 instead of 2,000" in text
    # The permalink still asks for the full run the reader chose.
    assert "requests=2000" in resp["HX-Replace-Url"]


def test_a_slider_move_gets_the_full_run_while_a_preview_runs_if_it_fits_the_budget(
        client, limits, costs):
    limits(max_runs=2, full_budget_s=0.25)
    costs(full=0.1, quick=0.01)
    with busy_gate(full=False, cost=0.05):  # busy, but a full run would still be quick enough
        text = client.get("/simulations/fanout/figure?seed=19", HTTP_HX_REQUEST="true").content
    assert b'class="preview-note"' not in text


def test_a_slider_move_gets_a_preview_when_waiting_for_the_full_lane_would_break_the_budget(
        client, limits, costs):
    limits(max_runs=2, full_budget_s=0.25)
    costs(full=0.1, quick=0.01)
    with busy_gate(full=True, cost=30.0):  # the full lane is busy far beyond the budget
        text = client.get("/simulations/fanout/figure?seed=20", HTTP_HX_REQUEST="true").content
    assert b'class="preview-note"' in text


def test_on_an_idle_gate_a_slider_move_gets_its_full_run_even_beyond_the_latency_budget(
        client, limits, costs):
    """A reader alone, letting go of a slider: degrading would spare nobody."""
    limits(full_budget_s=0.25, deadline_s=1.0, margin_s=0.15)
    costs(full=0.5, quick=0.05)
    text = client.get("/simulations/fanout/figure?seed=21", HTTP_HX_REQUEST="true").content
    assert b"preview-note" not in text


def test_a_slider_move_whose_full_run_would_overrun_the_budget_behind_others_gets_a_preview(
        client, limits, costs):
    limits(max_runs=2, full_budget_s=0.25, deadline_s=1.0, margin_s=0.15)
    costs(full=0.5, quick=0.05)
    with busy_gate(full=False, cost=0.05):  # another reader's preview is running
        text = client.get("/simulations/fanout/figure?seed=21", HTTP_HX_REQUEST="true").content
    assert b'class="preview-note"' in text and b"200 instead of 2,000" in text


def test_a_run_that_could_not_finish_by_its_deadline_is_never_started(client, limits, costs):
    limits(deadline_s=1.0, margin_s=0.15)
    costs(full=0.9, quick=0.09)  # the gate is idle, but 0.9 s + 0.15 s to render > 1 s
    resp = client.get("/simulations/fanout.json?seed=22")  # an export: never degraded
    assert resp.status_code == 503 and resp["Retry-After"]
    assert resp.json()["reason"] == "deadline"
    costs(full=0.5, quick=0.05)  # the same request fits once the estimate does
    data = client.get("/simulations/fanout.json?seed=22").json()
    assert data["cached"] is False  # the refused request had not run (nor cached) anything


def test_a_slider_move_that_fits_neither_as_full_nor_as_preview_is_shed_unstarted(
        client, limits, costs):
    limits(deadline_s=1.0, margin_s=0.15)
    costs(full=3.0, quick=0.9)
    resp = client.get("/simulations/fanout/figure?seed=23", HTTP_HX_REQUEST="true")
    assert resp.status_code == 503 and resp["Retry-After"]


def test_a_quick_preview_is_never_cached_as_the_full_result(client, limits):
    limits(max_runs=2, full_budget_s=0.25)
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
