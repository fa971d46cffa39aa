"""Where curvebench keeps what it computed once (generated samples, renders, codec codes,
scores): :class:`RunCaches`, the one place a cache folder is decided; and the checksummed
entry format of the codes and score caches.

An entry is ``MAGIC``, the length and JSON text of a small header naming the key it was stored
under and its owner (the model fingerprint and settings it belongs to), the sha256 of header
and payload, and the array as ``.npy`` bytes; it is written to a temporary name and renamed
into place (atomic on POSIX). Reading checks the checksum and that the entry is the one asked
for (its key and owner); a bad entry is deleted with a warning and computed again by the
caller.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

CACHE_ENV = "CURVEBENCH_CACHE"


def cache_root() -> Path:
    """``$CURVEBENCH_CACHE``, or ``~/.cache/curvebench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "curvebench")


@dataclass(frozen=True)
class RunCaches:
    """Where a run keeps what it computed, decided here and nowhere else: the cache folder is
    ``--cache-dir``, else ``$CURVEBENCH_CACHE``, else ``~/.cache/curvebench``. Under
    ``--no-cache`` nothing is read back or stored there; what must still pass through disk
    (generated pieces, the scores the processes of a multi-device run hand over) goes to the
    run folder.

    Each location is the root its cache is given; the cache keeps its entries in its own
    subfolder of it (``scores/``, ``codes/``, ``render/``, ``generated/``)."""

    root: Path
    """The cache folder."""
    keep: bool = True
    """False under ``--no-cache``: nothing read back or stored in ``root``."""
    out: Path | None = None
    """The run folder (needed under ``--no-cache``)."""

    def __post_init__(self) -> None:
        if not self.keep and self.out is None:
            raise ValueError("RunCaches without keeping needs the run folder (out)")

    @classmethod
    def of(
        cls, cache_dir: Path | None = None, keep: bool = True, out: Path | None = None
    ) -> RunCaches:
        """The caches of a run given ``--cache-dir`` (None: ``$CURVEBENCH_CACHE``, read now),
        ``keep`` (False: ``--no-cache``) and its folder."""
        root = Path(cache_dir) if cache_dir is not None else cache_root()
        return cls(root, keep, None if out is None else Path(out))

    @property
    def scores(self) -> Path | None:
        """Root of the score cache; None under ``--no-cache``."""
        return self.root if self.keep else None

    @property
    def shared_scores(self) -> Path:
        """Root through which the processes of a multi-device run hand over their scores: the
        score cache, or under ``--no-cache`` the run folder's ``.scores`` (deleted once read)."""
        return self.root if self.keep else self._run_folder() / ".scores"

    @property
    def codes(self) -> Path | None:
        """Root of the audio codec's codes cache; None under ``--no-cache``."""
        return self.root if self.keep else None

    @property
    def renders(self) -> Path | None:
        """Root of the renders; None under ``--no-cache`` (every piece rendered afresh)."""
        return self.root if self.keep else None

    @property
    def generated(self) -> Path:
        """Root of the generated pieces: the cache folder, or under ``--no-cache`` the run
        folder's ``generated`` (the pieces are read back from their files)."""
        return self.root if self.keep else self._run_folder() / "generated"

    def _run_folder(self) -> Path:
        assert self.out is not None  # __post_init__: never None without keeping
        return self.out


MAGIC = b"CBCACHE2\n"
"""First bytes of every entry (format version 2: entries know their key and owner)."""
OLDER_MAGIC = b"CBLOSS1\n"
"""First bytes of an entry of format version 1 (no key or owner)."""
OLDER = "is of an older format"
MAX_HEADER = 4096
"""The longest entry header read."""


def pack(array: np.ndarray, key: str = "", owner: str = "") -> bytes:
    """An entry's bytes: ``MAGIC``, the header's length and JSON (``key``, ``owner``), the
    sha256 of header and payload, and the array as ``.npy``."""
    header = json.dumps({"key": key, "owner": owner}, sort_keys=True).encode()
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    payload = buffer.getvalue()
    digest = hashlib.sha256(header + payload).digest()
    return MAGIC + len(header).to_bytes(4, "big") + header + digest + payload


