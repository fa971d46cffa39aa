"""Whether Δℓ follows the corruption's length, and whether two metrics rank models alike.

- :class:`LengthCorrelation`: noise length vs. sequence-level Δℓ correlation over pairs;
  :class:`LengthMeanCorrelation`: the same over the mean Δℓ per length (the paper's).
- :func:`kendall_tau`: do two metrics rank the same models in the same order?

The classes keep every row in ``cat`` list states, so under DDP the gathered state holds all
rows of all ranks. Rows are put in a canonical order (sorted) before any sum, so a result
depends only on the set of rows, never on how ranks or shards were merged. Undefined values in
``compute`` dicts are None (JSON ``null``); rows with a NaN are left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import Tensor
from torchmetrics import Metric

_NAN = float("nan")


def _flat(values: Tensor | np.ndarray | list[float]) -> Tensor:
    """A 1-D float64 tensor of ``values``, detached."""
    return torch.as_tensor(values, dtype=torch.float64).detach().reshape(-1)


def _rows(state: Any) -> np.ndarray:
    """A list state (or, after a DDP sync, its concatenated tensor) as a 1-D float64 array."""
    if isinstance(state, list):
        if not state:
            return np.empty(0)
        state = torch.cat([t.reshape(-1) for t in state])
    return state.detach().cpu().double().numpy().reshape(-1)


class LengthCorrelation(Metric):
    """Pearson and Spearman correlation of corruption length against sequence-level Δℓ (the
    paper finds both below −0.85). ``compute`` gives ``pearson``, ``spearman`` (None with fewer
    than 3 points or a constant input) and ``n``; pairs with a NaN are left out."""

    full_state_update = False

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("durations", default=[], dist_reduce_fx="cat")
        self.add_state("deltas", default=[], dist_reduce_fx="cat")

    def update(self, durations: Tensor, deltas: Tensor) -> None:
        """Add pairs: corruption length (seconds or steps) and Δℓ of each."""
        durations, deltas = _flat(durations), _flat(deltas)
        if durations.shape != deltas.shape:
            raise ValueError(
                f"length correlation needs one Δℓ per duration, got "
                f"{durations.numel()} and {deltas.numel()}"
            )
        self.durations.append(durations)
        self.deltas.append(deltas)

    def compute(self) -> dict[str, float | int | None]:
        """Both correlations and the number of points."""
        return length_correlation(_rows(self.durations), _rows(self.deltas))


class LengthMeanCorrelation(LengthCorrelation):
    """Pearson and Spearman correlation of corruption length against the *mean* Δℓ of the
    pairs of each length: the paper's (its released code correlates the 6 per-length means of
    its 6 lengths). Lengths equal after rounding to ``decimals`` decimals are one length.
    ``compute`` gives ``pearson``, ``spearman`` (None with fewer than 3 lengths or constant
    means), ``n`` (pairs) and ``n_lengths``. Updates as :class:`LengthCorrelation`."""

    def __init__(self, decimals: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.decimals = decimals

    def compute(self) -> dict[str, float | int | None]:
        """Both correlations over the per-length means, and the numbers of pairs and lengths."""
        return length_mean_correlation(_rows(self.durations), _rows(self.deltas), self.decimals)


def _pairs(durations: np.ndarray, deltas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(durations, Δℓ) of the pairs without NaN, in a canonical order (sorted), so sums do not
    depend on the order the pairs came in (or how shards were merged)."""
    x = np.asarray(durations, dtype=np.float64).reshape(-1)
    y = np.asarray(deltas, dtype=np.float64).reshape(-1)
    keep = ~(np.isnan(x) | np.isnan(y))
    order = np.lexsort((y[keep], x[keep]))
    return x[keep][order], y[keep][order]


def length_correlation(durations: np.ndarray, deltas: np.ndarray) -> dict[str, float | int | None]:
    """Pearson and Spearman correlation of corruption length against Δℓ over pairs (None with
    fewer than 3 points or a constant input), and the number of points."""
    x, y = _pairs(durations, deltas)
    return {**correlations(x, y), "n": int(x.size)}


