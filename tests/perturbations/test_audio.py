from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import signal

from curvebench.errors import ConfigError, DataError, SkipItem
from curvebench.perturbations.audio import (
    NOISE_FILTERS,
    colored_noise,
    inject_noise,
    loudness_db,
    noise_filter,
)

SR = 32000
BANDS = 16


def band_powers(x: np.ndarray) -> np.ndarray:
    """Fraction of the power in each of ``BANDS`` equal bands from 0 to Nyquist (Welch)."""
    _, psd = signal.welch(x, nperseg=2 * BANDS * 32)
    power = psd[1:].reshape(BANDS, -1).sum(axis=1)  # drop DC so the bins split evenly
    return power / power.sum()


def theoretical_band_powers(color: str) -> np.ndarray:
    """The same fractions for white noise through the colour's filter, from its response."""
    n_bins = BANDS * 32
    freqs = np.arange(1, n_bins + 1) / n_bins * np.pi
    coefficients = noise_filter(color)
    gain = (
        np.ones(n_bins) if coefficients is None else np.abs(signal.freqz(*coefficients, freqs)[1])
    )
    power = (gain**2).reshape(BANDS, -1).sum(axis=1)
    return power / power.sum()


def db(x: float) -> float:
    return 20 * np.log10(x)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.asarray(x, dtype=np.float64) ** 2)))


def music(seconds: float = 10.0, dtype: type = np.float32) -> np.ndarray:
    """A chord of three sines, peak below 0.5, as a stand-in for rendered music."""
    t = np.arange(round(seconds * SR)) / SR
    x = sum(0.15 * np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6))
    return np.asarray(x, dtype=dtype)


@pytest.mark.parametrize("color", list(NOISE_FILTERS))
def test_spectrum_follows_the_filter_response(color: str) -> None:
    x = colored_noise(np.random.default_rng(0), 2**18, color, SR)
    measured, expected = band_powers(x), theoretical_band_powers(color)
    audible = expected > 1e-4  # brown's top bands hold almost nothing; compare where it counts
    error_db = 10 * np.log10(measured[audible] / expected[audible])
    assert np.abs(error_db).max() < 0.5, error_db


