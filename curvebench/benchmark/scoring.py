"""Score token sequences with an adapter through Lightning's ``Trainer.predict``.

A ``BasePredictionWriter`` puts each batch's losses in place as it arrives and reports every
sequence the moment its last window is scored, so a caller can store it at once (the run's
on-disk cache): work done before an interruption is never lost.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import BasePredictionWriter
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from curvebench.adapters.base import Adapter, lightning_devices
from curvebench.benchmark.module import (
    LengthBatches,
    PrefixGroup,
    RowLoss,
    ScoringModule,
    SequenceLoss,
    WindowDataset,
    collate,
)

log = logging.getLogger(__name__)

Done = Callable[[int, np.ndarray], None]
"""Called with (sequence index, its losses) when a sequence is fully scored."""


class _Assembler(BasePredictionWriter):
    """Writes each row's losses into its sequence and reports finished sequences."""

    def __init__(
        self,
        dataset: WindowDataset,
        out: list[np.ndarray],
        todo: list[int],
        first: int,
        on_done: Done | None,
        progress: bool = False,
    ) -> None:
        super().__init__(write_interval="batch")
        self.progress = progress
        self.bar: tqdm | None = None
        self.tokens = 0
        self.dataset, self.out, self.todo, self.first, self.on_done = (
            dataset,
            out,
            todo,
            first,
            on_done,
        )
        self.remaining = np.bincount([r.item for r in dataset.rows], minlength=len(todo)).astype(
            np.int64
        )

    def write_on_batch_end(
        self,
        trainer,
        pl_module,
        prediction,
        batch_indices,
        batch,
        batch_idx,
        dataloader_idx,
    ) -> None:
        first = self.first
        if self.progress and self.bar is None and trainer.global_rank == 0:
            total = len(trainer.predict_dataloaders)
            self.bar = tqdm(total=total, unit="batch", desc=f"scoring on {trainer.world_size}")
        if self.bar is not None:  # batches done, ETA, and scored tokens per second
            self.tokens += sum(int(np.prod(p.nll.shape)) for p in prediction)
            rate = self.tokens / max(self.bar.format_dict["elapsed"], 1e-9)
            self.bar.set_postfix_str(f"{rate:,.0f} tok/s", refresh=False)
            self.bar.update(1)
        for part in prediction:
            if isinstance(part, SequenceLoss):  # a whole sequence, scored from a shared prefix
                self.out[self.todo[part.item]][...] = part.nll
                if self.on_done is not None:
                    self.on_done(self.todo[part.item], self.out[self.todo[part.item]])
                continue
            assert isinstance(part, RowLoss)
            nll = part.nll
            row = self.dataset.rows[part.row]
            w = row.window
            target = self.out[self.todo[row.item]]
            # target j (ids[..., j]) is loss index j - first; in the window, j - start - first
            target[..., w.first_target - first : w.end - first] = nll[
                ..., w.first_target - w.start - first :
            ]
            self.remaining[row.item] -= 1
            if self.remaining[row.item] == 0 and self.on_done is not None:
                self.on_done(self.todo[row.item], target)


@dataclass(frozen=True)
class Scored:
    """What :func:`score_sequences` gives back."""

    losses: list[np.ndarray]
    """Per-step losses of each sequence, in the order given (NaN where not scored: on the
    extra processes of a multi-device run, the sequences other ranks scored)."""
    main: bool = True
    """False in the extra processes of a multi-device run: they stop after scoring, and the
    main process (rank 0) gathers their results (the run through its on-disk cache)."""

    def __getitem__(self, index: int) -> np.ndarray:
        return self.losses[index]

    def __len__(self) -> int:
        return len(self.losses)

    def __iter__(self) -> Iterator[np.ndarray]:
        return iter(self.losses)


