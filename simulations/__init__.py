"""Simulations of production failure modes. Pure Python: no Django import here.

`simulations.engine` holds the contract and shared helpers; `simulations.models` holds one
module per simulation. This package re-exports the engine's public names.
"""

from .engine import (
    SEED,
    Metric,
    Param,
    ParamError,
    Result,
    Simulation,
    execute,
    get,
    plain,
    registry,
    spawn_rngs,
)

__all__ = [
    "SEED", "Metric", "Param", "ParamError", "Result", "Simulation",
    "execute", "get", "plain", "registry", "spawn_rngs",
]
