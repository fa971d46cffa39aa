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


class PairedLoss(Metric):
    """Dataset means of absolute loss (mean per-token nats of an item) over originals and
    perturbed copies, the mean paired difference and the fraction of pairs whose loss fell."""

    full_state_update = False

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        for name in (
            "original_sum",
            "n_originals",
            "perturbed_sum",
            "delta_sum",
            "n_pairs",
            "n_lowered",
        ):
            self.add_state(
                name, default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum"
            )

    def update(self, original: float, perturbed: float, new_original: bool = True) -> None:
        """Add one (original, perturbed) pair of absolute losses.

        ``new_original`` is False for the second and later copies of the same original, which
        is counted once in the original mean however many copies it has.
        """
        if new_original:
            self.original_sum += original
            self.n_originals += 1
        self.perturbed_sum += perturbed
        self.n_pairs += 1
        self.delta_sum += perturbed - original
        self.n_lowered += float(perturbed < original)

    def compute(self) -> dict[str, float | int | None]:
        n, m = int(self.n_pairs), int(self.n_originals)
        if n == 0 or m == 0:
            return {
                "n_pairs": n,
                "abs_loss_original": None,
                "abs_loss_perturbed": None,
                "abs_loss_delta": None,
                "frac_loss_lowered": None,
            }
        original = float(self.original_sum / m)
        perturbed = float(self.perturbed_sum / n)
        return {
            "n_pairs": n,
            "abs_loss_original": original,
            "abs_loss_perturbed": perturbed,
            "abs_loss_delta": float(self.delta_sum / n),
            "frac_loss_lowered": float(self.n_lowered / n),
        }
