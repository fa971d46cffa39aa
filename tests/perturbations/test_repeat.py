from __future__ import annotations

import pytest
from symusic import Note, Score, Tempo, TimeSignature, Track

from curvebench.data.timing import TempoMap
from curvebench.errors import SkipItem
from curvebench.perturbations.repeat import Repeat, unit_ticks
from tests.helpers import synthetic_score

TPQ = 480  # synthetic_score: 120 qpm, so 960 ticks a second; the window 5-7 s is [4800, 6720)
LO, HI = 4800, 6720


def track_notes(score: Score, index: int) -> list[tuple[int, int, int, int]]:
    return sorted((n.time, n.duration, n.pitch, n.velocity) for n in score.tracks[index].notes)


def expected_window(score: Score, index: int, length: int) -> list[tuple[int, int, int, int]]:
    """The copies of the unit before the window, one, two, ... units later, inside it."""
    source = [n for n in track_notes(score, index) if LO - length <= n[0] < LO]
    return sorted(
        (time + k * length, duration, pitch, velocity)
        for time, duration, pitch, velocity in source
        for k in range(1, 10)
        if time + k * length < HI
    )


def with_signature(score: Score, numerator: int, denominator: int) -> Score:
    score.time_signatures.append(TimeSignature(0, numerator, denominator))
    return score


def test_unit_lengths_follow_the_time_signature() -> None:
    score = synthetic_score(0)
    assert (unit_ticks(score, LO, "bar"), unit_ticks(score, LO, "beat")) == (1920, 480)
    with_signature(score, 6, 8)
    assert (unit_ticks(score, LO, "bar"), unit_ticks(score, LO, "beat")) == (1440, 240)
    score.time_signatures.append(TimeSignature(3840, 3, 4))
    assert unit_ticks(score, 3839, "bar") == 1440 and unit_ticks(score, LO, "bar") == 1440
    assert unit_ticks(score, LO, "beat") == 480


def test_a_window_of_one_bar_is_the_previous_bar_shifted_by_a_bar() -> None:
    score = synthetic_score(2)
    out, record = Repeat().apply(score, seed=0)
    for index in (0, 1):
        source = [n for n in track_notes(score, index) if LO - 1920 <= n[0] < LO]
        window = [n for n in track_notes(out, index) if LO <= n[0] < HI]
        assert window == [(t + 1920, d, p, v) for t, d, p, v in source]
        outside = [n for n in track_notes(score, index) if not LO <= n[0] < HI]
        assert [n for n in track_notes(out, index) if not LO <= n[0] < HI] == outside
    assert record.notes_removed == 10 and record.notes_added == 10  # 8 eighths + 2 half notes
    assert (record.onset_s, record.duration_s, record.preserves_tokens) == (5.0, 2.0, False)


@pytest.mark.parametrize(
    ("signature", "unit", "length"),
    [((4, 4), "beat", 480), ((3, 4), "bar", 1440), ((6, 8), "beat", 240), ((6, 8), "bar", 1440)],
)
def test_the_window_loops_the_unit_before_it(
    signature: tuple[int, int], unit: str, length: int
) -> None:
    score = with_signature(synthetic_score(4), *signature)
    out, record = Repeat(unit=unit).apply(score, seed=0)
    added = 0
    for index in (0, 1):
        window = [n for n in track_notes(out, index) if LO <= n[0] < HI]
        assert window == expected_window(score, index, length)
        added += len(window)
    assert record.notes_added == added > 0


def test_the_loop_is_counted_in_ticks_whatever_the_tempo() -> None:
    score = synthetic_score(5)
    score.tempos.append(Tempo(4000, 90.0))  # slower from before the window
    out, _ = Repeat().apply(score, seed=0)
    lo, hi = (int(t) for t in TempoMap(score).ticks([5.0, 7.0]))
    assert (lo, hi) == (4600, 6040)  # 4000 ticks = 4.17 s, then 720 ticks a second
    for index in (0, 1):
        source = [n for n in track_notes(score, index) if lo - 1920 <= n[0] < lo]
        window = [n for n in track_notes(out, index) if lo <= n[0] < hi]
        assert window == sorted(
            (t + k * 1920, d, p, v) for t, d, p, v in source for k in (1, 2) if t + k * 1920 < hi
        )


def test_nothing_to_loop_is_skipped_with_a_reason() -> None:
    score = synthetic_score(0)
    for track in score.tracks:
        kept = [n for n in track.notes if not 2880 <= n.time < LO]
        track.notes.clear()
        track.notes.extend(kept)
    with pytest.raises(SkipItem, match="no pitched note starts in the bar before the window"):
        Repeat().apply(score, seed=0)
    Repeat(unit="beat").apply(synthetic_score(0), seed=0)  # the beat before is never empty
    with pytest.raises(SkipItem, match="before one whole bar"):
        Repeat(onset=1.0, duration=1.0).apply(synthetic_score(0), seed=0)


def test_drum_tracks_are_not_looped() -> None:
    score = synthetic_score(1)
    drums = Track("drums", 0, True)
    drums.notes.extend(Note(t, 120, 36, 100) for t in range(0, 19200, 960))
    score.tracks.append(drums)
    out, _ = Repeat().apply(score, seed=0)
    assert track_notes(out, 2) == track_notes(score, 2)
