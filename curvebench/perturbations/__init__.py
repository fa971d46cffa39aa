"""Seeded, pure perturbations of music; each returns the perturbed copy and a record."""

from curvebench.perturbations import drone as _drone  # noqa: F401  (registers "drone")
from curvebench.perturbations import noise as _noise  # noqa: F401  (noise)
from curvebench.perturbations import repeat as _repeat  # noqa: F401  (repeat)
from curvebench.perturbations import rhythm as _rhythm  # noqa: F401  (rhythm-deletion)
from curvebench.perturbations import silence as _silence  # noqa: F401  (silence)
from curvebench.perturbations import structure as _structure  # noqa: F401  (bar-shuffle, ...)
from curvebench.perturbations import tempo as _tempo  # noqa: F401  (tempo-change, tempo-span)
from curvebench.perturbations import velocity as _velocity  # noqa: F401  (velocity-change)
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
