"""Tempo change over a span of the piece: the paper's "structure change" (80% of it, 1.5× faster).

The notes stay where they are in ticks, that is in beats, and the tempo map changes: every tempo
in force inside the span [t0, t1) is multiplied by ``factor`` (a Tempo event at t0 carries the
faster value of the tempo then in force, tempo events inside the span are sped up, and the
original tempo is put back at t1). In seconds the span then lasts 1/factor as long and all that
follows it comes earlier by the time saved; before the span nothing changes.

Why not move the notes (scale their ticks inside the span and shift the rest, tempo map kept)?
Rendered to audio both play the same, but a tokenizer that encodes positions in beats and Tempo
tokens (REMI, the reference tokenizer) would read moved notes as another rhythm (off the beat
grid, bars filled differently) rather than the same music played faster. A faster performance of
the same score is a change of tempo, so that is what the symbolic model sees: new Tempo tokens at
the span's edges, the same notes. A tokenizer without Tempo tokens gives the very same ids; only
the tokens' times in seconds change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from symusic import Score, Tempo

from curvebench.data.timing import DEFAULT_MSPQ, TempoMap
from curvebench.errors import ConfigError, SkipItem
from curvebench.perturbations.base import Perturbation, PerturbationRecord, register
from curvebench.perturbations.notes import check_fraction, pitched_tracks

MAX_MSPQ = 0xFFFFFF
"""The largest tempo MIDI can store: microseconds per quarter note fit in 3 bytes."""


def sped_up_tempos(score: Score, t0: int, t1: int, factor: float) -> list[Tempo]:
    """The score's tempo events with every tempo in force in ticks [t0, t1) sped up by
    ``factor``, and the original tempo restored at t1 when the score goes on after it."""
    events = sorted((int(t.time), int(t.mspq)) for t in score.tempos)

    def in_force(tick: int) -> int:
        mspq = int(DEFAULT_MSPQ)
        for time, value in events:
            if time > tick:
                break
            mspq = value
        return mspq

    times = {time for time, _ in events}
    new = [(time, value) for time, value in events if not t0 <= time < t1]
    new += [(time, round(value / factor)) for time, value in events if t0 <= time < t1]
    if t0 not in times:
        new.append((t0, round(in_force(t0) / factor)))
    if t1 not in times and t1 < score.end():
        new.append((t1, in_force(t1)))
    tempos = []
    for time, mspq in sorted(new):
        if not 1 <= mspq <= MAX_MSPQ:
            raise SkipItem(
                f"tempo-change factor={factor} gives a tempo of {60e6 / max(mspq, 1):.3g} qpm "
                f"at tick {time}, beyond what MIDI can store"
            )
        tempo = Tempo(time, 60e6 / mspq)
        tempo.mspq = mspq
        tempos.append(tempo)
    return tempos


@register
@dataclass(frozen=True)
class TempoChange(Perturbation):
    """A contiguous span of the piece played ``factor`` times faster, through its tempo map."""

    kind = "tempo-change"
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
                f"tempo-change factor={self.factor}: must be > 0 (1.5 plays 1.5 times faster)"
            )
        if self.start is not None and not self.start >= 0:
            raise ConfigError(
                f"tempo-change start={self.start}: must be >= 0 seconds, "
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
        out = score.copy()
        out.tempos.clear()
        out.tempos.extend(sped_up_tempos(score, t0, t1, self.factor))
        record = PerturbationRecord(
            kind=self.kind, onset_s=start_s, duration_s=span_s, preserves_tokens=False
        )
        return out, record
