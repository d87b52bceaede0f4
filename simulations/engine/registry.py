"""The registry: every module in `simulations.models` that declares SIMULATION is a simulation.

Adding a simulation means adding one module; nothing else names it.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from .core import Simulation

MODELS_PACKAGE = "simulations.models"


@cache
def registry() -> dict[str, Simulation]:
    """Slug → Simulation for every simulation module, in a stable (alphabetical) order."""
    found: dict[str, Simulation] = {}
    package = importlib.import_module(MODELS_PACKAGE)
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{MODELS_PACKAGE}.{info.name}")
        sim = getattr(module, "SIMULATION", None)
        if isinstance(sim, Simulation):
            if sim.slug in found:
                raise RuntimeError(f"two simulations declare slug {sim.slug!r}")
            found[sim.slug] = sim
    return found


def get(slug: str) -> Simulation | None:
    return registry().get(slug)
