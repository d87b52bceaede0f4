"""OpenAPI 3.1 for the simulation endpoints, generated from the parameter declarations."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

import simulations
from simulations import Simulation

from . import sweeps
from .sims import MODEL_VERSION
from .version import version

_METRIC = {
    "type": "object",
    "required": ["value", "unit", "label"],
    "properties": {
        "value": {"type": ["number", "integer", "boolean", "null"]},
        "unit": {"type": "string"},
        "label": {"type": "string"},
        "ci95": {"type": "array", "items": {"type": ["number", "null"]}, "minItems": 2,
                 "maxItems": 2},
        "closed_form": {"type": ["number", "null"]},
    },
}
_RESULT = {
    "type": "object",
    "required": ["simulation", "title", "model_version", "version", "params", "seed",
                 "metrics", "summary", "series", "figure", "elapsed_ms"],
    "properties": {
        "simulation": {"type": "string"},
        "title": {"type": "string"},
        "model_version": {"type": "integer", "minimum": 1},
        "version": {"type": "string"},
        "params": {"type": "object"},
        "seed": {"type": "integer"},
        "metrics": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/Metric"}},
        "summary": {"type": "string"},
        "series": {"type": "object", "additionalProperties": {"type": "array"}},
        "figure": {"type": "object", "description": "Plotly figure JSON"},
        "elapsed_ms": {"type": "number"},
        "cached": {"type": "boolean"},
    },
}
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string"}, "parameter": {"type": "string"},
                   "allowed": {"type": "string"}},
}


def _parameters(sim: Simulation) -> list[dict[str, Any]]:
    out = []
    for p in (*sim.all_params, MODEL_VERSION):
        desc = f"{p.label}" + (f" ({p.unit})" if p.unit else "") + f". {p.help} Must be {p.describe()}."
        out.append({"name": p.name, "in": "query", "required": False,
                    "description": desc.strip(), "schema": p.json_schema()})
    return out


def _bad(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def spec(server_url: str = "/") -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for sim in simulations.registry().values():
        params = _parameters(sim)
        common = {"tags": [sim.slug], "parameters": params}
        paths[reverse("result_json", args=[sim.slug])] = {"get": {
            **common, "operationId": f"{sim.slug}_json", "summary": f"{sim.title}: result",
            "description": sim.description,
            "responses": {
                "200": {"description": "The result", "content": {"application/json": {
                    "schema": {"$ref": "#/components/schemas/Result"}}}},
                "400": _bad("A parameter is unknown or out of range"),
            }}}
        paths[reverse("result_csv", args=[sim.slug])] = {"get": {
            **common, "operationId": f"{sim.slug}_csv", "summary": f"{sim.title}: data series",
            "responses": {"200": {"description": "One column per series",
                                  "content": {"text/csv": {"schema": {"type": "string"}}}},
                          "400": _bad("A parameter is unknown or out of range")}}}
        for fmt, ctype in (("svg", "image/svg+xml"), ("png", "image/png")):
            theme = {"name": "theme", "in": "query", "required": False,
                     "schema": {"type": "string", "enum": ["light", "dark"], "default": "light"}}
            paths[reverse(f"result_{fmt}", args=[sim.slug])] = {"get": {
                "tags": [sim.slug], "parameters": [*params, theme],
                "operationId": f"{sim.slug}_{fmt}", "summary": f"{sim.title}: {fmt.upper()} image",
                "responses": {"200": {"description": "The figure",
                                      "content": {ctype: {"schema": {"type": "string"}}}},
                              "400": _bad("A parameter is unknown or out of range"),
                              "503": _bad("Images cannot be drawn on this server")}}}
        paths |= sweeps.openapi_paths(sim, params, _bad("A parameter is unknown or out of range"))
    return {
        "openapi": "3.1.0",
        "info": {"title": "From Demo to Durable: simulations API", "version": version(),
                 "description": "Every simulation of the book, re-run on demand. Same "
                                "parameters and seed give the same result."},
        "servers": [{"url": server_url.rstrip("/") or "/"}],
        "paths": paths,
        "components": {"schemas": {"Metric": _METRIC, "Result": _RESULT, "Error": _ERROR}},
    }
