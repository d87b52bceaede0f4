"""The registry: every module in this package that declares SIMULATION is a simulation.

Adding a simulation means adding one module; nothing else names it.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from .core import Simulation

# Modules of the engine itself, never simulations.
_ENGINE = {"core", "params", "plotting", "registry", "stats", "words"}


@cache
def registry() -> dict[str, Simulation]:
    """Slug → Simulation for every simulation module, in a stable (alphabetical) order."""
    package = __name__.rpartition(".")[0]
    found: dict[str, Simulation] = {}
    for info in sorted(pkgutil.iter_modules(importlib.import_module(package).__path__),
                       key=lambda i: i.name):
        if info.name in _ENGINE or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        sim = getattr(module, "SIMULATION", None)
        if isinstance(sim, Simulation):
            if sim.slug in found:
                raise RuntimeError(f"two simulations declare slug {sim.slug!r}")
            found[sim.slug] = sim
    return found


def get(slug: str) -> Simulation | None:
    return registry().get(slug)
