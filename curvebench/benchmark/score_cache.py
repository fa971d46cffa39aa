"""Every scored sequence stored on disk, keyed by the adapter's fingerprint and a hash of the
encoded input, so an interrupted run resumes and a repeated run is free.

Entries are ``.npy`` files written to a temporary name and renamed into place (atomic on POSIX),
so a reader never sees half an entry; one that cannot be read anyway (a disk error, a file
copied in by hand) is deleted and scored again.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


class ScoreCache:
    """Per-token losses by input key, for one model."""

    def __init__(self, root: Path, fingerprint: str) -> None:
        self.folder = Path(root) / "scores" / fingerprint[:32]

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def get(self, key: str) -> np.ndarray | None:
        """The stored losses of an input, or None."""
        path = self._path(key)
        if not path.is_file():
            return None
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            log.warning("cache entry %s is unreadable (%s); scoring it again", path, exc)
            path.unlink(missing_ok=True)
            return None

    def put(self, key: str, losses: np.ndarray) -> None:
        """Store the losses of an input atomically."""
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, np.asarray(losses, dtype=np.float32), allow_pickle=False)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
