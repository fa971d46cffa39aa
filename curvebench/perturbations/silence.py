"""Silence: the notes that start in a window removed, nothing put in their place.

A rest means that no new note begins: the notes that start before the window and sound into it
are kept whole (cutting them at the window's start would give them durations the piece never
had, a token artefact rather than a rest). So the window is silent only from the end of the
last note struck before it. Drum tracks, tempos and controls are untouched. No randomness: the
seed does not change the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from symusic import Score

from curvebench.data.timing import TempoMap
from curvebench.perturbations.base import PerturbationRecord, register, window_record
from curvebench.perturbations.notes import pitched_tracks
from curvebench.perturbations.window import WindowPerturbation, drop_window_notes, window_ticks


@register
@dataclass(frozen=True)
class Silence(WindowPerturbation):
    """No pitched note starts in [onset, onset + duration)."""

    kind = "silence"

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        tracks = pitched_tracks(score)
        lo, hi = window_ticks(score, TempoMap(score), self.onset, self.duration, self.kind)
        out = score.copy()
        removed = drop_window_notes(out, tracks, lo, hi)
        return out, window_record(self, notes_removed=removed)
