"""MIDI → audio with FluidSynth and a General MIDI soundfont, cached on disk by content hash.

Audio models (MusicGen: 32 kHz mono) and listening need a waveform of a symbolic piece. The
``fluidsynth`` command-line program renders it (symusic 0.6's own synthesizer is broken, see
DESIGN.md) to raw 32-bit float stereo, which is downmixed to mono by the mean of the channels.
Sample 0 is MIDI time 0; the render runs about three seconds past the last note, the tail that
FluidSynth gives the release and reverb (its default reverb and chorus are on).

Level: a fixed synthesizer gain (the setting's), no per-piece normalisation, so that a piece
and a perturbed copy of it render to the same samples up to the first change, and again once
the release and reverb of the changed notes have died away (a few seconds). Samples beyond
[−1, 1] (only very dense, loud textures reach them) are clipped, with a warning in the log.

The render is part of the model and of the result: a :class:`RenderSetting` names the
soundfont by file name *and* sha256, the gain and a level change after rendering, and every
audio model states the one it hears (:data:`DEFAULT_RENDER`: TimGM6mb, Debian's
``timgm6mb-soundfont``; ``audio-reference`` states the one it was trained with). The setting's
soundfont is found by its hash, whatever else is installed (a missing one is a one-line error
naming the package), and :func:`render_identity` (soundfont, sha256, FluidSynth version, gain,
level, rate) is written in results.json and keys the cache.

Install (Debian/Ubuntu): ``apt-get install --no-install-recommends fluidsynth
timgm6mb-soundfont``. ``$CURVEBENCH_SOUNDFONT`` names another place to look for the setting's
file. Renders are cached in ``$CURVEBENCH_CACHE/render/`` (default
``~/.cache/curvebench/render/``), keyed by the MIDI bytes, sample rate and render identity; a
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
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, replace
from functools import cache
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
"""Where system soundfonts lie: :func:`soundfont_for` looks in these files' folders for the
render's file name (and takes it only with the render's sha256)."""

INSTALL_HINT = "apt-get install --no-install-recommends fluidsynth timgm6mb-soundfont"
DEFAULT_SR = 32000
FLUIDSYNTH_RATES = (8000, 96000)
"""Sample rates FluidSynth accepts; others are rendered at ``FALLBACK_RATE`` and resampled."""
FALLBACK_RATE = 48000
MAX_SECONDS = 3600.0
"""Longest piece rendered; a stray event hours after the music would otherwise fill the disk."""
RECIPE_VERSION = 2
"""Bumped whenever the rendering recipe changes, so old cache entries are not reused."""


@dataclass(frozen=True)
class RenderSetting:
    """How notes become audio for one model: the soundfont (file name and sha256), FluidSynth's
    gain and a level change after rendering (the paper: gain 0.9, then −3 dB with sox)."""

    soundfont: str
    """The soundfont's file name (``TimGM6mb.sf2``)."""
    sha256: str
    """sha256 of the soundfont file: the file used must have it."""
    gain: float = 1.0
    """FluidSynth's ``-g``. Its own default, 0.2, leaves the tests' ``synthetic_score(0)``
    (piano) at an RMS of −42 dBFS; 1.0 puts it at −28 dBFS RMS and −12 dBFS peak."""
    level_db: float = 0.0
    """Gain applied to the render afterwards, in dB (the paper's sox ``gain -3``: −3)."""
    package: str = "timgm6mb-soundfont"
    """The Debian package that ships the soundfont (named when it is missing)."""
    path: str | None = None
    """Where the file is, when given by the user (else looked up by name and hash)."""

    def at_paper_level(self) -> RenderSetting:
        """The same soundfont at the paper's level: gain 0.9, then −3 dB."""
        return replace(self, gain=PAPER_GAIN, level_db=PAPER_LEVEL_DB)


TIMGM6MB_SHA256 = "c5378b62028c920cb11e4803327983fee2f2cdff5dc89c708e39da417e51c854"
DEFAULT_RENDER = RenderSetting("TimGM6mb.sf2", TIMGM6MB_SHA256, 1.0, 0.0)
"""The render of audio models that state no other (TimGM6mb at gain 1, Debian's
``timgm6mb-soundfont`` 1.3)."""
PAPER_GAIN, PAPER_LEVEL_DB = 0.9, -3.0
"""The paper's render level: ``fluidsynth -g 0.9`` then ``sox gain -3`` (about 3.9 dB below
curvebench's gain 1)."""


def setting_from_file(path: str | os.PathLike[str], **options: float) -> RenderSetting:
    """A setting for a soundfont file the user names (its hash taken now)."""
    found = _check_soundfont(Path(path).expanduser(), "given")
    return RenderSetting(found.name, sha256_of(found), path=str(found), package="", **options)


