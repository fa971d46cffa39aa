"""The validity metrics: every score that is checked against the truth, declared once with its
computation.

A validity metric scores each (original, perturbed copy) pair: an item metric gives each item a
number (``compute(ItemView)``), a pair metric reads the pair's Δℓ and gives the swapped pair's
score and the pair's (``compute(PairView)``). Everything else follows from the declaration:
the item metric's field in each samples line (or the pair metric's entry in ``detectors``), the
``auroc_<name>`` and ``agree_<name>`` result fields (:mod:`curvebench.metrics.catalog`), the
validity table, the submission check, W&B, the CLI, the report, the board and ``compare``.

A metric is declared with :func:`register` in its own module. Every module of
:mod:`curvebench.metrics` is imported when the registry is first read, and so is every entry
point of the ``curvebench.metrics`` group (a metric shipped by another package): adding a
metric is its module and its test.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

import numpy as np

from curvebench.metrics.alignment import grid_bins, to_grid_sum

ENTRY_POINTS = "curvebench.metrics"
"""Entry-point group of metrics shipped by other packages (each entry: a module to import)."""


@dataclass(frozen=True)
class ItemView:
    """What an item metric reads: one scored item's loss over time."""

    loss: np.ndarray
    """Loss per time step (audio: the mean over codebooks of each frame)."""
    seconds: np.ndarray
    """Time of each step (NaN: untimed)."""
    duration_s: float | None
    """Seconds of music encoded, when known."""
    clip_seconds: float
    """The task's clip length (the grid's extent)."""
    grid_hz: float
    """The task's grid rate."""

    def on_grid(self, hz: float | None = None) -> np.ndarray:
        """Surprisal per step of a grid at ``hz`` (default: the task's): the sum of the steps'
        losses in each grid step."""
        hz = hz or self.grid_hz
        return to_grid_sum(self.loss, self.seconds, grid_bins(self.clip_seconds, hz), hz)


@dataclass(frozen=True)
class PairView:
    """What a pair metric reads: one pair's Δℓ and where the perturbation acted."""

    delta: np.ndarray
    """Perturbed − original loss per grid step (NaN: masked)."""
    onset_s: float
    """Start of the perturbation."""
    duration_s: float | None
    """Its length (None: to the end)."""
    grid_hz: float
    """Rate of the grid."""
    scale: float | None
    """Typical per-step spread of the original's loss on the grid (None when unknown)."""


@dataclass(frozen=True)
class ValidityMetric:
    """One metric checked against the truth (the perturbed copy is worse music)."""

    name: str
    """Registry name (``auroc_<name>``, ``agree_<name>`` in results)."""
    label: str
    """Short label for tables."""
    description: str
    """What the score is, as a noun phrase ("the absolute loss")."""
    compute: Callable[[ItemView], float] | Callable[[PairView], tuple[float, float]]
    """Item metric: the item's score. Pair metric: (the swapped pair's, the pair's) score."""
    per_item: bool = True
    """True for an item metric (AUROC counts each original once); False for a pair metric."""
    higher_is_worse: bool = True
    """True when a higher score means worse music."""
    headline: bool = False
    """Its AUROC is a headline column (CLI table, report, board)."""
    shape: bool = False
    """Reads the shape of the loss curve rather than its mean."""
    field: str = ""
    """Item metric: the samples line's field holding its score (default ``<name>_score``)."""
    means: bool = False
    """Item metric: results also hold its mean score over originals and over perturbed copies
    (``<field>_original``, ``<field>_perturbed``)."""
    order: int = 100
    """Position among the metrics (columns and table rows follow it)."""

    @property
    def line_field(self) -> str:
        """The samples line's field of an item metric's score."""
        return self.field or f"{self.name}_score"

    @property
    def auroc_field(self) -> str:
        """Result field of its AUROC."""
        return f"auroc_{self.name}"

    @property
    def agree_field(self) -> str:
        """Result field of its pair agreement."""
        return f"agree_{self.name}"


READERS = ("catalog", "registry")
"""Modules of :mod:`curvebench.metrics` that read the registry rather than declare into it
(not imported by the discovery, which they trigger)."""

_METRICS: dict[str, ValidityMetric] = {}
_state = "unloaded"


def register(metric: ValidityMetric) -> ValidityMetric:
    """Declare a validity metric; a second metric of the same name is an error."""
    if metric.name in _METRICS and _METRICS[metric.name] != metric:
        raise ValueError(f"validity metric {metric.name!r} declared twice")
    _METRICS[metric.name] = metric
    return metric


def _load() -> None:
    global _state
    if _state == "loaded":
        return
    if _state == "loading":
        raise RuntimeError("a metric module read the registry while the metrics were loading")
    _state = "loading"
    import curvebench.metrics as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name not in READERS:
            importlib.import_module(f"{package.__name__}.{info.name}")
    for entry in entry_points(group=ENTRY_POINTS):
        entry.load()
    _state = "loaded"


def validity_metrics() -> list[ValidityMetric]:
    """Every declared validity metric, in order."""
    _load()
    return sorted(_METRICS.values(), key=lambda m: (m.order, m.name))


def item_metrics() -> list[ValidityMetric]:
    """The item metrics, in order."""
    return [m for m in validity_metrics() if m.per_item]


def pair_metrics() -> list[ValidityMetric]:
    """The pair metrics, in order."""
    return [m for m in validity_metrics() if not m.per_item]


def names() -> list[str]:
    """Registry names, in order."""
    return [m.name for m in validity_metrics()]


def label(name: str) -> str:
    """A metric's short label (its name when it is not declared)."""
    _load()
    metric = _METRICS.get(name)
    return metric.label if metric is not None else name
