from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
from scipy.signal import resample_poly

from curvebench.adapters import load_adapter
from curvebench.data.audio import is_audio_file, read_audio
from curvebench.errors import ConfigError, DataError
from tests.helpers import tiny_musicgen_model

K, CARD = 4, 16


def stereo(sr: int, seconds: float = 1.5) -> np.ndarray:
    """Two different tones, left and right, [samples, 2]."""
    t = np.arange(int(sr * seconds)) / sr
    return np.stack([0.4 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)], 1)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A stereo 44.1 kHz 16-bit WAV, a stereo 48 kHz FLAC, a mono 44.1 kHz MP3 and an OGG,
    written offline by soundfile (libsndfile encodes MP3 since 1.1)."""
    folder = tmp_path_factory.mktemp("audio")
    out = {
        "wav": folder / "clip.wav",
        "flac": folder / "clip.FLAC",
        "mp3": folder / "clip.mp3",
        "ogg": folder / "clip.ogg",
    }
    soundfile.write(out["wav"], stereo(44100), 44100, subtype="PCM_16")
    soundfile.write(out["flac"], stereo(48000), 48000, subtype="PCM_24")
    soundfile.write(out["mp3"], stereo(44100).mean(1), 44100, format="MP3")
    soundfile.write(out["ogg"], stereo(44100).mean(1), 44100, format="OGG", subtype="VORBIS")
    return out


def test_mp3_is_available_in_the_installed_libsndfile() -> None:
    assert "MP3" in soundfile.available_formats() and "FLAC" in soundfile.available_formats()


def test_stereo_wav_is_mixed_to_mono_and_resampled(files: dict[str, Path]) -> None:
    native, sr = read_audio(files["wav"], mono=False)
    assert sr == 44100 and native.shape == (66150, 2) and native.dtype == np.float32
    np.testing.assert_allclose(native, stereo(44100), atol=1 / 32767)  # 16-bit rounding
    mono, sr = read_audio(files["wav"], sr=32000)
    assert sr == 32000 and mono.shape == (48000,)
    expected = resample_poly(native.astype(np.float64).mean(1), 320, 441)
    np.testing.assert_allclose(mono, expected, atol=1e-6)
    kept, _ = read_audio(files["wav"], sr=32000, mono=False)
    assert kept.shape == (48000, 2)
    np.testing.assert_allclose(kept.mean(1), mono, atol=1e-6)


def test_flac_ogg_and_mp3_read_back_the_music(files: dict[str, Path]) -> None:
    flac, sr = read_audio(files["flac"], sr=32000)
    assert sr == 32000 and flac.shape == (48000,)
    reference = resample_poly(stereo(48000).mean(1), 2, 3)
    np.testing.assert_allclose(flac, reference, atol=1e-5)
    for name in ("mp3", "ogg"):  # lossy: the same length and loudness, close in waveform
        wave, sr = read_audio(files[name], sr=32000)
        assert sr == 32000 and abs(len(wave) - 48000) <= 2
        target = resample_poly(stereo(44100).mean(1), 320, 441)[: len(wave)]
        rms = np.sqrt(np.mean(target**2))
        assert np.sqrt(np.mean(wave**2)) == pytest.approx(rms, rel=0.05)
        assert np.corrcoef(wave[2000:-2000], target[2000 : len(wave) - 2000])[0, 1] > 0.9


def test_every_format_is_scored_by_a_tiny_musicgen(files: dict[str, Path], tmp_path: Path) -> None:
    adapter = load_adapter(f"musicgen:path={tiny_musicgen_model(tmp_path, K, CARD, 128)}")
    for name, path in files.items():
        wave, sr = read_audio(path, sr=adapter.sampling_rate)
        encoded = adapter.encode_audio(wave, sr, str(path))
        assert encoded.ids.shape == (K, 75), name  # 1.5 s at 50 Hz
        ids = torch.as_tensor(encoded.ids)[None]
        with torch.no_grad():
            loss = adapter.loss(ids, torch.ones(1, 75, dtype=torch.bool))
        assert loss.shape == (1, K, 75) and torch.isfinite(loss).all() and (loss > 0).all()
    # a file read at its own rate and resampled by the adapter gives the same codes
    native, sr = read_audio(files["flac"])
    direct = adapter.encode_audio(native, sr, "flac")
    mine = adapter.encode_audio(*read_audio(files["flac"], sr=32000), "flac")
    np.testing.assert_array_equal(direct.ids, mine.ids)


def test_bad_files_are_data_errors_naming_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "broken.flac"
    bad.write_bytes(b"fLaC and then nothing sensible")
    with pytest.raises(DataError, match=r"broken\.flac: not a readable audio file"):
        read_audio(bad)
    with pytest.raises(DataError, match=r"missing\.mp3: no such audio file"):
        read_audio(tmp_path / "missing.mp3")
    empty = tmp_path / "empty.wav"
    soundfile.write(empty, np.zeros((0, 1)), 8000)
    with pytest.raises(DataError, match=r"empty\.wav: the audio file holds no samples"):
        read_audio(empty)
    with pytest.raises(ConfigError, match="sample rate"):
        read_audio(empty, sr=0)


def test_audio_suffixes() -> None:
    assert all(is_audio_file(f"a.{s}") for s in ("wav", "FLAC", "ogg", "Mp3"))
    assert not is_audio_file("a.mid") and not is_audio_file("a")
