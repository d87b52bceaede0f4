"""Progressive results: a move made while a slider is dragged (`preview=1`) gets the quick
run, labelled, unless the full result is cached; permalinks, data and images never do."""

from __future__ import annotations

import re

import pytest

HX = {"HTTP_HX_REQUEST": "true"}


def _figure(client, query: str, **headers):
    return client.get(f"/simulations/fanout/figure?{query}", **(HX | headers))


def test_a_move_while_dragging_gets_the_quick_run_labelled_as_a_drag_preview(client):
    resp = _figure(client, "seed=31&requests=2000&preview=1")
    assert resp.status_code == 200
    text = resp.content.decode()
    assert 'class="preview-note drag"' in text
    assert "Preview while you drag: 200 instead of 2,000" in text
    assert 'data-preview="drag"' in text  # the chart is marked provisional
    # The permalink (and the address bar) name the full run, never the preview.
    assert "preview" not in resp["HX-Replace-Url"] and "requests=2000" in resp["HX-Replace-Url"]
    permalink = re.search(r'class="permalink" href="([^"]+)"', text).group(1)
    assert "preview" not in permalink


def test_the_release_gets_the_full_run_and_the_preview_is_not_cached_as_it(client):
    _figure(client, "seed=32&preview=1")
    text = _figure(client, "seed=32").content.decode()
    assert "preview-note" not in text and "data-preview" not in text
    data = client.get("/simulations/fanout.json?seed=32").json()
    assert data["params"]["requests"] == 2000 and "preview" not in data


def test_a_cached_full_result_wins_over_a_preview(client):
    client.get("/simulations/fanout.json?seed=33")  # the full run, now cached
    text = _figure(client, "seed=33&preview=1").content.decode()
    assert "preview-note" not in text and "(cached)" in text


def test_a_repeated_preview_is_served_from_the_cache_still_labelled(client):
    _figure(client, "seed=34&preview=1")
    text = _figure(client, "seed=34&preview=1").content.decode()
    assert "(cached)" in text and "Preview while you drag" in text


def test_a_simulation_without_a_sample_size_answers_a_drag_with_its_full_run(client):
    text = client.get("/simulations/retries/figure?seed=35&preview=1", **HX).content.decode()
    assert "preview-note" not in text
    # …and its form carries no preview switch for app.js to turn on.
    page = client.get("/simulations/retries/").content.decode()
    assert "drag-preview" not in page
    assert 'class="drag-preview" name="preview" value="1" disabled' in \
        client.get("/simulations/fanout/").content.decode()


@pytest.mark.parametrize("url", ["/simulations/fanout/figure?preview=maybe",
                                 "/simulations/fanout/?preview=2"])
def test_a_bad_preview_value_is_refused_naming_it(client, url):
    resp = client.get(url)
    assert resp.status_code == 400
    assert b"preview" in resp.content


@pytest.mark.parametrize("suffix", [".json", ".csv"])
def test_data_never_accepts_preview(client, suffix):
    resp = client.get(f"/simulations/fanout{suffix}?preview=1")
    assert resp.status_code == 400 and resp.json()["parameter"] == "preview"
