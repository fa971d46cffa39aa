"""tempo-change as the paper's segment process; tempo-span's tests are in test_symbolic.py."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from symusic import Score

from curvebench.data.timing import TempoMap, duration_seconds
from curvebench.errors import SkipItem
from curvebench.perturbations.tempo import (
    TempoChange,
    TempoSpan,
    place_segments,
    scaled_tempos,
    segment_lengths,
)
from tests.helpers import synthetic_score
from tests.perturbations.test_symbolic import PROPERTY, drums, pitched, scores, tempos

MAX_SEGMENTS = 41  # 0.8 / 0.02 + the last, shorter one


def in_force(score: Score, tick: int) -> int:
    mspq = 500_000
    for time, value in tempos(score):
        if time > tick:
            break
        mspq = value
    return mspq


def changed_spans(before: Score, after: Score) -> list[tuple[float, float]]:
    """(seconds of the original, speed factor) of each stretch whose tempo changed."""
    old = TempoMap(before)
    edges = sorted({0, before.end()} | {t for t, _ in tempos(before) + tempos(after)})
    out = []
    for a, b in itertools.pairwise(edges):
        if a >= before.end():
            break
        factor = in_force(before, a) / in_force(after, a)
        if factor != 1.0:
            out.append((float(old.seconds(b) - old.seconds(a)), factor))
    return out


def test_segment_lengths_add_up_to_the_target() -> None:
    assert segment_lengths(np.random.default_rng(0), 1.0, 0.25, 0.25) == [0.25] * 4
    rng = np.random.default_rng(1)
    for _ in range(50):
        lengths = segment_lengths(rng, 12.0, 0.3, 0.6)
        assert sum(lengths) == pytest.approx(12.0, abs=1e-12)
        assert all(0.3 <= x <= 0.6 for x in lengths[:-1]) and 0 < lengths[-1] <= 0.6
    assert segment_lengths(rng, 0.1, 0.3, 0.6) == [0.1]


def test_segments_are_placed_without_overlap_inside_the_piece() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        lengths = segment_lengths(rng, 12.0, 0.3, 0.6)
        spans = place_segments(rng, lengths, 15.0)
        assert sorted(b - a for a, b in spans) == pytest.approx(sorted(lengths))
        assert spans[0][0] >= 0 and spans[-1][1] <= 15.0 + 1e-9
        assert all(b0 <= a1 + 1e-12 for (_, b0), (a1, _) in itertools.pairwise(spans))
    spans = place_segments(rng, [1.0, 2.0], 3.0)  # nothing left over: back to back from 0
    assert spans[0][0] == 0.0 and spans[0][1] == spans[1][0] and spans[1][1] == 3.0


def test_scaled_tempos_on_two_segments() -> None:
    score = synthetic_score(0)  # 500,000 µs per quarter from tick 0
    got = scaled_tempos(score, [(960, 1920, 2.0), (1920, 2880, 0.5), (4800, 5000, 4.0)])
    assert [(t.time, t.mspq) for t in got] == [
        (0, 500_000),
        (960, 250_000),
        (1920, 1_000_000),
        (2880, 500_000),
        (4800, 125_000),
        (5000, 500_000),
    ]


@pytest.mark.parametrize("seed", range(5))
def test_covers_80_percent_with_factors_from_the_papers_range(seed: int) -> None:
    score = synthetic_score(seed, seconds=15.0)
    out, record = TempoChange().apply(score, seed)
    assert pitched(out) == pitched(score)  # notes stay in beats
    spans = changed_spans(score, out)
    covered = sum(s for s, _ in spans) / duration_seconds(score)
    slack = MAX_SEGMENTS / 960 / 15.0  # a tick lost or won at each segment's rounded edges
    assert 0.8 - slack <= covered <= 0.8 + slack
    factors = [f for _, f in spans]
    assert all(0.1 * (1 - 1e-5) <= f <= 8.0 * (1 + 1e-5) for f in factors)
    assert len(set(np.round(factors, 3))) >= 0.8 / 0.04  # one factor per segment, at least 20
    assert (record.kind, record.onset_s, record.duration_s) == ("tempo-change", None, None)


@PROPERTY
@given(score=scores(min_notes=1), seed=st.integers(0, 2**32))
def test_any_piece_keeps_its_notes_and_gets_the_covered_share(score: Score, seed: int) -> None:
    try:
        out, _ = TempoChange().apply(score, seed)
    except SkipItem as exc:
        assert "holds a tick" in str(exc)
        return
    assert pitched(out) == pitched(score) and drums(out) == drums(score)
    end_s = duration_seconds(score)
    spans = changed_spans(score, out)
    tick_s = max(TempoMap(score).sec_per_tick)
    assert sum(s for s, _ in spans) >= 0.8 * end_s - MAX_SEGMENTS * tick_s - 1e-9
    assert all(0.1 * (1 - 1e-4) <= f <= 8.0 * (1 + 1e-4) for _, f in spans)


def test_other_parameters_and_the_seed() -> None:
    score = synthetic_score(0, seconds=15.0)
    a, _ = TempoChange().apply(score, 1)
    b, _ = TempoChange().apply(score, 2)
    assert tempos(a) != tempos(b) and tempos(a) == tempos(TempoChange().apply(score, 1)[0])
    half, _ = TempoChange(fraction=0.5, min_length=0.1, max_length=0.1).apply(score, 0)
    spans = changed_spans(score, half)
    assert sum(s for s, _ in spans) == pytest.approx(7.5, abs=6 / 960)
    fast, _ = TempoChange(min_factor=2.0, max_factor=2.0).apply(score, 0)
    assert {round(f, 6) for _, f in changed_spans(score, fast)} == {2.0}


def test_tempo_span_keeps_the_former_behaviour() -> None:
    score = synthetic_score(0, seconds=20.0)
    out, record = TempoSpan(fraction=0.5, factor=1.5, start=4.0).apply(score, seed=0)
    assert (record.kind, record.onset_s, record.duration_s) == ("tempo-span", 4.0, 10.0)
    assert changed_spans(score, out) == [(10.0, pytest.approx(1.5, rel=1e-5))]
