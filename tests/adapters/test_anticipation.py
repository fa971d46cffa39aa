from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from symusic import Note, Score, Tempo, Track
from transformers import GPT2Config, GPT2LMHeadModel

from curvebench.adapters import load_adapter, registered_adapters
from curvebench.adapters.anticipation import AnticipationAdapter
from curvebench.adapters.anticipation_tokens import (
    ANTICIPATE,
    AUTOREGRESS,
    CONTROL_OFFSET,
    REST,
    SEPARATOR,
    VOCAB_SIZE,
    decode_events,
    encode_events,
    event_losses,
)
from curvebench.benchmark.scoring import score_sequences
from curvebench.errors import ConfigError, SkipItem
from tests.helpers import synthetic_score


def tiny_anticipation(folder: Path, context: int = 1024, seed: int = 0) -> Path:
    """A random 1-layer GPT-2 with the anticipation vocabulary (55,028 tokens)."""
    torch.manual_seed(seed)
    config = GPT2Config(vocab_size=VOCAB_SIZE, n_positions=context, n_embd=16, n_layer=1, n_head=2)
    GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_anticipation(tmp_path_factory.mktemp("anticipation"))


@pytest.fixture(scope="module")
def adapter(model_dir: Path) -> AnticipationAdapter:
    return load_adapter(f"anticipation:path={model_dir}")


def hand_made() -> Score:
    """Piano, bass (program 33) and drums at 120 qpm (480 ticks = 0.5 s)."""
    score = Score(480)
    score.tempos.append(Tempo(0, 120.0))
    piano, bass, drums = Track("piano", 0, False), Track("bass", 33, False), Track("dr", 0, True)
    piano.notes.extend(
        [Note(0, 480, 60, 90), Note(960, 240, 64, 90), Note(3840, 11520, 72, 90)]  # 12 s: capped
    )
    bass.notes.append(Note(960, 2400, 40, 70))
    drums.notes.append(Note(3840, 60, 36, 100))  # 62.5 ms → 6 steps (round half to even)
    score.tracks.extend([piano, bass, drums])
    return score


def test_vocabulary_constants_match_the_published_ones() -> None:
    assert (REST, CONTROL_OFFSET) == (27512, 27513)
    assert (SEPARATOR, AUTOREGRESS, ANTICIPATE, VOCAB_SIZE) == (55025, 55026, 55027, 55028)


def test_hand_made_score_gives_the_ids_worked_out_by_hand() -> None:
    events = encode_events(hand_made(), "hand")
    # time = 100·t; duration = 10,000 + 100·d (≤ 10,999); note = 11,000 + 128·instrument + pitch
    expected = [
        AUTOREGRESS,
        *(0, 10050, 11060),  # C4 at 0 s, 0.5 s, piano
        *(100, 10025, 11064),  # E4 at 1 s, 0.25 s, piano (track order first at equal times)
        *(100, 10250, 15264),  # bass E2 at 1 s, 2.5 s: 11,000 + 128·33 + 40
        *(200, 10000, REST),  # silence longer than a second: a REST every second
        *(300, 10000, REST),
        *(400, 10999, 11072),  # C5 at 4 s, 12 s capped at 999 steps
        *(400, 10006, 27420),  # kick at 4 s: drums are instrument 128, 11,000 + 16,384 + 36
    ]
    assert events.ids.tolist() == expected
    assert np.isnan(events.seconds[0])
    assert events.seconds[1:].tolist() == [t for t in (0, 1, 1, 2, 3, 4, 4) for _ in range(3)]
    assert events.duration_s == pytest.approx(16.0)


def test_leading_silence_is_padded_and_decoding_inverts_encoding() -> None:
    score = Score(480)
    score.tempos.append(Tempo(0, 120.0))
    track = Track("p", 5, False)
    track.notes.append(Note(2400, 480, 67, 80))  # 2.5 s
    score.tracks.append(track)
    ids = encode_events(score, "late").ids.tolist()
    assert ids == [AUTOREGRESS, 100, 10000, REST, 200, 10000, REST, 250, 10050, 11000 + 640 + 67]
    decoded = decode_events(encode_events(hand_made(), "hand").ids)
    assert [(t.program, t.is_drum, len(t.notes)) for t in decoded.tracks] == [
        (0, False, 3),
        (33, False, 1),
        (0, True, 1),
    ]
    again = encode_events(decoded, "again").ids
    np.testing.assert_array_equal(again, encode_events(hand_made(), "hand").ids)


