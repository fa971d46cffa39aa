"""Means of named per-pair numbers over pairs, leaving out the undefined (NaN) ones."""

from __future__ import annotations

import torch
from torchmetrics import Metric


class NamedMeans(Metric):
    """Mean over pairs of each named number; NaN values are left out. ``compute`` gives
    ``<prefix><name>`` per name (None when no pair had it). States are sums and counts, so
    shards merge exactly under DDP."""

    full_state_update = False

    def __init__(self, names: tuple[str, ...], prefix: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.names, self.prefix = names, prefix
        zeros = torch.zeros(len(names), dtype=torch.float64)
        self.add_state("sums", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("counts", default=zeros.clone(), dist_reduce_fx="sum")

    def update(self, values: dict[str, float]) -> None:
        """Add one pair's numbers (a dict holding every name)."""
        row = torch.tensor(
            [values[name] for name in self.names], dtype=torch.float64, device=self.sums.device
        )
        ok = ~torch.isnan(row)
        self.sums += torch.where(ok, row, torch.zeros_like(row))
        self.counts += ok.double()

    def compute(self) -> dict[str, float | None]:
        """Mean of each number over the pairs where it was defined."""
        return {
            f"{self.prefix}{name}": (float(s / c) if c > 0 else None)
            for name, s, c in zip(self.names, self.sums, self.counts, strict=True)
        }
