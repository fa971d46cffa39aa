"""Means over pairs of per-pair vectors (named numbers, or a curve), leaving out the undefined
(NaN) entries: :func:`nan_means` and :func:`named_means` over a table of rows, and the
torchmetrics classes over the same functions, whose states are sums and counts so that shards
merge exactly under DDP."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torchmetrics import Metric


def nan_totals(
    rows: Sequence[Sequence[float]] | np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """Entry-wise sums and counts of the defined (non-NaN) entries of ``rows`` (each of
    ``size`` entries)."""
    table = np.asarray(rows, dtype=np.float64).reshape(-1, size)
    ok = ~np.isnan(table)
    return np.where(ok, table, 0.0).sum(axis=0), ok.sum(axis=0).astype(np.float64)


def means_of_totals(sums: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Entry-wise sums / counts, NaN where the count is 0."""
    return np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)


def nan_means(rows: Sequence[Sequence[float]] | np.ndarray, size: int) -> np.ndarray:
    """Entry-wise mean over rows of ``size`` entries, NaN entries left out (NaN where no row
    defines the entry)."""
    return means_of_totals(*nan_totals(rows, size))


def as_named(means: Sequence[float], names: Sequence[str], prefix: str) -> dict[str, float | None]:
    """``<prefix><name>`` → mean, None where undefined."""
    return {
        f"{prefix}{name}": (None if m != m else float(m))
        for name, m in zip(names, means, strict=True)
    }


def named_means(
    rows: Sequence[Mapping[str, float]], names: Sequence[str], prefix: str
) -> dict[str, float | None]:
    """Mean over rows of each named number (``<prefix><name>``; None when no row had it)."""
    table = [[row[name] for name in names] for row in rows]
    return as_named(nan_means(table, len(names)).tolist(), names, prefix)


class NanMeans(Metric):
    """Entry-wise mean over updates of a fixed-size vector; NaN entries are left out."""

    full_state_update = False

    def __init__(self, size: int, **kwargs) -> None:
        super().__init__(**kwargs)
        zeros = torch.zeros(size, dtype=torch.float64)
        self.add_state("sums", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("counts", default=zeros.clone(), dist_reduce_fx="sum")

    def update(self, values: np.ndarray | list[float]) -> None:
        """Add one vector."""
        sums, counts = nan_totals([values], self.sums.numel())
        self.sums += torch.as_tensor(sums, device=self.sums.device)
        self.counts += torch.as_tensor(counts, device=self.counts.device)

    def compute(self) -> torch.Tensor:
        """The entry-wise means (NaN where no update defined the entry)."""
        means = means_of_totals(self.sums.cpu().numpy(), self.counts.cpu().numpy())
        return torch.as_tensor(means, dtype=torch.float64)


class NamedMeans(NanMeans):
    """Mean over pairs of each named number. ``compute`` gives ``<prefix><name>`` per name
    (None when no pair had it)."""

    def __init__(self, names: tuple[str, ...], prefix: str, **kwargs) -> None:
        super().__init__(len(names), **kwargs)
        self.names, self.prefix = names, prefix

    def update(self, values: dict[str, float]) -> None:  # type: ignore[override]
        """Add one pair's numbers (a dict holding every name)."""
        super().update([values[name] for name in self.names])

    def compute(self) -> dict[str, float | None]:  # type: ignore[override]
        """Mean of each number over the pairs where it was defined."""
        return as_named(super().compute().tolist(), self.names, self.prefix)


class MeanCurve(NanMeans):
    """Mean Δℓ per grid step over pairs, masked steps left out (the paper's Figure 1)."""

    def __init__(self, n_bins: int, **kwargs) -> None:
        super().__init__(n_bins, **kwargs)
