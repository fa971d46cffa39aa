from __future__ import annotations

import numpy as np
import pytest
import torch

from curvebench.errors import ConfigError
from curvebench.training import audio_codec as ac


def test_kmeans_finds_well_separated_clusters() -> None:
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    points = torch.cat([c + 0.1 * torch.randn(200, 2, generator=g) for c in centres])
    found, counts = ac.kmeans(points, 3, iterations=10, generator=g)
    order = found[:, 0].argsort(descending=False)
    assert sorted(counts.tolist()) == [200, 200, 200]
    for c in centres:
        assert (found - c).norm(dim=1).min() < 0.05
    assert order.shape == (3,)


def test_fitted_codec_encodes_like_encodec_model_and_uses_its_codebooks() -> None:
    codec = ac.random_codec(seed=1)
    assert codec.config.frame_rate == 50 and abs(ac.BANDWIDTH - 2.2) < 1e-9
    rng = np.random.default_rng(0)
    t = np.arange(45 * 32000) / 32000
    wave = 0.2 * np.sin(2 * np.pi * 110 * t * (1 + t / 45)) + 0.02 * rng.standard_normal(t.size)
    frames = ac.embed_audio(codec, wave)
    assert frames.shape == (2250, 64)
    left = ac.fit_codebooks(codec, frames, iterations=2)
    assert len(left) == 4 and 0 <= left[3] <= left[2] <= left[1] <= left[0] < 1
    ours = ac.encode_frames(codec, frames)
    with torch.no_grad():
        theirs = codec.encode(torch.as_tensor(wave, dtype=torch.float32)[None, None])
    np.testing.assert_array_equal(ours, theirs.audio_codes[0, 0].numpy())
    perplexity = ac.codebook_perplexity(ours)
    # 2,250 frames for 2,048 entries: codebook 1 nearly holds them all, the rest little
    assert len(perplexity) == 4 and 1000 < perplexity[0] <= 2048
    with pytest.raises(ConfigError, match="at least as many frames"):
        ac.fit_codebooks(ac.random_codec(), frames[:100])


def test_codebook_perplexity_is_exp_entropy() -> None:
    codes = np.array([[0, 1, 2, 3] * 5, [7] * 20])
    assert ac.codebook_perplexity(codes) == pytest.approx([4.0, 1.0])
