"""Seeded, pure perturbations of music; each returns the perturbed copy and a record."""

from curvebench.perturbations import noise as _noise  # noqa: F401  (registers "noise")
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
