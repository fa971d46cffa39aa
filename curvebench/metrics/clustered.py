"""AUROC and pair agreement with bootstrap intervals clustered by original piece.

One original can have many perturbed copies (``noise-colors`` has 12). Their scores share the
original's loss, so they are not independent; resampling pairs one by one gives intervals that
are too narrow. Here each bootstrap resample draws ORIGINAL PIECES (clusters) with replacement
and takes every row of each drawn piece: a cluster drawn twice counts twice. Duplicating every
copy of every piece then leaves the interval exactly as it was.

Both statistics are direction-aware: ``higher_is_worse`` says which way a metric points
(absolute loss: higher = worse, so True). Scores are oriented so that higher = worse before
anything is computed; a value below 0.5 then means the metric ranks the corrupted copy as the
BETTER one (the paper's point about absolute loss).

The resamples are computed as integer cluster counts (weights), which is exactly the same as
concatenating the drawn clusters' rows, and keeps every sum exact. Clusters are put in sorted
order before drawing, so the interval depends only on the set of rows and the seed, never on
row order or on how rows gathered from several processes were merged.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydantic import ConfigDict

_CHUNK = 128  # resamples computed at once (bounds memory to _CHUNK × rows floats)


@dataclass
class Estimate:
    """A statistic, its clustered bootstrap interval and what it was computed from."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    value: float | None
    """The statistic on all rows (None when undefined: no rows, or one AUROC class empty)."""
    ci_low: float | None
    """Lower end of the percentile interval (None when no resample was defined)."""
    ci_high: float | None
    """Upper end of the percentile interval."""
    n: int
    """Rows used: pairs for agreement, items (positives + negatives) for AUROC."""
    n_clusters: int
    """Distinct original pieces among those rows (the bootstrap's resampling unit)."""


def cluster_ids(names: Sequence[str]) -> np.ndarray:
    """Stable int64 ids for cluster names (a piece id): the first 6 bytes of BLAKE2b, so every
    rank and every run maps a name to the same id (exact in float64 too)."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(str(n).encode(), digest_size=6).digest(), "big")
            for n in names
        ],
        dtype=np.int64,
    )


def _cluster_index(clusters: np.ndarray | Sequence) -> tuple[np.ndarray, int]:
    """Each row's index into the sorted distinct clusters, and how many there are."""
    arr = np.asarray(clusters)
    if arr.dtype.kind in "US" or arr.dtype == object:
        arr = cluster_ids([str(c) for c in arr])
    distinct, index = np.unique(arr, return_inverse=True)
    return index.reshape(-1), int(distinct.size)


def _draw_counts(n_clusters: int, n_boot: int, seed: int) -> list[np.ndarray]:
    """Cluster counts of each resample, in chunks of (≤ _CHUNK, n_clusters) float arrays."""
    rng = np.random.default_rng(seed)
    chunks = []
    for start in range(0, n_boot, _CHUNK):
        b = min(_CHUNK, n_boot - start)
        draws = rng.integers(0, n_clusters, size=(b, n_clusters))
        flat = (draws + n_clusters * np.arange(b)[:, None]).reshape(-1)
        counts = np.bincount(flat, minlength=b * n_clusters).reshape(b, n_clusters)
        chunks.append(counts.astype(np.float64))
    return chunks


def _interval(values: np.ndarray, level: float) -> tuple[float | None, float | None]:
    """Percentile interval of the finite values (None, None when there is none)."""
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return float(low), float(high)


def _check(n_boot: int, level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"confidence level must be in (0, 1), got {level}")
    if n_boot < 1:
        raise ValueError(f"n_boot must be at least 1, got {n_boot}")


def _weighted_auroc(weights: np.ndarray, positive: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """AUROC of each row of ``weights`` (b × rows, rows sorted by score; ``starts`` = first
    row of each distinct score): Σ_pos w·(neg weight below + ½ neg weight tied) / (W₊·W₋)."""
    pos = np.add.reduceat(weights * positive, starts, axis=1)
    neg = np.add.reduceat(weights * ~positive, starts, axis=1)
    below = np.cumsum(neg, axis=1) - neg
    num = (pos * (below + 0.5 * neg)).sum(axis=1)
    den = pos.sum(axis=1) * neg.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def clustered_auroc(
    scores: np.ndarray,
    labels: np.ndarray,
    clusters: np.ndarray | Sequence,
    *,
    higher_is_worse: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """AUROC of a score separating originals (label 0) from perturbed copies (label 1), with a
    percentile interval from ``n_boot`` resamples of clusters (seeded by ``seed``).

    AUROC = P(oriented score of a perturbed copy > that of an original), ties counting half,
    where the oriented score is ``score`` if ``higher_is_worse`` else ``−score``. Give each
    original once (however many copies it has) with its piece as cluster; ``clusters`` are
    ints or names (hashed by :func:`cluster_ids`). Rows with a NaN score are left out.
    """
    _check(n_boot, level)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    cl = np.asarray(clusters).reshape(-1)
    if not (s.size == y.size == cl.size):
        raise ValueError(f"AUROC needs equal lengths, got {s.size}, {y.size}, {cl.size}")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("AUROC labels must be 0 (original) or 1 (perturbed)")
    keep = ~np.isnan(s)
    s, y, cl = (s if higher_is_worse else -s)[keep], y[keep].astype(bool), cl[keep]
    index, n_clusters = _cluster_index(cl) if s.size else (np.empty(0, np.int64), 0)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        return Estimate(None, None, None, int(s.size), n_clusters)
    order = np.argsort(s, kind="stable")
    s, y, index = s[order], y[order], index[order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])
    value = float(_weighted_auroc(np.ones((1, s.size)), y, starts)[0])
    boots = [
        _weighted_auroc(c[:, index], y, starts) for c in _draw_counts(n_clusters, n_boot, seed)
    ]
    low, high = _interval(np.concatenate(boots), level)
    return Estimate(value, low, high, int(s.size), n_clusters)


def clustered_agreement(
    original: np.ndarray,
    perturbed: np.ndarray,
    clusters: np.ndarray | Sequence,
    *,
    higher_is_worse: bool = True,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> Estimate:
    """Fraction of pairs whose perturbed copy is ranked worse than its original (a tie counts
    half), with a percentile interval from ``n_boot`` resamples of clusters (seeded).

    A pair agrees when ``perturbed > original`` (``higher_is_worse``) or ``perturbed <
    original`` (not). Each pair's cluster is its original piece (ints or names). Pairs with a
    NaN score are left out.
    """
    _check(n_boot, level)
    a = np.asarray(original, dtype=np.float64).reshape(-1)
    b = np.asarray(perturbed, dtype=np.float64).reshape(-1)
    cl = np.asarray(clusters).reshape(-1)
    if not (a.size == b.size == cl.size):
        raise ValueError(f"agreement needs equal lengths, got {a.size}, {b.size}, {cl.size}")
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b, cl = a[keep], b[keep], cl[keep]
    if a.size == 0:
        return Estimate(None, None, None, 0, 0)
    if not higher_is_worse:
        a, b = -a, -b
    wins = (b > a) + 0.5 * (b == a)
    index, n_clusters = _cluster_index(cl)
    win_sums = np.bincount(index, weights=wins, minlength=n_clusters)
    sizes = np.bincount(index, minlength=n_clusters).astype(np.float64)
    value = math.fsum(wins) / wins.size
    boots = [(c @ win_sums) / (c @ sizes) for c in _draw_counts(n_clusters, n_boot, seed)]
    low, high = _interval(np.concatenate(boots), level)
    return Estimate(float(value), low, high, int(wins.size), n_clusters)
