"""Note-velocity change: a random fraction of the pitched notes get a new velocity (paper: 50%).

Each chosen note gets a velocity drawn uniformly from 1..127 among the values other than its own,
so every chosen note really changes. Times, durations and pitches stay, so a tokenizer gives the
same number of tokens at the same times (velocity tokens change value, not count).
"""

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

MIN_VELOCITY, MAX_VELOCITY = 1, 127


def new_velocity(rng: np.random.Generator, old: int) -> int:
    """A velocity uniform over 1..127 without ``old`` (uniform over all of it if ``old`` is out
    of that range)."""
    if not MIN_VELOCITY <= old <= MAX_VELOCITY:
        return int(rng.integers(MIN_VELOCITY, MAX_VELOCITY + 1))
    draw = int(rng.integers(MIN_VELOCITY, MAX_VELOCITY))  # 126 values: all but one
    return draw + 1 if draw >= old else draw


@register
@dataclass(frozen=True)
class VelocityChange(Perturbation):
    """A random fraction of the pitched notes given a new random velocity."""

    kind = "velocity-change"
    fraction: float = 0.5
    """Share of the pitched notes whose velocity changes, rounded half up (paper: 0.5)."""

    def __post_init__(self) -> None:
        check_fraction(self.kind, self.fraction)

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        tracks = pitched_tracks(score)
        out = sorted_copy(score, tracks)
        notes = [note for i in tracks for note in out.tracks[i].notes]
        count = fraction_count(self.fraction, len(notes))
        if count == 0:
            raise SkipItem(
                f"piece has {len(notes)} pitched notes; "
                f"fraction={self.fraction} of them rounds to none"
            )
        rng = self.rng(seed)
        chosen = rng.choice(len(notes), size=count, replace=False)
        for index in np.sort(chosen):
            note = notes[index]
            note.velocity = new_velocity(rng, int(note.velocity))
        record = PerturbationRecord(
            kind=self.kind, onset_s=None, duration_s=None, preserves_tokens=True
        )
        return out, record
