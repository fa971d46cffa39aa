"""Ticks to seconds and back through a score's tempo map."""

from __future__ import annotations

import numpy as np
from symusic import Score

DEFAULT_MSPQ = 500_000.0  # the MIDI default tempo: 120 quarter notes per minute


class TempoMap:
    """Piecewise-constant tempo of a score, for converting positions in either direction."""

    def __init__(self, score: Score) -> None:
        tempos = sorted((int(t.time), float(t.mspq)) for t in score.tempos)
        if not tempos or tempos[0][0] > 0:
            tempos.insert(0, (0, DEFAULT_MSPQ))
        self.start_ticks = np.array([t for t, _ in tempos], dtype=np.float64)
        self.sec_per_tick = np.array([m for _, m in tempos]) / 1e6 / score.ticks_per_quarter
        gaps = np.diff(self.start_ticks) * self.sec_per_tick[:-1]
        self.start_seconds = np.concatenate([[0.0], np.cumsum(gaps)])

    def seconds(self, ticks: np.ndarray | float) -> np.ndarray:
        """Seconds of tick positions."""
        ticks = np.asarray(ticks, dtype=np.float64)
        i = np.searchsorted(self.start_ticks, ticks, side="right") - 1
        i = np.clip(i, 0, None)
        return self.start_seconds[i] + (ticks - self.start_ticks[i]) * self.sec_per_tick[i]

    def ticks(self, seconds: np.ndarray | float) -> np.ndarray:
        """Tick positions (rounded to the nearest tick) of times in seconds."""
        seconds = np.asarray(seconds, dtype=np.float64)
        i = np.searchsorted(self.start_seconds, seconds, side="right") - 1
        i = np.clip(i, 0, None)
        exact = self.start_ticks[i] + (seconds - self.start_seconds[i]) / self.sec_per_tick[i]
        return np.rint(exact).astype(np.int64)


def duration_seconds(score: Score) -> float:
    """End of the last note (or event) in seconds."""
    return float(TempoMap(score).seconds(score.end()))


def clip_seconds(score: Score, seconds: float) -> Score:
    """The first ``seconds`` of a score: notes starting later are dropped, the rest cut to fit."""
    # past the score's end nothing is cut (and a tick count beyond int32 cannot be given)
    end_tick = min(int(TempoMap(score).ticks(seconds)), score.end() + 1, 2**31 - 1)
    clipped = score.clip(0, end_tick, clip_end=False)
    for track in clipped.tracks:
        for note in track.notes:
            if note.end > end_tick:
                note.duration = end_tick - note.time
    return clipped
