"""Sweeps: one metric against one parameter, through the engine, the URLs, the CLI and chapters."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
from itertools import pairwise
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

import simulations
from monograph.content import ContentError, load_book
from simulations import ParamError
from simulations.engine import sweep as engine

CONTENT = Path(settings.BASE_DIR) / "content"
FANOUT = simulations.get("fanout")
RETRIES = simulations.get("retries")


# -- the engine -------------------------------------------------------------------------------
def test_log_scale_parameters_are_swept_geometrically_and_ints_are_whole_and_distinct():
    xs = engine.sweep_values(FANOUT.param("fanout"), 1, 500, 20)
    assert xs[0] == 1 and xs[-1] == 500
    assert all(isinstance(x, int) for x in xs)
    assert len(xs) == len(set(xs)) and xs == sorted(xs)
    ratios = [b / a for a, b in pairwise(xs[5:])]
    # geometric spacing: 500^(1/19) ≈ 1.387 between neighbours (rounding blurs small values)
    assert all(1.2 < r < 1.6 for r in ratios), ratios


def test_linear_parameters_are_swept_evenly_inside_their_declared_range():
    xs = engine.sweep_values(RETRIES.param("load"), 0.3, 1.2, 10)
    steps = {round(b - a, 6) for a, b in pairwise(xs)}
    assert steps == {0.1}
    assert xs[0] == 0.3 and xs[-1] == 1.2


def _meta_names(sim):
    return list(simulations.execute(sim, sim.defaults(), 42)["metrics"])


@pytest.mark.parametrize(("query", "name", "text"), [
    ({"vary": "nope"}, "vary", "numeric parameter"),
    ({"vary": "hedge_ms", "lo": "50", "hi": "10"}, "lo", "below hi"),
    ({"vary": "fanout", "hi": "5000"}, "hi", "between 1 and 500"),
    ({"points": "1"}, "points", "between 2 and 40"),
    ({"points": "x"}, "points", "whole number"),
    ({"metric": "share_slow,bogus"}, "metric", "unknown metric 'bogus'"),
    ({"by": "warp"}, "by", "another parameter"),
    ({"by": "hedge_ms"}, "by_values", "must list the values"),
    ({"by": "hedge_ms", "by_values": "0,99999"}, "by_values", "hedge_ms must be"),
])
def test_a_bad_sweep_query_names_the_parameter_and_the_fix(query, name, text):
    with pytest.raises(ParamError) as err:
        engine.parse_spec(FANOUT, query, _meta_names(FANOUT))
    assert err.value.name == name
    assert text in err.value.message


def test_a_sweep_over_budget_is_refused_with_how_to_shrink_it():
    spec = engine.parse_spec(RETRIES, {"vary": "load", "points": "40", "metric": "recovery_s",
                                       "by": "jitter"}, _meta_names(RETRIES))
    with pytest.raises(ParamError) as err:
        engine.plan(RETRIES, spec, RETRIES.defaults(), 42, set())
    # 40 points × 4 jitter choices × 5 seeds = 800 runs > MAX_RUNS
    assert err.value.name == "points"
    assert "800 runs" in err.value.message and f"limit is {engine.MAX_RUNS}" in err.value.message
    assert "points=12 or fewer" in err.value.message


def test_a_sweep_that_crosses_a_simulations_own_limit_names_the_point():
    spec = engine.parse_spec(FANOUT, {"vary": "fanout"}, _meta_names(FANOUT))
    base = FANOUT.parse({"requests": "20000"})[0]
    with pytest.raises(ParamError) as err:
        engine.plan(FANOUT, spec, base, 42, {"share_slow"})
    assert err.value.name == "requests"
    assert "at fanout=" in err.value.message and "narrow the range" in err.value.message


def test_a_metric_without_its_own_ci_gets_a_student_t_interval_over_five_seeds():
    # Stub runs whose metric is 1, 2, 3, 4, 5 for seeds 0..4: mean 3, sample sd √2.5.
    pt = engine.Point(0, 1, None, None, seeds=(0, 1, 2, 3, 4))
    got = engine.measure(pt, ("m",), lambda _p, s: {"metrics": {"m": {"value": s + 1}}})["m"]
    half = engine.T95_4DF * math.sqrt(2.5) / math.sqrt(5)  # t(0.975, 4) = 2.776 (NIST table)
    assert got.value == 3 and got.runs == 5
    assert got.ci95 == pytest.approx((3 - half, 3 + half), rel=1e-12)


def test_runs_that_never_produce_a_value_are_counted_not_averaged_in():
    pt = engine.Point(0, 1, None, None, seeds=(0, 1, 2, 3, 4))
    vals = {0: 10.0, 1: None, 2: 20.0, 3: None, 4: 30.0}
    got = engine.measure(pt, ("m",), lambda _p, s: {"metrics": {"m": {"value": vals[s]}}})["m"]
    assert got.value == 20.0 and got.never == 2 and got.ci95 is None


@pytest.mark.parametrize("sim", list(simulations.registry().values()), ids=lambda s: s.slug)
def test_every_numeric_parameter_of_every_simulation_can_be_swept_over_its_declared_range(sim):
    assert not {p.name for p in sim.all_params} & engine.SWEEP_NAMES, \
        f"{sim.slug} declares a parameter name the sweep URLs reserve"
    names = _meta_names(sim)
    for p in engine.numeric_params(sim):
        spec = engine.parse_spec(sim, {"vary": p.name, "points": "12"}, names)
        points = engine.plan(sim, spec, sim.defaults(), 42, set())  # refuses what it can't run
        assert points[0].x == p.min and points[-1].x == p.max, p.name


def test_the_tail_at_scale_sweep_sits_on_the_closed_form_within_its_cis():
    # The tail-latency chapter's sweep, as readers see it (seed 42): 1 − (1 − p)^N is
    # Dean & Barroso's formula (CACM 2013) and the model's share_slow is exactly that event,
    # so every point's 95 % Wilson interval should contain it.
    spec = engine.parse_spec(FANOUT, {"vary": "fanout", "points": "16", "metric": "share_slow"},
                             _meta_names(FANOUT))
    pts = engine.plan(FANOUT, spec, FANOUT.defaults(), 42, {"share_slow"})

    def run(params, seed):
        return simulations.execute(FANOUT, params, seed)

    values = {p.index: engine.measure(p, spec.metrics, run) for p in pts}
    inside, total = engine.closed_form_coverage(pts, values, "share_slow")
    assert (inside, total) == (len(pts), len(pts))


def test_the_cis_cover_the_closed_form_about_95_percent_of_the_time_across_seeds():
    # 3 seeds × 20 fan-outs = 60 Wilson intervals at 400 requests each. Nominal coverage is
    # 95 %; with 60 points its standard error is √(0.95·0.05/60) ≈ 2.8 points, so 85 % is
    # 3.5 standard errors below: a failure means the intervals are too narrow.
    base = FANOUT.parse({"requests": "400"})[0]
    spec = engine.parse_spec(FANOUT, {"vary": "fanout", "points": "24", "metric": "share_slow"},
                             _meta_names(FANOUT))
    inside = total = 0
    for seed in (1, 2, 3):
        pts = engine.plan(FANOUT, spec, base, seed, {"share_slow"})
        values = {p.index: engine.measure(p, spec.metrics,
                                          lambda prm, s: simulations.execute(FANOUT, prm, s))
                  for p in pts}
        i, t = engine.closed_form_coverage(pts, values, "share_slow")
        inside, total = inside + i, total + t
    assert total >= 57
    assert inside / total >= 0.85, f"{inside}/{total}"


# -- the URLs ---------------------------------------------------------------------------------
SWEEP_Q = "vary=fanout&points=5&metric=share_slow,p99_ms&requests=500"


def test_sweep_json_has_every_point_with_its_ci_and_closed_form(client):
    resp = client.get(f"/simulations/fanout/sweep.json?{SWEEP_Q}")
    assert resp.status_code == 200
    data = resp.json()
    assert data["kind"] == "sweep" and data["complete"] and data["total"] == 5
    assert [p["x"] for p in data["points"]] == data["vary"]["values"] == [1, 5, 22, 106, 500]
    first = data["points"][0]["metrics"]["share_slow"]
    assert first["ci95"][0] <= first["value"] <= first["ci95"][1]
    assert first["closed_form"] == pytest.approx(0.01)
    assert data["params"]["requests"] == 500 and data["seed"] == 42
    assert data["figure"]["data"][0]["error_y"]["type"] == "data"


def test_the_same_sweep_gives_identical_numbers_fresh_and_cached(client):
    a = client.get(f"/simulations/fanout/sweep.json?{SWEEP_Q}").json()
    b = client.get(f"/simulations/fanout/sweep.json?{SWEEP_Q}").json()
    from django.core.cache import cache
    cache.clear()
    c = client.get(f"/simulations/fanout/sweep.json?{SWEEP_Q}").json()
    for key in ("points", "series", "figure", "summary"):
        assert a[key] == b[key] == c[key], key


def test_asking_for_one_point_computes_only_that_point(client):
    data = client.get(f"/simulations/fanout/sweep.json?{SWEEP_Q}&point=2").json()
    assert data["computed"] == 1 and not data["complete"]
    assert [p["x"] for p in data["points"]] == [22]
    resp = client.get(f"/simulations/fanout/sweep.json?{SWEEP_Q}&point=9")
    assert resp.status_code == 400 and resp.json()["parameter"] == "point"


def test_sweep_csv_is_long_form_with_one_row_per_point_and_metric(client):
    resp = client.get(f"/simulations/fanout/sweep.csv?{SWEEP_Q}")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.content.decode())))
    assert len(rows) == 10
    assert set(rows[0]) == {"fanout", "metric", "value", "ci95_lo", "ci95_hi", "closed_form",
                            "runs"}
    assert {r["metric"] for r in rows} == {"share_slow", "p99_ms"}


@pytest.mark.parametrize(("query", "name"), [
    ("vary=nope", "vary"), ("points=99", "points"), ("metric=x", "metric"),
    ("fanout=9999", "fanout"), ("warp=1", "warp"),
])
def test_bad_sweep_urls_answer_400_naming_the_parameter(client, query, name):
    for suffix in ("sweep.json", "sweep.csv"):
        resp = client.get(f"/simulations/fanout/{suffix}?{query}")
        assert resp.status_code == 400
        assert resp.json()["parameter"] == name


def test_the_sweep_page_shows_the_form_and_streams_missing_points(client):
    resp = client.get(f"/simulations/fanout/sweep/?{SWEEP_Q}")
    assert resp.status_code == 200
    html = resp.content.decode()
    assert 'name="vary"' in html and 'data-missing="0,1,2,3,4"' in html
    assert re.search(r"js/sweep\.[0-9a-f]+\.js", html)
    # Held parameters ride along in the form so a new sweep keeps the figure's state.
    assert '<input type="hidden" name="requests" value="500">' in html


def test_the_sweep_page_renders_the_table_once_every_point_is_cached(client):
    client.get(f"/simulations/fanout/sweep.json?{SWEEP_Q}")
    resp = client.get(f"/simulations/fanout/sweep/?{SWEEP_Q}", headers={"HX-Request": "true"})
    html = resp.content.decode()
    assert resp.status_code == 200 and "<html" not in html  # the partial only
    assert 'data-missing=""' in html and "sweep-table" in html
    assert html.count("<tr>") == 1 + 10  # header + one row per point and metric


def test_a_bad_sweep_page_says_what_to_fix_and_keeps_the_form(client):
    resp = client.get("/simulations/fanout/sweep/?vary=fanout&points=0")
    assert resp.status_code == 400
    html = resp.content.decode()
    assert "points must be a whole number between 2 and 40" in html and 'name="vary"' in html


def test_the_sweep_embed_can_be_framed_and_the_page_cannot(client):
    embed = client.get(f"/simulations/fanout/sweep/embed?{SWEEP_Q}")
    page = client.get(f"/simulations/fanout/sweep/?{SWEEP_Q}")
    assert embed.status_code == 200 and "X-Frame-Options" not in embed
    assert "frame-ancestors *" in embed["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY"


def test_every_slider_links_to_a_sweep_of_its_parameter(client):
    html = client.get("/simulations/fanout/?fanout=20").content.decode()
    for p in engine.numeric_params(FANOUT):
        assert f'data-vary="{p.name}"' in html
    assert "/simulations/fanout/sweep/?fanout=20&amp;" in html


def test_openapi_describes_the_sweep_urls(client):
    spec = client.get("/api/openapi.json").json()
    op = spec["paths"]["/simulations/fanout/sweep.json"]["get"]
    names = {p["name"] for p in op["parameters"]}
    assert {"vary", "lo", "hi", "points", "metric", "by", "by_values", "point", "fanout"} <= names
    assert f"at most {engine.MAX_RUNS} runs" in op["description"]


# -- the CLI ----------------------------------------------------------------------------------
def test_the_cli_prints_the_same_sweep_as_the_url(client):
    out = io.StringIO()
    call_command("sweep", "fanout", "--vary", "fanout=1..500", "--points", "5", "--metric",
                 "share_slow", "--metric", "p99_ms", "--set", "requests=500", "--format", "json",
                 stdout=out)
    cli = json.loads(out.getvalue())
    url = client.get(f"/simulations/fanout/sweep.json?{SWEEP_Q}").json()
    assert cli["points"] == url["points"] and cli["series"] == url["series"]


@pytest.mark.parametrize(("args", "text"), [
    (["fanout", "--vary", "fanout=1..x"], "hi must be a value of fanout"),
    (["fanout", "--vary", "fanout=1-5"], "NAME=LO..HI"),
    (["nope", "--vary", "x"], "unknown simulation"),
    (["fanout", "--vary", "fanout", "--set", "oops"], "NAME=VALUE"),
])
def test_the_cli_refuses_bad_arguments_with_a_clear_message(args, text):
    with pytest.raises(CommandError, match=text):
        call_command("sweep", *args, stdout=io.StringIO())


# -- chapters ---------------------------------------------------------------------------------
def test_the_tail_latency_and_resilience_chapters_embed_their_sweeps(client):
    book = load_book(CONTENT)
    assert book.by_slug["tail-latency"].sweeps[0].simulation == "fanout"
    assert book.by_slug["resilience"].sweeps[0].simulation == "retries"
    html = client.get("/chapters/tail-latency/").content.decode()
    assert 'hx-trigger="revealed"' in html and "/simulations/fanout/sweep/?vary=fanout" in html
    assert re.search(r"js/sweep\.[0-9a-f]+\.js", html)


@pytest.mark.parametrize(("marker", "text"), [
    ("[[sweep nope vary=x]]", "unknown simulation 'nope'"),
    ("[[sweep fanout vary=fanout&metric=bogus]]", "unknown metric 'bogus'"),
    ("[[sweep fanout]]", "a sweep marker is"),
])
def test_a_bad_sweep_marker_stops_the_book_naming_the_file_and_line(tmp_path, marker, text):
    d = tmp_path / "content"
    d.mkdir()
    shutil.copy(CONTENT / "book.yaml", d / "book.yaml")
    path = d / "one.md"
    path.write_text("---\ntitle: One\nslug: one\npart: 1\norder: 1\nsummary: s\n---\n\n"
                    f"## Hello\n\nText.\n\n{marker}\n", encoding="utf-8")
    with pytest.raises(ContentError, match=text) as err:
        load_book(d)
    assert err.value.field == "line 13"  # the marker's line in the file
    assert str(path) in str(err.value)
