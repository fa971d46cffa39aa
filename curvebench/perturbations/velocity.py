"""Note-velocity change: a random fraction of the pitched notes get a new velocity (paper: 50%).

``velocities=paper`` (the default) draws as the paper's released code does
(``processors/perturb/velocity_processor.py``: Python's ``random.randint(30, 120)``, whose
bounds are both inclusive): each chosen note gets a velocity uniform over the 91 values
30..120, its own value included, so a chosen note whose velocity is in that range keeps it with
probability 1/91. ``velocities=full`` draws uniformly from 1..127 among the values other than
the note's own, so every chosen note really changes.

Times, durations and pitches stay, so a tokenizer gives the same number of tokens at the same
times (velocity tokens change value, not count).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from symusic import Score

from curvebench.errors import ConfigError, SkipItem
from curvebench.perturbations.base import Perturbation, PerturbationRecord, register
from curvebench.perturbations.notes import (
    check_fraction,
    fraction_count,
    pitched_tracks,
    sorted_copy,
)

MIN_VELOCITY, MAX_VELOCITY = 1, 127
PAPER_LOW, PAPER_HIGH = 30, 120
"""The paper's velocity range, both bounds included (Python's random.randint(30, 120))."""
VELOCITY_RANGES = ("paper", "full")


def paper_velocity(rng: np.random.Generator) -> int:
    """A velocity uniform over 30..120, both included, as the paper's code draws it."""
    return int(rng.integers(PAPER_LOW, PAPER_HIGH + 1))


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
    velocities: str = "paper"
    """paper: uniform over 30..120 (own value possible); full: 1..127 other than its own."""

    def __post_init__(self) -> None:
        check_fraction(self.kind, self.fraction)
        if self.velocities not in VELOCITY_RANGES:
            raise ConfigError(
                f"velocity-change velocities={self.velocities!r}: use paper (30..120) "
                "or full (1..127)"
            )

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
            if self.velocities == "paper":
                note.velocity = paper_velocity(rng)
            else:
                note.velocity = new_velocity(rng, int(note.velocity))
        record = PerturbationRecord(
            kind=self.kind, onset_s=None, duration_s=None, preserves_tokens=True
        )
        return out, record
