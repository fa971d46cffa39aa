from __future__ import annotations

import numpy as np
from symusic import Note, Score, Tempo, Track

from curvebench.adapters.midi_tokens import (
    detokenize,
    load_tokenizer,
    reference_tokenizer,
    tokenize_score,
)
from curvebench.data.timing import TempoMap, clip_seconds
from tests.helpers import synthetic_score


def test_round_trip_keeps_notes_up_to_quantisation(tmp_path) -> None:
    tok = reference_tokenizer()
    score = synthetic_score(0, seconds=8.0)
    encoded = tokenize_score(tok, score)
    assert encoded.ids[0] == tok.vocab["BOS_None"]
    decoded = detokenize(tok, encoded.ids)
    original = sorted(n.pitch for t in score.tracks for n in t.notes)
    assert sorted(n.pitch for t in decoded.tracks for n in t.notes) == original
    # the tokenizer saved and loaded encodes identically
    tok.save(tmp_path / "tokenizer.json")
    again = tokenize_score(load_tokenizer(tmp_path), score)
    assert np.array_equal(again.ids, encoded.ids)


def test_token_times_are_seconds_of_the_music_with_tempo_changes() -> None:
    score = Score(480)
    score.tempos.extend([Tempo(0, 120.0), Tempo(1920, 60.0)])  # 4 beats at 120, then 60 BPM
    track = Track("x", 0, False)
    for beat in range(8):
        track.notes.append(Note(beat * 480, 240, 60 + beat, 80))
    score.tracks.append(track)
    tok = reference_tokenizer()
    encoded = tokenize_score(tok, score)
    pitch_times = [
        s
        for i, s in zip(encoded.ids, encoded.seconds, strict=True)
        if tok[int(i)].startswith("Pitch_")
    ]
    # beats 0-3 at 0.5 s each, then 1 s each
    assert np.allclose(pitch_times, [0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 5.0], atol=1e-6)
    assert np.all(np.diff(encoded.seconds) >= 0)


def test_tempo_map_round_trip_and_clip() -> None:
    score = synthetic_score(0, seconds=20.0, qpm=90.0)
    tempo = TempoMap(score)
    ticks = np.array([0, 100, 4000, 9999])
    assert np.array_equal(tempo.ticks(tempo.seconds(ticks)), ticks)
    clipped = clip_seconds(score, 5.0)
    end = tempo.ticks(5.0)
    assert all(n.end <= end for t in clipped.tracks for n in t.notes)
    assert clipped.note_num() < score.note_num()
