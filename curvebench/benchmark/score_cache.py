"""Every scored sequence stored on disk, keyed by the adapter's fingerprint, every scoring
setting that changes a loss (the rolling-window stride) and a hash of the encoded input, so an
interrupted run resumes and a repeated run is free.

An entry is a small header (a magic string and the sha256 of the payload) followed by the
losses as ``.npy`` bytes, written to a temporary name and renamed into place (atomic on POSIX).
An entry that fails its checksum, was stored under another key, model or settings, or holds
the wrong shape, dtype, non-finite numbers or losses outside [0, :func:`loss_bound`], is
deleted with a warning and scored again. A cache folder that cannot be written is used
read-only (the run goes on, storing nothing). The entry format and its helpers are
:mod:`curvebench.cache`'s, shared with the audio codec's codes cache.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np

from curvebench.cache import EntryFolder

REDO = "scoring it again"
"""What happens instead of using a bad score entry (the end of its warning)."""


LOSS_BOUND_PER_LOG_VOCAB = 100.0
"""A cached loss above this many times ln(vocabulary) is refused: it would mean the model gave
the token a probability below vocabulary^-100, which no trained or random model does."""


def loss_bound(vocab: int) -> float:
    """The largest per-token loss (nats) a cache entry may hold for a vocabulary of ``vocab``
    ids (at least 16 counted)."""
    return LOSS_BOUND_PER_LOG_VOCAB * math.log(max(int(vocab), 16))


def settings_key(settings: dict[str, object]) -> str:
    """A short stable hash of the scoring settings that change losses."""
    text = "|".join(f"{k}={settings[k]}" for k in sorted(settings))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class ScoreCache(EntryFolder):
    """Per-token losses by input key, for one model and one set of scoring settings."""

    kind, redo = "score cache", REDO

    def __init__(
        self,
        root: Path,
        fingerprint: str,
        settings: dict[str, object] | None = None,
        bound: float = math.inf,
    ):
        tail = f"-{settings_key(settings)}" if settings else ""
        super().__init__(Path(root) / "scores" / (fingerprint[:32] + tail), fingerprint + tail)
        self.bound = bound
        """The largest loss an entry may hold (:func:`loss_bound`)."""

    def get(self, key: str, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
        """The stored losses of an input (of the expected ``shape`` when given), or None."""

        def problem(losses: np.ndarray) -> str | None:
            if losses.dtype != np.float32 or (shape is not None and losses.shape != tuple(shape)):
                return f"holds {losses.dtype} {losses.shape}, not float32 {shape}"
            if not np.isfinite(losses).all():
                return "holds non-finite losses"
            if losses.size and (losses.min() < -1e-3 or losses.max() > self.bound):
                return f"holds losses outside [0, {self.bound:.0f}] nats"
            return None

        return self._read(key, problem)

    def put(self, key: str, losses: np.ndarray) -> None:
        """Store the losses of an input atomically (nothing, with one warning, when the cache
        folder cannot be written)."""
        self._write(key, np.asarray(losses, dtype=np.float32))
