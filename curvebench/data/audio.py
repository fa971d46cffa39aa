"""Reading audio files (WAV, FLAC, OGG, MP3) as float samples at a requested rate.

Every audio file the package reads or writes goes through ``soundfile`` (libsndfile; its wheels
bundle libsndfile ≥ 1.1, which reads and writes MP3): :func:`read_wav`/:func:`write_wav` and
the recording reader alike. Resampling is polyphase (``scipy.signal.resample_poly``, per channel);
several channels are mixed to mono by their mean unless ``mono=False``.
"""

from __future__ import annotations

import hashlib
import math
import os
from pathlib import Path

import numpy as np
import soundfile
from scipy.signal import resample_poly

from curvebench.data.files import AUDIO_SUFFIXES, Limits, printable
from curvebench.data.piece import Piece
from curvebench.errors import ConfigError, DataError, one_line


def is_audio_file(path: str | os.PathLike[str]) -> bool:
    """Whether a path ends like an audio file curvebench reads."""
    return Path(path).suffix.lower() in AUDIO_SUFFIXES


MIN_RATE, MAX_RATE = 1_000, 768_000
"""Sample rates a recording may have (a header may claim 2^31 Hz, whose resampling filter
would not fit in memory)."""


def audio_info(path: Path, shown: str | None = None) -> tuple[int, int]:
    """(frames, rate) of an audio file, read from its header alone; DataError for a file
    that is not readable audio, holds no samples or claims an absurd rate."""
    shown = shown or printable(path)
    try:
        info = soundfile.info(str(path))
        rate, frames = int(info.samplerate), int(info.frames)
    except Exception as exc:  # libsndfile raises many kinds on broken headers
        raise DataError(f"{shown}: not a readable audio file ({one_line(exc)})") from None
    if frames <= 0:
        raise DataError(f"{shown}: the audio file holds no samples")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise DataError(
            f"{shown}: a sample rate of {rate:,} Hz; recordings are read at {MIN_RATE:,} to "
            f"{MAX_RATE:,} Hz"
        )
    return frames, rate


