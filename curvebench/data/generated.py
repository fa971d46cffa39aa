"""The generated role: samples of a model drawn with top-k sampling, cached on disk as MIDI.

Samples are drawn in fixed chunks of ``CHUNK`` with a seed derived from (seed, k, chunk), so
sample i is the same whatever number of samples is asked for. The cache folder is keyed by
the model's fingerprint, k and the seed.
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

from curvebench.adapters.base import Adapter
from curvebench.cache import cache_root
from curvebench.data.piece import Piece

log = logging.getLogger(__name__)

CHUNK = 8


def _chunk_seed(seed: int, top_k: int, chunk: int) -> int:
    digest = hashlib.sha256(f"generate|{seed}|{top_k}|{chunk}".encode()).digest()
    return int.from_bytes(digest[:4], "big")


def generated_pieces(
    adapter: Adapter,
    top_k: int,
    n: int,
    seed: int,
    seconds: float,
    dataset: str,
    cache_dir: Path | None = None,
) -> list[Piece]:
    """``n`` samples of ``adapter`` with top-k sampling, generated once and then read from disk."""
    folder = (
        (cache_dir or cache_root())
        / "generated"
        / adapter.fingerprint()[:16]
        / f"k{top_k}-seed{seed}"
    )
    folder.mkdir(parents=True, exist_ok=True)
    pieces = []
    for chunk in range((n + CHUNK - 1) // CHUNK):
        paths = [folder / f"{chunk * CHUNK + i:04d}.mid" for i in range(CHUNK)]
        if not all(p.is_file() for p in paths):
            log.info("sampling %d pieces from %s with top-k=%d", CHUNK, adapter.name, top_k)
            scores = adapter.generate(CHUNK, top_k, seconds, _chunk_seed(seed, top_k, chunk))
            for path, score in zip(paths, scores, strict=True):
                # a unique temporary name: processes sampling side by side never collide
                tmp = path.with_suffix(f".{os.getpid()}.tmp")
                tmp.write_bytes(score.dumps_midi())
                tmp.replace(path)
        for path in paths:
            if len(pieces) < n:
                pieces.append(
                    Piece(
                        id=f"k{top_k}/{path.stem}",
                        dataset=dataset,
                        role="generated",
                        midi=path.read_bytes(),
                        source=str(path),
                        meta=(("top_k", str(top_k)), ("model", adapter.name)),
                    )
                )
    return pieces
