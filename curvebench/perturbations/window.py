"""What the window perturbations share: a window [onset, onset + duration) in seconds, its
ticks through the score's tempo map, and the pitched notes that start in it.

A note belongs to the window when its onset does: a note that starts before the window and
sounds into it is outside it (kept as it is by every window perturbation), a note that starts
in the window and sounds past its end is inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from symusic import Score

from curvebench.data.timing import TempoMap
from curvebench.errors import ConfigError, SkipItem
from curvebench.perturbations.base import Perturbation


def check_window(kind: str, onset: float, duration: float) -> None:
    """Raise ConfigError unless ``onset >= 0`` and ``duration > 0`` are finite seconds."""
    if not (0 <= onset < math.inf):
        raise ConfigError(f"{kind} onset={onset}: must be >= 0 seconds")
    if not (0 < duration < math.inf):
        raise ConfigError(f"{kind} duration={duration}: must be > 0 seconds")


def window_ticks(
    score: Score, tempo: TempoMap, onset: float, duration: float, kind: str
) -> tuple[int, int]:
    """First tick of the window and the tick just past it; SkipItem when the piece ends before
    the window does or the window is shorter than one tick."""
    end_s = float(tempo.seconds(score.end()))
    if end_s < onset + duration:
        raise SkipItem(
            f"piece lasts {end_s:.2f} s, shorter than the {kind} window's end "
            f"({onset + duration:.2f} s)"
        )
    lo, hi = (int(t) for t in tempo.ticks([onset, onset + duration]))
    if hi <= lo:
        raise SkipItem(f"{kind} duration={duration} s is shorter than one tick")
    return lo, hi


def drop_window_notes(score: Score, tracks: list[int], lo: int, hi: int) -> int:
    """Remove, in place, the notes of the given tracks that start in ticks [lo, hi); return how
    many were removed. The other notes keep their order."""
    removed = 0
    for i in tracks:
        notes = score.tracks[i].notes
        kept = [n for n in notes if not lo <= n.time < hi]
        removed += len(notes) - len(kept)
        notes.clear()
        notes.extend(kept)
    return removed


@dataclass(frozen=True)
class WindowPerturbation(Perturbation):
    """Base of the perturbations acting on a fixed window of the piece, in seconds."""

    onset: float = 5.0
    """Start of the window in seconds (paper: 5 s, token 250 at 50 Hz)."""
    duration: float = 2.0
    """Length of the window in seconds (paper default: 2 s, 100 tokens)."""

    def __post_init__(self) -> None:
        check_window(self.kind, self.onset, self.duration)

    def window(self) -> tuple[float, float]:
        """The window the perturbation acts on: (onset, duration) in seconds."""
        return self.onset, self.duration
