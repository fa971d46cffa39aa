"""Absolute loss of originals and perturbed copies, and how often perturbation lowered it."""

from __future__ import annotations

import math

import numpy as np
import torch
from torchmetrics import Metric

from curvebench.metrics.registry import ItemView, ValidityMetric, register


def mean_loss(item: ItemView) -> float:
    """An item's absolute loss: mean nats per step."""
    return float(np.mean(item.loss)) if item.loss.size else math.nan


def nats_per_second(item: ItemView) -> float:
    """An item's total nats over its seconds of music (NaN when its length is unknown)."""
    return float(item.loss.sum() / item.duration_s) if item.duration_s else math.nan


register(
    ValidityMetric(
        "abs_loss", "loss", "absolute loss", mean_loss, headline=True, field="abs_loss", order=10
    )
)
register(
    ValidityMetric(
        "nats_per_second",
        "nats/s",
        "nats per second of music",
        nats_per_second,
        headline=True,
        field="nats_per_second",
        order=20,
    )
)


TOTALS = ("original_sum", "n_originals", "perturbed_sum", "delta_sum", "n_pairs", "n_lowered")
"""What the paired loss summary is computed from."""


def pair_totals(original: float, perturbed: float, new_original: bool = True) -> dict[str, float]:
    """One (original, perturbed) pair's share of each total. ``new_original`` is False for the
    second and later copies of the same original, which counts once in the original mean."""
    return {
        "original_sum": original if new_original else 0.0,
        "n_originals": float(new_original),
        "perturbed_sum": perturbed,
        "delta_sum": perturbed - original,
        "n_pairs": 1.0,
        "n_lowered": float(perturbed < original),
    }


def loss_summary(totals: dict[str, float]) -> dict[str, float | int | None]:
    """Mean absolute loss of originals and of perturbed copies, the mean paired difference and
    the fraction of pairs whose loss fell, from the totals."""
    n, m = int(totals["n_pairs"]), int(totals["n_originals"])
    if n == 0 or m == 0:
        return {
            "n_pairs": n,
            "abs_loss_original": None,
            "abs_loss_perturbed": None,
            "abs_loss_delta": None,
            "frac_loss_lowered": None,
        }
    return {
        "n_pairs": n,
        "abs_loss_original": totals["original_sum"] / m,
        "abs_loss_perturbed": totals["perturbed_sum"] / n,
        "abs_loss_delta": totals["delta_sum"] / n,
        "frac_loss_lowered": totals["n_lowered"] / n,
    }


def paired_loss(pairs: list[tuple[float, float, bool]]) -> dict[str, float | int | None]:
    """:func:`loss_summary` of (original loss, perturbed loss, new original) pairs, with the
    number of originals."""
    totals = dict.fromkeys(TOTALS, 0.0)
    for pair in pairs:
        for name, value in pair_totals(*pair).items():
            totals[name] += value
    return loss_summary(totals) | {"n_originals": int(totals["n_originals"])}


class PairedLoss(Metric):
    """Dataset means of absolute loss (mean per-token nats of an item) over originals and
    perturbed copies, the mean paired difference and the fraction of pairs whose loss fell
    (:func:`loss_summary`; states are its totals, summed across ranks)."""

    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        for name in TOTALS:
            self.add_state(
                name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum"
            )

    def update(self, original: float, perturbed: float, new_original: bool = True) -> None:
        """Add one (original, perturbed) pair of absolute losses (see :func:`pair_totals`)."""
        for name, value in pair_totals(original, perturbed, new_original).items():
            setattr(self, name, getattr(self, name) + value)

    def compute(self) -> dict[str, float | int | None]:
        return loss_summary({name: float(getattr(self, name)) for name in TOTALS})