def test_every_note_token_is_timed_within_one_grid_step_of_its_onset() -> None:
    score = synthetic_score(0, seconds=12.0, qpm=97.0)
    events = encode_events(score, "x")
    onsets = {}
    for track in score.to("second").tracks:
        for note in track.notes:
            onsets.setdefault((track.program, note.pitch), []).append(note.time)
    ids, seconds = events.ids, events.seconds
    for j in range(1, len(ids), 3):
        assert seconds[j] == seconds[j + 1] == seconds[j + 2]
        if ids[j + 2] == REST:
            continue
        instrument, pitch = divmod(int(ids[j + 2]) - 11000, 128)
        assert min(abs(seconds[j] - t) for t in onsets[(instrument, pitch)]) <= 0.02
    assert np.isnan(seconds[0]) and not np.isnan(seconds[1:]).any()


def test_per_token_losses_equal_the_models_own_loss(adapter, model_dir) -> None:
    encoded = adapter.encode_score(synthetic_score(1, seconds=8.0), "x")
    assert encoded.first_target == 1 and encoded.ids[0] == AUTOREGRESS
    ids = torch.from_numpy(encoded.ids)[None]
    with torch.no_grad():
        ours = adapter.loss(ids, torch.ones_like(ids, dtype=torch.bool))[0]
        theirs = GPT2LMHeadModel.from_pretrained(model_dir)(input_ids=ids, labels=ids).loss
    assert ours.shape == (len(encoded.ids) - 1,)
    assert float(ours.mean()) == pytest.approx(float(theirs), rel=1e-5)
    scored = score_sequences(adapter, [encoded.ids])[0]
    np.testing.assert_allclose(scored, ours.numpy(), rtol=1e-5, atol=1e-6)
    onsets, per_event = event_losses(scored, encoded.seconds)
    assert len(per_event) == (len(encoded.ids) - 1) // 3
    assert per_event[0] == pytest.approx(float(ours[:3].sum()), rel=1e-5)
    np.testing.assert_array_equal(onsets, encoded.seconds[1::3])


def test_registered_with_options_and_checks_the_vocabulary(adapter, tmp_path) -> None:
    info = registered_adapters()["anticipation"]
    assert {"path", "revision", "dtype", "device", "name"} <= set(info.options)
    assert adapter.context_length == 1024 and adapter.can_generate
    assert load_adapter(f"anticipation:path={adapter.path},name=ours").name == "ours"
    small = tmp_path / "small"
    GPT2LMHeadModel(GPT2Config(vocab_size=100, n_embd=8, n_layer=1, n_head=2)).save_pretrained(
        small
    )
    with pytest.raises(ConfigError, match="55028"):
        load_adapter(f"anticipation:path={small}")
    with pytest.raises(SkipItem, match="no notes"):
        adapter.encode_score(Score(480), "empty")


@pytest.mark.slow
def test_generate_samples_valid_events_reproducibly(tmp_path) -> None:
    folder = tiny_anticipation(tmp_path / "m", context=64)
    adapter = load_adapter(f"anticipation:path={folder}")
    a = adapter.generate(2, top_k=20, seconds=50.0, seed=0)
    b = adapter.generate(2, top_k=20, seconds=50.0, seed=0)
    assert len(a) == 2
    assert [s.score.dumps_midi() for s in a] == [s.score.dumps_midi() for s in b]
    # 21 whole events under the grammar: every one decodes to a note (or a REST, dropped)
    assert all(0 < s.score.note_num() <= 21 for s in a)


@pytest.mark.slow
def test_run_command_on_a_tiny_model(model_dir, tmp_path, midi_folder) -> None:
    from curvebench.cli import main

    out = tmp_path / "run"
    args = ["run", "--task", "noise-at-5s", "--model", f"anticipation:path={model_dir}"]
    args += ["--data", f"ood={midi_folder}", "--limit", "2", "--no-wandb", "--out", str(out)]
    assert main(args) == 0
    assert (out / "results.json").is_file()
