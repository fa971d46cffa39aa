"""What the note-level perturbations share: the check and the count of a ``fraction``
parameter, the pitched (non-drum) tracks of a score, and a canonically ordered copy. Drum
tracks are never touched."""

from __future__ import annotations

import math

from symusic import Score

from curvebench.errors import ConfigError, SkipItem


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
