"""Perturbations of order: bars shuffled among themselves, and two adjacent blocks swapped (the
paper's order shuffle).

Only the notes of pitched tracks move, each with the bar or block its onset falls in, keeping its
offset inside it and its duration; drum tracks, the tempo map, time signatures, controls and
pedals stay where they are.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np
from symusic import Score

from curvebench.data.timing import TempoMap
from curvebench.errors import SkipItem
from curvebench.perturbations.base import Perturbation, PerturbationRecord, register
from curvebench.perturbations.notes import check_fraction, fraction_count, pitched_tracks
from curvebench.perturbations.window import check_window


def bar_bounds(score: Score) -> tuple[np.ndarray, np.ndarray]:
    """Start and end tick of every bar that begins before the score's end, from its downbeats
    (so from its time signatures; 4/4 where it has none). The last bar has its full length."""
    starts = np.asarray(score.get_downbeats(), dtype=np.int64)
    starts = starts[starts < score.end()]
    if starts.size == 0:
        return starts, starts
    last = int(starts[-1])
    numerator, denominator = 4, 4
    for signature in sorted(score.time_signatures, key=lambda s: s.time):
        if signature.time > last:
            break
        numerator, denominator = signature.numerator, signature.denominator
    last_length = round(numerator * 4 * score.ticks_per_quarter / denominator)
    return starts, np.append(starts[1:], last + last_length)


def derangement(rng: np.random.Generator, n: int) -> np.ndarray:
    """A permutation of 0..n-1 with no fixed point, uniform among those (n >= 2)."""
    identity = np.arange(n)
    while True:
        order = rng.permutation(n)
        if not np.any(order == identity):
            return order


@register
@dataclass(frozen=True)
class BarShuffle(Perturbation):
    """A random fraction of the bars permuted among themselves; the other bars stay in place.

    Every chosen bar moves (the permutation has no fixed point). Bars are taken between the
    score's downbeats; only bars of the piece's most common length are chosen, so that a bar
    always lands in a slot of its own length and the meter and the other bars stay put.
    """

    kind = "bar-shuffle"
    fraction: float = 0.5
    """Share of the bars (of the main bar length: normally all) that move, rounded half up."""

    def __post_init__(self) -> None:
        check_fraction(self.kind, self.fraction)

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        tracks = pitched_tracks(score)
        starts, ends = bar_bounds(score)
        lengths = (ends - starts).tolist()
        main = Counter(lengths).most_common(1)[0][0] if lengths else 0
        candidates = np.flatnonzero(np.asarray(lengths) == main)
        count = fraction_count(self.fraction, candidates.size)
        if count < 2:
            raise SkipItem(
                f"piece has {candidates.size} bars; fraction={self.fraction} of them is fewer "
                "than the 2 a shuffle needs"
            )
        rng = self.rng(seed)
        chosen = np.sort(rng.choice(candidates, size=count, replace=False))
        shift = np.zeros(starts.size, dtype=np.int64)
        shift[chosen] = starts[chosen[derangement(rng, count)]] - starts[chosen]
        out = score.copy()
        for i in tracks:
            notes = out.tracks[i].notes
            times = np.fromiter((n.time for n in notes), dtype=np.int64, count=len(notes))
            bars = np.searchsorted(starts, times, side="right") - 1
            for note, delta in zip(notes, shift[np.clip(bars, 0, None)], strict=True):
                note.time += int(delta)
            notes.sort()
        record = PerturbationRecord(
            kind=self.kind, onset_s=None, duration_s=None, preserves_tokens=False
        )
        return out, record


@register
@dataclass(frozen=True)
class BlockSwap(Perturbation):
    """Two adjacent blocks swapped: A = [onset, onset + duration), B = the next ``duration``.

    The blocks are placed in seconds and converted to ticks through the tempo map; notes starting
    in B move to the start of A, notes starting in A follow them, each keeping its offset in
    ticks from its block's start (with a constant tempo that is its offset in seconds too). The
    two blocks together still fill the same ticks, so nothing outside them moves. No randomness:
    the seed does not change the result.
    """

    kind = "block-swap"
    onset: float = 5.0
    """Start of block A in seconds (paper: 5 s, token 250 at 50 Hz)."""
    duration: float = 2.0
    """Length of each block in seconds (paper: 1 to 200 tokens, 0.02 to 4 s)."""

    def __post_init__(self) -> None:
        check_window(self.kind, self.onset, self.duration)

    def window(self) -> tuple[float, float]:
        """The region the swap acts on: (onset, 2 × duration) in seconds, both blocks."""
        return self.onset, 2 * self.duration

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        tracks = pitched_tracks(score)
        tempo = TempoMap(score)
        end_s = float(tempo.seconds(score.end()))
        stop_s = self.onset + 2 * self.duration
        if end_s < stop_s:
            raise SkipItem(
                f"piece lasts {end_s:.2f} s, shorter than the swapped blocks' end ({stop_s:.2f} s"
                f" = onset {self.onset} s + 2 × duration {self.duration} s)"
            )
        a0, a1, b1 = (int(t) for t in tempo.ticks([self.onset, self.onset + self.duration, stop_s]))
        if not a0 < a1 < b1:
            raise SkipItem(f"block-swap duration={self.duration} s is shorter than one tick")
        out = score.copy()
        for i in tracks:
            notes = out.tracks[i].notes
            for note in notes:
                if a0 <= note.time < a1:
                    note.time += b1 - a1
                elif a1 <= note.time < b1:
                    note.time -= a1 - a0
            notes.sort()
        record = PerturbationRecord(
            kind=self.kind,
            onset_s=self.onset,
            duration_s=2 * self.duration,
            preserves_tokens=False,
        )
        return out, record
