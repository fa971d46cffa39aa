"""Tempo changes: the paper's "structure change" as its released code makes it (``tempo-change``:
short segments covering 80% of the piece, each at its own random tempo), and one contiguous span
at a fixed factor (``tempo-span``).

The notes stay where they are in ticks, that is in beats, and the tempo map changes: every tempo
in force inside a segment [t0, t1) is multiplied by the segment's factor (a Tempo event at t0
carries the changed value of the tempo then in force, tempo events inside the segment are
changed too, and the original tempo is put back at t1). In seconds a segment then lasts 1/factor
as long and all that follows it moves by the time saved (or lost); before the first segment
nothing changes.

Why not move the notes (scale their ticks inside the span and shift the rest, tempo map kept),
as the paper's code does with note times in seconds? Rendered to audio both play the same, but a
tokenizer that encodes positions in beats and Tempo tokens (REMI, the reference tokenizer) would
read moved notes as another rhythm (off the beat grid, bars filled differently) rather than the
same music played faster. A faster performance of the same score is a change of tempo, so that
is what the symbolic model sees: new Tempo tokens at the segments' edges, the same notes. A
tokenizer without Tempo tokens gives the very same ids; only the tokens' times in seconds change.

Segment process (``tempo-change``), after ``_generate_segments_to_modify`` in the paper's
``processors/perturb/structure_processor.py``: lengths are drawn one after another, each uniform
between ``min_length`` and ``max_length`` of the piece's duration (2% and 4%) but no longer than
what is left of the target ``fraction`` (80%); when less than ``min_length`` is left, the last
segment takes exactly what is left, so the lengths add up to the target. Placement is
curvebench's own: the paper tries shuffled start times on a grid and keeps a segment whose start
is free, which can let segments overlap and leave the target uncovered; here the segments are
put in a random order and the uncovered time is split into gaps before, between and after them
uniformly at random (the gaps are the spacings of sorted uniform points), so segments never
overlap and cover the target exactly, up to rounding each edge to the nearest tick. Each
segment's factor is uniform in [``min_factor``, ``max_factor``] (0.1 to 8.0: from ten times
slower to eight times faster), as in the paper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from symusic import Score, Tempo

from curvebench.data.timing import DEFAULT_MSPQ, TempoMap
from curvebench.errors import ConfigError, SkipItem
from curvebench.perturbations.base import Perturbation, PerturbationRecord, register
from curvebench.perturbations.notes import check_fraction, pitched_tracks

MAX_MSPQ = 0xFFFFFF
"""The largest tempo MIDI can store: microseconds per quarter note fit in 3 bytes."""


def scaled_tempos(score: Score, segments: list[tuple[int, int, float]]) -> list[Tempo]:
    """The score's tempo events with every tempo in force in ticks [t0, t1) of each segment
    multiplied by its factor, and the original tempo restored at each t1 when the score goes on
    after it. Segments must not overlap."""
    events = sorted((int(t.time), int(t.mspq)) for t in score.tempos)

    def in_force(tick: int) -> int:
        mspq = int(DEFAULT_MSPQ)
        for time, value in events:
            if time > tick:
                break
            mspq = value
        return mspq

    def factor_at(tick: int) -> float:
        for t0, t1, factor in segments:
            if t0 <= tick < t1:
                return factor
        return 1.0

    times = {time for time, _ in events} | {t0 for t0, _, _ in segments}
    times |= {t1 for _, t1, _ in segments if t1 < score.end()}
    tempos = []
    for time in sorted(times):
        factor = factor_at(time)
        mspq = round(in_force(time) / factor)
        if not 1 <= mspq <= MAX_MSPQ:
            raise SkipItem(
                f"tempo factor {factor:.3g} gives a tempo of {60e6 / max(mspq, 1):.3g} qpm "
                f"at tick {time}, beyond what MIDI can store"
            )
        tempo = Tempo(time, 60e6 / mspq)
        tempo.mspq = mspq
        tempos.append(tempo)
    return tempos


def segment_lengths(
    rng: np.random.Generator, target: float, shortest: float, longest: float
) -> list[float]:
    """Lengths uniform in [shortest, longest], none longer than what is left of ``target``; the
    last takes exactly what is left when that is under ``shortest``. They add up to target."""
    lengths: list[float] = []
    left = target
    while left > 0:
        most = min(longest, left)
        length = left if most < shortest else float(rng.uniform(shortest, most))
        lengths.append(length)
        left -= length
    return lengths


def place_segments(
    rng: np.random.Generator, lengths: list[float], total: float
) -> list[tuple[float, float]]:
    """The segments, in a random order, separated by random gaps that share out the time they
    leave uncovered in [0, total); (start, end) pairs in time order, never overlapping."""
    free = max(0.0, total - sum(lengths))
    order = rng.permutation(len(lengths))
    cuts = np.sort(rng.uniform(0.0, free, size=len(lengths)))
    gaps = np.diff(cuts, prepend=0.0)
    spans, time = [], 0.0
    for gap, index in zip(gaps, order, strict=True):
        time += float(gap)
        spans.append((time, time + lengths[index]))
        time += lengths[index]
    return spans


def _set_tempos(score: Score, segments: list[tuple[int, int, float]]) -> Score:
    out = score.copy()
    tempos = scaled_tempos(score, segments)
    out.tempos.clear()
    out.tempos.extend(tempos)
    return out


@register
@dataclass(frozen=True)
class TempoChange(Perturbation):
    """The paper's structure change: segments of 2-4% of the piece, each at a random tempo
    factor from U(0.1, 8.0), until 80% of the piece is covered."""

    kind = "tempo-change"
    fraction: float = 0.8
    """Share of the piece's duration (in seconds) the segments cover together (paper: 0.8)."""
    min_length: float = 0.02
    """Shortest segment, as a share of the piece's duration (paper: 0.02)."""
    max_length: float = 0.04
    """Longest segment, as a share of the piece's duration (paper: 0.04)."""
    min_factor: float = 0.1
    """Lowest speed factor (paper: 0.1, ten times slower)."""
    max_factor: float = 8.0
    """Highest speed factor (paper: 8.0, eight times faster)."""

    def __post_init__(self) -> None:
        check_fraction(self.kind, self.fraction)
        if not 0 < self.min_length <= self.max_length <= 1:
            raise ConfigError(
                f"tempo-change min_length={self.min_length}, max_length={self.max_length}: "
                "need 0 < min_length <= max_length <= 1 (shares of the piece)"
            )
        if not 0 < self.min_factor <= self.max_factor < math.inf:
            raise ConfigError(
                f"tempo-change min_factor={self.min_factor}, max_factor={self.max_factor}: "
                "need 0 < min_factor <= max_factor"
            )

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        pitched_tracks(score)  # SkipItem when there is nothing to play
        tempo = TempoMap(score)
        end_s = float(tempo.seconds(score.end()))
        rng = self.rng(seed)
        lengths = segment_lengths(
            rng, self.fraction * end_s, self.min_length * end_s, self.max_length * end_s
        )
        spans = place_segments(rng, lengths, end_s)
        factors = rng.uniform(self.min_factor, self.max_factor, size=len(spans))
        edges = tempo.ticks(np.asarray(spans).reshape(-1)).reshape(-1, 2)
        segments = [
            (int(t0), int(t1), float(f))
            for (t0, t1), f in zip(edges, factors, strict=True)
            if t1 > t0
        ]
        if not segments:
            raise SkipItem(f"piece lasts {end_s:.4f} s: no tempo segment holds a tick")
        record = PerturbationRecord(
            kind=self.kind, onset_s=None, duration_s=None, preserves_tokens=False
        )
        return _set_tempos(score, segments), record


