"""Property-based fuzzing over our own OpenAPI spec: whatever the spec lets a client send
(and some of what it does not), the server answers without a 5xx, and every 4xx names the
parameter to fix.

The strategies are generated from /api/openapi.json itself, so a parameter added to a
model is fuzzed without touching this file. Bounded: a fixed number of examples per
operation, derandomised so CI sees the same inputs every run (about 20 s of CPU).
"""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import simulations

EXAMPLES = 12
RESULT_PATH = re.compile(r"^/simulations/([a-z0-9-]+)\.json$")


def _spec() -> dict:
    """The spec as served (collection time: no fixtures yet, so a plain test client)."""
    return json.loads(Client().get("/api/openapi.json", HTTP_HOST="localhost").content)


def _valid(schema: dict) -> st.SearchStrategy[str]:
    """Query text the schema allows."""
    if "enum" in schema:
        return st.sampled_from([str(v) for v in schema["enum"]])
    if schema.get("type") == "integer":
        lo, hi = schema["minimum"], schema["maximum"]
        return st.one_of(st.sampled_from([lo, hi]), st.integers(lo, hi)).map(str)
    if schema.get("type") == "number":
        lo, hi = schema["minimum"], schema["maximum"]
        # Tiny, subnormal and boundary values are where the 5xx hid (1e-16, 1e-154).
        edges = [v for v in (lo, hi, 5e-324, 1e-300, 1e-154, 1e-16, 1e-9) if lo <= v <= hi]
        return st.one_of(st.sampled_from(edges),
                         st.floats(lo, hi, allow_nan=False, allow_infinity=False)).map(repr)
    if "pattern" in schema:  # a comma-separated list of whole numbers
        return st.lists(st.integers(0, 1000), min_size=1, max_size=12).map(
            lambda xs: ",".join(map(str, xs)))
    raise AssertionError(f"no strategy for {schema}")  # a new kind needs one here


def _invalid(schema: dict) -> st.SearchStrategy[str]:
    """Query text a careless client might send instead."""
    out = [st.text(max_size=12), st.sampled_from(["", "nan", "inf", "-1", "1e400", "0x10", "١"])]
    if "maximum" in schema:
        out.append(st.floats(allow_nan=False, allow_infinity=False,
                             min_value=schema["maximum"], exclude_min=True).map(repr))
    return st.one_of(*out)


def _query(op: dict, valid_only: bool) -> st.SearchStrategy[dict[str, str]]:
    fields = {}
    for p in op["parameters"]:
        value = _valid(p["schema"]) if valid_only else st.one_of(_valid(p["schema"]),
                                                                 _invalid(p["schema"]))
        fields[p["name"]] = st.one_of(st.none(), value)
    return st.fixed_dictionaries(fields).map(lambda d: {k: v for k, v in d.items() if v is not None})


def _operations() -> list[tuple[str, dict]]:
    # A simulation's result; .csv/.svg/.png share its parser and its run.
    return sorted((path, item["get"]) for path, item in _spec()["paths"].items()
                  if RESULT_PATH.match(path))


OPERATIONS = _operations()


def _check(client: Client, path: str, query: dict[str, str], valid_only: bool) -> None:
    resp = client.get(path, query)
    sim = simulations.get(RESULT_PATH.match(path)[1])
    assert resp.status_code < 500, (path, query, resp.content[:500])
    if resp.status_code >= 400:
        body = resp.json()
        declared = {p.name for p in sim.all_params}
        assert body.get("parameter") in declared | set(query), (path, query, body)
        assert body.get("error"), (path, query, body)
        if valid_only:
            # Everything the spec allows parses; only a stated cross-parameter limit refuses.
            assert resp.status_code == 400 and sim.limits, (path, query, body)


def _fuzz(client: Client, path: str, op: dict, valid_only: bool) -> None:
    @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(_query(op, valid_only=valid_only))
    def fuzz(query):
        _check(client, path, query, valid_only=valid_only)

    fuzz()


@pytest.mark.parametrize(("path", "op"), OPERATIONS, ids=[p for p, _ in OPERATIONS])
def test_anything_the_spec_allows_answers_without_a_server_error(client, path, op):
    _fuzz(client, path, op, valid_only=True)


@pytest.mark.parametrize(("path", "op"), OPERATIONS, ids=[p for p, _ in OPERATIONS])
def test_malformed_values_get_a_4xx_naming_the_parameter(client, path, op):
    _fuzz(client, path, op, valid_only=False)
