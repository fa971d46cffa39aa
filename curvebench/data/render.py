"""MIDI → audio with FluidSynth and a General MIDI soundfont, cached on disk by content hash.

Audio models (MusicGen: 32 kHz mono) and listening need a waveform of a symbolic piece. The
``fluidsynth`` command-line program renders it (symusic 0.6's own synthesizer is broken, see
DESIGN.md) to raw 32-bit float stereo, which is downmixed to mono by the mean of the channels.
Sample 0 is MIDI time 0; the render runs about three seconds past the last note, the tail that
FluidSynth gives the release and reverb (its default reverb and chorus are on).

Level: a fixed synthesizer gain (``DEFAULT_GAIN``), no per-piece normalisation, so that a piece
and a perturbed copy of it render to the same samples up to the first change, and again once
the release and reverb of the changed notes have died away (a few seconds). Samples beyond
[−1, 1] (only very dense, loud textures reach them) are clipped, with a warning in the log.

Install (Debian/Ubuntu): ``apt-get install --no-install-recommends fluidsynth fluid-soundfont-gm``
(or ``timgm6mb-soundfont``, 6 MB instead of 148 MB). ``$CURVEBENCH_SOUNDFONT`` picks another
``.sf2``/``.sf3`` file. Renders are cached in ``$CURVEBENCH_CACHE/render/`` (default
``~/.cache/curvebench/render/``), keyed by the MIDI bytes, sample rate, gain and soundfont; a
run keeps them where its :class:`~curvebench.cache.RunCaches` say (:class:`RenderCache`:
``--cache-dir``, nowhere under ``--no-cache``).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import tempfile
import time
import wave as wavelib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from curvebench.cache import RunCaches
from curvebench.data.files import Limits
from curvebench.data.piece import parse_midi
from curvebench.errors import ConfigError, DataError

log = logging.getLogger(__name__)

SOUNDFONT_ENV = "CURVEBENCH_SOUNDFONT"
SOUNDFONT_PATHS = (
    Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),  # Debian/Ubuntu fluid-soundfont-gm
    Path("/usr/share/sounds/sf2/TimGM6mb.sf2"),  # Debian/Ubuntu timgm6mb-soundfont
    Path("/usr/share/sounds/sf2/default-GM.sf2"),  # Debian alternatives link
    Path("/usr/share/sounds/sf3/default-GM.sf3"),
    Path("/usr/share/soundfonts/FluidR3_GM.sf2"),  # Arch, Fedora
    Path("/usr/share/soundfonts/default.sf2"),
)
"""Where ``find_soundfont`` looks when ``$CURVEBENCH_SOUNDFONT`` is unset, in this order."""

INSTALL_HINT = "apt-get install --no-install-recommends fluidsynth fluid-soundfont-gm"
DEFAULT_SR = 32000
DEFAULT_GAIN = 1.0
"""FluidSynth's ``-g``. Its own default, 0.2, leaves the tests' ``synthetic_score(0)`` (piano)
at an RMS of −42 dBFS; 1.0 puts it at −28 dBFS RMS and −12 dBFS peak, with either soundfont."""
FLUIDSYNTH_RATES = (8000, 96000)
"""Sample rates FluidSynth accepts; others are rendered at ``FALLBACK_RATE`` and resampled."""
FALLBACK_RATE = 48000
MAX_SECONDS = 3600.0
"""Longest piece rendered; a stray event hours after the music would otherwise fill the disk."""
RECIPE_VERSION = 1
"""Bumped whenever the rendering recipe changes, so old cache entries are not reused."""


@dataclass(frozen=True)
class RenderCache:
    """Where a run keeps its renders: under ``root/render`` (None: the default cache folder of
    :class:`~curvebench.cache.RunCaches`), or, when ``keep`` is False, nowhere (every piece
    rendered again, nothing written)."""

    root: Path | None = None
    keep: bool = True

    @classmethod
    def of(cls, caches: RunCaches) -> RenderCache:
        """The renders of a run's caches."""
        return cls(caches.renders, keep=caches.renders is not None)

    @property
    def folder(self) -> Path:
        """The folder the renders are kept in."""
        return Path(self.root if self.root is not None else RunCaches.of().root) / "render"

    def render(self, midi_bytes: bytes, sr: int, name: str | None = None) -> np.ndarray:
        """:func:`render_midi` under these settings."""
        return render_midi(midi_bytes, sr, self.folder, keep=self.keep, name=name)


DEFAULT_RENDERS = RenderCache()
"""Renders kept under ``$CURVEBENCH_CACHE/render``."""


def _check_soundfont(path: Path, origin: str) -> Path:
    try:
        with path.open("rb") as f:
            header = f.read(12)
    except OSError as exc:
        raise ConfigError(
            f"soundfont {path} ({origin}) cannot be read: {exc.strerror}; "
            f"point {SOUNDFONT_ENV} at a readable .sf2 file or run: {INSTALL_HINT}"
        ) from exc
    if header[:4] != b"RIFF" or header[8:12] != b"sfbk":
        raise ConfigError(
            f"soundfont {path} ({origin}) is not a SoundFont (.sf2/.sf3) file; "
            f"point {SOUNDFONT_ENV} at one or run: {INSTALL_HINT}"
        )
    return path


