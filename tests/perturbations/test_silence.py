from __future__ import annotations

from symusic import Note, Track

from curvebench.perturbations import PerturbationRecord
from curvebench.perturbations.silence import Silence
from tests.helpers import synthetic_score

LO, HI = 4800, 6720  # synthetic_score at 120 qpm, 480 per quarter: the window 5-7 s


def notes(score, index):
    return sorted((n.time, n.duration, n.pitch, n.velocity) for n in score.tracks[index].notes)


def test_no_pitched_onset_in_the_window_and_nothing_else_moves() -> None:
    score = synthetic_score(0)
    out, record = Silence().apply(score, seed=0)
    for index in (0, 1):
        assert notes(out, index) == [n for n in notes(score, index) if not LO <= n[0] < HI]
        assert not any(LO <= n[0] < HI for n in notes(out, index))
    # 8 eighths of melody (5.0, 5.25, ..., 6.75 s) and 2 half notes of bass (5 s, 6 s)
    assert record == PerturbationRecord("silence", 5.0, 2.0, False, notes_removed=10)


def test_notes_struck_before_the_window_ring_on_and_drums_stay() -> None:
    score = synthetic_score(1)
    score.tracks[1].notes.append(Note(LO - 480, 1440, 40, 70))  # sounds 0.5 s into the window
    drums = Track("drums", 0, True)
    drums.notes.extend(Note(t, 120, 36, 100) for t in range(0, 19200, 480))
    score.tracks.append(drums)
    out, _ = Silence().apply(score, seed=0)
    assert (LO - 480, 1440, 40, 70) in notes(out, 1)
    assert notes(out, 2) == notes(score, 2)


def test_an_empty_window_is_left_as_it_is() -> None:
    score = synthetic_score(2)
    once, _ = Silence().apply(score, seed=0)
    twice, record = Silence().apply(once, seed=0)
    assert record.notes_removed == 0 and twice.dumps_midi() == once.dumps_midi()