@cache
def _sha256_cached(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_of(path: Path) -> str:
    """sha256 of a file, computed once per (path, size, modification time)."""
    stat = path.stat()
    return _sha256_cached(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def soundfont_for(setting: RenderSetting) -> Path:
    """The soundfont file of ``setting``: its ``path``, else the file of its name and hash in
    ``$CURVEBENCH_SOUNDFONT`` or the system's soundfont folders. A file of that name with
    another hash is never used (ConfigError naming both and the package to install)."""
    if setting.path:
        path = _check_soundfont(Path(setting.path), "given")
        if sha256_of(path) != setting.sha256:
            raise ConfigError(f"soundfont {path}: its sha256 is not the render's {setting.sha256}")
        return path
    candidates = []
    chosen = os.environ.get(SOUNDFONT_ENV)
    if chosen:
        candidates.append(Path(chosen).expanduser())
    folders = dict.fromkeys(p.parent for p in SOUNDFONT_PATHS)
    candidates += [folder / setting.soundfont for folder in folders]
    others = []
    for path in candidates:
        if path.is_file():
            _check_soundfont(path, "found")
            if sha256_of(path) == setting.sha256:
                return path
            others.append(str(path))
    install = f"apt-get install {setting.package}" if setting.package else "that file"
    other = f" ({', '.join(others)} has another sha256)" if others else ""
    raise ConfigError(
        f"this model renders MIDI with {setting.soundfont} (sha256 {setting.sha256[:12]}…), which "
        f"is not installed{other}; install it ({install}) or point {SOUNDFONT_ENV} at it"
    )


@cache
def fluidsynth_version() -> str:
    """FluidSynth's runtime version (``2.3.1``), or ``missing``."""
    exe = shutil.which("fluidsynth")
    if exe is None:
        return "missing"
    try:
        out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    for word in out.stdout.split():
        if word[:1].isdigit() and word.count(".") >= 1:
            return word
    return "unknown"


def render_identity(setting: RenderSetting, sr: int) -> dict[str, str | float | int]:
    """What made a render: soundfont name and sha256, FluidSynth's version, gain, level and
    rate (written in results.json, part of the cache key)."""
    return {
        "soundfont": setting.soundfont,
        "sha256": setting.sha256,
        "fluidsynth": fluidsynth_version(),
        "gain": setting.gain,
        "level_db": setting.level_db,
        "rate": int(sr),
    }


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

    def render(
        self,
        midi_bytes: bytes,
        sr: int,
        name: str | None = None,
        setting: RenderSetting = DEFAULT_RENDER,
    ) -> np.ndarray:
        """:func:`render_midi` under these settings."""
        return render_midi(midi_bytes, sr, self.folder, keep=self.keep, name=name, setting=setting)


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


def _cache_key(midi_bytes: bytes, sr: int, setting: RenderSetting) -> str:
    identity = {
        "recipe": RECIPE_VERSION,
        "midi": hashlib.sha256(midi_bytes).hexdigest(),
        "render": render_identity(setting, sr),
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


UNLIMITED = Limits(max_notes=2**62, max_seconds=float("inf"), max_file_mb=float("inf"))
RENDER_TAIL_S = 30.0
"""How far past a piece's last event FluidSynth may write before the render is stopped (its
release tails take a few seconds; a tempo map it plays otherwise than written can run on for
hours)."""


def _kill_group(proc: subprocess.Popen) -> None:
    """Kill a process started in its own session, and every process of its group."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()
    proc.wait()


def _wait_bounded(command: list[str], raw_path: Path, most_s: float, rate: int, name: str) -> str:
    """Run FluidSynth, stopping it once its output passes ``most_s`` seconds of stereo float
    audio at ``rate`` or it has run 30 minutes (DataError); what it printed on stderr. It is
    killed when anything (a signal that ends the run included) interrupts the wait."""
    most_bytes = int(most_s * rate) * 2 * 4
    messages = raw_path.with_name("stderr.txt")  # a file: a full pipe would stall FluidSynth
    # its own process group: stopping it stops whatever it started too (a child left running
    # would go on writing into the deleted temporary file until the disk is full)
    with (
        open(messages, "w") as err,
        subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=err, start_new_session=True
        ) as proc,
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
            _kill_group(proc)
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
    setting: RenderSetting = DEFAULT_RENDER,
    name: str | None = None,
    keep: bool = True,
) -> np.ndarray:
    """``midi_bytes`` rendered to mono float32 audio at ``sr`` Hz, in [−1, 1], by ``setting``
    (its soundfont, found by hash; its gain and level).

    The first call renders with FluidSynth and stores the result in ``cache_dir`` (default
    ``$CURVEBENCH_CACHE/render``); later calls with the same MIDI bytes, rate and render
    identity read it back. ``keep=False`` neither reads nor writes the cache. ``name`` (a file
    path, a piece id) is used in error messages.
    """
    name = name or f"MIDI sha256:{hashlib.sha256(midi_bytes).hexdigest()[:12]}"
    if not isinstance(sr, (int, np.integer)) or sr <= 0:
        raise ConfigError(f"sample rate {sr!r}: must be a positive whole number of Hz")
    sr = int(sr)
    if not 0 < setting.gain <= 10:
        raise ConfigError(f"render gain {setting.gain}: FluidSynth takes a gain in (0, 10]")
    seconds = _parse(midi_bytes, name)
    soundfont = soundfont_for(setting)
    folder = Path(cache_dir) if cache_dir is not None else RenderCache().folder
    entry = folder / f"{_cache_key(midi_bytes, sr, setting)}.npy"
    if keep and entry.is_file():
        try:
            return np.load(entry).astype(np.float32, copy=False)
        except (OSError, ValueError) as exc:
            log.warning("cached render %s unreadable (%s); rendering again", entry, exc)

    log.info("rendering %s at %d Hz with %s", name, sr, soundfont.name)
    low, high = FLUIDSYNTH_RATES
    rate = sr if low <= sr <= high else FALLBACK_RATE
    audio = _run_fluidsynth(midi_bytes, rate, setting.gain, soundfont, name, seconds)
    if rate != sr:
        g = math.gcd(sr, rate)
        audio = resample_poly(audio, sr // g, rate // g)
    if setting.level_db:
        audio = audio * 10 ** (setting.level_db / 20)
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