def find_soundfont() -> Path:
    """The General MIDI soundfont to render with: ``$CURVEBENCH_SOUNDFONT``, else a system one."""
    chosen = os.environ.get(SOUNDFONT_ENV)
    if chosen:
        return _check_soundfont(Path(chosen).expanduser(), f"from ${SOUNDFONT_ENV}")
    for path in SOUNDFONT_PATHS:
        if path.is_file():
            return _check_soundfont(path, "system soundfont")
    raise ConfigError(
        "no General MIDI soundfont found (looked in "
        f"{', '.join(str(p) for p in SOUNDFONT_PATHS)}); install one with: {INSTALL_HINT}, "
        f"or set {SOUNDFONT_ENV} to a .sf2 file"
    )


def _parse(midi_bytes: bytes, name: str) -> float:
    """The piece's length in seconds, after checking it has notes and is not too long."""
    score = parse_midi(midi_bytes, name, UNLIMITED)  # --max-notes applies where pieces are read
    if score.note_num() == 0:
        raise DataError(f"{name}: the MIDI file has no notes, so there is nothing to render")
    seconds = float(score.to("second").end())
    if seconds > MAX_SECONDS:
        raise DataError(
            f"{name}: the MIDI file lasts {seconds:.0f} s, longer than the {MAX_SECONDS:.0f} s "
            "that are rendered; cut it or remove stray events near its end"
        )
    return seconds


def _cache_key(midi_bytes: bytes, sr: int, gain: float, soundfont: Path) -> str:
    stat = soundfont.stat()
    identity = {
        "recipe": RECIPE_VERSION,
        "midi": hashlib.sha256(midi_bytes).hexdigest(),
        "sr": sr,
        "gain": gain,
        "soundfont": [soundfont.resolve().name, stat.st_size, stat.st_mtime_ns],
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


UNLIMITED = Limits(max_notes=2**62, max_seconds=float("inf"), max_file_mb=float("inf"))
RENDER_TAIL_S = 30.0
"""How far past a piece's last event FluidSynth may write before the render is stopped (its
release tails take a few seconds; a tempo map it plays otherwise than written can run on for
hours)."""


def _wait_bounded(command: list[str], raw_path: Path, most_s: float, rate: int, name: str) -> str:
    """Run FluidSynth, stopping it once its output passes ``most_s`` seconds of stereo float
    audio at ``rate`` or it has run 30 minutes (DataError); what it printed on stderr. It is
    killed when anything (a signal that ends the run included) interrupts the wait."""
    most_bytes = int(most_s * rate) * 2 * 4
    messages = raw_path.with_name("stderr.txt")  # a file: a full pipe would stall FluidSynth
    with (
        open(messages, "w") as err,
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err) as proc,
    ):
        try:
            clock = time.monotonic()
            while proc.poll() is None:
                written = raw_path.stat().st_size if raw_path.exists() else 0
                if written > most_bytes:
                    raise DataError(
                        f"{name}: FluidSynth rendered past the piece's end (over {most_s:,.0f} s) "
                        "and was stopped; its tempo map is not one FluidSynth plays as written"
                    )
                if time.monotonic() - clock > 1800:
                    raise DataError(f"{name}: fluidsynth did not finish within 30 minutes")
                time.sleep(0.02)
        except BaseException:
            proc.kill()
            raise
    lines = messages.read_text(errors="replace").strip().splitlines()
    if lines:
        log.debug("fluidsynth on %s: %s", name, " | ".join(lines))
    if proc.returncode != 0 or not raw_path.is_file():
        reason = lines[-1] if lines else f"exit status {proc.returncode}"
        raise DataError(f"{name}: fluidsynth could not render it ({reason})")
    return "\n".join(lines)


def _run_fluidsynth(
    midi_bytes: bytes, rate: int, gain: float, soundfont: Path, name: str, seconds: float = 0.0
) -> np.ndarray:
    exe = shutil.which("fluidsynth")
    if exe is None:
        raise ConfigError(
            f"cannot render {name}: the fluidsynth program is not on PATH; install it with: "
            f"{INSTALL_HINT}"
        )
    with tempfile.TemporaryDirectory(prefix="curvebench-render-") as tmp:
        midi_path, raw_path = Path(tmp) / "in.mid", Path(tmp) / "out.raw"
        midi_path.write_bytes(midi_bytes)
        # -n -i: no MIDI input, no shell; -T raw -O float: headerless float32, never dithered
        command = [exe, "-n", "-i", "-q", "-T", "raw", "-O", "float", "-E", "little"]
        command += ["-F", str(raw_path), "-r", str(rate), "-g", str(gain)]
        command += [str(soundfont), str(midi_path)]
        try:
            _wait_bounded(command, raw_path, seconds + RENDER_TAIL_S, rate, name)
        except FileNotFoundError as exc:
            raise ConfigError(
                f"cannot render {name}: fluidsynth could not be started; install it with: "
                f"{INSTALL_HINT}"
            ) from exc
        samples = np.fromfile(raw_path, dtype="<f4")
    if samples.size == 0 or samples.size % 2:
        raise DataError(f"{name}: fluidsynth wrote {samples.size} samples, not a stereo render")
    return samples.reshape(-1, 2).mean(axis=1, dtype=np.float64)


