"""The engine: the contract every model keeps (parameters, results, registry) and shared helpers."""

from .core import Metric, Result, Simulation, execute, plain, spawn_rngs
from .params import SEED, Param, ParamError
from .registry import get, registry

__all__ = [
    "SEED", "Metric", "Param", "ParamError", "Result", "Simulation",
    "execute", "get", "plain", "registry", "spawn_rngs",
]
