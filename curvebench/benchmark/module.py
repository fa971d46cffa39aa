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


@dataclass(frozen=True)
class PrefixGroup:
    """Sequences that share their first tokens, scored from one pass over those tokens (the
    model's key-value cache) instead of from scratch."""

    prefix: np.ndarray
    """The shared tokens (at least two)."""
    members: tuple[int, ...]
    """Indices of the sequences, in the dataset's list."""


class WindowDataset(Dataset):
    """Rows of every sequence to score; long ones split into rolling windows."""

    def __init__(
        self,
        sequences: list[np.ndarray],
        context: int,
        stride: int | None = None,
        first_target: int = 1,
        groups: list[PrefixGroup] | tuple = (),
    ) -> None:
        self.sequences = sequences
        self.groups = list(groups)
        grouped = {m for g in self.groups for m in g.members}
        self.rows = [
            Row(i, w)
            for i, seq in enumerate(sequences)
            if i not in grouped
            for w in plan_windows(seq.shape[-1], context, stride, first_target)
        ]

    def __len__(self) -> int:
        return len(self.rows) + len(self.groups)

    def __getitem__(self, index: int) -> tuple[int, np.ndarray | None]:
        if index >= len(self.rows):  # a prefix group: the module reads it from the dataset
            return index, None
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
        self.items = sorted({r.item for r in self.rows}, key=lambda i: (-lengths[i], i))
        self.group_rows = list(range(len(self.rows), len(dataset)))

    @property
    def batches(self) -> list[list[int]]:
        """This process's batches. Under DDP (read when Lightning iterates, once the process
        group exists) whole sequences are dealt round-robin by length, so every rank gets its
        share of long and short ones and finishes the sequences it starts; a rank left with
        none re-scores the last one (same result, harmless)."""
        items, groups = self.items, self.group_rows
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            rank, world = torch.distributed.get_rank(), torch.distributed.get_world_size()
            items, groups = items[rank::world], groups[rank::world]
            if not items and not groups:
                items, groups = self.items[-1:], self.group_rows[-1:]
        mine = set(items)
        rows = self.rows
        order = sorted(
            (i for i, r in enumerate(rows) if r.item in mine),
            key=lambda i: (rows[i].window.start - rows[i].window.end, i),
        )
        size = self.batch_size
        windows = [order[s : s + size] for s in range(0, len(order), size)]
        return windows + [[g] for g in groups]  # a prefix group is a batch of its own

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


def collate(pad_id: int):
    """Pad a list of (row index, ids) to a batch: row indices, ids [B, T] (or [B, K, T] for
    audio codes) and mask [B, T]."""

    def _collate(
        rows: list[tuple[int, np.ndarray | None]],
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | tuple[str, int]:
        if rows[0][1] is None:
            return ("group", rows[0][0])
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

    def __init__(self, adapter: Adapter, dataset: WindowDataset | None = None) -> None:
        super().__init__()
        self.adapter = adapter
        self.dataset = dataset
        self.model = adapter.module  # registered so that Lightning places it on the device

    def predict_step(self, batch: tuple, batch_idx: int) -> list[tuple[str, int, np.ndarray]]:
        """("row", row index, losses of the window's targets) per row, or for a prefix group
        ("seq", sequence index, the whole sequence's losses) per member."""
        if batch[0] == "group":
            return self._group(self.dataset.groups[batch[1] - len(self.dataset.rows)])
        rows, ids, mask = batch
        nll = self.adapter.loss(ids, mask).float().cpu().numpy()
        lengths = mask.sum(dim=1).cpu().numpy()
        # symbolic: [B, T-1] (BOS never predicted); audio: [B, K, T] (every code predicted)
        scored = lengths - 1 if nll.ndim == 2 else lengths
        return [("row", int(r), nll[b, ..., : int(scored[b])]) for b, r in enumerate(rows.tolist())]

    def _group(self, group: PrefixGroup) -> list[tuple[str, int, np.ndarray]]:
        p = len(group.prefix)
        tails = [self.dataset.sequences[m][p:] for m in group.members]
        width = max(len(t) for t in tails)
        cont = torch.full((len(tails), width), self.adapter.pad_id, dtype=torch.long)
        mask = torch.zeros((len(tails), width), dtype=torch.bool)
        for i, tail in enumerate(tails):
            cont[i, : len(tail)] = torch.from_numpy(np.asarray(tail, dtype=np.int64))
            mask[i, : len(tail)] = True
        prefix = torch.from_numpy(np.asarray(group.prefix, dtype=np.int64)).to(self.device)
        head, rest = self.adapter.loss_from_prefix(
            prefix, cont.to(self.device), mask.to(self.device)
        )
        head, rest = head.float().cpu().numpy(), rest.float().cpu().numpy()
        return [
            ("seq", m, np.concatenate([head, rest[i, : len(tails[i])]]))
            for i, m in enumerate(group.members)
        ]
