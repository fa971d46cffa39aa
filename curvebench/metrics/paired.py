"""Two models on the same items: the difference of a statistic between them, with a bootstrap
interval and a paired permutation test, both clustered by original piece.

The items are shared: row i is the same original or perturbed copy for model A and model B.
The interval resamples pieces (with all their rows) and recomputes both models' statistic on
each resample; the test swaps the two models' values of whole pieces at random (under the null
hypothesis that the models do not differ, either assignment is as likely), so it keeps every
dependence between rows of one piece. Two statistics: a mean over rows (:func:`paired_mean`)
and an AUROC of originals against perturbed copies (:func:`paired_auroc`), each written as a
linear or bilinear form of per-row weights so that thousands of resamples are a few matrix
products.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from curvebench.metrics.clustered import _cluster_index, _draw_counts, _interval

_CHUNK = 250
"""Resamples (or permutations) computed in one matrix product."""


@dataclass(frozen=True)
class PairedDifference:
    """A statistic of model A and of model B on shared rows, and A − B."""

    a: float | None
    b: float | None
    diff: float | None
    """A − B (None when either is undefined)."""
    ci_low: float | None
    ci_high: float | None
    """Percentile interval of A − B over resamples of pieces."""
    p_value: float | None
    """Two-sided p of the paired permutation test (swapping the models within pieces)."""
    n: int
    """Rows used (both models defined)."""
    n_clusters: int
    """Distinct pieces among them."""

    def verdict(self, higher_is_better: bool | None, alpha: float = 0.05) -> str:
        """``A better`` or ``B better`` (``A higher``/``B higher`` for a metric with no better
        direction) when the interval excludes 0 and the test's p is below ``alpha``; else
        ``no difference``."""
        if self.ci_low is None or self.ci_high is None or self.p_value is None:
            return "no difference"
        if not (self.ci_low > 0 or self.ci_high < 0) or self.p_value >= alpha:
            return "no difference"
        a_higher = self.ci_low > 0
        if higher_is_better is None:
            return "A higher" if a_higher else "B higher"
        return "A better" if a_higher == higher_is_better else "B better"


def _swaps(n_clusters: int, n: int, seed: int) -> list[np.ndarray]:
    """Which pieces swap models in each of ``n`` permutations, in chunks (0/1 floats)."""
    rng = np.random.default_rng(seed + 1)
    return [
        rng.integers(0, 2, size=(min(_CHUNK, n - start), n_clusters)).astype(float)
        for start in range(0, n, _CHUNK)
    ]


def _p_value(observed: float, permuted: np.ndarray) -> float:
    permuted = permuted[np.isfinite(permuted)]
    return float((1 + np.sum(np.abs(permuted) >= abs(observed) - 1e-12)) / (1 + permuted.size))


def _empty(n: int, n_clusters: int) -> PairedDifference:
    return PairedDifference(None, None, None, None, None, None, n, n_clusters)


def paired_mean(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    clusters: Sequence | np.ndarray,
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedDifference:
    """Mean of A's values, of B's, and their difference over the rows both define."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b, cl = a[keep], b[keep], np.asarray(clusters)[keep]
    if a.size == 0:
        return _empty(0, 0)
    index, k = _cluster_index(cl)
    d = a - b
    diff = float(d.mean())
    boots = []
    for counts in _draw_counts(k, n_boot, seed):
        w = counts[:, index]
        boots.append((w * d).sum(axis=1) / w.sum(axis=1))
    low, high = _interval(np.concatenate(boots), level)
    per_cluster = np.bincount(index, weights=d, minlength=k)
    flips = [(1.0 - 2.0 * z) @ per_cluster / d.size for z in _swaps(k, n_boot, seed)]
    p = _p_value(diff, np.concatenate(flips))
    return PairedDifference(float(a.mean()), float(b.mean()), diff, low, high, p, a.size, k)


def _above(pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    """[i, j] = 1 when positive i scores above negative j, ½ on a tie."""
    return (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])


def paired_auroc(
    a: Sequence[float] | np.ndarray,
    b: Sequence[float] | np.ndarray,
    labels: Sequence[int] | np.ndarray,
    clusters: Sequence | np.ndarray,
    *,
    higher_is_worse: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedDifference:
    """AUROC (perturbed copies, label 1, against originals, label 0; the score oriented so
    that higher = worse) of A's scores, of B's, and their difference, over the rows both
    define."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    y = np.asarray(labels).astype(bool)
    keep = np.isfinite(a) & np.isfinite(b)
    a, b, y, cl = a[keep], b[keep], y[keep], np.asarray(clusters)[keep]
    if not higher_is_worse:
        a, b = -a, -b
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return _empty(int(y.size), len(set(cl.tolist())))
    index, k = _cluster_index(cl)
    ip, ineg = index[y], index[~y]
    pa, na, pb, nb = a[y], a[~y], b[y], b[~y]
    c = {
        "aa": _above(pa, na),
        "ab": _above(pa, nb),
        "ba": _above(pb, na),
        "bb": _above(pb, nb),
    }
    scale = float(n_pos * (y.size - n_pos))
    auroc_a, auroc_b = c["aa"].sum() / scale, c["bb"].sum() / scale
    boots = []
    for counts in _draw_counts(k, n_boot, seed):
        wp, wn = counts[:, ip], counts[:, ineg]
        den = wp.sum(axis=1) * wn.sum(axis=1)
        num_a = np.einsum("bi,ij,bj->b", wp, c["aa"], wn)
        num_b = np.einsum("bi,ij,bj->b", wp, c["bb"], wn)
        with np.errstate(invalid="ignore", divide="ignore"):
            boots.append((num_a - num_b) / den)
    low, high = _interval(np.concatenate(boots), level)
    perms = []
    for z in _swaps(k, n_boot, seed):
        zp, zn = z[:, ip], z[:, ineg]
        up, un = 1.0 - zp, 1.0 - zn

        def form(left: np.ndarray, name: str, right: np.ndarray) -> np.ndarray:
            return np.einsum("bi,ij,bj->b", left, c[name], right)

        swapped_a = (
            form(up, "aa", un) + form(up, "ab", zn) + form(zp, "ba", un) + form(zp, "bb", zn)
        )
        swapped_b = (
            form(up, "bb", un) + form(up, "ba", zn) + form(zp, "ab", un) + form(zp, "aa", zn)
        )
        perms.append((swapped_a - swapped_b) / scale)
    diff = float(auroc_a - auroc_b)
    p = _p_value(diff, np.concatenate(perms))
    return PairedDifference(float(auroc_a), float(auroc_b), diff, low, high, p, int(y.size), k)
