"""How well a score tells perturbed music from the original, and how metrics agree.

- :class:`AUROCWithCI`: can a score (absolute loss, spike score) separate originals (label 0,
  each counted once) from perturbed copies (label 1)? AUROC with a bootstrap interval.
- :class:`PairAgreement`: in how many pairs does the perturbed copy score above its original?
- :class:`LengthCorrelation`: noise length vs. sequence-level Δℓ correlation over pairs;
  :class:`LengthMeanCorrelation`: the same over the mean Δℓ per length (the paper's).
- :func:`kendall_tau`: do two metrics rank the same models in the same order?

The classes keep every row in ``cat`` list states, so under DDP the gathered state holds all
rows of all ranks. Rows are put in a canonical order (sorted) before bootstrapping, so the
interval depends only on the set of rows, never on how ranks or shards were merged. Undefined
values in ``compute`` dicts are None (JSON ``null``); rows with a NaN score are left out.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from scipy import stats
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification import binary_auroc

_NAN = float("nan")


def bootstrap_ci(
    stat_fn: Callable[..., float],
    *arrays: np.ndarray,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``stat_fn(*arrays)``.

    Each of ``n_boot`` resamples draws row indices with replacement (one draw shared by all
    arrays, so rows stay together) from ``np.random.default_rng(seed)``: the same inputs and
    seed give the same interval. Resamples where the statistic is not finite (an AUROC
    resample holding one class, say) are left out. Returns (NaN, NaN) for empty input or when
    no resample gives a finite statistic.
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array")
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    data = [np.asarray(a) for a in arrays]
    n = len(data[0])
    if any(len(a) != n for a in data):
        raise ValueError(f"bootstrap arrays need equal lengths, got {[len(a) for a in data]}")
    if n == 0 or n_boot < 1:
        return _NAN, _NAN
    rng = np.random.default_rng(seed)
    values = np.empty(n_boot)
    for b in range(n_boot):
        idx = rng.integers(0, n, size=n)
        values[b] = float(stat_fn(*(a[idx] for a in data)))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return _NAN, _NAN
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


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


def _auroc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Binary AUROC (ties count half), NaN when one class is missing."""
    if labels.all() or not labels.any():
        return _NAN
    return float(
        binary_auroc(torch.from_numpy(scores), torch.from_numpy(labels), validate_args=False)
    )


class _BootstrapMetric(Metric):
    """A metric whose compute reports a percentile bootstrap interval."""

    full_state_update = False

    def __init__(
        self, n_boot: int = 1000, seed: int = 0, level: float = 0.95, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.n_boot = n_boot
        self.seed = seed
        self.level = level


class AUROCWithCI(_BootstrapMetric):
    """AUROC of a score separating originals (label 0) from perturbed copies (label 1), with a
    percentile bootstrap interval (rows resampled jointly, ``n_boot`` times, seeded).

    Count each original once, however many perturbed copies it has. ``compute`` gives
    ``auroc``, ``ci_low``, ``ci_high`` (None when a class is empty) and ``n_pos``, ``n_neg``;
    items with a NaN score are left out. ``n_boot``, ``seed`` and ``level`` set the bootstrap
    (resamples, random seed, confidence level).
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("scores", default=[], dist_reduce_fx="cat")
        self.add_state("labels", default=[], dist_reduce_fx="cat")

    def update(self, scores: Tensor, labels: Tensor) -> None:
        """Add items: their scores and labels (0 = original, 1 = perturbed)."""
        scores, labels = _flat(scores), _flat(labels)
        if scores.shape != labels.shape:
            raise ValueError(
                f"AUROC needs one label per score, got {scores.numel()} and {labels.numel()}"
            )
        if not ((labels == 0) | (labels == 1)).all():
            raise ValueError("AUROC labels must be 0 (original) or 1 (perturbed)")
        self.scores.append(scores)
        self.labels.append(labels)

    def compute(self) -> dict[str, float | int | None]:
        """AUROC, its bootstrap interval and the class sizes (NaN scores left out)."""
        scores, labels = _rows(self.scores), _rows(self.labels)
        keep = ~np.isnan(scores)
        scores, labels = scores[keep], labels[keep].astype(np.int64)
        order = np.lexsort((scores, labels))
        scores, labels = scores[order], labels[order]
        n_pos, n_neg = int(labels.sum()), int(labels.size - labels.sum())
        out: dict[str, float | int | None] = {
            "auroc": None,
            "ci_low": None,
            "ci_high": None,
            "n_pos": n_pos,
            "n_neg": n_neg,
        }
        if n_pos and n_neg:
            low, high = bootstrap_ci(
                _auroc, scores, labels, n_boot=self.n_boot, seed=self.seed, level=self.level
            )
            out.update(auroc=_auroc(scores, labels), ci_low=low, ci_high=high)
        return out


class PairAgreement(_BootstrapMetric):
    """Fraction of pairs whose perturbed copy scores above its original (a tie counts half),
    with a percentile bootstrap interval. ``compute`` gives ``agree``, ``ci_low``,
    ``ci_high`` (None with no pairs) and ``n``; pairs with a NaN score are left out.
    ``n_boot``, ``seed`` and ``level`` set the bootstrap as in :class:`AUROCWithCI`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_state("original", default=[], dist_reduce_fx="cat")
        self.add_state("perturbed", default=[], dist_reduce_fx="cat")

    def update(self, original: Tensor, perturbed: Tensor) -> None:
        """Add pairs: the score of each original and of its perturbed copy."""
        original, perturbed = _flat(original), _flat(perturbed)
        if original.shape != perturbed.shape:
            raise ValueError(
                f"pair agreement needs one perturbed score per original, got "
                f"{original.numel()} and {perturbed.numel()}"
            )
        self.original.append(original)
        self.perturbed.append(perturbed)

    def compute(self) -> dict[str, float | int | None]:
        """Agreement, its bootstrap interval and the number of pairs."""
        original, perturbed = _rows(self.original), _rows(self.perturbed)
        keep = ~(np.isnan(original) | np.isnan(perturbed))
        original, perturbed = original[keep], perturbed[keep]
        wins = np.sort((perturbed > original) + 0.5 * (perturbed == original))
        if wins.size == 0:
            return {"agree": None, "ci_low": None, "ci_high": None, "n": 0}
        low, high = bootstrap_ci(
            np.mean, wins, n_boot=self.n_boot, seed=self.seed, level=self.level
        )
        return {"agree": float(wins.mean()), "ci_low": low, "ci_high": high, "n": int(wins.size)}


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

    def _pairs(self) -> tuple[np.ndarray, np.ndarray]:
        """(durations, Δℓ) of the pairs without NaN, in a canonical order (sorted), so sums do
        not depend on how shards were merged."""
        x, y = _rows(self.durations), _rows(self.deltas)
        keep = ~(np.isnan(x) | np.isnan(y))
        order = np.lexsort((y[keep], x[keep]))
        return x[keep][order], y[keep][order]

    def compute(self) -> dict[str, float | int | None]:
        """Both correlations and the number of points."""
        x, y = self._pairs()
        return {**correlations(x, y), "n": int(x.size)}


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
        x, y = self._pairs()
        lengths, means = length_means(x, y, self.decimals)
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