def unpack(data: bytes) -> tuple[dict[str, str], np.ndarray]:
    """The header and array of an entry's bytes; ValueError saying what is wrong with a bad
    entry (an older format, a wrong checksum, or a payload that is not a plain ``.npy``)."""
    if data.startswith(OLDER_MAGIC):
        raise ValueError(OLDER)
    if not data.startswith(MAGIC):
        raise ValueError("fails its checksum")
    at = len(MAGIC)
    size = int.from_bytes(data[at : at + 4], "big")
    if size > MAX_HEADER:
        raise ValueError("fails its checksum")
    header, digest, payload = (
        data[at + 4 : at + 4 + size],
        data[at + 4 + size : at + 36 + size],
        data[at + 36 + size :],
    )
    if hashlib.sha256(header + payload).digest() != digest:
        raise ValueError("fails its checksum")
    try:
        fields = json.loads(header)
        array = np.load(io.BytesIO(payload), allow_pickle=False)
    except RecursionError:
        raise ValueError("has a malformed header") from None
    except (OSError, ValueError, EOFError) as exc:
        raise ValueError(f"cannot be read ({exc})") from exc
    if not isinstance(fields, dict):
        raise ValueError("has a malformed header")
    return {k: str(v) for k, v in fields.items()}, array


def write_entry(path: Path, array: np.ndarray, key: str = "", owner: str = "") -> None:
    """Store an array at ``path`` atomically (a temporary name renamed into place), under
    ``key`` and ``owner``; OSError when the folder cannot be written (no temporary file is
    left behind)."""
    data = pack(array, key, owner)
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
    """Delete a bad entry with a warning saying why and what is done instead (``redo``); an
    entry of an older format quietly (a cache written before an upgrade holds many)."""
    (log.debug if why == OLDER else log.warning)("cache entry %s %s; %s", path.name, why, redo)
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def read_entry(
    path: Path, redo: str, key: str | None = None, owner: str | None = None
) -> np.ndarray | None:
    """The array stored at ``path``, or None when there is none, it cannot be read, or it is
    bad (then it is deleted, with a warning that ends in ``redo``): failing its checksum, or
    stored under another ``key`` or ``owner`` than the ones given."""
    try:
        data = path.read_bytes()
    except (FileNotFoundError, NotADirectoryError):  # no entry (or no folder) there
        return None
    except OSError as exc:
        log.warning("cache entry %s is unreadable (%s); %s", path.name, exc, redo)
        return None
    try:
        header, array = unpack(data)
    except ValueError as exc:
        drop_entry(path, str(exc), redo)
        return None
    if key is not None and header.get("key") != key:
        drop_entry(path, "was stored under another key", redo)
        return None
    if owner is not None and header.get("owner") != owner:
        drop_entry(path, "belongs to another model or settings", redo)
        return None
    return array


class EntryFolder:
    """A folder of checksummed entries by hex key (``folder/ab/abcd….npy``), the shared body of
    the score and codes caches. A folder that cannot be written is used read-only after one
    warning (the caller goes on, storing nothing)."""

    kind = "cache"
    """What the folder is, in the read-only warning."""
    redo = "computing it again"
    """What happens instead of using a bad entry (the end of its warning)."""

    def __init__(self, folder: Path, owner: str = "") -> None:
        self.folder = Path(folder)
        self.owner = owner
        """What every entry belongs to (a model fingerprint and its settings), stored in it and
        checked on reading."""
        self.writable = True

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.npy"

    def _read(self, key: str, problem: Callable[[np.ndarray], str | None]) -> np.ndarray | None:
        """The entry of ``key``, or None when there is none or it is bad: unreadable, failing
        its checksum, or one that ``problem`` describes (then it is deleted with a warning)."""
        path = self._path(key)
        array = read_entry(path, self.redo, key, self.owner)
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
            write_entry(self._path(key), array, key, self.owner)
        except OSError as exc:
            self.writable = False
            where = f"{self.kind} {self.folder}"
            log.warning("cannot write the %s (%s); going on uncached", where, exc)
