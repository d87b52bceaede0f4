"""A run sized by precision says what it ran: in the JSON result and the provenance line."""

from __future__ import annotations

from simulations.engine.core import Sample


def test_a_sample_that_stopped_early_names_both_counts_and_its_precision():
    s = Sample(ran=1400, limit=2000, unit="requests", estimate="P99.9", target=0.05,
               precision=0.0412)
    assert s.reached
    assert s.message == "ran 1,400 of up to 2,000 requests: P99.9 ±4.1 %"


def test_a_sample_that_ran_to_its_limit_short_of_the_target_says_what_it_aimed_for():
    s = Sample(ran=2000, limit=2000, unit="requests", estimate="P99.9", target=0.02,
               precision=0.031)
    assert not s.reached
    assert s.message == "ran all 2,000 requests: P99.9 ±3.1 % (aim: ±2 %)"
    assert s.to_json()["reached"] is False


def test_the_figure_and_the_json_show_what_the_run_simulated(client):
    frag = client.get("/simulations/fanout/figure?requests=2000",
                      headers={"HX-Request": "true"}).content.decode()
    assert '<span class="sample">ran all 2,000 requests: P99.9 ±' in frag
    doc = client.get("/simulations/fanout.json?requests=2000").json()
    assert doc["sample"]["ran"] == doc["sample"]["limit"] == 2000
    # A simulation that does not size itself by precision has no such field.
    assert "sample" not in client.get("/simulations/oncall.json").json()
