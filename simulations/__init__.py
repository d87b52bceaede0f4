"""Simulations of production failure modes. Pure Python: no Django import here."""

from .core import Metric, Result, Simulation, execute, plain, spawn_rngs
from .params import SEED, Param, ParamError
from .registry import get, registry

__all__ = [
    "SEED", "Metric", "Param", "ParamError", "Result", "Simulation",
    "execute", "get", "plain", "registry", "spawn_rngs",
]