def score_sequences(
    adapter: Adapter,
    sequences: list[np.ndarray],
    batch_size: int = 16,
    accelerator: str = "auto",
    stride: int | None = None,
    progress: bool = False,
    on_done: Done | None = None,
    devices: int = 1,
    num_nodes: int = 1,
    share_prefixes: list[list[int]] | None = None,
    skip: set[int] | frozenset[int] = frozenset(),
    precision: str = "32-true",
) -> Scored:
    """Per-token losses of each sequence.

    Flat ids [T] (BOS or prompt first): ``out[s][i] = -log p(seq[i+1] | seq[:i+1])``, T − 1
    values. Audio codes [K, T]: ``out[s][k, t]`` = loss of code t of codebook k, [K, T].
    Symbolic sequences longer than the adapter's context are scored in rolling windows; rows
    are batched by similar length. ``on_done`` hears of each sequence as soon as it is scored.

    With ``devices`` > 1 Lightning runs DDP (GPUs, or CPU processes); each rank scores every
    ``devices``-th batch and reports it through ``on_done``: the caller gathers the results
    (the runner through its on-disk cache) on the process whose result has ``main``.

    ``share_prefixes`` lists groups of sequence indices (an original first, then its perturbed
    copies): where the adapter can (``loss_from_prefix``) and the copies share at least
    ``MIN_SHARED`` leading tokens (audio: frames whose codes all agree) with the original, the
    copies are scored from one pass over those tokens (key-value cache) instead of from
    scratch; the losses are the same.

    ``skip`` lists sequences whose losses the caller has already (its cache). The batches are
    laid out over every sequence as if none were known, and only those holding a sequence not
    in ``skip`` are run, so a sequence is always scored beside the same batch mates: a resumed
    run gives bit-identical losses to an uninterrupted one. Losses of skipped sequences are
    NaN unless a run batch happened to cover them.

    ``precision`` is Lightning's (``32-true``; ``bf16-mixed`` autocasts the passes).
    """
    first = 0 if sequences and sequences[0].ndim == 2 else 1
    out = [
        np.full((*s.shape[:-1], max(0, s.shape[-1] - first)), np.nan, dtype=np.float32)
        for s in sequences
    ]
    todo = [i for i, s in enumerate(sequences) if s.shape[-1] >= first + 1]
    if not todo:
        return Scored(out)
    position = {s: i for i, s in enumerate(todo)}
    groups = _prefix_groups(
        adapter,
        [sequences[i] for i in todo],
        [[position[s] for s in g if s in position] for g in share_prefixes or []],
    )
    dataset = WindowDataset(
        [sequences[i] for i in todo], adapter.context_length, stride, first, groups
    )
    accelerator, placed = lightning_devices(adapter.accelerator or accelerator, devices)
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=placed,
        num_nodes=num_nodes,
        strategy="ddp" if devices * num_nodes > 1 else "auto",
        precision=precision,
        use_distributed_sampler=False,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=False,
        callbacks=[_Assembler(dataset, out, todo, first, on_done, progress)],
    )
    batches = LengthBatches(
        dataset, batch_size, needed={position[i] for i in todo if i not in skip}
    )
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate(adapter.pad_id))
    with warnings.catch_warnings():
        # our batch sampler yields every row exactly once; Lightning cannot know that
        warnings.filterwarnings("ignore", message=".*custom batch sampler.*")
        trainer.predict(
            ScoringModule(adapter, dataset), dataloaders=loader, return_predictions=False
        )
    main = True
    if trainer.world_size > 1:
        trainer.strategy.barrier()  # every rank's results are stored before anyone reads them
        main = trainer.global_rank == 0
        # the rest of the run is rank 0's alone (metrics from the samples file, no syncing)
        torch.distributed.destroy_process_group()
    for callback in trainer.callbacks:
        if isinstance(callback, _Assembler) and callback.bar is not None:
            callback.bar.close()
    return Scored(out, main)


MIN_SHARED = 32
"""Fewest shared leading tokens (audio: frames) worth a prefix pass."""


def _shared(a: np.ndarray, b: np.ndarray) -> int:
    """Leading steps two sequences share: tokens of flat ids, whole frames (every codebook
    equal) of codes [K, T]."""
    n = min(a.shape[-1], b.shape[-1])
    same = a[..., :n] == b[..., :n]
    differ = np.flatnonzero(~same.all(axis=0) if same.ndim == 2 else ~same)
    return int(differ[0]) if differ.size else n


def _prefix_groups(
    adapter: Adapter, sequences: list[np.ndarray], groups: list[list[int]]
) -> list[PrefixGroup]:
    """Prefix groups worth scoring that way: one window each, and a long shared prefix (flat
    ids, or audio codes [K, T] sharing their first frames)."""
    if not adapter.supports_prefix or len({s.ndim for s in sequences}) != 1:
        return []
    out = []
    for original, *copies in (g for g in groups if len(g) > 1):
        fits = [
            c
            for c in copies
            if sequences[c].shape[-1] <= adapter.context_length
            # at least one step after the prefix, and a prefix worth sharing
            and MIN_SHARED <= _shared(sequences[original], sequences[c]) < sequences[c].shape[-1]
        ]
        if fits:
            p = min(_shared(sequences[original], sequences[c]) for c in fits)
            out.append(PrefixGroup(sequences[original][..., :p], tuple(fits)))
    return out
