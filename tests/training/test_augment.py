"""Augmented copies: pure and seeded, inside the tokenizer's ranges, covering its velocities."""

from __future__ import annotations

import numpy as np
from symusic import Note, Score, Tempo, Track

from curvebench.adapters.midi_tokens import reference_tokenizer
from curvebench.training.augment import EncodingRange, augment_copy
from curvebench.training.tokenize_corpus import encoding_range
from tests.helpers import synthetic_score

LIMITS = EncodingRange(pitch=(21, 108), velocity=(7, 127), tempo=(40.0, 250.0))


def _notes(score: Score) -> list[tuple[int, int, int, int]]:
    return [(n.time, n.duration, n.pitch, n.velocity) for t in score.tracks for n in t.notes]


def test_limits_come_from_the_reference_tokenizer() -> None:
    assert encoding_range(reference_tokenizer()) == LIMITS


def test_same_seed_piece_and_copy_give_the_same_copy_and_leave_the_input() -> None:
    score = synthetic_score(0)
    before = _notes(score)
    a = augment_copy(score, "p", 1, LIMITS, seed=3)
    b = augment_copy(synthetic_score(0), "p", 1, LIMITS, seed=3)
    assert _notes(a) == _notes(b)
    assert a.ticks_per_quarter == b.ticks_per_quarter
    assert [t.qpm for t in a.tempos] == [t.qpm for t in b.tempos]
    assert _notes(score) == before  # the input is not changed
    others = [augment_copy(score, "p", 2, LIMITS, seed=3), augment_copy(score, "q", 1, LIMITS)]
    assert all(_notes(o) != _notes(a) for o in others)


def test_transposition_keeps_pitches_inside_the_range() -> None:
    score = Score(480)
    score.tempos.append(Tempo(0, 120.0))
    track = Track("t", 0, False)
    # a piece from A0 + 2 to C8 - 1: only shifts from -2 to +1 keep it in range
    track.notes.extend([Note(0, 480, 23, 90), Note(480, 480, 107, 90)])
    score.tracks.append(track)
    shifts = set()
    for copy in range(60):
        pitches = [n[2] for n in _notes(augment_copy(score, "edge", copy, LIMITS))]
        assert LIMITS.pitch[0] <= min(pitches) and max(pitches) <= LIMITS.pitch[1]
        shifts.add(pitches[0] - 23)
    assert shifts == {-2, -1, 0, 1}


def test_velocities_cover_every_velocity_bin_and_tempos_stay_in_range() -> None:
    bins = reference_tokenizer().velocities
    hit = set()
    for copy in range(40):
        out = augment_copy(synthetic_score(copy), f"piece{copy}", copy, LIMITS)
        velocities = np.array([n[3] for n in _notes(out)])
        assert velocities.min() >= 1 and velocities.max() <= 127
        hit |= set(np.abs(velocities[:, None] - bins[None, :]).argmin(axis=1).tolist())
        assert all(40.0 <= t.qpm <= 250.0 for t in out.tempos)
    assert hit == set(range(len(bins)))


def test_note_values_rescale_keeps_the_sound_in_seconds() -> None:
    score = synthetic_score(1)
    seconds = {}
    for copy in range(12):
        out = augment_copy(score, "p", copy, LIMITS)
        scale = score.ticks_per_quarter / out.ticks_per_quarter
        tempo = out.tempos[0].qpm / (score.tempos[0].qpm * scale)
        seconds[scale] = tempo
        # onsets unchanged in ticks: the piece is only renotated and its tempo scaled
        assert [n[0] for n in _notes(out)] == [n[0] for n in _notes(score)]
    assert set(seconds) <= {0.5, 1.0, 2.0} and len(seconds) > 1
    assert all(0.6 - 1e-9 <= t <= 1.6 + 1e-9 for t in seconds.values())
