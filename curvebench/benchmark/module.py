"""The Lightning side of scoring: a dataset of windows, its batching, and the module."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from curvebench.adapters.base import Adapter
from curvebench.benchmark.windows import Window, plan_windows


@dataclass(frozen=True)
class Row:
    """One model pass: a window of one unique sequence."""

    item: int
    """Index of the sequence in the scoring list."""
    window: Window
    """Which part of the sequence this pass covers."""


class WindowDataset(Dataset):
    """Rows of every sequence to score; long ones split into rolling windows."""

    def __init__(
        self, sequences: list[np.ndarray], context: int, stride: int | None = None
    ) -> None:
        self.sequences = sequences
        self.rows = [
            Row(i, w)
            for i, seq in enumerate(sequences)
            for w in plan_windows(len(seq), context, stride)
        ]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray]:
        row = self.rows[index]
        return index, self.sequences[row.item][row.window.start : row.window.end]


class LengthBatches(Sampler[list[int]]):
    """Row indices grouped by similar length (longest first), so batches carry little padding."""

    def __init__(self, dataset: WindowDataset, batch_size: int) -> None:
        rows = dataset.rows
        order = sorted(
            range(len(rows)), key=lambda i: (rows[i].window.start - rows[i].window.end, i)
        )
        self.batches = [order[s : s + batch_size] for s in range(0, len(order), batch_size)]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def collate(pad_id: int):
    """Pad a list of (row index, ids) to a batch: row indices, ids [B, T], mask [B, T]."""

    def _collate(
        rows: list[tuple[int, np.ndarray]],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = max(len(ids) for _, ids in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.bool)
        for b, (_, seq) in enumerate(rows):
            ids[b, : len(seq)] = torch.from_numpy(np.asarray(seq, dtype=np.int64))
            mask[b, : len(seq)] = True
        return torch.tensor([i for i, _ in rows]), ids, mask

    return _collate


class ScoringModule(L.LightningModule):
    """Wraps an adapter; ``predict_step`` returns each row's per-token losses (nats)."""

    def __init__(self, adapter: Adapter) -> None:
        super().__init__()
        self.adapter = adapter
        self.model = adapter.module  # registered so that Lightning places it on the device

    def predict_step(
        self, batch: tuple[torch.Tensor, torch.Tensor, torch.Tensor], batch_idx: int
    ) -> list[tuple[int, np.ndarray]]:
        rows, ids, mask = batch
        nll = self.adapter.loss(ids, mask).float().cpu().numpy()
        lengths = mask.sum(dim=1).cpu().numpy()
        return [(int(r), nll[b, : int(lengths[b]) - 1]) for b, r in enumerate(rows.tolist())]
