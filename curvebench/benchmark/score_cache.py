"""Every scored sequence stored on disk, keyed by the adapter's fingerprint, every scoring
setting that changes a loss (the rolling-window stride) and a hash of the encoded input, so an
interrupted run resumes and a repeated run is free.

An entry is a small header (a magic string and the sha256 of the payload) followed by the
losses as ``.npy`` bytes, written to a temporary name and renamed into place (atomic on POSIX).
An entry that fails its checksum, or holds the wrong shape, dtype or non-finite numbers, is
deleted with a warning and scored again. A cache folder that cannot be written is used
read-only (the run goes on, storing nothing).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MAGIC = b"CBLOSS1\n"
"""First bytes of every entry (format version 1)."""


def settings_key(settings: dict[str, object]) -> str:
    """A short stable hash of the scoring settings that change losses."""
    text = "|".join(f"{k}={settings[k]}" for k in sorted(settings))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class ScoreCache:
    """Per-token losses by input key, for one model and one set of scoring settings."""

    def __init__(self, root: Path, fingerprint: str, settings: dict[str, object] | None = None):
        folder = fingerprint[:32] + (f"-{settings_key(settings)}" if settings else "")
        self.folder = Path(root) / "scores" / folder
        self.writable = True

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def _drop(self, path: Path, why: str) -> None:
        log.warning("cache entry %s %s; scoring it again", path.name, why)
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)

    def get(self, key: str, shape: tuple[int, ...] | None = None) -> np.ndarray | None:
        """The stored losses of an input (of the expected ``shape`` when given), or None."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("cache entry %s is unreadable (%s); scoring it again", path.name, exc)
            return None
        head, digest, payload = (
            data[: len(MAGIC)],
            data[len(MAGIC) : len(MAGIC) + 32],
            data[len(MAGIC) + 32 :],
        )
        if head != MAGIC or hashlib.sha256(payload).digest() != digest:
            self._drop(path, "fails its checksum")
            return None
        try:
            losses = np.load(io.BytesIO(payload), allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            self._drop(path, f"cannot be read ({exc})")
            return None
        if losses.dtype != np.float32 or (shape is not None and losses.shape != tuple(shape)):
            self._drop(path, f"holds {losses.dtype} {losses.shape}, not float32 {shape}")
            return None
        if not np.isfinite(losses).all():
            self._drop(path, "holds non-finite losses")
            return None
        return losses

    def put(self, key: str, losses: np.ndarray) -> None:
        """Store the losses of an input atomically (nothing, with one warning, when the cache
        folder cannot be written)."""
        if not self.writable:
            return
        buffer = io.BytesIO()
        np.save(buffer, np.asarray(losses, dtype=np.float32), allow_pickle=False)
        payload = buffer.getvalue()
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        except OSError as exc:
            self.writable = False
            log.warning("cannot write the score cache %s (%s); going on uncached", self.folder, exc)
            return
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(MAGIC + hashlib.sha256(payload).digest() + payload)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
