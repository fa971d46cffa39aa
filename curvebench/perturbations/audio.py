"""Noise injection on mono waveforms: the paper's recipe for audio models.

White Gaussian noise is coloured with the paper's Butterworth filters (applied causally with
``scipy.signal.lfilter`` from a zero state, as in the paper's released code), scaled to an RMS
level, and put in a window of the audio: in ``replace`` mode the window's samples become the
noise, in ``add`` mode the noise is mixed on top.

Level convention: ``level_db`` is relative to a full-scale RMS of 1.0, so the noise's RMS is
``10 ** (level_db / 20)`` (−12 dB → 0.251, −30 dB → 0.0316). RMS rather than peak because the
peak of Gaussian noise is a random extreme that grows with the window's length, so a peak
convention would make the noise's power depend on its duration and on the draw; the RMS is what
a model hears. It is also what the paper's injection script does (it divides the noise by its
standard deviation, then multiplies by ``10 ** (dB / 20)``). Under this convention a full-scale
sine (peak 1.0) sits at −3 dB.

Relative level: ``snr_db`` instead sets the noise's RMS ``snr_db`` decibels below the loudness
of the audio it is put in, so that rendered and recorded music can be compared at the same
signal-to-noise ratio. The loudness (:func:`loudness_db`) is the RMS of the whole clip given,
before the noise, over its non-silent part: the clip is cut into 50 ms blocks and only blocks
whose own RMS reaches −60 dBFS count (so leading silence and a render's fading tail do not
dilute it). Exactly one of ``level_db`` and ``snr_db`` applies.

The result always stays in [−1, 1]: ``add`` clips the mix, and ``replace`` clips the noise
itself (at −12 dB that touches the samples beyond 3.98σ, about 7 in 100,000, and lowers the RMS
by about 0.0006 dB).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from curvebench.errors import ConfigError, DataError, SkipItem

NOISE_FILTERS: dict[str, tuple[int, float, str] | None] = {
    "white": None,
    "pink": (1, 0.2, "lowpass"),
    "brown": (2, 0.1, "lowpass"),
    "blue": (1, 0.5, "highpass"),
}
"""Colour → (Butterworth order, cutoff as a fraction of Nyquist, filter type); white: none."""

MODES = ("replace", "add")


def noise_filter(color: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The (b, a) coefficients that colour white noise; None for white."""
    if color not in NOISE_FILTERS:
        raise ConfigError(f"noise color {color!r}: use one of {', '.join(NOISE_FILTERS)}")
    spec = NOISE_FILTERS[color]
    if spec is None:
        return None
    order, cutoff, btype = spec
    b, a = signal.butter(order, cutoff, btype=btype)
    return b, a


def colored_noise(
    rng: np.random.Generator, n: int, color: str, sr: int, level_db: float = 0.0
) -> np.ndarray:
    """``n`` samples (float64) of coloured Gaussian noise whose RMS is ``10 ** (level_db / 20)``.

    The cutoffs are fractions of Nyquist, as in the paper, so ``sr`` does not change the
    samples; at the paper's 32 kHz they are 3.2 kHz (pink), 1.6 kHz (brown) and 8 kHz (blue).
    The RMS is that of the ``n`` samples drawn, exactly, not an expectation.
    """
    coefficients = noise_filter(color)
    if sr <= 0:
        raise ConfigError(f"sample rate {sr}: must be a positive number of Hz")
    if n < 0:
        raise ConfigError(f"noise length {n}: must be >= 0 samples")
    white = rng.standard_normal(n)
    noise = white if coefficients is None else signal.lfilter(*coefficients, white)
    rms = float(np.sqrt(np.mean(noise**2))) if n else 0.0
    if rms == 0.0:
        return np.zeros(n)
    return noise * (10 ** (level_db / 20) / rms)


BLOCK_S = 0.05
"""Length of the blocks the loudness is measured over (50 ms)."""
SILENCE_DB = -60.0
"""Blocks quieter than this (RMS, dBFS) are silence and left out of the loudness."""


def loudness_db(wave: np.ndarray, sr: int) -> float | None:
    """RMS in dBFS of the non-silent 50 ms blocks of ``wave`` (a last partial block counts
    too); None when every block is silent."""
    x = np.asarray(wave, dtype=np.float64)
    block = max(1, round(BLOCK_S * sr))
    starts = np.arange(0, len(x), block)
    energy = np.add.reduceat(x**2, starts) if len(x) else np.zeros(0)
    sizes = np.diff(np.append(starts, len(x)))
    loud = energy / sizes >= 10 ** (SILENCE_DB / 10)
    if not loud.any():
        return None
    return float(10 * np.log10(energy[loud].sum() / sizes[loud].sum()))


