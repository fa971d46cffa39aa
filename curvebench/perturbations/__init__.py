"""Seeded, pure perturbations of music; each returns the perturbed copy and a record."""

import importlib
import pkgutil

from curvebench.perturbations.base import (
    Perturbation,
    PerturbationRecord,
    derive_seed,
    parse_perturbation,
    registered_kinds,
)

__all__ = [
    "Perturbation",
    "PerturbationRecord",
    "derive_seed",
    "parse_perturbation",
    "registered_kinds",
]

for _module in pkgutil.iter_modules(__path__):  # importing a module registers its kinds
    importlib.import_module(f"{__name__}.{_module.name}")
