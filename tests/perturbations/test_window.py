"""What every window perturbation (noise, silence, repeat, drone, block-swap) promises: pure,
seeded, and every pitched note starting outside its window untouched."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st
from symusic import Score

from curvebench.data.timing import TempoMap
from curvebench.errors import SkipItem
from curvebench.perturbations import Perturbation, registered_kinds
from curvebench.perturbations.drone import DRONE_TRACK, Drone
from curvebench.perturbations.noise import NOISE_TRACK, Noise
from curvebench.perturbations.repeat import Repeat
from curvebench.perturbations.silence import Silence
from curvebench.perturbations.structure import BlockSwap
from curvebench.perturbations.window import check_window, window_ticks
from tests.helpers import synthetic_score
from tests.perturbations.test_symbolic import PROPERTY, drums, scores, tempos

ADDED_TRACKS = (NOISE_TRACK, DRONE_TRACK)
WINDOWED = [
    Silence(onset=1.0, duration=1.5),
    Repeat(onset=2.5, duration=1.5),
    Repeat(unit="beat", onset=1.0, duration=1.0),
    Drone(onset=1.0, duration=1.5),
    Drone(mode="hold", size=5, onset=1.0, duration=1.5),
    Noise(onset=1.0, duration=1.5),
    Noise(mode="add", velocity="absolute", note_durations="window", onset=1.0, duration=1.5),
]


def original_notes(score: Score) -> list[tuple[int, int, int, int, int]]:
    """(track index, time, duration, pitch, velocity) of the pitched notes of the tracks that
    were in the piece (not those a perturbation adds)."""
    return sorted(
        (i, n.time, n.duration, n.pitch, n.velocity)
        for i, t in enumerate(score.tracks)
        if not t.is_drum and t.name not in ADDED_TRACKS
        for n in t.notes
    )


@pytest.mark.parametrize("p", WINDOWED, ids=lambda p: p.spec_id)
@PROPERTY
@given(score=scores(min_notes=1), seed=st.integers(0, 2**63 - 1))
def test_notes_outside_the_window_are_untouched(p: Perturbation, score: Score, seed: int) -> None:
    before = score.dumps_midi()
    try:
        out, record = p.apply(score, seed)
    except SkipItem:
        assert score.dumps_midi() == before
        return
    assert score.dumps_midi() == before  # pure
    assert p.apply(score, seed)[0].dumps_midi() == out.dumps_midi()  # deterministic
    lo, hi = TempoMap(score).ticks([p.onset, p.onset + p.duration])
    outside = [n for n in original_notes(score) if not lo <= n[1] < hi]
    assert [n for n in original_notes(out) if not lo <= n[1] < hi] == outside
    assert drums(out) == drums(score) and tempos(out) == tempos(score)
    assert (record.kind, record.onset_s, record.duration_s) == (p.kind, p.onset, p.duration)
    assert not record.preserves_tokens
    inside = Counter(original_notes(score)) - Counter(outside)
    now_inside = Counter(original_notes(out)) - Counter(outside)
    extra = [n.time for t in out.tracks if t.name in ADDED_TRACKS for n in t.notes]
    assert all(lo <= time < hi for time in extra)
    if p.kind == "noise" and p.mode == "add":
        assert now_inside == inside and record.notes_removed == 0
        assert record.notes_added == len(extra)
    else:
        assert record.notes_removed == inside.total()
        assert record.notes_added == now_inside.total() + len(extra)


@pytest.mark.parametrize("p", [Silence(), Repeat(), Repeat(unit="beat"), Drone(mode="hold")])
def test_the_seed_plays_no_part(p: Perturbation) -> None:
    score = synthetic_score(3)
    results = {p.apply(score, seed)[0].dumps_midi() for seed in range(4)}
    assert len(results) == 1
    assert p.apply(score, 0)[0].dumps_midi() != score.dumps_midi()


def test_window_declarations() -> None:
    for p in (Silence(), Repeat(), Drone(), Noise()):
        assert p.window() == (5.0, 2.0)
    assert Repeat(onset=3.0, duration=0.5).window() == (3.0, 0.5)
    assert BlockSwap(onset=1.0, duration=2.0).window() == (1.0, 4.0)
    audio = {kind for kind, cls in registered_kinds().items() if cls.acts_on_audio}
    assert audio == {"noise"}
    for kind, cls in registered_kinds().items():
        assert getattr(cls, "acts_on_audio", False) is (kind in audio)


@pytest.mark.parametrize("kind", ["silence", "repeat", "drone"])
def test_a_piece_shorter_than_the_window_is_skipped(kind: str) -> None:
    p = registered_kinds()[kind]()
    with pytest.raises(SkipItem, match=rf"lasts 6\.00 s, shorter than the {kind} window"):
        p.apply(synthetic_score(0, seconds=6.0), seed=0)


def test_window_ticks_and_checks() -> None:
    score = synthetic_score(0)  # 120 qpm, 480 ticks per quarter: 960 ticks a second
    assert window_ticks(score, TempoMap(score), 5.0, 2.0, "x") == (4800, 6720)
    with pytest.raises(SkipItem, match="shorter than one tick"):
        window_ticks(score, TempoMap(score), 5.0, 1e-6, "x")
    with pytest.raises(Exception, match="onset"):
        check_window("x", -1.0, 1.0)
