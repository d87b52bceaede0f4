"""HEAD wherever GET answers; ETag and 304 on If-None-Match (monograph/conditional.py)."""

from __future__ import annotations

import pytest

from monograph import sims

GETS = ["/healthz", "/readyz", "/", "/chapters/tail-latency/", "/checklist/", "/simulations/",
        "/simulations/fanout/", "/simulations/fanout/embed?controls=0",
        "/simulations/fanout/figure", "/simulations/fanout.json?fanout=20",
        "/simulations/fanout.csv", "/api/openapi.json", "/metrics",
        "/oembed?url=http%3A%2F%2Ftestserver%2Fsimulations%2Ffanout%2F"]


SAME_BYTES = [u for u in GETS if u.startswith(("/healthz", "/readyz", "/api", "/oembed"))
              or ".json" in u or ".csv" in u or u in ("/", "/checklist/", "/simulations/")]


@pytest.mark.parametrize("url", GETS)
def test_head_answers_with_the_get_headers_and_no_body(client, url):
    client.get(url)  # the result is cached from here on ("cached" shows in pages and JSON)
    get = client.get(url)
    head = client.head(url)
    assert head.status_code == get.status_code == 200
    assert head.content == b""
    assert head["Content-Type"] == get["Content-Type"]
    # Metrics count the GET itself, and a figure's "New seed" link is random each time.
    if url in SAME_BYTES:
        assert int(head["Content-Length"]) == len(get.content)


def test_head_of_a_missing_page_is_a_404_like_get(client):
    assert client.head("/chapters/no-such-chapter/").status_code == 404
    assert client.get("/chapters/no-such-chapter/").status_code == 404


def test_head_of_a_bad_query_is_the_same_400_as_get(client):
    assert client.head("/simulations/fanout.json?fanout=-3").status_code == 400


def test_other_methods_are_still_refused(client):
    assert client.put("/healthz").status_code == 405
    assert client.delete("/simulations/fanout.json").status_code == 405


@pytest.mark.parametrize("url", ["/simulations/fanout.json?fanout=20", "/simulations/fanout.csv",
                                 "/api/openapi.json", "/", "/chapters/introduction/"])
def test_a_matching_if_none_match_answers_304_with_the_etag(client, url):
    client.get(url)  # the JSON says "cached" from the second request on
    first = client.get(url)
    etag = first["ETag"]
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert again["ETag"] == etag
    assert client.head(url, headers={"If-None-Match": etag}).status_code == 304


def test_a_stale_etag_gets_the_full_answer(client):
    resp = client.get("/simulations/fanout.json", headers={"If-None-Match": '"not-this"'})
    assert resp.status_code == 200 and resp.json()["simulation"] == "fanout"


def test_data_etags_differ_between_states_and_not_between_query_orders(client):
    a = client.get("/simulations/fanout.json?fanout=20&seed=3")["ETag"]
    b = client.get("/simulations/fanout.json?seed=3&fanout=20")["ETag"]
    c = client.get("/simulations/fanout.json?fanout=21&seed=3")["ETag"]
    assert a == b != c


def test_a_data_304_runs_no_simulation(client, monkeypatch):
    etag = client.get("/simulations/fanout.json?fanout=33")["ETag"]

    def boom(state):
        raise AssertionError("the simulation ran for a 304")

    monkeypatch.setattr(sims, "run", boom)
    resp = client.get("/simulations/fanout.json?fanout=33", headers={"If-None-Match": etag})
    assert resp.status_code == 304


def test_errors_carry_no_etag(client):
    resp = client.get("/simulations/fanout.json?fanout=banana")
    assert resp.status_code == 400 and not resp.has_header("ETag")
