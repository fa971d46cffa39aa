"""Means over pairs of per-pair vectors (named numbers, or a curve), leaving out the undefined
(NaN) entries. States are sums and counts, so shards merge exactly under DDP."""

from __future__ import annotations

import numpy as np
import torch
from torchmetrics import Metric


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
        row = torch.as_tensor(np.asarray(values, dtype=np.float64), device=self.sums.device)
        ok = ~torch.isnan(row)
        self.sums += torch.where(ok, row, torch.zeros_like(row))
        self.counts += ok.double()

    def compute(self) -> torch.Tensor:
        """The entry-wise means (NaN where no update defined the entry)."""
        return torch.where(self.counts > 0, self.sums / self.counts.clamp(min=1), torch.nan)


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
        means = super().compute().tolist()
        return {
            f"{self.prefix}{name}": (None if m != m else float(m))
            for name, m in zip(self.names, means, strict=True)
        }


class MeanCurve(NanMeans):
    """Mean Δℓ per grid step over pairs, masked steps left out (the paper's Figure 1)."""

    def __init__(self, n_bins: int, **kwargs) -> None:
        super().__init__(n_bins, **kwargs)
