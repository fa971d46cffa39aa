"""Drone: the window's notes replaced by one pitch or a cluster, struck again and again or held.

The drone's pitches are ``size`` adjacent semitones around the piece's median pitch (the
median of its pitched notes, rounded to the nearest semitone, halves to even): for size 1 that
pitch alone, for size n from median − (n − 1) // 2 upward (moved as a block to stay in 0..127).
Its velocity is the piece's median velocity, and it plays in a track of its own with the
program of the piece's busiest pitched track.

``mode=repeat`` strikes the cluster at evenly spaced ticks from the window's start, each strike
held until the next, as many times as keeps the piece's mean note density (pitched notes per
second over the whole piece): strikes = max(1, round(density · duration / size)), so the window
holds about density · duration notes. ``mode=hold`` strikes it once and holds it to the window's
end. The notes starting in the window are removed first; notes starting before it and sounding
into it are kept, and drum tracks are untouched. No randomness: the seed does not change the
result.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
from symusic import Note, Score, Track

from curvebench.data.timing import TempoMap
from curvebench.errors import ConfigError
from curvebench.perturbations.base import PerturbationRecord, register, window_record
from curvebench.perturbations.notes import pitched_tracks
from curvebench.perturbations.window import WindowPerturbation, drop_window_notes, window_ticks

DRONE_TRACK = "curvebench-drone"
MODES = ("repeat", "hold")
MAX_SIZE = 12


def cluster(center: int, size: int) -> list[int]:
    """``size`` adjacent MIDI pitches from ``center − (size − 1) // 2``, kept in 0..127."""
    low = min(max(center - (size - 1) // 2, 0), 128 - size)
    return list(range(low, low + size))


@register
@dataclass(frozen=True)
class Drone(WindowPerturbation):
    """The window [onset, onset + duration) replaced by a drone on the piece's median pitch."""

    kind = "drone"
    mode: str = "repeat"
    """repeat: struck at the piece's note density; hold: struck once and held."""
    size: int = 1
    """Number of adjacent semitones sounding together (1: a single pitch; at most 12)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mode not in MODES:
            raise ConfigError(f"drone mode={self.mode!r}: use repeat or hold")
        if not 1 <= self.size <= MAX_SIZE:
            raise ConfigError(f"drone size={self.size}: must be 1 to {MAX_SIZE} pitches")

    def strikes(self, density: float) -> int:
        """How many times the cluster is struck in the window, at ``density`` notes a second."""
        if self.mode == "hold":
            return 1
        return max(1, round(density * self.duration / self.size))

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        tracks = pitched_tracks(score)
        tempo = TempoMap(score)
        lo, hi = window_ticks(score, tempo, self.onset, self.duration, self.kind)
        notes = [n for i in tracks for n in score.tracks[i].notes]
        pitches = cluster(int(np.rint(np.median([n.pitch for n in notes]))), self.size)
        velocity = int(np.rint(np.median([n.velocity for n in notes])))
        density = len(notes) / float(tempo.seconds(score.end()))
        count = self.strikes(density)
        times = [lo + (k * (hi - lo)) // count for k in range(count)] + [hi]
        busiest = max(tracks, key=lambda i: len(score.tracks[i].notes))
        out = score.copy()
        removed = drop_window_notes(out, tracks, lo, hi)
        drone = Track(DRONE_TRACK, score.tracks[busiest].program, False)
        for start, stop in itertools.pairwise(times):
            if stop > start:
                drone.notes.extend(Note(start, stop - start, p, velocity) for p in pitches)
        out.tracks.append(drone)
        return out, window_record(self, notes_removed=removed, notes_added=len(drone.notes))
