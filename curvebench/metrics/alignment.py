"""Putting per-token losses on a common time grid, and Δℓ between two of them.

A perturbation that changes the token count (noise replacing notes, say) leaves no token-by-
token correspondence, so losses are collected into the steps of a time grid (default 50 Hz, the
paper's frame rate: step i covers [i/50, (i+1)/50) seconds). Two ways to collect them:

- ``"sum"`` (default): the *surprisal sum* of a step, the total loss in nats of the tokens whose
  time falls in it. An empty step holds 0 nats, so a token that a perturbation inserts adds its
  loss to Δℓ and a token it removes subtracts its loss: Δℓ summed over the curve is exactly
  the change in the piece's total surprisal (within the grid). Every step is defined.
- ``"mean"``: the mean loss of the tokens in a step, NaN (masked) where none falls. It is an
  option, not the default: with symbolic music most 50 Hz steps are empty, and inserted or
  removed tokens only move a mean rather than adding or subtracting their loss.

Audio is already on the grid: one loss per frame, the mean over codebooks (the paper's per-frame
loss). A 2-D loss [codebooks, frames] is reduced to that mean first; with one frame per step the
two modes then give the same curve.

Tokens whose time is NaN (untimed: text, headers) or outside the grid are left out.
"""

from __future__ import annotations

import numpy as np

DEFAULT_GRID_HZ = 50.0
ALIGNMENTS = ("sum", "mean")


def grid_bins(seconds: float, hz: float = DEFAULT_GRID_HZ) -> int:
    """Number of bins covering ``seconds`` of music."""
    return int(np.ceil(round(seconds * hz, 6)))


def frame_mean(loss: np.ndarray) -> np.ndarray:
    """Loss per time step as float64: the input for 1-D (symbolic) losses, the mean over
    codebooks (axis 0) for 2-D [codebooks, frames] (audio) losses."""
    loss = np.asarray(loss, dtype=np.float64)
    return loss if loss.ndim == 1 else loss.mean(axis=0)


def _binned(
    loss: np.ndarray, seconds: np.ndarray, n_bins: int, hz: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sum of the losses and number of tokens per grid step (untimed, non-finite and
    off-grid tokens left out)."""
    loss = np.asarray(loss, dtype=np.float64)
    seconds = np.asarray(seconds, dtype=np.float64)
    if loss.shape != seconds.shape:
        raise ValueError(f"one time per loss needed, got {loss.shape} and {seconds.shape}")
    timed = np.isfinite(seconds) & np.isfinite(loss)
    idx = np.full(loss.shape, -1, dtype=np.int64)
    idx[timed] = np.floor(seconds[timed] * hz + 1e-9).astype(np.int64)
    keep = (idx >= 0) & (idx < n_bins)
    sums = np.bincount(idx[keep], weights=loss[keep], minlength=n_bins)
    counts = np.bincount(idx[keep], minlength=n_bins)
    return sums, counts


def to_grid(
    loss: np.ndarray, seconds: np.ndarray, n_bins: int, hz: float = DEFAULT_GRID_HZ
) -> np.ndarray:
    """Mean loss per time bin (NaN where no token falls); tokens past the grid are dropped."""
    sums, counts = _binned(loss, seconds, n_bins, hz)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def to_grid_sum(
    loss: np.ndarray, seconds: np.ndarray, n_bins: int, hz: float = DEFAULT_GRID_HZ
) -> np.ndarray:
    """Surprisal sum per time bin: total loss of the tokens whose time falls in it (0 where
    none falls); untimed (NaN) and off-grid tokens are dropped."""
    return _binned(loss, seconds, n_bins, hz)[0]


def _on_grid(loss: np.ndarray, seconds: np.ndarray, n_bins: int, hz: float, mode: str):
    if mode == "sum":
        return to_grid_sum(loss, seconds, n_bins, hz)
    if mode == "mean":
        return to_grid(loss, seconds, n_bins, hz)
    raise ValueError(f"unknown alignment {mode!r}; choose one of {', '.join(ALIGNMENTS)}")


def grid_delta(
    orig_loss: np.ndarray,
    orig_seconds: np.ndarray,
    pert_loss: np.ndarray,
    pert_seconds: np.ndarray,
    n_bins: int,
    hz: float = DEFAULT_GRID_HZ,
    mode: str = "sum",
    by_index: bool = False,
) -> np.ndarray:
    """Δℓ per grid step, perturbed minus original: the one entry point for a pair.

    Losses are 1-D per token or 2-D [codebooks, frames] (reduced by :func:`frame_mean`);
    ``*_seconds`` give each loss's time (NaN = untimed, left out). ``mode`` is ``"sum"``
    (surprisal sums, every step defined) or ``"mean"`` (per-step means, NaN where either side
    has no token). With ``by_index`` (a perturbation that keeps token count and timing) Δ is
    taken token by token first and put on the grid at the original's times; in ``"sum"`` mode
    that equals the two sides' sums subtracted, up to float rounding.
    """
    orig, pert = frame_mean(orig_loss), frame_mean(pert_loss)
    if by_index:
        return _on_grid(delta_by_index(orig, pert), orig_seconds, n_bins, hz, mode)
    return _on_grid(pert, pert_seconds, n_bins, hz, mode) - _on_grid(
        orig, orig_seconds, n_bins, hz, mode
    )


def delta_by_index(original: np.ndarray, perturbed: np.ndarray) -> np.ndarray:
    """Δℓ token by token, for perturbations that keep token count and timing."""
    if len(original) != len(perturbed):
        raise ValueError(
            f"token-index alignment needs equal lengths, got {len(original)} and {len(perturbed)}"
        )
    return np.asarray(perturbed, dtype=np.float64) - np.asarray(original, dtype=np.float64)
