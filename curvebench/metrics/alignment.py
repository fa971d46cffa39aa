"""Putting per-token losses on a common time grid, and Δℓ between two of them.

A perturbation that changes the token count (noise replacing notes, say) leaves no token-by-
token correspondence, so losses are averaged into bins of a time grid (default 50 Hz, the
paper's frame rate: bin i covers [i/50, (i+1)/50) seconds). Empty bins are NaN (masked).
"""

from __future__ import annotations

import numpy as np

DEFAULT_GRID_HZ = 50.0


def grid_bins(seconds: float, hz: float = DEFAULT_GRID_HZ) -> int:
    """Number of bins covering ``seconds`` of music."""
    return int(np.ceil(round(seconds * hz, 6)))


def to_grid(
    loss: np.ndarray, seconds: np.ndarray, n_bins: int, hz: float = DEFAULT_GRID_HZ
) -> np.ndarray:
    """Mean loss per time bin (NaN where no token falls); tokens past the grid are dropped."""
    loss = np.asarray(loss, dtype=np.float64)
    idx = np.floor(np.asarray(seconds, dtype=np.float64) * hz + 1e-9).astype(np.int64)
    keep = (idx >= 0) & (idx < n_bins) & np.isfinite(loss)
    sums = np.bincount(idx[keep], weights=loss[keep], minlength=n_bins)
    counts = np.bincount(idx[keep], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def delta_on_grid(
    original: tuple[np.ndarray, np.ndarray],
    perturbed: tuple[np.ndarray, np.ndarray],
    n_bins: int,
    hz: float = DEFAULT_GRID_HZ,
) -> np.ndarray:
    """Δℓ per bin: perturbed minus original, each given as (loss, seconds); NaN where either
    has no token in the bin."""
    return to_grid(*perturbed, n_bins, hz) - to_grid(*original, n_bins, hz)


def delta_by_index(original: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
    """Δℓ token by token, for perturbations that keep token count and timing."""
    if len(original) != len(perturbed):
        raise ValueError(
            f"token-index alignment needs equal lengths, got {len(original)} and {len(perturbed)}"
        )
    return np.asarray(perturbed, dtype=np.float64) - np.asarray(original, dtype=np.float64)
