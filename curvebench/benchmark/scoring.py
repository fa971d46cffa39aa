"""Score token sequences with an adapter through Lightning's ``Trainer.predict``."""

from __future__ import annotations

import logging
import warnings

import lightning as L
import numpy as np
from torch.utils.data import DataLoader

from curvebench.adapters.base import Adapter
from curvebench.benchmark.module import LengthBatches, ScoringModule, WindowDataset, collate

log = logging.getLogger(__name__)


def score_sequences(
    adapter: Adapter,
    sequences: list[np.ndarray],
    batch_size: int = 16,
    accelerator: str = "auto",
    stride: int | None = None,
    progress: bool = False,
) -> list[np.ndarray]:
    """Per-token losses of each sequence.

    Symbolic ids [T] (BOS first): ``out[s][i] = -log p(seq[i+1] | seq[:i+1])``, T − 1 values.
    Audio codes [K, T]: ``out[s][k, t]`` = loss of code t of codebook k, [K, T].
    Symbolic sequences longer than the adapter's context are scored in rolling windows; rows
    are batched by similar length.
    """
    first = 0 if adapter.modality == "audio" else 1
    out = [
        np.full((*s.shape[:-1], max(0, s.shape[-1] - first)), np.nan, dtype=np.float32)
        for s in sequences
    ]
    todo = [i for i, s in enumerate(sequences) if s.shape[-1] >= first + 1]
    if not todo:
        return out
    dataset = WindowDataset(
        [sequences[i] for i in todo], adapter.context_length, stride, first_target=first
    )
    loader = DataLoader(
        dataset,
        batch_sampler=LengthBatches(dataset, batch_size),
        collate_fn=collate(adapter.pad_id),
    )
    trainer = L.Trainer(
        accelerator=adapter.accelerator or accelerator,
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        enable_progress_bar=progress,
    )
    with warnings.catch_warnings():
        # our batch sampler yields every row exactly once; Lightning cannot know that
        warnings.filterwarnings("ignore", message=".*custom batch sampler.*")
        predictions = trainer.predict(ScoringModule(adapter), dataloaders=loader)
    for batch in predictions or []:
        for row_index, nll in batch:
            row = dataset.rows[row_index]
            w = row.window
            target = out[todo[row.item]]
            # target j (ids[..., j]) is loss index j - first; in the window, j - start - first
            target[..., w.first_target - first : w.end - first] = nll[
                ..., w.first_target - w.start - first :
            ]
    return out
