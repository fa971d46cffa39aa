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


def test_bpe_tokens_get_the_time_of_the_first_base_token_they_stand_for(tmp_path) -> None:
    from curvebench.adapters.midi_tokens import merge_tracks

    base = reference_tokenizer()
    scores = [synthetic_score(i, seconds=10.0) for i in range(6)]
    paths = []
    for i, s in enumerate(scores):
        paths.append(tmp_path / f"{i}.mid")
        paths[-1].write_bytes(merge_tracks(s).dumps_midi())
    bpe = reference_tokenizer()
    bpe.train(vocab_size=len(base) + 60, files_paths=paths, model="BPE")
    plain = tokenize_score(base, scores[0])
    learned = tokenize_score(bpe, scores[0])
    assert len(learned.ids) < len(plain.ids)  # ids merged
    assert learned.ids[0] == bpe.vocab["BOS_None"]
    # every learned token's time is the time of one base token, in order, covering the piece
    assert set(learned.seconds.round(6)) <= set(plain.seconds.round(6))
    assert np.all(np.diff(learned.seconds) >= 0)
    assert learned.seconds[-1] <= plain.seconds[-1]
    # the learned ids decode back to the same notes
    decoded = detokenize(bpe, learned.ids)
    assert decoded.note_num() == merge_tracks(scores[0]).note_num()
