"""Noise injection on symbolic music: the paper's central experiment, on notes.

In ``replace`` mode the notes that start inside [onset, onset + duration) are removed and noise
notes are put there; in ``add`` mode noise notes are added on top. Noise notes have onsets drawn
uniformly in the window, as many as the window held (its note density; the piece's mean
density when the window was empty), pitches from a 1/f^β process over the piano range (β = 0
white, 1 pink, 2 brown, −1 blue), and a velocity from ``level_db`` through the General MIDI
volume curve dB = 40·log10(v/127).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from symusic import Note, Score, Track

from curvebench.data.timing import TempoMap
from curvebench.errors import ConfigError, SkipItem
from curvebench.perturbations.base import Perturbation, PerturbationRecord, register
from curvebench.perturbations.notes import pitched_tracks

PIANO_LOW, PIANO_HIGH = 21, 108
COLOR_BETA = {"white": 0.0, "pink": 1.0, "brown": 2.0, "blue": -1.0}
NOISE_TRACK = "curvebench-noise"
DEFAULT_LEVEL_DB = -12.0
"""Noise level (dBFS) when neither level_db nor snr_db is given: the paper's loudest."""


def velocity_from_db(level_db: float) -> int:
    """MIDI velocity whose General MIDI loudness is ``level_db`` relative to velocity 127."""
    return int(np.clip(round(127 * 10 ** (level_db / 40)), 1, 127))


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
    color: str = "white"
    """white, pink, blue or brown: the spectral slope of the pitch sequence."""
    mode: str = "replace"
    """replace: the window's notes are removed first; add: noise on top of them."""
    onset: float = 5.0
    """Start of the window in seconds (paper: 5 s, token 250 at 50 Hz)."""
    duration: float = 2.0
    """Length of the window in seconds (paper default: 2 s, 100 tokens)."""
    level_db: float | None = None
    """Loudness relative to full scale (audio: noise RMS in dBFS; notes: velocity, −12 dB →
    64); −12 when neither it nor ``snr_db`` is given."""
    snr_db: float | None = None
    """Loudness this many dB below the piece's own instead (audio: below the clip's RMS over
    its non-silent part; notes: below the pitched notes' mean General MIDI loudness)."""

    def __post_init__(self) -> None:
        if self.color not in COLOR_BETA:
            raise ConfigError(f"noise color {self.color!r}: use one of {', '.join(COLOR_BETA)}")
        if self.mode not in ("replace", "add"):
            raise ConfigError(f"noise mode {self.mode!r}: use replace or add")
        if self.onset < 0 or self.duration <= 0:
            raise ConfigError("noise needs onset >= 0 and duration > 0 (seconds)")
        if self.level_db is not None and self.snr_db is not None:
            raise ConfigError("noise: give level_db (dBFS) or snr_db (re the piece), not both")
        if self.level_db is None and self.snr_db is None:
            object.__setattr__(self, "level_db", DEFAULT_LEVEL_DB)  # the spec id says it
        if self.level_db is not None and self.level_db > 0:
            raise ConfigError(f"noise level_db={self.level_db}: must be <= 0 dB (full scale)")

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        pitched_tracks(score)  # SkipItem when there is nothing pitched to replace
        tempo = TempoMap(score)
        end_s = float(tempo.seconds(score.end()))
        if end_s < self.onset + self.duration:
            raise SkipItem(
                f"piece lasts {end_s:.2f} s, shorter than the noise window's end "
                f"({self.onset + self.duration:.2f} s)"
            )
        start_tick, stop_tick = (
            int(t) for t in tempo.ticks([self.onset, self.onset + self.duration])
        )
        out = score.copy()
        in_window, total, durations = 0, 0, []
        for track in out.tracks:
            if track.is_drum:
                continue
            kept = []
            for note in track.notes:
                total += 1
                inside = start_tick <= note.time < stop_tick
                if inside:
                    in_window += 1
                    durations.append(float(tempo.seconds(note.end) - tempo.seconds(note.time)))
                if not inside or self.mode == "add":
                    kept.append(note)
            if self.mode == "replace":
                track.notes.clear()
                track.notes.extend(kept)
        rng = self.rng(seed)
        count = in_window or max(1, round(total / end_s * self.duration))
        mean_duration = float(np.mean(durations)) if durations else 0.25
        onsets_s = np.sort(rng.uniform(self.onset, self.onset + self.duration, size=count))
        ends_s = np.minimum(onsets_s + mean_duration, self.onset + self.duration)
        pitches = noise_pitches(rng, count, COLOR_BETA[self.color])
        velocity = velocity_from_db(self._note_level_db(score))
        on_ticks, end_ticks = tempo.ticks(onsets_s), tempo.ticks(ends_s)
        noise = Track(NOISE_TRACK, 0, False)
        for on, end, pitch in zip(on_ticks, end_ticks, pitches, strict=True):
            noise.notes.append(Note(int(on), max(1, int(end - on)), int(pitch), velocity))
        out.tracks.append(noise)
        record = PerturbationRecord(
            kind=self.kind,
            onset_s=self.onset,
            duration_s=self.duration,
            preserves_tokens=False,
            notes_removed=in_window if self.mode == "replace" else 0,
            notes_added=count,
        )
        return out, record

    def _note_level_db(self, score: Score) -> float:
        """The noise notes' loudness (dB re velocity 127): level_db, or snr_db below the mean
        General MIDI loudness 40·log10(v/127) of the piece's pitched notes."""
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

        out, _ = inject_noise(
            wave,
            sr,
            self.onset,
            self.duration,
            self.level_db,
            self.color,
            self.mode,
            self.rng(seed),
            snr_db=self.snr_db,
        )
        record = PerturbationRecord(
            kind=self.kind, onset_s=self.onset, duration_s=self.duration, preserves_tokens=False
        )
        return out, record
