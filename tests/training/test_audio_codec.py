from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from transformers import EncodecModel

from curvebench.training import audio_codec as ac
from curvebench.training import codec_train as ct

RECIPE = ct.CodecRecipe()


def tone(seconds: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * ac.SAMPLING_RATE)) / ac.SAMPLING_RATE
    return (
        0.05 * np.sin(2 * np.pi * 220 * t * (1 + t)) + 0.005 * rng.standard_normal(t.size)
    ).astype(np.float32)


def encoder_spread(codec: EncodecModel, wave: np.ndarray) -> float:
    """How much the encoder's output moves from frame to frame, relative to its size."""
    with torch.no_grad():
        z = codec.encoder(torch.as_tensor(wave)[None, None])[0].T
    return float(z.std(0).mean() / z.norm(dim=1).mean())


def test_codec_layout_is_musicgens() -> None:
    codec = ct.new_codec(RECIPE)
    assert codec.config.frame_rate == 50 and abs(ac.BANDWIDTH - 2.2) < 1e-9
    assert codec.quantizer.get_num_quantizers_for_bandwidth(ac.BANDWIDTH) == 4
    assert codec.quantizer.layers[0].codebook.embed.shape == (2048, RECIPE.hidden)


def test_the_initialisation_lets_the_input_through() -> None:
    """With PyTorch's default initialisation the encoder's output is nearly all bias (the
    reason an untrained codec's codebooks collapsed); ours keeps the signal's scale."""
    wave = tone(1.0) * RECIPE.gain
    torch.manual_seed(0)
    default = EncodecModel(ac.codec_config(RECIPE.hidden, RECIPE.filters))
    assert encoder_spread(default, wave) < 0.01
    assert encoder_spread(ct.new_codec(RECIPE), wave) > 0.05


def test_fold_gain_is_exact() -> None:
    codec = ct.new_codec(RECIPE).eval()
    x = torch.as_tensor(tone(0.5))[None, None]
    with torch.no_grad():
        scaled = codec.decoder(codec.encoder(x * 10)) / 10
        ct.fold_gain(codec, 10.0)
        folded = codec.decoder(codec.encoder(x))
    torch.testing.assert_close(folded, scaled, atol=1e-6, rtol=1e-4)


def test_training_quantiser_encodes_as_encodec_model_and_passes_gradients() -> None:
    codec = ct.new_codec(RECIPE)
    ct.seed_codebooks(codec, [tone(2.0, 1)], RECIPE.gain)
    x = torch.as_tensor(tone(1.0, 2) * RECIPE.gain)[None, None]
    z = codec.encoder(x)
    quantized, commit, codes = ct.quantize_train(codec, z, RECIPE, update=False)
    with torch.no_grad():
        theirs = codec.quantizer.encode(z, ac.BANDWIDTH)
        decoded = codec.quantizer.decode(theirs)
    torch.testing.assert_close(codes, theirs)
    torch.testing.assert_close(quantized.detach(), decoded, atol=1e-5, rtol=1e-5)
    assert commit > 0
    quantized.sum().backward()  # straight through: the encoder gets the gradient unchanged
    assert codec.encoder.layers[0].conv.parametrizations.weight.original1.grad.abs().sum() > 0


def test_moving_averages_follow_the_batch_and_unused_entries_are_refreshed() -> None:
    recipe = dataclasses.replace(RECIPE, decay=0.9)
    codec = ct.new_codec(recipe)
    book = codec.quantizer.layers[0].codebook
    with torch.no_grad():
        book.embed.copy_(torch.randn(2048, RECIPE.hidden) * 10)
        book.embed_avg.copy_(book.embed)
        book.cluster_size.fill_(1.0)
    vectors = torch.randn(64, RECIPE.hidden, 6)  # 384 vectors, far from every entry
    before = book.embed.clone()
    for _ in range(40):  # unused entries decay below a quarter of their fair share
        ct.quantize_train(codec, vectors, recipe, update=True)
    flat = vectors.transpose(1, 2).reshape(-1, RECIPE.hidden)
    moved = (book.embed - before).norm(dim=1) > 1e-3
    assert moved.float().mean() > 0.5  # most entries were moved onto batch vectors
    # every moved entry sits on a batch vector or on a mean of some
    nearest = torch.cdist(book.embed[moved], flat).min(1).values
    assert float(nearest.median()) < float(torch.cdist(before[moved], flat).min(1).values.median())


def test_spectral_loss_and_mel_distance() -> None:
    loss = ct.SpectralLoss()
    x = torch.as_tensor(tone(1.0))[None]
    assert float(loss(x, x)) == 0.0 and loss.distance(x, x) == 0.0
    # twice as loud: every mel magnitude doubles, so the log-mel distance is log 2 (a little
    # less: the lowest filters of the 256-point STFT are empty, and empty filters agree)
    assert loss.distance(2 * x, x) == pytest.approx(np.log(2), abs=0.01)
    assert float(loss(torch.zeros_like(x), x)) > float(loss(0.9 * x, x)) > 0


def test_crops_are_seeded_and_skip_silence() -> None:
    quiet = np.zeros(3 * ac.SAMPLING_RATE, dtype=np.float32)
    crops = ct.Crops([quiet, tone(3.0)], 1.0, length=20, seed=4)
    first = [crops[i] for i in range(20)]
    assert all(c.shape == (ac.SAMPLING_RATE,) and float(c.abs().max()) > 1e-3 for c in first)
    torch.testing.assert_close(torch.stack(first), torch.stack([crops[i] for i in range(20)]))


def test_round_trip_counts_the_codes_kept() -> None:
    codec = ct.new_codec(RECIPE).eval()
    codes = codec.encode(torch.as_tensor(tone(1.0))[None, None], bandwidth=ac.BANDWIDTH)
    codes = codes.audio_codes[0, 0]
    kept = ct.round_trip(codec, codes)
    with torch.no_grad():
        audio = codec.decode(codes[None, None], [None])[0]
        again = codec.encode(audio, bandwidth=ac.BANDWIDTH).audio_codes[0, 0]
    torch.testing.assert_close(kept, (again == codes).float().mean(1))


def test_codebook_perplexity_is_exp_entropy() -> None:
    codes = np.array([[0, 1, 2, 3] * 5, [7] * 20])
    assert ac.codebook_perplexity(codes) == pytest.approx([4.0, 1.0])