def test_colours_order_by_high_frequency_power() -> None:
    def high_over_low(color: str) -> float:
        p = band_powers(colored_noise(np.random.default_rng(1), 2**18, color, SR))
        return p[BANDS // 2 :].sum() / p[: BANDS // 2].sum()

    ratio = {color: high_over_low(color) for color in NOISE_FILTERS}
    assert 0.9 < ratio["white"] < 1.1
    assert ratio["brown"] < ratio["pink"] < ratio["white"] < ratio["blue"]
    assert ratio["pink"] < 0.2 and ratio["brown"] < 0.01 and ratio["blue"] > 3


def test_filters_are_the_papers_butterworths() -> None:
    b, a = noise_filter("brown")
    np.testing.assert_allclose(b, signal.butter(2, 0.1, btype="lowpass")[0])
    np.testing.assert_allclose(a, signal.butter(2, 0.1, btype="lowpass")[1])
    assert noise_filter("white") is None
    with pytest.raises(ConfigError, match="green"):
        noise_filter("green")


@pytest.mark.parametrize("color", list(NOISE_FILTERS))
@pytest.mark.parametrize("level_db", [-30.0, -20.0, -12.0])
def test_noise_rms_matches_level(color: str, level_db: float) -> None:
    noise = colored_noise(np.random.default_rng(2), SR * 2, color, SR, level_db)
    assert abs(db(rms(noise)) - level_db) < 1e-9
    # and inside a replaced window of real length, after clipping to [-1, 1]
    out, info = inject_noise(
        music(), SR, 5.0, 2.0, level_db, color, "replace", np.random.default_rng(3)
    )
    window = out[round(5.0 * SR) : round(7.0 * SR)]
    assert info["samples_changed"] == len(window) == 2 * SR
    assert abs(db(rms(window)) - level_db) < 0.5


@pytest.mark.parametrize("mode", ["replace", "add"])
def test_outside_window_is_unchanged_and_input_is_not_mutated(mode: str) -> None:
    wave = music()
    before = wave.copy()
    out, info = inject_noise(wave, SR, 5.0, 0.1, -12.0, "pink", mode, np.random.default_rng(4))
    start, stop = 5 * SR, 5 * SR + SR // 10
    assert np.array_equal(wave, before)
    assert out.dtype == wave.dtype and out.shape == wave.shape
    assert np.array_equal(out[:start], wave[:start])
    assert np.array_equal(out[stop:], wave[stop:])
    assert np.all(out[start:stop] != wave[start:stop])
    # the measured SNR: the clip's loudness over the injected noise's RMS (−12 dBFS here)
    assert info.pop("snr_db") == pytest.approx(loudness_db(wave, SR) + 12.0, abs=0.5)
    assert info == {
        "onset_s": 5.0,
        "duration_s": 0.1,
        "samples_changed": SR // 10,
        "level_db": -12.0,
    }


def test_add_mixes_on_top_and_clips() -> None:
    wave = music(dtype=np.float64)
    out, _ = inject_noise(wave, SR, 1.0, 1.0, -20.0, "white", "add", np.random.default_rng(5))
    noise = colored_noise(np.random.default_rng(5), SR, "white", SR, -20.0)
    np.testing.assert_allclose(out[SR : 2 * SR], np.clip(wave[SR : 2 * SR] + noise, -1, 1))
    loud = np.full(3 * SR, 0.99)
    out, _ = inject_noise(loud, SR, 1.0, 1.0, -6.0, "white", "add", np.random.default_rng(6))
    assert out.max() == 1.0 and out.min() >= -1.0


def test_replace_keeps_samples_in_range() -> None:
    out, _ = inject_noise(music(), SR, 0.0, 9.0, 0.0, "white", "replace", np.random.default_rng(7))
    assert out.max() <= 1.0 and out.min() >= -1.0


def test_same_seed_same_noise_other_seed_other_noise() -> None:
    wave = music()

    def run(seed: int) -> np.ndarray:
        return inject_noise(
            wave, SR, 5.0, 2.0, -12.0, "brown", "replace", np.random.default_rng(seed)
        )[0]

    assert np.array_equal(run(11), run(11))
    assert not np.array_equal(run(11), run(12))


def test_too_short_audio_is_skipped_with_both_lengths() -> None:
    with pytest.raises(SkipItem, match=r"6\.000 s .*7\.000 s"):
        inject_noise(music(6.0), SR, 5.0, 2.0, -12.0, "white", "replace", np.random.default_rng())


def test_bad_options_raise_config_errors() -> None:
    wave, rng = music(), np.random.default_rng()
    with pytest.raises(ConfigError, match="color 'green'"):
        inject_noise(wave, SR, 5.0, 2.0, -12.0, "green", "replace", rng)
    with pytest.raises(ConfigError, match="mode 'mix'"):
        inject_noise(wave, SR, 5.0, 2.0, -12.0, "white", "mix", rng)
    with pytest.raises(ConfigError, match="level_db"):
        inject_noise(wave, SR, 5.0, 2.0, 3.0, "white", "add", rng)
    with pytest.raises(ConfigError, match="duration"):
        inject_noise(wave, SR, 5.0, 0.0, -12.0, "white", "add", rng)
    with pytest.raises(DataError, match="mono"):
        inject_noise(np.stack([wave, wave], 1), SR, 5.0, 2.0, -12.0, "white", "add", rng)


@settings(max_examples=40, deadline=None)
@given(
    seconds=st.floats(0.5, 4.0),
    onset=st.floats(0.0, 3.0),
    duration=st.floats(0.01, 2.0),
    level_db=st.floats(-40.0, 0.0),
    color=st.sampled_from(["white", "pink", "blue", "brown"]),
    mode=st.sampled_from(["replace", "add"]),
    seed=st.integers(0, 2**32 - 1),
)
def test_noise_spec_on_random_audio(seconds, onset, duration, level_db, color, mode, seed) -> None:
    from curvebench.perturbations.noise import Noise

    sr = 8000
    wave = np.random.default_rng(1).uniform(-0.5, 0.5, int(seconds * sr)).astype(np.float32)
    before = wave.copy()
    spec = Noise(color=color, mode=mode, onset=onset, duration=duration, level_db=level_db)
    try:
        out, record = spec.apply_audio(wave, sr, seed)
    except SkipItem:
        assert onset + duration > len(wave) / sr - 1e-9
        return
    assert np.array_equal(wave, before)  # input never changed
    again, _ = spec.apply_audio(wave, sr, seed)
    assert np.array_equal(out, again)
    lo, hi = round(onset * sr), round((onset + duration) * sr)
    assert np.array_equal(out[:lo], wave[:lo]) and np.array_equal(out[hi:], wave[hi:])
    assert record.onset_s == onset and record.duration_s == duration
    assert np.all(np.abs(out) <= 1.0)


def test_snr_db_sets_the_noise_relative_to_the_clips_loudness() -> None:
    from curvebench.perturbations.audio import loudness_db

    rng = np.random.default_rng(0)
    t = np.arange(10 * SR) / SR
    music = 0.05 * np.sin(2 * np.pi * 440 * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.5 * t))
    music[: SR // 2] = 0.0  # half a second of leading silence, left out of the loudness
    music[-2 * SR :] *= 1e-5  # a faded tail (−100 dBFS), left out too
    loud = music[SR // 2 : -2 * SR]
    signal_db = 10 * np.log10(np.mean(loud**2))
    assert loudness_db(music, SR) == pytest.approx(signal_db, abs=1e-9)
    for snr in (-5.0, 0.0, 10.0, 20.0):
        for color in ("white", "brown"):
            out, info = inject_noise(music, SR, 5.0, 2.0, None, color, "replace", rng, snr_db=snr)
            noise = out[5 * SR : 7 * SR]
            measured = signal_db - 10 * np.log10(np.mean(noise**2))
            assert abs(measured - snr) < 0.1
            assert info["level_db"] == pytest.approx(signal_db - snr)


def test_snr_db_and_level_db_exclude_each_other() -> None:
    from curvebench.perturbations import parse_perturbation

    rng = np.random.default_rng(0)
    wave = 0.1 * np.ones(8 * SR)
    with pytest.raises(ConfigError, match="exactly one"):
        inject_noise(wave, SR, 5.0, 1.0, -12.0, "white", "replace", rng, snr_db=10.0)
    with pytest.raises(ConfigError, match="exactly one"):
        inject_noise(wave, SR, 5.0, 1.0, None, "white", "replace", rng)
    with pytest.raises(ConfigError, match="not both"):
        parse_perturbation("noise:level_db=-12,snr_db=10")
    default = parse_perturbation("noise:color=white")
    assert default.level_db == -12.0 and "level_db=-12.0" in default.spec_id
    relative = parse_perturbation("noise:snr_db=10")
    assert relative.level_db is None and "level_db" not in relative.spec_id
    assert parse_perturbation(relative.spec_id) == relative
    with pytest.raises(SkipItem, match="silent"):
        inject_noise(np.zeros(8 * SR), SR, 5.0, 1.0, None, "white", "replace", rng, snr_db=10)
    with pytest.raises(SkipItem, match="above full scale"):
        inject_noise(wave, SR, 5.0, 1.0, None, "white", "replace", rng, snr_db=-30)
