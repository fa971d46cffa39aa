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
        self,
        sequences: list[np.ndarray],
        context: int,
        stride: int | None = None,
        first_target: int = 1,
    ) -> None:
        self.sequences = sequences
        self.rows = [
            Row(i, w)
            for i, seq in enumerate(sequences)
            for w in plan_windows(seq.shape[-1], context, stride, first_target)
        ]

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray]:
        row = self.rows[index]
        return index, self.sequences[row.item][..., row.window.start : row.window.end]


class LengthBatches(Sampler[list[int]]):
    """Row indices grouped by similar length (longest first), so batches carry little padding."""

    def __init__(self, dataset: WindowDataset, batch_size: int) -> None:
        self.rows = dataset.rows
        self.batch_size = batch_size
        lengths = np.zeros(len(dataset.sequences), dtype=np.int64)
        for row in self.rows:
            lengths[row.item] += row.window.end - row.window.start
        self.items = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))

    @property
    def batches(self) -> list[list[int]]:
        """This process's batches. Under DDP (read when Lightning iterates, once the process
        group exists) whole sequences are dealt round-robin by length, so every rank gets its
        share of long and short ones and finishes the sequences it starts; a rank left with
        none re-scores the last one (same result, harmless)."""
        items = self.items
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
            items = items[rank::world] or items[-1:]
        mine = set(items)
        rows = self.rows
        order = sorted(
            (i for i, r in enumerate(rows) if r.item in mine),
            key=lambda i: (rows[i].window.start - rows[i].window.end, i),
        )
        size = self.batch_size
        return [order[s : s + size] for s in range(0, len(order), size)]

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def collate(pad_id: int):
    """Pad a list of (row index, ids) to a batch: row indices, ids [B, T] (or [B, K, T] for
    audio codes) and mask [B, T]."""

    def _collate(
        rows: list[tuple[int, np.ndarray]],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        width = max(seq.shape[-1] for _, seq in rows)
        lead = rows[0][1].shape[:-1]
        ids = torch.full((len(rows), *lead, width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.bool)
        for b, (_, seq) in enumerate(rows):
            ids[b, ..., : seq.shape[-1]] = torch.from_numpy(np.asarray(seq, dtype=np.int64))
            mask[b, : seq.shape[-1]] = True
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
        # symbolic: [B, T-1] (BOS never predicted); audio: [B, K, T] (every code predicted)
        scored = lengths - 1 if nll.ndim == 2 else lengths
        return [(int(r), nll[b, ..., : int(scored[b])]) for b, r in enumerate(rows.tolist())]
