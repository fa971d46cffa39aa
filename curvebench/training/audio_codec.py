"""The audio reference's codec layout: EnCodec's architecture at MusicGen's token structure.

An ``EncodecModel`` at 32 kHz with hop 640 (50 frames per second), 4 codebooks of 2048 entries
(2.2 kbps) and small channel counts; :mod:`curvebench.training.codec_train` trains it.
"""

from __future__ import annotations

import numpy as np
from transformers import EncodecConfig

SAMPLING_RATE = 32000
FRAME_RATE = 50
NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 2048
BANDWIDTH = NUM_CODEBOOKS * np.log2(CODEBOOK_SIZE) * FRAME_RATE / 1000
"""kbps that gives exactly 4 codebooks of 2048 entries at 50 Hz: 2.2, as in MusicGen."""


def codec_config(hidden: int = 64, filters: int = 8, lstm_layers: int = 2) -> EncodecConfig:
    """EnCodec at 32 kHz / 50 Hz / 4 × 2048 (MusicGen's token layout) with small channels."""
    return EncodecConfig(
        sampling_rate=SAMPLING_RATE,
        audio_channels=1,
        upsampling_ratios=[8, 5, 4, 4],  # hop 640 samples: 50 frames per second
        codebook_size=CODEBOOK_SIZE,
        codebook_dim=hidden,
        hidden_size=hidden,
        num_filters=filters,
        num_lstm_layers=lstm_layers,
        target_bandwidths=[round(float(BANDWIDTH), 6)],
        normalize=False,
        chunk_length_s=None,
        overlap=None,
    )


def codebook_perplexity(codes: np.ndarray) -> list[float]:
    """exp(entropy) of each codebook's code frequencies over codes [K, N] (max 2048)."""
    out = []
    for row in codes:
        p = np.bincount(row.astype(np.int64), minlength=CODEBOOK_SIZE) / row.size
        p = p[p > 0]
        out.append(float(np.exp(-(p * np.log(p)).sum())))
    return out
