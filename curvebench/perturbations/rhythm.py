"""Rhythm deletion: a random fraction of the pitched notes taken out (paper: 40%).

Also holds what the note-level perturbations share: the check and the count of a ``fraction``
parameter, and the pitched (non-drum) tracks of a score. Drum tracks are never touched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from symusic import Score

from curvebench.errors import ConfigError, SkipItem
from curvebench.perturbations.base import Perturbation, PerturbationRecord, register


def check_fraction(kind: str, fraction: float) -> None:
    """Raise ConfigError unless ``0 < fraction <= 1``."""
    if not (0 < fraction <= 1):
        raise ConfigError(f"{kind} fraction={fraction}: must be in (0, 1]")


def fraction_count(fraction: float, n: int) -> int:
    """How many of ``n`` items a fraction selects: fraction·n rounded half up (0.5 of 3 is 2)."""
    return math.floor(fraction * n + 0.5)


def pitched_tracks(score: Score) -> list[int]:
    """Indices of the non-drum tracks that hold notes; SkipItem when the piece has none."""
    tracks = [i for i, t in enumerate(score.tracks) if not t.is_drum and len(t.notes) > 0]
    if not tracks:
        raise SkipItem("piece has no pitched notes")
    return tracks


def sorted_copy(score: Score, tracks: list[int]) -> Score:
    """A copy of ``score`` whose given tracks have their notes in canonical (sorted) order, so a
    random selection by index depends on the music, not on the order notes were stored in."""
    out = score.copy()
    for i in tracks:
        out.tracks[i].notes.sort()
    return out


@register
@dataclass(frozen=True)
class RhythmDeletion(Perturbation):
    """A random fraction of the pitched notes deleted, drawn uniformly over all pitched tracks."""

    kind = "rhythm-deletion"
    fraction: float = 0.4
    """Share of the pitched notes deleted, rounded half up (paper: 0.4)."""

    def __post_init__(self) -> None:
        check_fraction(self.kind, self.fraction)

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        tracks = pitched_tracks(score)
        out = sorted_copy(score, tracks)
        sizes = [len(out.tracks[i].notes) for i in tracks]
        total = sum(sizes)
        count = fraction_count(self.fraction, total)
        if count == 0:
            raise SkipItem(
                f"piece has {total} pitched notes; fraction={self.fraction} of them rounds to none"
            )
        drop = np.zeros(total, dtype=bool)
        drop[self.rng(seed).choice(total, size=count, replace=False)] = True
        first = 0
        for i, size in zip(tracks, sizes, strict=True):
            notes = out.tracks[i].notes
            kept = [
                n for n, gone in zip(notes, drop[first : first + size], strict=True) if not gone
            ]
            notes.clear()
            notes.extend(kept)
            first += size
        record = PerturbationRecord(
            kind=self.kind,
            onset_s=None,
            duration_s=None,
            preserves_tokens=False,
            notes_removed=count,
        )
        return out, record
