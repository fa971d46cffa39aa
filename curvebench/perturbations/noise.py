"""Noise injection on symbolic music: the paper's central experiment, on notes.

In ``replace`` mode the notes that start inside [onset, onset + duration) are removed and noise
notes are put there; in ``add`` mode noise notes are added on top. Noise notes have onsets drawn
uniformly in the window, as many as the window held (its note density; the piece's mean
density when the window was empty), and pitches from a 1/f^β process over the piano range
(β = 0 white, 1 pink, 2 brown, −1 blue).

Velocities and durations are drawn like the piece's own (the defaults), so that the noise is
new in pitch and timing but not in which velocity and duration values occur:

- ``velocity=piece``: each noise note takes the velocity of a note drawn at random from the
  piece's pitched notes, shifted by ``level_db`` on the General MIDI volume curve
  dB = 40·log10(v/127), i.e. multiplied by 10^(level_db/40), rounded and clipped to 1..127. The
  level is relative to the piece: at −12 dB the noise's median velocity sits 12 dB below the
  piece's median velocity (half of it). ``velocity=absolute``: every noise note has the
  velocity whose GM loudness is ``level_db`` relative to velocity 127 (−12 dB → 64), whatever
  the piece.
- ``note_durations=piece``: each noise note takes the duration in ticks of a note drawn at
  random from the piece's pitched notes (a note may sound past the window's end, as the piece's
  own notes do). ``note_durations=window``: every noise note lasts the mean duration in seconds
  of the notes that started in the window (0.25 s if none), cut at the window's end.

Onsets and pitches are drawn before velocities and durations, so for one seed every choice of
the two options puts the noise notes at the same times and pitches. The waveform recipe for
audio models (``apply_audio``) ignores both options: there ``level_db`` is the noise's RMS
relative to full scale.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import numpy as np
from symusic import Note, Score, Track

from curvebench.data.timing import TempoMap
from curvebench.errors import ConfigError
from curvebench.perturbations.base import Perturbation, PerturbationRecord, register, window_record
from curvebench.perturbations.notes import pitched_tracks
from curvebench.perturbations.window import check_window, drop_window_notes, window_ticks

PIANO_LOW, PIANO_HIGH = 21, 108
COLOR_BETA = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0}
NOISE_TRACK = "curvebench-noise"
DEFAULT_LEVEL_DB = -12.0
"""Noise level (dB) when neither level_db nor snr_db is given: the paper's loudest."""
VELOCITY_MODES = ("piece", "absolute")
DURATION_MODES = ("piece", "window")


def velocity_from_db(level_db: float) -> int:
    """MIDI velocity whose General MIDI loudness is ``level_db`` relative to velocity 127."""
    return int(np.clip(round(127 * 10 ** (level_db / 40)), 1, 127))


def shifted_velocities(velocities: np.ndarray, level_db: float) -> np.ndarray:
    """Velocities moved by ``level_db`` on the General MIDI curve dB = 40·log10(v/127), that is
    multiplied by 10^(level_db/40), rounded and clipped to 1..127."""
    scaled = np.rint(np.asarray(velocities, dtype=np.float64) * 10 ** (level_db / 40))
    return np.clip(scaled, 1, 127).astype(np.int64)


def colored_sequence(rng: np.random.Generator, n: int, beta: float) -> np.ndarray:
    """``n`` samples of a Gaussian process whose power spectrum falls as 1/f^beta."""
    if n <= 1:
        return rng.standard_normal(n)
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n)
    scale = np.ones_like(freqs)
    scale[1:] = freqs[1:] ** (-beta / 2)
    scale[0] = 0.0 if beta > 0 else 1.0
    return np.fft.irfft(spectrum * scale, n)


