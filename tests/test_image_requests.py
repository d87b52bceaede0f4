"""Image requests refused or answered without drawing (no Chromium needed)."""

from __future__ import annotations

import pytest

from monograph import images, renderer, sims


def strict(sim, query, extras=frozenset()):
    """The state a strict endpoint would run (the test fails on any refused value)."""
    state = sims.resolve(sim, query, extras)
    assert state.first_problem is None, state.first_problem
    return state


@pytest.mark.parametrize(("query", "words"), [
    ("width=100", "from 320 to 2000"),
    ("width=5000", "from 320 to 2000"),
    ("width=wide", "whole number"),
    ("theme=neon", "theme must be one of light, dark"),
])
def test_a_bad_width_or_theme_is_a_400_naming_the_range(client, query, words):
    resp = client.get(f"/simulations/fanout.png?{query}")
    assert resp.status_code == 400
    assert words in resp.json()["error"]


def test_with_the_renderer_down_images_answer_503_with_retry_after(client, monkeypatch, tmp_path):
    monkeypatch.setenv(renderer.SOCKET_ENV, str(tmp_path / "nobody-listens.sock"))
    resp = client.get("/simulations/fanout.png?fanout=19")
    assert resp.status_code == 503
    assert resp["Retry-After"] == str(renderer.RETRY_AFTER_S)
    assert "not running" in resp.json()["error"]


def test_the_short_permalink_lists_only_what_differs_from_the_defaults():
    from django.http import QueryDict

    import simulations

    sim = simulations.get("fanout")
    state = strict(sim, QueryDict("fanout=20&slow_ms=200"))
    mv = sim.model_version
    assert images.short_permalink(state, "https://b.example") == \
        f"https://b.example/simulations/fanout/?fanout=20&mv={mv}"
    default = strict(sim, QueryDict(""))
    assert images.short_permalink(default, "") == f"/simulations/fanout/?mv={mv}"
    again = strict(sim, QueryDict("fanout=20"))
    assert again.query == state.query  # the short link is the same state


def test_the_renderer_page_loads_nothing_from_another_host():
    import kaleido

    page = kaleido.PageGenerator(plotly=renderer.PLOTLY_JS.as_uri(), mathjax=False)
    html = page.generate_index()
    assert "http://" not in html and "https://" not in html
    assert renderer.PLOTLY_JS.as_uri() in html