def _decode(path: Path, frames: int = -1) -> tuple[np.ndarray, int]:
    """Samples [frames, channels] (float64) and rate, as the file holds them: all of them, or
    the first ``frames``."""
    try:
        data, sr = soundfile.read(str(path), frames=frames, dtype="float64", always_2d=True)
    except (soundfile.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        raise DataError(f"{path}: not a readable audio file ({one_line(exc)})") from exc
    return data, int(sr)


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in blocks (a recording may be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


CLIP_MARGIN_S = 1.0
"""Decoded past a clip's end, so that resampling near its end sees the same samples as when
the whole file is decoded (the polyphase filter reaches a few milliseconds either side)."""


def read_audio(
    path: str | os.PathLike[str],
    sr: int | None = None,
    mono: bool = True,
    limits: Limits | None = None,
    seconds: float | None = None,
) -> tuple[np.ndarray, int]:
    """The samples of an audio file as float32 and their rate.

    ``sr``: resample to this rate (None: keep the file's). ``mono``: mix the channels by their
    mean into [samples]; otherwise [samples, channels]. Integer formats are scaled to [−1, 1];
    resampling may overshoot that range slightly and is not clipped. ``limits``: refuse a
    recording longer than its ``max_seconds`` (read from the header) before decoding it.
    ``seconds``: decode only the first ``seconds`` (and a margin; the caller cuts the clip).
    """
    path = Path(path)
    if sr is not None and (not isinstance(sr, (int, np.integer)) or sr <= 0):
        raise ConfigError(f"{path}: sample rate {sr!r} must be a positive whole number of Hz")
    if not path.is_file():
        raise DataError(f"{path}: no such audio file")
    frames, rate = audio_info(path)
    if limits is not None:
        limits.check_seconds(frames / rate, printable(path))
    wanted = -1 if seconds is None else min(frames, math.ceil((seconds + CLIP_MARGIN_S) * rate))
    data, rate = _decode(path, wanted)
    if data.size == 0:
        raise DataError(f"{path}: the audio file holds no samples")
    if not np.all(np.isfinite(data)):
        raise DataError(f"{path}: the audio holds NaN or infinite samples")
    if mono:
        data = data.mean(axis=1, keepdims=True)
    if sr is not None and sr != rate:
        g = math.gcd(int(sr), rate)
        data = resample_poly(data, int(sr) // g, rate // g, axis=0)
        rate = int(sr)
    out = data[:, 0] if mono else data
    return np.ascontiguousarray(out, dtype=np.float32), rate


def mono_input(wave: np.ndarray, sr: int, name: str) -> np.ndarray:
    """A waveform handed to an audio model ([samples] or [samples, channels], at ``sr`` Hz)
    as mono float64 [samples], its channels mixed by their mean; DataError for empty or
    non-finite audio, ConfigError for a rate that is not a positive whole number of Hz."""
    audio = np.asarray(wave, dtype=np.float64)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.ndim != 1 or audio.size == 0:
        raise DataError(f"{name}: expected mono [samples] or [samples, channels] audio")
    if not np.all(np.isfinite(audio)):
        raise DataError(f"{name}: the audio holds NaN or infinite samples")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ConfigError(f"{name}: sample rate {sr!r} must be a positive whole number of Hz")
    return audio


def resampled(audio: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """Mono ``audio`` at ``sr`` Hz resampled (polyphase) to ``rate`` Hz; itself when equal."""
    if sr == rate:
        return audio
    g = math.gcd(int(sr), int(rate))
    return resample_poly(audio, int(rate) // g, int(sr) // g)


def audio_from_bytes(
    data: bytes, name: str, sr: int | None = None, mono: bool = True
) -> tuple[np.ndarray, int]:
    """:func:`read_audio` of an audio file's bytes (``name`` gives the format by its suffix
    and names the input in errors)."""
    import tempfile

    suffix = ".wav" if data[:4] == b"RIFF" else Path(name).suffix.lower() or ".wav"
    with tempfile.NamedTemporaryFile(suffix=suffix) as fh:
        fh.write(data)
        fh.flush()
        try:
            return read_audio(fh.name, sr, mono)
        except DataError as exc:
            raise DataError(str(exc).replace(fh.name, name)) from exc


def piece_waveform(piece: Piece, sr: int, seconds: float | None = None) -> np.ndarray:
    """A recording's mono samples at ``sr`` Hz: all of them, or (a recording left in its
    file) at least its first ``seconds``, no more of the file decoded than that."""
    if piece.audio_path:
        try:
            return read_audio(piece.audio_path, sr, seconds=seconds)[0]
        except DataError as exc:  # name the piece, never the path of this machine
            raise DataError(str(exc).replace(piece.audio_path, piece.source or piece.id)) from exc
    return audio_from_bytes(piece.audio, piece.source or piece.id, sr)[0]


def write_wav(path: str | os.PathLike[str], wave: np.ndarray, sr: int) -> Path:
    """Write mono float audio in [−1, 1] as 16-bit PCM WAV (clipped); returns the path."""
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise DataError(f"{path}: write_wav takes mono audio, got an array of shape {wave.shape}")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ConfigError(f"{path}: sample rate {sr!r} must be a positive whole number of Hz")
    if not np.all(np.isfinite(wave)):
        raise DataError(f"{path}: the audio holds NaN or infinite samples; nothing was written")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    clipped = np.clip(wave.astype(np.float64), -1.0, 1.0)
    soundfile.write(str(out), clipped, int(sr), subtype="PCM_16", format="WAV")
    return out


def read_wav(path: str | os.PathLike[str], frames: int = -1) -> tuple[np.ndarray, int]:
    """Read an audio file (all of it, or its first ``frames``) as mono float32 in [−1, 1]
    (channels averaged) and its sample rate; a DataError for a file that is not readable
    audio, holds no samples or holds NaN or infinite samples."""
    data, sr = _decode(Path(path), frames)
    if data.size == 0:
        raise DataError(f"{path}: the audio file holds no samples")
    audio = data.mean(axis=1)
    if not np.all(np.isfinite(audio)):
        raise DataError(f"{path}: the audio holds NaN or infinite samples")
    return audio.astype(np.float32), int(sr)