def noise_pitches(rng: np.random.Generator, n: int, beta: float) -> np.ndarray:
    """Pitches over the piano range following a 1/f^beta process (white: independent uniform)."""
    if beta == 0.0:
        return rng.integers(PIANO_LOW, PIANO_HIGH + 1, size=n)
    x = colored_sequence(rng, n, beta)
    span = x.max() - x.min() if n > 1 else 0.0
    unit = (x - x.min()) / span if span > 0 else np.full(n, 0.5)
    return np.rint(PIANO_LOW + unit * (PIANO_HIGH - PIANO_LOW)).astype(np.int64)


@register
@dataclass(frozen=True)
class Noise(Perturbation):
    """Noise notes injected in a window of the piece."""

    kind = "noise"
    acts_on_audio: ClassVar[bool] = True
    color: str = "white"
    """white, pink, blue or brown: the spectral slope of the pitch sequence."""
    mode: str = "replace"
    """replace: the window's notes are removed first; add: noise on top of them."""
    onset: float = 5.0
    """Start of the window in seconds (paper: 5 s, token 250 at 50 Hz)."""
    duration: float = 2.0
    """Length of the window in seconds (paper default: 2 s, 100 tokens)."""
    level_db: float | None = None
    """Loudness: relative to the piece's median velocity (velocity=piece), to velocity 127
    (velocity=absolute, −12 dB → 64), or to a full-scale RMS for audio; −12 when neither it
    nor ``snr_db`` is given."""
    snr_db: float | None = None
    """Loudness this many dB below the piece's own instead (audio: below the clip's RMS over
    its non-silent part; notes: below the piece's median velocity (velocity=piece) or the
    pitched notes' mean General MIDI loudness (velocity=absolute))."""
    velocity: str = "piece"
    """piece: velocities drawn from the piece's and shifted by level_db; absolute: one
    velocity from level_db alone."""
    note_durations: str = "piece"
    """piece: durations drawn from the piece's notes; window: the mean of the window's notes."""
    nest: float | None = None
    """Seconds of noise drawn for a sweep over durations (the longest one): one realisation
    per piece over [onset, onset + nest), seeded without the duration, of which each copy
    keeps what falls in its own window, so shorter noise is a prefix of longer noise, as in
    the paper's scripts. None: each duration draws its own noise."""

    def __post_init__(self) -> None:
        if self.color not in COLOR_BETA:
            raise ConfigError(f"noise color {self.color!r}: use one of {', '.join(COLOR_BETA)}")
        if self.mode not in ("replace", "add"):
            raise ConfigError(f"noise mode {self.mode!r}: use replace or add")
        check_window(self.kind, self.onset, self.duration)
        if self.level_db is not None and self.snr_db is not None:
            raise ConfigError("noise: give level_db (dBFS) or snr_db (re the piece), not both")
        if self.level_db is None and self.snr_db is None:
            object.__setattr__(self, "level_db", DEFAULT_LEVEL_DB)  # the spec id says it
        if self.level_db is not None and self.level_db > 0:
            raise ConfigError(f"noise level_db={self.level_db}: must be <= 0 dB (full scale)")
        if self.velocity not in VELOCITY_MODES:
            raise ConfigError(f"noise velocity={self.velocity!r}: use piece or absolute")
        if self.note_durations not in DURATION_MODES:
            raise ConfigError(f"noise note_durations={self.note_durations!r}: use piece or window")
        if self.nest is not None and self.nest < self.duration:
            raise ConfigError(
                f"noise nest={self.nest}: the drawn noise must be at least duration={self.duration}"
            )

    @property
    def seed_id(self) -> str:
        """The spec id, without the duration when the noise is nested (one draw per piece
        for every duration of the sweep)."""
        if self.nest is None:
            return self.spec_id
        return ",".join(p for p in self.spec_id.split(",") if not p.startswith("duration="))

    def window(self) -> tuple[float, float]:
        """The window the noise acts on: (onset, duration) in seconds."""
        return self.onset, self.duration

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        tracks = pitched_tracks(score)  # SkipItem when there is nothing pitched to replace
        tempo = TempoMap(score)
        end_s = float(tempo.seconds(score.end()))
        start_tick, stop_tick = window_ticks(score, tempo, self.onset, self.duration, self.kind)
        piece = [n for i in tracks for n in score.tracks[i].notes]
        window = [n for n in piece if start_tick <= n.time < stop_tick]
        out = score.copy()
        if self.mode == "replace":
            drop_window_notes(out, tracks, start_tick, stop_tick)
        rng = self.rng(seed)
        drawn_s = self.nest if self.nest is not None else self.duration
        if self.nest is None:
            count = len(window) or max(1, round(len(piece) / end_s * self.duration))
        else:  # the longest window's count, so the density does not depend on the duration
            start_all, stop_all = window_ticks(score, tempo, self.onset, drawn_s, self.kind)
            in_all = sum(1 for n in piece if start_all <= n.time < stop_all)
            count = in_all or max(1, round(len(piece) / end_s * drawn_s))
        onsets_s = np.sort(rng.uniform(self.onset, self.onset + drawn_s, size=count))
        pitches = noise_pitches(rng, count, COLOR_BETA[self.color])
        on_ticks = np.minimum(tempo.ticks(onsets_s), stop_tick - 1)  # a tick in the window
        if self.velocity == "piece":
            drawn = rng.choice([n.velocity for n in piece], size=count)
            shift = self.level_db if self.level_db is not None else -self.snr_db
            velocities = shifted_velocities(drawn, shift)
        else:
            velocities = np.full(count, velocity_from_db(self._note_level_db(score)))
        if self.note_durations == "piece":
            durations = rng.choice([max(1, n.duration) for n in piece], size=count)
        else:
            seconds = [tempo.seconds(n.end) - tempo.seconds(n.time) for n in window]
            mean_duration = float(np.mean(seconds)) if seconds else 0.25
            ends_s = np.minimum(onsets_s + mean_duration, self.onset + self.duration)
            durations = np.maximum(1, tempo.ticks(ends_s) - on_ticks)
        noise = Track(NOISE_TRACK, 0, False)
        inside = onsets_s < self.onset + self.duration  # all of them unless nested
        for on, length, pitch, velocity in zip(
            on_ticks[inside], durations[inside], pitches[inside], velocities[inside], strict=True
        ):
            noise.notes.append(Note(int(on), int(length), int(pitch), int(velocity)))
        count = int(inside.sum())
        out.tracks.append(noise)
        removed = len(window) if self.mode == "replace" else 0
        return out, window_record(self, notes_removed=removed, notes_added=count)

    def _note_level_db(self, score: Score) -> float:
        """The noise notes' loudness (dB re velocity 127) with velocity=absolute: level_db, or
        snr_db below the mean General MIDI loudness 40·log10(v/127) of the piece's pitched
        notes."""
        if self.level_db is not None:
            return self.level_db
        velocities = [n.velocity for t in score.tracks if not t.is_drum for n in t.notes]
        mean_db = float(np.mean(40 * np.log10(np.maximum(velocities, 1) / 127)))
        return mean_db - self.snr_db

    def apply_audio(
        self, wave: np.ndarray, sr: int, seed: int
    ) -> tuple[np.ndarray, PerturbationRecord]:
        """The paper's waveform recipe: coloured Gaussian noise at ``level_db`` (RMS re full
        scale), or ``snr_db`` below the clip's loudness, replacing, or added to, the samples
        of the window."""
        from curvebench.perturbations.audio import inject_noise

        out, info = inject_noise(
            wave,
            sr,
            self.onset,
            self.duration,
            self.level_db,
            self.color,
            self.mode,
            self.rng(seed),
            snr_db=self.snr_db,
            draw_s=self.nest,
        )
        snr = info["snr_db"]
        return out, replace(window_record(self), snr_db=None if snr is None else float(snr))
