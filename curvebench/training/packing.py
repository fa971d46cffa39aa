"""Pack tokenized pieces into fixed-length training rows that start at a piece's BOS."""

from __future__ import annotations

import numpy as np
import torch


def pack_rows(
    pieces: list[np.ndarray], row_len: int, pad_id: int, eos_id: int, seed: int | None
) -> torch.Tensor:
    """Rows of ``row_len`` ids: short pieces (BOS ... EOS) packed first-come into a row,
    long pieces cut into consecutive rows; the rest of a row is padding.

    ``seed`` shuffles the piece order (None keeps it). Every row begins at a piece boundary
    or continues one long piece, so position 0 sees BOS as it does at evaluation.
    """
    order = np.arange(len(pieces))
    if seed is not None:
        np.random.default_rng(seed).shuffle(order)
    rows: list[np.ndarray] = []
    current: list[np.ndarray] = []
    used = 0
    for i in order:
        seq = np.concatenate([pieces[i], [eos_id]])
        if len(seq) > row_len:
            rows.extend(seq[s : s + row_len] for s in range(0, len(seq) - 1, row_len))
            continue
        if used + len(seq) > row_len:
            rows.append(np.concatenate(current))
            current, used = [], 0
        current.append(seq)
        used += len(seq)
    if current:
        rows.append(np.concatenate(current))
    out = torch.full((len(rows), row_len), pad_id, dtype=torch.long)
    for r, row in enumerate(rows):
        out[r, : len(row)] = torch.from_numpy(row.astype(np.int64))
    return out