def length_mean_correlation(
    durations: np.ndarray, deltas: np.ndarray, decimals: int = 3
) -> dict[str, float | int | None]:
    """The same over the mean Δℓ of the pairs of each length (the paper's), with the numbers
    of pairs and lengths."""
    x, y = _pairs(durations, deltas)
    lengths, means = length_means(x, y, decimals)
    return {**correlations(lengths, means), "n": int(x.size), "n_lengths": int(lengths.size)}


def length_means(
    durations: np.ndarray, deltas: np.ndarray, decimals: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """The distinct lengths (rounded to ``decimals``, ascending) and the mean Δℓ of the pairs
    of each; pairs with a NaN are left out."""
    x = np.asarray(durations, dtype=np.float64).reshape(-1)
    y = np.asarray(deltas, dtype=np.float64).reshape(-1)
    keep = ~(np.isnan(x) | np.isnan(y))
    lengths, which = np.unique(np.round(x[keep], decimals), return_inverse=True)
    sums = np.bincount(which, weights=y[keep], minlength=lengths.size)
    counts = np.bincount(which, minlength=lengths.size)
    return lengths, sums / np.maximum(counts, 1)


def correlations(x: np.ndarray, y: np.ndarray) -> dict[str, float | None]:
    """Pearson and Spearman correlation of two equal-length arrays; None for both with fewer
    than 3 points or a constant array."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return {"pearson": None, "spearman": None}
    return {
        "pearson": float(stats.pearsonr(x, y).statistic),
        "spearman": float(stats.spearmanr(x, y).statistic),
    }


def kendall_tau(ranking_a: dict[str, float], ranking_b: dict[str, float]) -> float:
    """Kendall's tau between two metrics' values for the same models (keys = model names).

    Only models present in both are compared; NaN when fewer than 2 are, or when either metric
    gives all of them the same value. The sign assumes both metrics point the same way (higher
    = better in both, or lower = better in both); negate one to compare opposite metrics.
    """
    common = sorted(set(ranking_a) & set(ranking_b))
    x = np.array([ranking_a[k] for k in common], dtype=np.float64)
    y = np.array([ranking_b[k] for k in common], dtype=np.float64)
    if len(common) < 2 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return _NAN
    return float(stats.kendalltau(x, y).statistic)


Interval = tuple[float | None, float | None]
_Z95 = 1.959963984540054


def kendall_tau_interval(
    ranking_a: dict[str, tuple[float, Interval]],
    ranking_b: dict[str, tuple[float, Interval]],
    *,
    n_draws: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """A percentile interval of Kendall's τ between two metrics' rankings of the same models,
    given each model's value and its 95% interval (``{model: (value, (low, high))}``).

    Each draw gives every model, independently, a value from a normal matching its own
    interval (centred on the value, standard deviation = interval width / 3.92), and τ (ties
    counting zero) is taken over the drawn values. The models' uncertainty is all that moves
    τ, so a ranking held up by overlapping intervals gets a wide interval. Independent draws
    ignore that models scored on the same pieces err together, which makes the interval
    conservative. (None, None) with fewer than 2 common models or a model without an interval
    (its uncertainty unknown, so is τ's).
    """
    common = sorted(set(ranking_a) & set(ranking_b))
    stated = all(None not in r[k][1] for r in (ranking_a, ranking_b) for k in common)
    if len(common) < 2 or not stated:
        return None, None
    rng = np.random.default_rng(seed)

    def draws(ranking: dict[str, tuple[float, Interval]]) -> np.ndarray:
        centre = np.array([ranking[k][0] for k in common], dtype=np.float64)
        sd = np.array([(ranking[k][1][1] - ranking[k][1][0]) / (2 * _Z95) for k in common])
        return centre + rng.standard_normal((n_draws, len(common))) * sd

    x, y = draws(ranking_a), draws(ranking_b)
    i, j = np.triu_indices(len(common), k=1)
    concordance = np.sign(x[:, i] - x[:, j]) * np.sign(y[:, i] - y[:, j])
    taus = concordance.mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(taus, [alpha, 1.0 - alpha])
    return float(low), float(high)
