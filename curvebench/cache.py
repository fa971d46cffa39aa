"""Where curvebench keeps what it computed once (generated samples, renders, codec codes,
scores), and the checksummed entry format of the codes and score caches.

An entry is a small header (``MAGIC`` and the sha256 of the payload) followed by an array as
``.npy`` bytes, written to a temporary name and renamed into place (atomic on POSIX). Reading
checks the checksum; a bad entry is deleted with a warning and computed again by the caller.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CACHE_ENV = "CURVEBENCH_CACHE"


def cache_root() -> Path:
    """``$CURVEBENCH_CACHE``, or ``~/.cache/curvebench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "curvebench")


MAGIC = b"CBLOSS1\n"
"""First bytes of every entry (format version 1)."""


def pack(array: np.ndarray) -> bytes:
    """An entry's bytes: ``MAGIC``, the sha256 of the payload, and the array as ``.npy``."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    payload = buffer.getvalue()
    return MAGIC + hashlib.sha256(payload).digest() + payload


def unpack(data: bytes) -> np.ndarray:
    """The array of an entry's bytes; ValueError saying what is wrong with a bad entry (a
    wrong header or checksum, or a payload that is not a plain ``.npy`` array)."""
    head, digest, payload = (
        data[: len(MAGIC)],
        data[len(MAGIC) : len(MAGIC) + 32],
        data[len(MAGIC) + 32 :],
    )
    if head != MAGIC or hashlib.sha256(payload).digest() != digest:
        raise ValueError("fails its checksum")
    try:
        return np.load(io.BytesIO(payload), allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"cannot be read ({exc})") from exc


def write_entry(path: Path, array: np.ndarray) -> None:
    """Store an array at ``path`` atomically (a temporary name renamed into place); OSError
    when the folder cannot be written (no temporary file is left behind)."""
    data = pack(array)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def drop_entry(path: Path, why: str, redo: str) -> None:
    """Delete a bad entry with a warning saying why and what is done instead (``redo``)."""
    log.warning("cache entry %s %s; %s", path.name, why, redo)
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def read_entry(path: Path, redo: str) -> np.ndarray | None:
    """The array stored at ``path``, or None when there is none, it cannot be read, or it is
    bad (then it is deleted, with a warning that ends in ``redo``)."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # no entry (or no folder) there
        return None
    except OSError as exc:
        log.warning("cache entry %s is unreadable (%s); %s", path.name, exc, redo)
        return None
    try:
        return unpack(data)
    except ValueError as exc:
        drop_entry(path, str(exc), redo)
        return None


class EntryFolder:
    """A folder of checksummed entries by hex key (``folder/ab/abcd….npy``), the shared body of
    the score and codes caches. A folder that cannot be written is used read-only after one
    warning (the caller goes on, storing nothing)."""

    kind = "cache"
    """What the folder is, in the read-only warning."""
    redo = "computing it again"
    """What happens instead of using a bad entry (the end of its warning)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.writable = True

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def _read(self, key: str, problem: Callable[[np.ndarray], str | None]) -> np.ndarray | None:
        """The entry of ``key``, or None when there is none or it is bad: unreadable, failing
        its checksum, or one that ``problem`` describes (then it is deleted with a warning)."""
        path = self._path(key)
        array = read_entry(path, self.redo)
        if array is None:
            return None
        why = problem(array)
        if why is not None:
            drop_entry(path, why, self.redo)
            return None
        return array

    def _write(self, key: str, array: np.ndarray) -> None:
        """Store an entry atomically (nothing once the folder proved read-only)."""
        if not self.writable:
            return
        try:
            write_entry(self._path(key), array)
        except OSError as exc:
            self.writable = False
            where = f"{self.kind} {self.folder}"
            log.warning("cannot write the %s (%s); going on uncached", where, exc)
