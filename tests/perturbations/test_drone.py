from __future__ import annotations

import numpy as np
import pytest

from curvebench.perturbations.drone import DRONE_TRACK, Drone, cluster
from tests.helpers import synthetic_score

LO, HI = 4800, 6720  # synthetic_score at 120 qpm, 480 per quarter: the window 5-7 s


def drone_notes(score):
    (track,) = [t for t in score.tracks if t.name == DRONE_TRACK]
    return sorted((n.time, n.duration, n.pitch, n.velocity) for n in track.notes)


def test_cluster_is_adjacent_semitones_around_the_centre() -> None:
    assert cluster(60, 1) == [60]
    assert cluster(60, 2) == [60, 61]
    assert cluster(60, 3) == [59, 60, 61]
    assert cluster(60, 4) == [59, 60, 61, 62]
    assert cluster(127, 3) == [125, 126, 127] and cluster(0, 3) == [0, 1, 2]


def test_a_repeated_pitch_at_the_pieces_density() -> None:
    score = synthetic_score(0)  # 80 eighths + 20 half notes in 20 s: 5 notes a second
    pitches = [n.pitch for t in score.tracks for n in t.notes]
    median = int(np.rint(np.median(pitches)))
    out, record = Drone().apply(score, seed=0)
    notes = drone_notes(out)
    assert notes == [(LO + 192 * k, 192, median, 80) for k in range(10)]  # median velocity 80
    assert (record.notes_added, record.notes_removed) == (10, 10)
    assert (record.onset_s, record.duration_s, record.preserves_tokens) == (5.0, 2.0, False)


@pytest.mark.parametrize("seconds", [12.0, 20.0, 31.0])
@pytest.mark.parametrize("size", [1, 2, 3, 5])
def test_pitch_set_and_density(size: int, seconds: float) -> None:
    score = synthetic_score(1, seconds=seconds)
    notes = [n for t in score.tracks for n in t.notes]
    density = len(notes) / seconds
    median = int(np.rint(np.median([n.pitch for n in notes])))
    out, record = Drone(size=size).apply(score, seed=0)
    drone = drone_notes(out)
    assert {p for _, _, p, _ in drone} == set(cluster(median, size))
    strikes = sorted({t for t, *_ in drone})
    assert len(drone) == size * len(strikes) == record.notes_added
    assert abs(len(drone) / 2.0 - density) <= size / 2 / 2.0 + 1e-9  # within half a strike
    assert all(LO <= t < HI for t in strikes)
    ends = sorted({t + d for t, d, *_ in drone})
    assert ends[-1] == HI and strikes[1:] == ends[:-1]  # each strike held until the next


def test_hold_strikes_once_for_the_whole_window() -> None:
    score = synthetic_score(2)
    out, record = Drone(mode="hold", size=3).apply(score, seed=0)
    drone = drone_notes(out)
    assert [(t, d) for t, d, _, _ in drone] == [(LO, HI - LO)] * 3
    assert record.notes_added == 3


def test_the_drone_plays_the_busiest_tracks_program() -> None:
    score = synthetic_score(3)
    score.tracks[0].program = 40  # the melody: 80 notes against the bass's 20
    out, _ = Drone().apply(score, seed=0)
    assert [t.program for t in out.tracks if t.name == DRONE_TRACK] == [40]
