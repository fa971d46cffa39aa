"""Repeat: the window filled by looping the bar (or beat) just before it.

The loop's unit is one bar (``unit=bar``) or one beat (``unit=beat``) of the time signature in
force at the window's start (4/4 where the score has none): a bar of n/d lasts n·4/d quarter
notes, a beat 4/d (an eighth in 6/8). The source is the unit that ends where the window starts,
ticks [start − unit, start). The notes starting in the window are removed, then every pitched
note starting in the source is copied one, two, ... units later, as long as the copy starts
before the window's end; each copy keeps its track, pitch, velocity and duration, so a loop
sounds as the source did and keeps its place in the bar. Units are counted in ticks, that is in
beats: the tempo map only places the window. Notes starting before the window and sounding into
it are kept; drum tracks are untouched. No randomness: the seed does not change the result.
"""

from __future__ import annotations

from dataclasses import dataclass

from symusic import Note, Score

from curvebench.data.timing import TempoMap
from curvebench.errors import ConfigError, SkipItem
from curvebench.perturbations.base import PerturbationRecord, register, window_record
from curvebench.perturbations.notes import pitched_tracks
from curvebench.perturbations.window import WindowPerturbation, drop_window_notes, window_ticks

UNITS = ("bar", "beat")


def unit_ticks(score: Score, tick: int, unit: str) -> int:
    """Length in ticks of one bar or one beat of the time signature in force at ``tick``."""
    numerator, denominator = 4, 4
    for signature in sorted(score.time_signatures, key=lambda s: s.time):
        if signature.time > tick:
            break
        numerator, denominator = signature.numerator, signature.denominator
    beat = 4 * score.ticks_per_quarter / denominator
    return round(beat * numerator if unit == "bar" else beat)


@register
@dataclass(frozen=True)
class Repeat(WindowPerturbation):
    """The window [onset, onset + duration) filled with copies of the unit just before it."""

    kind = "repeat"
    unit: str = "bar"
    """bar or beat: what is looped (of the time signature at the window's start)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.unit not in UNITS:
            raise ConfigError(f"repeat unit={self.unit!r}: use bar or beat")

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        tracks = pitched_tracks(score)
        lo, hi = window_ticks(score, TempoMap(score), self.onset, self.duration, self.kind)
        length = unit_ticks(score, lo, self.unit)
        if length < 1 or lo - length < 0:
            raise SkipItem(
                f"repeat: the window starts at tick {lo}, before one whole {self.unit} "
                f"({length} ticks) has passed"
            )
        sources = {
            i: [n for n in score.tracks[i].notes if lo - length <= n.time < lo] for i in tracks
        }
        if not any(sources.values()):
            raise SkipItem(f"repeat: no pitched note starts in the {self.unit} before the window")
        out = score.copy()
        removed = drop_window_notes(out, tracks, lo, hi)
        added = 0
        for i, source in sources.items():
            notes = out.tracks[i].notes
            for note in source:
                time = note.time + length
                while time < hi:
                    notes.append(Note(time, note.duration, note.pitch, note.velocity))
                    added += 1
                    time += length
            notes.sort()
        return out, window_record(self, notes_removed=removed, notes_added=added)
