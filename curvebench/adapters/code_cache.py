"""An audio codec's codes of waveforms, stored on disk by content hash, so that a repeated run
(or a task that meets the same audio again) does not encode it again.

Key: the sha256 of the waveform's bytes (after the adapter made it mono float64), its sample
rate, the codec's identity (:func:`codec_identity`: a hash of its weights, dtype and settings
such as the bandwidth) and ``RECIPE_VERSION``. Entries use the checksummed format of
:mod:`curvebench.cache`; a bad entry (failed checksum, not int64 [K, T] codes) is deleted with a
warning and the audio encoded again. A folder that cannot be written is used read-only.

A run builds one :class:`CodeCache` from its cache settings (``--cache-dir``, else
``$CURVEBENCH_CACHE``; none under ``--no-cache``) and hands it to the audio adapters'
``encode_audio(..., codes=cache)``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from curvebench.adapters.base import hash_state
from curvebench.cache import EntryFolder
from curvebench.threads import torch_threads

RECIPE_VERSION = 2
"""Bumped whenever the way a waveform becomes codes changes (resampling, downmix, threads,
...), so old entries are not reused."""
CODEC_THREADS = 1
"""CPU threads an audio codec encodes with, whatever the run's ``--threads``: a codec's
quantizer picks the nearest code, and float sums taken in another order by another number of
threads move near-ties (we measured 751 of 3,000 codes of a 15 s clip differing between 1 and 2
threads with the embedded audio reference's codec), so the codes, the cache keys and what
``verify`` rebuilds would depend on the machine's load."""
CODEC_BATCH = 16
"""Waveforms of one length a codec encodes at once (``encode_audio_many``)."""
REDO = "encoding the audio again"
"""What happens instead of using a bad entry (the end of its warning)."""


def codec_identity(codec: torch.nn.Module, **settings: object) -> str:
    """sha256 of a codec's weights (names, dtypes, shapes, values) and of the settings that
    change its codes (bandwidth, sample rate, ...)."""
    return hash_state(codec, json.dumps(settings, sort_keys=True, default=str).encode())


def audio_key(wave: np.ndarray, sr: int, codec: str) -> str:
    """The cache key of a waveform's codes under a codec (see the module docstring)."""
    wave = np.ascontiguousarray(wave)
    h = hashlib.sha256()
    h.update(f"codes-v{RECIPE_VERSION}|{codec}|{int(sr)}|{wave.dtype.str}|{wave.shape}|".encode())
    h.update(wave.tobytes())
    return h.hexdigest()


class CodeCache(EntryFolder):
    """Codec codes by waveform key, under ``root/codes``."""

    kind, redo = "codes cache", REDO

    def __init__(self, root: Path) -> None:
        super().__init__(Path(root) / "codes")
        self.hits = 0
        """Waveforms whose codes were read back."""
        self.misses = 0
        """Waveforms encoded (and stored)."""

    def get(self, key: str) -> np.ndarray | None:
        """The stored codes (int64 [K, T]) of a key, or None."""

        def problem(codes: np.ndarray) -> str | None:
            if codes.dtype != np.int64 or codes.ndim != 2 or codes.size == 0 or codes.min() < 0:
                return f"holds {codes.dtype} {codes.shape}, not int64 codes [K, T]"
            return None

        return self._read(key, problem)

    def put(self, key: str, codes: np.ndarray) -> None:
        """Store codes atomically (nothing, with one warning, when the folder cannot be
        written)."""
        self._write(key, np.asarray(codes, dtype=np.int64))


def cached_codes(
    cache: CodeCache | None,
    wave: np.ndarray,
    sr: int,
    codec: Callable[[], str],
    encode: Callable[[], np.ndarray],
) -> np.ndarray:
    """``encode()``, through ``cache`` when there is one (read back, or encoded and stored);
    ``codec`` gives the codec's identity (called only then: hashing weights costs time)."""
    return cached_codes_many(cache, [wave], sr, codec, lambda _: [encode()])[0]


def cached_codes_many(
    cache: CodeCache | None,
    waves: list[np.ndarray],
    sr: int,
    codec: Callable[[], str],
    encode_many: Callable[[list[np.ndarray]], list[np.ndarray]],
) -> list[np.ndarray]:
    """:func:`cached_codes` of several waveforms: those ``cache`` holds are read back, the
    rest encoded together by ``encode_many`` (in batches) and stored."""
    keys = [audio_key(w, sr, codec()) for w in waves] if cache is not None else []
    out: list[np.ndarray | None] = [cache.get(k) for k in keys] if cache else [None] * len(waves)
    todo = [i for i, codes in enumerate(out) if codes is None]
    if cache is not None:
        cache.hits += len(waves) - len(todo)
    if todo:
        with torch_threads(CODEC_THREADS):
            fresh = encode_many([waves[i] for i in todo])
        for i, codes in zip(todo, fresh, strict=True):
            out[i] = np.asarray(codes, dtype=np.int64)
            if cache is not None:
                cache.misses += 1
                cache.put(keys[i], out[i])
    return [codes for codes in out if codes is not None]


def by_length(
    waves: list[np.ndarray], batch: int, encode_batch: Callable[[np.ndarray], list[np.ndarray]]
) -> list[np.ndarray]:
    """Codes of each waveform, encoded ``batch`` at a time among waveforms of one length (no
    padding, so a waveform's codes do not depend on its batch mates'); ``encode_batch`` takes
    [B, samples] and gives B codes [K, T]."""
    out: list[np.ndarray | None] = [None] * len(waves)
    groups: dict[int, list[int]] = {}
    for i, wave in enumerate(waves):
        groups.setdefault(len(wave), []).append(i)
    for members in groups.values():
        for start in range(0, len(members), batch):
            part = members[start : start + batch]
            for i, codes in zip(
                part, encode_batch(np.stack([waves[i] for i in part])), strict=True
            ):
                out[i] = codes
    return [codes for codes in out if codes is not None]
