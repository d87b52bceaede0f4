"""The simulation surfaces: page, fragment, JSON, CSV, OpenAPI, CLI — and bad input."""

from __future__ import annotations

import csv
import io
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.utils.html import escape

import simulations
from monograph import sims

SIMS = list(simulations.registry())


def test_json_has_the_documented_shape(client):
    data = client.get("/simulations/fanout.json?fanout=20&seed=3").json()
    assert set(data) >= {"simulation", "title", "model_version", "version", "params", "seed",
                         "metrics", "summary", "series", "figure", "elapsed_ms"}
    assert data["model_version"] == simulations.get("fanout").model_version
    assert data["simulation"] == "fanout" and data["seed"] == 3
    assert data["params"]["fanout"] == 20
    sim = simulations.get("fanout")
    assert set(data["params"]) == {p.name for p in sim.params}  # every effective parameter
    for m in data["metrics"].values():
        assert {"value", "unit", "label"} <= set(m)
    assert {"share_slow", "p50_ms", "p99_ms", "p999_ms", "extra_load"} <= set(data["metrics"])
    assert "closed_form" in data["metrics"]["share_slow"]


@pytest.mark.parametrize("slug", SIMS)
def test_same_query_gives_identical_results_even_uncached(client, slug):
    from django.core.cache import cache

    a = client.get(f"/simulations/{slug}.json?seed=5").json()
    cache.clear()
    b = client.get(f"/simulations/{slug}.json?seed=5").json()
    for key in ("params", "metrics", "series", "figure"):
        assert a[key] == b[key], key


