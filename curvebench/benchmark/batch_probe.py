"""``--batch-size auto``: the largest batch of the run's own longest sequence that fits."""

from __future__ import annotations

import logging

import numpy as np
import torch

from curvebench.adapters.base import Adapter, lightning_devices
from curvebench.benchmark.scoring import score_sequences
from curvebench.benchmark.scoring_config import ScoringConfig

log = logging.getLogger(__name__)

CPU_BATCH = 16
"""The batch size ``auto`` gives off CUDA (CPU and MPS scoring is not bound by memory)."""
LARGEST = 256
"""The first batch size tried on CUDA."""


def probe_batch_size(adapter: Adapter, sequences: list[np.ndarray], config: ScoringConfig) -> int:
    """On CUDA: try a batch of ``LARGEST`` copies of the longest sequence (cut to the model's
    context), halving after every out-of-memory error, and return the first that fits, halved
    once more (padding and prefix groups need room besides). Elsewhere ``CPU_BATCH``. The
    accelerator is the adapter's own, else ``config``'s."""
    accelerator, _ = lightning_devices(adapter.accelerator or config.accelerator, 1)
    cuda = accelerator in ("gpu", "cuda") or (accelerator == "auto" and torch.cuda.is_available())
    if not cuda or not sequences:
        return CPU_BATCH
    longest = max(sequences, key=lambda s: s.shape[-1])[..., : adapter.context_length]
    size = LARGEST
    while size > 1:
        try:
            score_sequences(
                adapter,
                [longest] * size,
                batch_size=size,
                accelerator=adapter.accelerator or config.accelerator,
            )
            break
        except torch.cuda.OutOfMemoryError:
            size //= 2
        finally:
            torch.cuda.empty_cache()
    chosen = max(1, size // 2)
    log.info("--batch-size auto: %d (a batch of %d fits)", chosen, size)
    return chosen
