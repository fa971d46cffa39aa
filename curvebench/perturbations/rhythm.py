"""Rhythm deletion: a random fraction of the pitched notes taken out (paper: 40%)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from symusic import Score

from curvebench.errors import SkipItem
from curvebench.perturbations.base import Perturbation, PerturbationRecord, register
from curvebench.perturbations.notes import (
    check_fraction,
    fraction_count,
    pitched_tracks,
    sorted_copy,
)


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