@pytest.mark.parametrize("slug", SIMS)
def test_csv_has_one_column_per_series(client, slug):
    resp = client.get(f"/simulations/{slug}.csv")
    assert resp.status_code == 200 and resp["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(resp.content.decode())))
    series = client.get(f"/simulations/{slug}.json").json()["series"]
    assert rows[0] == list(series)
    assert len(rows) - 1 == max(len(v) for v in series.values())


# -- bad input: a clear 400, never a 500 ----------------------------------------------------
HOSTILE = [
    "fanout=0", "fanout=501", "fanout=abc", "fanout=", "fanout=1e9", "fanout=NaN",
    "slow_prob=-1", "slow_prob=inf", "load=0.99", "seed=-1", "seed=99999999999999999999",
    "seed=1.5", "nonsense=1", "fanout=%00", "fanout=%F0%9F%92%A5", "fanout=10&fanout=abc",
    "<script>=1", "fanout=" + "9" * 5000,
]


@pytest.mark.parametrize("query", HOSTILE)
@pytest.mark.parametrize("suffix", [".json", ".csv", "/figure"])
def test_bad_input_gets_a_400_naming_the_parameter(client, query, suffix):
    resp = client.get(f"/simulations/fanout{suffix}?{query}")
    assert resp.status_code == 400, resp.content[:200]
    body = resp.json()
    assert body["parameter"] in query or body["parameter"] == "<script>"
    assert body["error"]


@pytest.mark.parametrize("slug", SIMS)
def test_every_parameter_out_of_range_is_a_400_on_every_endpoint(client, slug):
    sim = simulations.get(slug)
    for p in sim.all_params:
        bad = str(p.max * 10 + 1) if p.kind in ("int", "float") else "zzz"
        for suffix in (".json", ".csv", "/figure", ".svg"):
            resp = client.get(f"/simulations/{slug}{suffix}", {p.name: bad})
            assert resp.status_code == 400, (suffix, p.name)
            assert p.name in resp.json()["error"]


@pytest.mark.parametrize("query", HOSTILE)
def test_pages_with_bad_input_render_with_the_error_beside_the_control(client, query):
    resp = client.get(f"/chapters/tail-latency/?{query}")
    assert resp.status_code == 400
    html = resp.content.decode()
    # The same problem the JSON URL names, shown where a reader would look for it.
    problem = client.get(f"/simulations/fanout.json?{query}").json()
    message = escape(problem["error"])
    if problem["parameter"] in {p.name for p in simulations.get("fanout").all_params}:
        control = html.split(f'data-param="{problem["parameter"]}"')[0].rsplit("<div", 1)[1]
        assert "has-error" in control.split('"')[1].split(), control
        assert f'id="err-fanout-{problem["parameter"]}" role="alert">{message}</p>' in html
    else:
        assert f'id="err-fanout" role="alert">{message}</p>' in html
    assert 'id="chart-fanout"' in html  # the chart is still there (at valid settings)


def test_a_page_keeps_the_valid_values_when_one_is_bad(client):
    html = client.get("/simulations/fanout/?fanout=50&slow_prob=7").content.decode()
    assert 'name="fanout" value="50"' in html
    assert 'name="slow_prob" value="7"' in html  # what the reader typed, flagged
    assert "slow_prob must be a number between 0 and 0.2" in html


@pytest.mark.parametrize("url", ["/simulations/fanout/figure", "/chapters/tail-latency/"])
def test_htmx_bad_input_comes_back_as_the_controls_with_the_error_beside_its_control(client, url):
    resp = client.get(f"{url}?fanout=0&slow_prob=0.02", headers={
        "HX-Request": "true", "HX-Target": "result-fanout",
        "HX-Current-URL": "http://testserver/chapters/tail-latency/"})
    assert resp.status_code == 400
    assert resp["HX-Retarget"] == "#form-fanout"  # the chart stays; the form is replaced
    assert resp["HX-Reswap"] == "outerHTML"
    html = resp.content.decode()
    assert html.strip().startswith('<form class="sim-controls" id="form-fanout"')
    control = html.split('data-param="fanout"')[1].split('data-param="slow_prob"')[0]
    assert 'class="error" id="err-fanout-fanout" role="alert">fanout must be a whole number ' \
           "between 1 and 500" in control
    assert 'value="0"' in control and 'aria-invalid="true"' in control
    assert 'name="slow_prob" value="0.02"' in html  # the valid values are kept
    # The next request from this form asks for the whole body, which clears the errors.
    assert 'hx-target="#body-fanout"' in html


def _swap_for(client, target: str) -> str:
    """What the tail-latency chapter answers an htmx request aimed at `target`."""
    resp = client.get("/chapters/tail-latency/?fanout=30", headers={
        "HX-Request": "true", "HX-Target": target})
    assert resp.status_code == 200
    return resp.content.decode()


def test_a_good_htmx_request_for_the_body_gets_presets_controls_and_result(client):
    html = _swap_for(client, "body-fanout")
    assert html.strip().startswith('<div class="sim-main" id="body-fanout">')
    assert 'class="presets"' in html and 'id="form-fanout"' in html
    assert 'id="result-fanout"' in html and 'hx-target="#out-fanout"' in html
    assert 'class="error"' in html and "aria-invalid" not in html


def test_a_slider_move_gets_the_result_without_the_chart_so_plotly_redraws_it_in_place(client):
    html = _swap_for(client, "out-fanout")
    assert html.strip().startswith('<div class="sim-out" id="out-fanout">')
    assert 'class="figdata"' in html and 'data-chart="chart-fanout"' in html
    assert 'id="chart-fanout"' not in html  # the drawn chart stays where it is
    assert 'table class="metrics"' in html and 'class="permalink"' in html
    assert 'id="presets-fanout" role="group" aria-label="Presets" hx-swap-oob="true"' in html


# -- fragment vs page; permalinks ------------------------------------------------------------
def test_the_fragment_is_the_result_partial_of_the_page(client):
    frag = client.get("/simulations/fanout/figure?fanout=30",
                      headers={"HX-Request": "true",
                               "HX-Current-URL": "http://testserver/chapters/tail-latency/"})
    html = frag.content.decode()
    assert frag.status_code == 200
    assert html.strip().startswith('<div class="sim-result" id="result-fanout">')
    assert "<html" not in html and "sim-controls" not in html
    # The page URL, not the fragment URL, is what the browser's address bar gets.
    url = urlsplit(frag["HX-Replace-Url"])
    assert url.path == "/chapters/tail-latency/"
    assert parse_qs(url.query)["fanout"] == ["30"]


def test_the_fragment_only_replaces_urls_of_pages_showing_that_figure(client):
    frag = client.get("/simulations/fanout/figure", headers={
        "HX-Request": "true", "HX-Current-URL": "http://evil.example/phish/"})
    assert urlsplit(frag["HX-Replace-Url"]).path == "/simulations/fanout/"


def test_a_permalink_renders_that_state_on_the_server(client):
    page = client.get("/chapters/tail-latency/?fanout=100&slow_prob=0.01&seed=9").content.decode()
    frag = client.get("/simulations/fanout/figure?fanout=100&slow_prob=0.01&seed=9").content.decode()
    assert 'name="fanout" value="100"' in page
    assert 'name="seed" value="9"' in page
    # The metrics table on the page equals the one the slider fetch returns.
    table = frag.split('<table class="metrics">')[1].split("</table>")[0]
    assert table in page


def test_presets_link_to_full_permalinks(client):
    html = client.get("/chapters/tail-latency/").content.decode()
    assert 'class="preset" href="/chapters/tail-latency/?fanout=100' in html


# -- OpenAPI and CLI -------------------------------------------------------------------------
def test_openapi_covers_every_declared_parameter(client):
    spec = client.get("/api/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for slug, sim in simulations.registry().items():
        for suffix in (".json", ".csv", ".svg", ".png"):
            op = spec["paths"][f"/simulations/{slug}{suffix}"]["get"]
            names = {p["name"] for p in op["parameters"]}
            assert {p.name for p in sim.all_params} <= names
        for param in spec["paths"][f"/simulations/{slug}.json"]["get"]["parameters"]:
            declared = (sims.MODEL_VERSION if param["name"] == sims.MODEL_VERSION.name
                        else sim.param(param["name"]))
            if declared.kind in ("int", "float"):
                assert param["schema"]["minimum"] == declared.min
                assert param["schema"]["maximum"] == declared.max


def test_cli_prints_the_same_result_as_the_json_url(client, capsys):
    call_command("simulate", "fanout", "--set", "fanout=25", "--seed", "4")
    cli = json.loads(capsys.readouterr().out)
    web = client.get("/simulations/fanout.json?fanout=25&seed=4").json()
    for key in ("simulation", "params", "seed", "metrics", "series", "figure", "summary"):
        assert cli[key] == web[key], key


def test_cli_table_and_csv_formats(client, capsys):
    call_command("simulate", "fanout", "--format", "table")
    assert "share_slow" in capsys.readouterr().out
    call_command("simulate", "fanout", "--format", "csv", "--set", "fanout=3")
    assert capsys.readouterr().out == client.get("/simulations/fanout.csv?fanout=3").content.decode()


@pytest.mark.parametrize(("args", "message"), [
    (["nope"], "unknown simulation 'nope'"),
    (["fanout", "--set", "fanout=0"], "fanout must be a whole number between 1 and 500"),
    (["fanout", "--set", "fanout"], "--set expects NAME=VALUE"),
    (["fanout", "--seed", "x"], "seed must be a whole number"),
    (["fanout", "--set", "warp=1"], "unknown parameter 'warp'"),
])
def test_cli_bad_arguments_give_a_clear_error_not_a_traceback(args, message):
    import subprocess
    import sys

    from django.conf import settings

    proc = subprocess.run([sys.executable, "manage.py", "simulate", *args],
                          cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_the_swapped_fragment_carries_no_noscript_image(client):
    # htmx parses fragments with scripting off, so a <noscript><img> in a swap would
    # load (and render an SVG on the server) on every slider move.
    frag = client.get("/simulations/fanout/figure", headers={"HX-Request": "true"})
    assert b"<noscript" not in frag.content
    page = client.get("/simulations/fanout/")
    assert b'<noscript><img class="chart-img" src="/simulations/fanout.svg?' in page.content


# -- model versions in permalinks ---------------------------------------------------------------
def test_permalinks_carry_the_model_version_and_the_provenance_line_shows_it(client, settings):
    sim = simulations.get("fanout")
    html = client.get("/simulations/fanout/?fanout=20").content.decode()
    assert f"mv={sim.model_version}" in html.split('class="permalink" href="')[1].split('"')[0]
    assert f"model v{sim.model_version}" in html


def test_an_old_permalink_says_its_model_changed_and_a_current_one_does_not(client):
    sim = simulations.get("fanout")
    old = client.get(f"/simulations/fanout/?fanout=20&mv={sim.model_version + 1}")
    assert old.status_code == 200
    assert "model changed since you linked it" in old.content.decode()
    now = client.get(f"/simulations/fanout/?fanout=20&mv={sim.model_version}")
    assert "model changed since you linked it" not in now.content.decode()


@pytest.mark.parametrize("suffix", [".json", ".csv", "/figure", "/embed", "/"])
def test_every_simulation_url_accepts_a_model_version_and_refuses_a_bad_one(client, suffix):
    ok = client.get(f"/simulations/fanout{suffix}?mv=1")
    assert ok.status_code == 200
    bad = client.get(f"/simulations/fanout{suffix}?mv=abc")
    assert bad.status_code == 400
    assert "mv must be a whole number between 1 and 1000000" in bad.content.decode()
