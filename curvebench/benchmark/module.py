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
    """The shared tokens [P] (at least two), or the shared frames of audio codes [K, P]."""
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

    def __init__(
        self, dataset: WindowDataset, batch_size: int, needed: set[int] | None = None
    ) -> None:
        self.rows = dataset.rows
        self.batch_size = batch_size
        self.needed = needed
        """Sequences that must be scored (None: all); batches without one are left out."""
        self.dataset = dataset
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
        batches = windows + [[g] for g in groups]  # a prefix group is a batch of its own
        if self.needed is None:
            return batches
        return [b for b in batches if self._needed(b)]

    def _needed(self, batch: list[int]) -> bool:
        """True when the batch holds a window or group member of a needed sequence."""
        rows = len(self.rows)
        for index in batch:
            if index < rows:
                if self.rows[index].item in self.needed:
                    return True
            elif any(m in self.needed for m in self.dataset.groups[index - rows].members):
                return True
        return False

    def __iter__(self) -> Iterator[list[int]]:
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


@dataclass  # not frozen: Lightning moves a batch to the device field by field
class WindowBatch:
    """Windows padded to one batch."""

    rows: torch.Tensor
    """Row index of each window in the dataset, [B]."""
    ids: torch.Tensor
    """Token ids [B, T], or codes [B, K, T] for audio."""
    mask: torch.Tensor
    """[B, T]: True on real steps."""
    lengths: np.ndarray
    """Real steps of each row, on the host (no device round trip to read them back)."""


@dataclass
class GroupBatch:
    """A prefix group, scored as a batch of its own (the module reads it from the dataset)."""

    index: int
    """Index of the group's entry in the dataset (after the rows)."""


@dataclass(frozen=True)
class RowLoss:
    """Losses of one window's targets."""

    row: int
    """Row index in the dataset."""
    nll: np.ndarray
    """Per-target nats."""


@dataclass(frozen=True)
class SequenceLoss:
    """Losses of a whole sequence, scored from a shared prefix."""

    item: int
    """Index of the sequence in the scoring list."""
    nll: np.ndarray
    """Per-target nats of the whole sequence."""


def pad_batch(sequences: list[np.ndarray], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sequences ([T] or [K, T]) padded on the right to one batch: ids [B, (K,) T] and mask
    [B, T] (True on real steps)."""
    width = max(seq.shape[-1] for seq in sequences)
    lead = sequences[0].shape[:-1]
    ids = torch.full((len(sequences), *lead, width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.bool)
    for b, seq in enumerate(sequences):
        ids[b, ..., : seq.shape[-1]] = torch.from_numpy(np.asarray(seq, dtype=np.int64))
        mask[b, : seq.shape[-1]] = True
    return ids, mask


def collate(pad_id: int):
    """Batch (row index, ids) items into a :class:`WindowBatch`, or a prefix group's single
    (index, None) item into a :class:`GroupBatch`."""

    def _collate(rows: list[tuple[int, np.ndarray | None]]) -> WindowBatch | GroupBatch:
        if rows[0][1] is None:
            return GroupBatch(rows[0][0])
        ids, mask = pad_batch([seq for _, seq in rows], pad_id)  # type: ignore[misc]
        lengths = np.array([seq.shape[-1] for _, seq in rows])  # type: ignore[union-attr]
        return WindowBatch(torch.tensor([i for i, _ in rows]), ids, mask, lengths)

    return _collate


class ScoringModule(L.LightningModule):
    """Wraps an adapter; ``predict_step`` returns each row's per-token losses (nats)."""

    def __init__(self, adapter: Adapter, dataset: WindowDataset | None = None) -> None:
        super().__init__()
        self.adapter = adapter
        self.dataset = dataset
        self.model = adapter.module  # registered so that Lightning places it on the device

    def predict_step(
        self, batch: WindowBatch | GroupBatch, batch_idx: int
    ) -> list[RowLoss] | list[SequenceLoss]:
        """Each window's losses, or each member's whole losses for a prefix group."""
        if isinstance(batch, GroupBatch):
            return self._group(self.dataset.groups[batch.index - len(self.dataset.rows)])
        nll = self.adapter.loss(batch.ids, batch.mask).float().cpu().numpy()
        # flat ids: [B, T-1] (the first token is never predicted); codes: [B, K, T] (every one)
        scored = batch.lengths - 1 if nll.ndim == 2 else batch.lengths
        return [
            RowLoss(int(r), nll[b, ..., : int(scored[b])])
            for b, r in enumerate(batch.rows.tolist())
        ]

    def _group(self, group: PrefixGroup) -> list[SequenceLoss]:
        """Every member's whole losses from the adapter's ``loss_from_prefix``: flat ids give
        one head for all (the prefix's losses), audio codes one per member."""
        p = group.prefix.shape[-1]
        tails = [self.dataset.sequences[m][..., p:] for m in group.members]
        cont, mask = pad_batch(tails, self.adapter.pad_id)
        prefix = torch.from_numpy(np.asarray(group.prefix, dtype=np.int64)).to(self.device)
        head, rest = self.adapter.loss_from_prefix(
            prefix, cont.to(self.device), mask.to(self.device)
        )
        head, rest = head.float().cpu().numpy(), rest.float().cpu().numpy()
        per_member = head.ndim == rest.ndim
        return [
            SequenceLoss(
                m,
                np.concatenate(
                    [head[i] if per_member else head, rest[i, ..., : tail.shape[-1]]], axis=-1
                ),
            )
            for i, (m, tail) in enumerate(zip(group.members, tails, strict=True))
        ]
