"""The audio reference's codec: EnCodec's architecture, a fixed random encoder, k-means codebooks.

Training a neural codec from scratch needs far more compute than two CPU cores have, so the
codec is built the cheap way that still gives MusicGen's token structure: an ``EncodecModel``
at 32 kHz with hop 640 (50 frames per second) and small channel counts, its weights left at
their seeded random initialisation, and its residual vector quantiser's 4 codebooks of 2048
entries fitted by k-means on the encoder's outputs for rendered training audio: codebook 1 on
the outputs, codebook 2 on what codebook 1 leaves (output minus its nearest entry), and so on,
exactly the residual scheme ``EncodecModel.encode`` applies. The decoder is untrained, so the
codes do not decode back to the audio (the model card gives the reconstruction SNR).
"""

from __future__ import annotations

import logging

import numpy as np
import torch
from transformers import EncodecConfig, EncodecModel

from curvebench.errors import ConfigError

log = logging.getLogger(__name__)

SAMPLING_RATE = 32000
FRAME_RATE = 50
NUM_CODEBOOKS = 4
CODEBOOK_SIZE = 2048
BANDWIDTH = NUM_CODEBOOKS * np.log2(CODEBOOK_SIZE) * FRAME_RATE / 1000
"""kbps that gives exactly 4 codebooks of 2048 entries at 50 Hz: 2.2, as in MusicGen."""


def codec_config(hidden: int = 64, filters: int = 8) -> EncodecConfig:
    """EnCodec at 32 kHz / 50 Hz / 4 × 2048 (MusicGen's token layout) with small channels."""
    return EncodecConfig(
        sampling_rate=SAMPLING_RATE,
        audio_channels=1,
        upsampling_ratios=[8, 5, 4, 4],  # hop 640 samples: 50 frames per second
        codebook_size=CODEBOOK_SIZE,
        codebook_dim=hidden,
        hidden_size=hidden,
        num_filters=filters,
        num_lstm_layers=2,
        target_bandwidths=[round(float(BANDWIDTH), 6)],
        normalize=False,
        chunk_length_s=None,
        overlap=None,
    )


def random_codec(seed: int = 0, hidden: int = 64, filters: int = 8) -> EncodecModel:
    """An ``EncodecModel`` with seeded random weights, in eval mode."""
    torch.manual_seed(seed)
    model = EncodecModel(codec_config(hidden, filters)).eval()
    assert model.config.frame_rate == FRAME_RATE
    assert model.quantizer.get_num_quantizers_for_bandwidth(BANDWIDTH) == NUM_CODEBOOKS
    return model


@torch.no_grad()
def embed_audio(codec: EncodecModel, wave: np.ndarray) -> torch.Tensor:
    """The encoder's output frames [T, D] of mono float audio at 32 kHz."""
    values = torch.as_tensor(np.asarray(wave, dtype=np.float32))[None, None]
    return codec.encoder(values)[0].T.contiguous()


def nearest(points: torch.Tensor, centroids: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Index of the nearest centroid of each point, by the distance EnCodec's codebook uses."""
    norms = centroids.pow(2).sum(1)
    out = torch.empty(len(points), dtype=torch.long)
    for i in range(0, len(points), chunk):
        x = points[i : i + chunk]
        out[i : i + chunk] = (2 * x @ centroids.T - norms).argmax(1)
    return out


def kmeans(
    points: torch.Tensor, k: int, iterations: int, generator: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Lloyd's k-means from k distinct random points; an emptied cluster is re-seeded with a
    random point. Returns the centroids [k, D] and the points' cluster sizes [k]."""
    centroids = points[torch.randperm(len(points), generator=generator)[:k]].clone()
    for _ in range(iterations):
        index = nearest(points, centroids)
        counts = torch.bincount(index, minlength=k).float()
        sums = torch.zeros_like(centroids).index_add_(0, index, points)
        empty = counts == 0
        centroids = torch.where(empty[:, None], centroids, sums / counts.clamp(min=1)[:, None])
        if empty.any():
            picks = torch.randint(len(points), (int(empty.sum()),), generator=generator)
            centroids[empty] = points[picks]
    counts = torch.bincount(nearest(points, centroids), minlength=k).float()
    return centroids, counts


@torch.no_grad()
def fit_codebooks(
    codec: EncodecModel, frames: torch.Tensor, iterations: int = 12, seed: int = 0
) -> list[float]:
    """Fit the residual codebooks on encoder frames [N, D], in place; returns the fraction of
    the frames' variance (energy about their mean) the residual still holds after each
    codebook."""
    if len(frames) < CODEBOOK_SIZE:
        raise ConfigError(
            f"fitting {CODEBOOK_SIZE} codebook entries needs at least as many frames, got "
            f"{len(frames)} ({len(frames) / FRAME_RATE:.0f} s of audio); render more pieces"
        )
    generator = torch.Generator().manual_seed(seed)
    residual = frames.float().clone()
    variance = float((residual - residual.mean(0)).pow(2).sum())
    left = []
    for i, layer in enumerate(codec.quantizer.layers[:NUM_CODEBOOKS]):
        centroids, counts = kmeans(residual, CODEBOOK_SIZE, iterations, generator)
        book = layer.codebook
        book.embed.copy_(centroids)
        book.embed_avg.copy_(centroids)
        book.cluster_size.copy_(counts)
        book.inited.fill_(True)
        residual -= centroids[nearest(residual, centroids)]
        left.append(float(residual.pow(2).sum()) / variance)
        log.info("codebook %d fitted: %.4f of the variance left", i + 1, left[-1])
    return left


@torch.no_grad()
def encode_frames(codec: EncodecModel, frames: torch.Tensor) -> np.ndarray:
    """Codes [K, T] (int16) of encoder frames [T, D], as ``EncodecModel.encode`` quantises."""
    codes = codec.quantizer.encode(frames.T[None], BANDWIDTH)  # [K, 1, T]
    return codes[:, 0].numpy().astype(np.int16)


def codebook_perplexity(codes: np.ndarray) -> list[float]:
    """exp(entropy) of each codebook's code frequencies over codes [K, N] (max 2048)."""
    out = []
    for row in codes:
        p = np.bincount(row.astype(np.int64), minlength=CODEBOOK_SIZE) / row.size
        p = p[p > 0]
        out.append(float(np.exp(-(p * np.log(p)).sum())))
    return out


@torch.no_grad()
def reconstruction_snr(codec: EncodecModel, wave: np.ndarray) -> float:
    """SNR (dB) of the codec's decoding of its own codes against the audio."""
    values = torch.as_tensor(np.asarray(wave, dtype=np.float32))[None, None]
    out = codec(values, bandwidth=BANDWIDTH).audio_values[0, 0, : values.shape[-1]]
    x = values[0, 0, : out.shape[-1]].double()
    noise = (out.double() - x).pow(2).sum()
    return float(10 * torch.log10(x.pow(2).sum() / noise.clamp(min=1e-20)))