def inject_noise(
    wave: np.ndarray,
    sr: int,
    onset_s: float,
    duration_s: float,
    level_db: float | None,
    color: str,
    mode: str,
    rng: np.random.Generator,
    snr_db: float | None = None,
    draw_s: float | None = None,
) -> tuple[np.ndarray, dict[str, float | int | None]]:
    """A copy of ``wave`` with noise in [onset_s, onset_s + duration_s), and where it acted.

    ``wave`` is mono float audio in [−1, 1]; it is never modified and the copy keeps its dtype.
    The noise's RMS is ``level_db`` dBFS, or ``snr_db`` dB below :func:`loudness_db` of
    ``wave`` (give exactly one). Window edges are rounded to the nearest sample. The returned
    dict holds the window as applied (``onset_s``, ``duration_s``, on the sample grid),
    ``samples_changed``, the noise's ``level_db`` and ``snr_db``: the loudness of ``wave`` over
    the RMS of the noise as injected (after clipping), measured (None for silent audio).
    ``draw_s`` (at least ``duration_s``): draw that many seconds of noise and inject its first
    ``duration_s`` (a nested sweep: shorter noise is a prefix of longer noise).
    """
    if (level_db is None) == (snr_db is None):
        raise ConfigError("noise level: give exactly one of level_db (dBFS) and snr_db (dB)")
    if mode not in MODES:
        raise ConfigError(f"noise mode {mode!r}: use replace or add")
    noise_filter(color)  # validates the colour before any work
    if sr <= 0:
        raise ConfigError(f"sample rate {sr}: must be a positive number of Hz")
    if onset_s < 0 or duration_s <= 0:
        raise ConfigError(
            f"noise window onset={onset_s} s, duration={duration_s} s: "
            "need onset >= 0 and duration > 0"
        )
    if level_db is not None and level_db > 0:
        raise ConfigError(f"noise level_db={level_db}: must be <= 0 dB (full scale, RMS 1.0)")
    wave = np.asarray(wave)
    if wave.ndim != 1 or not np.issubdtype(wave.dtype, np.floating):
        raise DataError(
            f"audio of shape {wave.shape} and dtype {wave.dtype}: noise injection needs mono "
            "float samples; downmix (mean over channels) and convert to float first"
        )
    if snr_db is not None:
        signal_db = loudness_db(wave, sr)
        if signal_db is None:
            raise SkipItem(f"the audio is silent (below {SILENCE_DB:g} dBFS): no level for snr_db")
        level_db = signal_db - snr_db
        if level_db > 0:
            raise SkipItem(
                f"snr_db={snr_db} puts the noise at {level_db:.1f} dBFS, above full scale, "
                f"for audio at {signal_db:.1f} dBFS"
            )
    start = round(onset_s * sr)
    stop = round((onset_s + duration_s) * sr)
    if stop <= start:
        raise ConfigError(f"noise duration {duration_s} s is shorter than one sample at {sr} Hz")
    if len(wave) < stop:
        raise SkipItem(
            f"audio lasts {len(wave) / sr:.3f} s ({len(wave)} samples), shorter than the noise "
            f"window's end at {stop / sr:.3f} s ({stop} samples)"
        )
    drawn = stop - start if draw_s is None else max(stop - start, round(draw_s * sr))
    noise = colored_noise(rng, drawn, color, sr, level_db)[: stop - start]
    out = wave.copy()
    window = noise if mode == "replace" else out[start:stop] + noise
    out[start:stop] = np.clip(window, -1.0, 1.0)
    injected = out[start:stop].astype(np.float64)
    if mode != "replace":
        injected = injected - wave[start:stop]
    signal_db, noise_power = loudness_db(wave, sr), float(np.mean(injected**2))
    snr = None
    if signal_db is not None and noise_power > 0:
        snr = round(signal_db - 10 * float(np.log10(noise_power)), 2)
    info: dict[str, float | int | None] = {
        "onset_s": start / sr,
        "duration_s": (stop - start) / sr,
        "samples_changed": stop - start,
        "level_db": level_db,
        "snr_db": snr,
    }
    return out, info
