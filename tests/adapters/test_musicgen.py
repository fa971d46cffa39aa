from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from curvebench.adapters import load_adapter, registered_adapters
from curvebench.adapters.musicgen import MusicGenAdapter
from curvebench.adapters.musicgen_layouts import delay_codes
from curvebench.benchmark.scoring import score_sequences
from curvebench.errors import ConfigError
from tests.helpers import synthetic_score, tiny_musicgen_model

K, CARD, SPECIAL, POSITIONS = 4, 16, 16, 64
"""Codebooks, codebook size, start/pad token (= CARD, as in MusicGen), decoder positions."""


@pytest.fixture(scope="module")
def tiny_musicgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random MusicGen: 1-layer T5, a small EnCodec at 32 kHz / 50 Hz, 2-layer decoder."""
    return tiny_musicgen_model(tmp_path_factory.mktemp("musicgen"), K, CARD, POSITIONS)


@pytest.fixture(scope="module")
def adapter(tiny_musicgen: Path) -> MusicGenAdapter:
    return load_adapter(f"musicgen:path={tiny_musicgen}")


def random_codes(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(0, CARD, (batch, K, frames), generator=torch.Generator().manual_seed(seed))


def full_mask(codes: torch.Tensor) -> torch.Tensor:
    return torch.ones(codes.shape[0], codes.shape[-1], dtype=torch.bool)


def test_loads_through_the_registry(adapter: MusicGenAdapter, tiny_musicgen: Path) -> None:
    assert "musicgen" in registered_adapters()
    # named after its folder (as a hub id's last part would name it), not the adapter
    assert adapter.modality == "audio" and adapter.name == tiny_musicgen.name
    assert adapter.num_codebooks == K and adapter.frame_rate == 50 and adapter.bandwidth == 0.8
    assert adapter.context_length == POSITIONS - (K - 1) - 1
    assert adapter.pad_id == SPECIAL and adapter.module is adapter.model
    again = load_adapter(f"musicgen:path={tiny_musicgen},dtype=float32")
    assert again.fingerprint() == adapter.fingerprint() and len(adapter.fingerprint()) == 64
    with pytest.raises(ConfigError, match="unknown option"):
        load_adapter(f"musicgen:path={tiny_musicgen},tokenizer=x")
    with pytest.raises(ConfigError, match="dtype"):
        load_adapter(f"musicgen:path={tiny_musicgen},dtype=int8")
    with pytest.raises(ConfigError, match="not a MusicGen model folder"):
        load_adapter(f"musicgen:path={tiny_musicgen / 'missing'}")


def test_encode_audio_gives_codes_at_the_frame_rate(adapter: MusicGenAdapter) -> None:
    rng = np.random.default_rng(0)
    sr = 44100  # resampled to 32 kHz
    wave = (0.3 * rng.standard_normal((int(1.5 * sr), 2))).astype(np.float32)
    encoded = adapter.encode_audio(wave, sr, "noise")
    frames = encoded.ids.shape[-1]
    assert encoded.ids.shape == (K, frames) and encoded.ids.dtype == np.int64
    assert abs(frames - 1.5 * 50) <= 1
    assert encoded.ids.min() >= 0 and encoded.ids.max() < CARD and len(np.unique(encoded.ids)) > 1
    np.testing.assert_allclose(encoded.seconds, np.arange(frames) / 50)
    assert encoded.duration_s == pytest.approx(1.5) and encoded.first_target == 0
    mono = adapter.encode_audio(wave.mean(axis=1), sr, "noise")  # stereo is averaged
    np.testing.assert_array_equal(mono.ids, encoded.ids)


def test_delayed_input_is_the_pattern_musicgen_generates_with(adapter: MusicGenAdapter) -> None:
    codes = random_codes(2, 9)
    ours = delay_codes(codes, full_mask(codes), SPECIAL)
    assert ours.shape == (2, K, 9 + K - 1)
    # transformers' own pattern for a prompt of BOS + codes, at full length T + K
    prompt = torch.cat([torch.full((2, K, 1), SPECIAL), codes], dim=2).reshape(2 * K, -1)
    _, pattern = adapter.model.decoder.build_delay_pattern_mask(prompt, SPECIAL, 9 + K)
    torch.testing.assert_close(ours, pattern.reshape(2, K, -1)[..., :-1])
    for k in range(K):  # step s of codebook k holds code s - 1 - k (the very last code of
        # the last codebook is only a target: nothing after it is predicted)
        assert (ours[:, k, : k + 1] == SPECIAL).all() and (ours[:, k, k + 10 :] == SPECIAL).all()
        torch.testing.assert_close(ours[:, k, k + 1 : k + 10], codes[:, k, : 9 + K - 2 - k])


def test_per_code_losses_average_to_the_models_own_loss(adapter: MusicGenAdapter) -> None:
    codes = random_codes(2, 20)
    with torch.no_grad():
        ours = adapter.loss(codes, full_mask(codes))
    assert ours.shape == (2, K, 20) and (ours > 0).all()
    # labels: the delayed sequence one step ahead, [B, T + K - 1, K]; the model turns SPECIAL
    # labels into -100 (ignored) and shifts the labels right behind its start token itself
    delayed = torch.full((2, K, 20 + K), SPECIAL)
    for k in range(K):
        delayed[:, k, k + 1 : k + 21] = codes[:, k]
    labels = delayed[:, :, 1:].transpose(1, 2)
    null = adapter.model.get_unconditional_inputs(2)
    with torch.no_grad():
        theirs = adapter.model(
            labels=labels, encoder_outputs=null.encoder_outputs, attention_mask=null.attention_mask
        ).loss
    # every codebook has exactly 20 real labels, so their mean of per-codebook means is ours
    assert float(ours.mean()) == pytest.approx(float(theirs), rel=1e-5, abs=1e-6)


def test_undoing_the_delay_puts_each_loss_on_its_frame(adapter: MusicGenAdapter) -> None:
    frames, j, t0 = 24, 2, 10
    codes = random_codes(1, frames)
    changed = codes.clone()
    changed[0, j, t0 + 1 :] = (codes[0, j, t0 + 1 :] + 1 + torch.arange(frames - t0 - 1)) % CARD
    assert (changed[0, j, t0 + 1 :] != codes[0, j, t0 + 1 :]).all()
    with torch.no_grad():
        before = adapter.loss(codes, full_mask(codes))[0]
        after = adapter.loss(changed, full_mask(changed))[0]
    k, t = torch.meshgrid(torch.arange(K), torch.arange(frames), indexing="ij")
    # code t of codebook j' is predicted at step t + j'; code t0 + 1 of codebook j first
    # enters the input at step t0 + j + 2, and it is itself a target (at step t0 + j + 1)
    same = torch.where(k == j, t <= t0, t + k <= t0 + j + 1)
    torch.testing.assert_close(after[same], before[same], rtol=0, atol=1e-6)
    assert ((after[~same] - before[~same]).abs() > 1e-6).all()
    # so codebook 0 keeps its losses for 3 frames past the change, codebook 3 for none
    assert same[0, t0 + 3] and not same[0, t0 + 4] and same[3, t0] and not same[3, t0 + 1]


def test_padding_is_masked_and_does_not_change_losses(adapter: MusicGenAdapter) -> None:
    long, short = random_codes(1, 20, seed=1)[0], random_codes(1, 12, seed=2)[0]
    ids = torch.full((2, K, 20), adapter.pad_id)
    ids[0], ids[1, :, :12] = long, short
    mask = torch.zeros(2, 20, dtype=torch.bool)
    mask[0], mask[1, :12] = True, True
    with torch.no_grad():
        batch = adapter.loss(ids, mask)
        alone = adapter.loss(short[None], full_mask(short[None]))[0]
    torch.testing.assert_close(batch[1, :, :12], alone, rtol=1e-5, atol=1e-6)
    assert (batch[1, :, 12:] == 0).all()
    # the Lightning scoring path gives the same numbers
    scored = score_sequences(adapter, [long.numpy(), short.numpy()], batch_size=2)
    assert scored[1].shape == (K, 12)
    np.testing.assert_allclose(scored[1], alone.numpy(), rtol=1e-5, atol=1e-6)


def test_generate_is_seeded(adapter: MusicGenAdapter) -> None:
    samples = adapter.generate(2, top_k=5, seconds=0.2, seed=3)
    assert len(samples) == 2
    assert all(s.is_audio and s.score is None and s.sampling_rate == 32000 for s in samples)
    waves = [s.wave for s in samples]
    assert all(w.shape == (int(0.2 * 32000),) and w.dtype == np.float32 for w in waves)
    again = [s.wave for s in adapter.generate(2, top_k=5, seconds=0.2, seed=3)]
    for a, b in zip(waves, again, strict=True):
        np.testing.assert_array_equal(a, b)
    other = [s.wave for s in adapter.generate(2, top_k=5, seconds=0.2, seed=4)]
    assert not all(np.array_equal(a, b) for a, b in zip(waves, other, strict=True))


def test_encode_score_renders_then_encodes(adapter: MusicGenAdapter) -> None:
    encoded = adapter.encode_score(synthetic_score(0, seconds=1.0), "short")
    frames = encoded.ids.shape[-1]
    assert encoded.ids.shape == (K, frames) and encoded.first_target == 0
    # the render runs a few seconds of release past the last note
    assert encoded.duration_s > 1.0
    assert frames == pytest.approx(encoded.duration_s * 50, abs=1)


def test_noise_at_5s_runs_on_an_audio_model(tmp_path: Path, midi_folder: Path) -> None:
    import gzip
    import json

    from curvebench.api import RunOptions, run

    folder = tiny_musicgen_model(tmp_path / "model", K, CARD, positions=1024)
    output = run(
        RunOptions(
            model=f"musicgen:path={folder}",
            data=(f"ood={midi_folder}",),
            limit=2,
            out=tmp_path / "out",
            wandb=False,
        )
    )
    (r,) = output.results.results["noise-at-5s"].values()
    assert r.n_pairs == 2 and output.results.model.modality == "audio"
    assert len(r.abs_loss_original_per_codebook) == K
    assert r.abs_loss_original == pytest.approx(np.mean(r.abs_loss_original_per_codebook), abs=1e-4)
    assert r.region_assimilation is not None and r.auroc_abs_loss is not None
    with gzip.open(output.samples_path, "rt") as fh:
        original, perturbed = (json.loads(line) for line in list(fh)[:2])
    codes = np.array(original["loss"])
    assert codes.shape == (K, 750)  # 15 s at 50 Hz, every code scored
    assert len(original["seconds"]) == 750 and "loss_mean" not in original  # derived, not written
    np.testing.assert_array_equal(codes, np.round(codes, 4))  # per-code losses to 1e-4 nats
    assert perturbed["record"]["notes_removed"] == 0  # the waveform recipe, not notes
    frames, perturbed_frames = codes.mean(axis=0), np.array(perturbed["loss"]).mean(axis=0)
    # causal model: frames well before the noise (codes differ from 5 s on) score the same
    assert perturbed_frames[:240].tolist() == pytest.approx(frames[:240].tolist(), abs=1e-5)
    assert not np.allclose(perturbed_frames[250:400], frames[250:400])


def test_score_command_writes_codes_losses_and_frame_means(tmp_path: Path) -> None:
    import json

    from curvebench.cli import main
    from curvebench.data.audio import write_wav

    folder = tiny_musicgen_model(tmp_path / "model", K, CARD, positions=256)
    wav = tmp_path / "clip.wav"
    write_wav(wav, np.random.default_rng(0).uniform(-0.3, 0.3, 32000 * 2).astype(np.float32), 32000)
    out = tmp_path / "scores.jsonl"
    assert main(["score", "--model", f"musicgen:path={folder}", str(wav), "--out", str(out)]) == 0
    line = json.loads(out.read_text())
    tokens, loss = np.array(line["tokens"]), np.array(line["loss"])
    assert tokens.shape == loss.shape == (K, 100)  # 2 s at 50 Hz, every code scored
    np.testing.assert_allclose(line["loss_mean"], loss.mean(axis=0), atol=1e-5)
    assert line["seconds"][:3] == [0.0, 0.02, 0.04]


def test_generate_measures_the_codes_a_round_trip_keeps(adapter: MusicGenAdapter) -> None:
    """Each sample says how many of its sampled codes encoding its audio gives back: the
    codes are caught where the codec decodes them, and compared with the audio's codes."""
    seen = []
    decode = adapter.model.audio_encoder.decode

    def spy(codes, *args, **kwargs):
        seen.append(codes.clone())
        return decode(codes, *args, **kwargs)

    adapter.model.audio_encoder.decode = spy
    try:
        samples = adapter.generate(2, top_k=5, seconds=0.4, seed=3)
    finally:
        del adapter.model.audio_encoder.decode
    assert "decode" not in vars(adapter.model.audio_encoder)  # the method is back
    (drawn,) = seen
    for sample, codes in zip(samples, drawn[0], strict=True):
        again = adapter._encode(sample.wave.astype(np.float64), 32000)
        t = min(again.shape[-1], codes.shape[-1], 20)
        expected = (again[:, :t] == codes[:, :t].numpy()).mean()
        assert sample.codes_kept == pytest.approx(expected)
        assert 0.0 <= sample.codes_kept < 0.5  # a random codec: most codes change