@register
@dataclass(frozen=True)
class TempoSpan(Perturbation):
    """A contiguous span of the piece played ``factor`` times faster, through its tempo map."""

    kind = "tempo-span"
    fraction: float = 0.8
    """Share of the piece's duration (in seconds) that the span covers (paper: 0.8)."""
    factor: float = 1.5
    """Speed-up inside the span: 1.5 plays it 1.5 times faster, 0.5 twice as slow."""
    start: float | None = None
    """Start of the span in seconds; None (the default): drawn uniformly where the span fits."""

    def __post_init__(self) -> None:
        check_fraction(self.kind, self.fraction)
        if not (0 < self.factor < math.inf):
            raise ConfigError(
                f"tempo-span factor={self.factor}: must be > 0 (1.5 plays 1.5 times faster)"
            )
        if self.start is not None and not self.start >= 0:
            raise ConfigError(
                f"tempo-span start={self.start}: must be >= 0 seconds, "
                "or left out for a random start"
            )

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        pitched_tracks(score)  # SkipItem when there is nothing to play
        tempo = TempoMap(score)
        end_s = float(tempo.seconds(score.end()))
        span_s = self.fraction * end_s
        if self.start is None:
            start_s = float(self.rng(seed).uniform(0.0, end_s - span_s))
        elif self.start + span_s > end_s + 1e-9:
            raise SkipItem(
                f"piece lasts {end_s:.2f} s: a span of {span_s:.2f} s "
                f"(fraction={self.fraction}) from start={self.start} s ends past it"
            )
        else:
            start_s = self.start
        t0, t1 = (int(t) for t in tempo.ticks([start_s, start_s + span_s]))
        if t1 <= t0:
            raise SkipItem(f"piece lasts {end_s:.4f} s: a span of {span_s:.4f} s holds no tick")
        record = PerturbationRecord(
            kind=self.kind, onset_s=start_s, duration_s=span_s, preserves_tokens=False
        )
        return _set_tempos(score, [(t0, t1, self.factor)]), record