def render_midi(
    midi_bytes: bytes,
    sr: int = DEFAULT_SR,
    cache_dir: Path | None = None,
    *,
    gain: float = DEFAULT_GAIN,
    soundfont: Path | None = None,
    name: str | None = None,
    keep: bool = True,
) -> np.ndarray:
    """``midi_bytes`` rendered to mono float32 audio at ``sr`` Hz, in [−1, 1].

    The first call renders with FluidSynth and stores the result in ``cache_dir`` (default
    ``$CURVEBENCH_CACHE/render``); later calls with the same MIDI bytes, rate, gain and
    soundfont read it back. ``keep=False`` neither reads nor writes the cache. ``name`` (a file
    path, a piece id) is used in error messages.
    """
    name = name or f"MIDI sha256:{hashlib.sha256(midi_bytes).hexdigest()[:12]}"
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ConfigError(f"sample rate {sr!r}: must be a positive whole number of Hz")
    sr = int(sr)
    if not 0 < gain <= 10:
        raise ConfigError(f"render gain {gain}: FluidSynth takes a gain in (0, 10]")
    seconds = _parse(midi_bytes, name)
    soundfont = _check_soundfont(Path(soundfont), "given") if soundfont else find_soundfont()
    folder = Path(cache_dir) if cache_dir is not None else RenderCache().folder
    entry = folder / f"{_cache_key(midi_bytes, sr, gain, soundfont)}.npy"
    if keep and entry.is_file():
        try:
            return np.load(entry).astype(np.float32, copy=False)
        except (OSError, ValueError) as exc:
            log.warning("cached render %s unreadable (%s); rendering again", entry, exc)

    log.info("rendering %s at %d Hz with %s", name, sr, soundfont.name)
    low, high = FLUIDSYNTH_RATES
    rate = sr if low <= sr <= high else FALLBACK_RATE
    audio = _run_fluidsynth(midi_bytes, rate, gain, soundfont, name, seconds)
    if rate != sr:
        g = math.gcd(sr, rate)
        audio = resample_poly(audio, sr // g, rate // g)
    peak = float(np.abs(audio).max())
    if peak > 1.0:
        log.warning("%s: render peaks at %.2f; clipped to [-1, 1]", name, peak)
    audio = np.clip(audio, -1.0, 1.0).astype(np.float32)
    if not keep:
        return audio

    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=entry.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.save(f, audio)
        os.replace(tmp_name, entry)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return audio


def write_wav(path: str | os.PathLike[str], wave: np.ndarray, sr: int) -> Path:
    """Write mono float audio in [−1, 1] as 16-bit PCM WAV (clipped, rounded); returns the path."""
    wave = np.asarray(wave)
    if wave.ndim != 1:
        raise DataError(f"{path}: write_wav takes mono audio, got an array of shape {wave.shape}")
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ConfigError(f"{path}: sample rate {sr!r} must be a positive whole number of Hz")
    if not np.all(np.isfinite(wave)):
        raise DataError(f"{path}: the audio holds NaN or infinite samples; nothing was written")
    pcm = np.round(np.clip(wave.astype(np.float64), -1.0, 1.0) * 32767).astype("<i2")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    with wavelib.open(str(out), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(int(sr))
        f.writeframes(pcm.tobytes())
    return out


def read_wav(path: str | os.PathLike[str], frames: int = -1) -> tuple[np.ndarray, int]:
    """Read a WAV file (all of it, or its first ``frames``) as mono float32 in [−1, 1]
    (channels averaged) and its sample rate."""
    from scipy.io import wavfile

    try:
        try:
            sr, data = wavfile.read(str(path), mmap=True)
        except ValueError:  # 24-bit samples cannot be mapped: read them
            sr, data = wavfile.read(str(path))
    except Exception as exc:  # scipy's parser raises struct.error, ValueError, ... on bad bytes
        raise DataError(f"{path}: not a readable WAV file ({type(exc).__name__}: {exc})") from exc
    data = np.array(data if frames < 0 else data[:frames])
    if np.issubdtype(data.dtype, np.integer):
        info = np.iinfo(data.dtype)
        scale = float(max(-info.min, info.max + 1))
        audio = (data.astype(np.float64) - (0 if info.min < 0 else scale / 2)) / (
            scale if info.min < 0 else scale / 2
        )
    else:
        audio = data.astype(np.float64)
    if audio.ndim == 2:
        audio = audio.mean(axis=1)
    if audio.size == 0:
        raise DataError(f"{path}: the WAV file holds no samples")
    if not np.all(np.isfinite(audio)):
        raise DataError(f"{path}: the audio holds NaN or infinite samples")
    return audio.astype(np.float32), int(sr)
