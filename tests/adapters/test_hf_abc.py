from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from symusic import Note, Score, Tempo, TimeSignature, Track
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from curvebench.adapters import load_adapter, registered_adapters
from curvebench.adapters.abc_convert import abc_to_score, score_to_abc
from curvebench.adapters.abc_timing import abc_times
from curvebench.adapters.hf_abc import HFAbcAdapter
from curvebench.benchmark.scoring import score_sequences
from curvebench.errors import ConfigError
from tests.helpers import synthetic_score

pytestmark = pytest.mark.skipif(shutil.which("midi2abc") is None, reason="needs abcmidi")


def tiny_abc_model(folder: Path, context: int = 512, seed: int = 0) -> Path:
    """A random 1-layer LLaMA and a byte-level BPE tokenizer trained on a few ABC tunes."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    torch.manual_seed(seed)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<pad>", "<s>", "</s>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tunes = [score_to_abc(synthetic_score(i, seconds=10.0), f"t{i}") for i in range(4)]
    tok.train_from_iterator(tunes, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>"
    )
    fast.save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=len(fast),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=context,
        bos_token_id=fast.bos_token_id,
        eos_token_id=fast.eos_token_id,
        pad_token_id=fast.pad_token_id,
    )
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_abc_model(tmp_path_factory.mktemp("abc"))


@pytest.fixture(scope="module")
def adapter(model_dir: Path) -> HFAbcAdapter:
    return load_adapter(f"hf-abc:path={model_dir}")


def hand_made() -> Score:
    """C D E F (quarters), G (half), A B (eighths), c (quarter) at 120 qpm in 4/4."""
    score = Score(480)
    score.tempos.append(Tempo(0, 120.0))
    score.time_signatures.append(TimeSignature(0, 4, 4))
    track = Track("p", 0, False)
    notes = [(0, 480, 60), (480, 480, 62), (960, 480, 64), (1440, 480, 65), (1920, 960, 67)]
    notes += [(2880, 240, 69), (3120, 240, 71), (3360, 480, 72)]
    track.notes.extend(Note(t, d, p, 80) for t, d, p in notes)
    score.tracks.append(track)
    return score


HAND_ABC = "X: 1\nM: 4/4\nL: 1/8\nQ:1/4=120\nK:C\nV:1\nC2 D2 E2 F2| \\\nG4 AB c2|\n"
"""The hand-made score in ABC: unit 1/8 = 0.25 s at 1/4 = 120, bars of 8 units (2 s)."""


def test_hand_made_score_converts_to_the_abc_worked_out_by_hand(adapter) -> None:
    assert score_to_abc(hand_made(), "hand") == HAND_ABC
    encoded = adapter.encode_score(hand_made(), "hand")
    expected = adapter.tokenizer(HAND_ABC, add_special_tokens=False)["input_ids"]
    assert encoded.ids.tolist() == [adapter.tokenizer.bos_token_id, *expected]
    back = abc_to_score(HAND_ABC)
    onsets = [n.time / back.ticks_per_quarter for n in back.tracks[0].notes]
    # quarter notes, as written (abc2midi starts each note a tick late)
    assert onsets == pytest.approx([0, 1, 2, 3, 4, 6, 6.5, 7], abs=0.01)


def test_characters_are_timed_from_meter_unit_length_and_tempo() -> None:
    # quarter = 1 s, unit 1/8 = 0.5 s, bar 3/4 = 3 s
    tune = "X:1\nM:3/4\nL:1/8\nQ:1/4=60\nK:G\nA2 B>c (3def | [CEG]2 z2 {g}A B | Z | d4 |\n"
    times = abc_times(tune)
    body = tune.index("A2")
    assert np.isnan(times.seconds[:body]).all()  # the header
    expected = {
        "A2": 0.0,
        "B>": 1.0,  # broken rhythm: B dotted (0.75 s), c halved (0.25 s)
        "c ": 1.75,
        "(3d": 2.0,  # triplet: three eighths in the time of two
        "e": 2 + 1 / 3,
        "f": 2 + 2 / 3,
        "| [": 3.0,
        "[CEG]2": 3.0,
        "z2": 4.0,
        "{g}A": 5.0,  # the grace note belongs to its main note
        "B |": 5.5,
        "Z": 6.0,  # a whole-bar rest lasts the meter's 3 s
        "| d": 9.0,
        "d4": 9.0,
    }
    position = body
    for text, seconds in expected.items():
        position = tune.index(text, position)
        assert times.seconds[position] == pytest.approx(seconds), text
        position += 1
    assert np.isnan(times.seconds[tune.index("f ") + 1])  # whitespace has no time
    # defaults: no Q: is 1/4 = 120, no L: under 3/4 is 1/16
    default = abc_times("X:1\nM:2/4\nK:C\nC D E|\n")
    assert default.seconds[default.seconds == default.seconds].tolist()[-1] == pytest.approx(0.375)


def test_per_token_losses_equal_the_models_own_loss(adapter, model_dir) -> None:
    encoded = adapter.encode_score(synthetic_score(2, seconds=6.0), "x")
    ids = torch.from_numpy(encoded.ids)[None]
    with torch.no_grad():
        ours = adapter.loss(ids, torch.ones_like(ids, dtype=torch.bool))[0]
        theirs = LlamaForCausalLM.from_pretrained(model_dir)(input_ids=ids, labels=ids).loss
    assert ours.shape == (ids.shape[1] - 1,) and encoded.first_target == 1
    assert float(ours.mean()) == pytest.approx(float(theirs), rel=1e-5)
    scored = score_sequences(adapter, [encoded.ids])[0]
    np.testing.assert_allclose(scored, ours.numpy(), rtol=1e-5, atol=1e-6)


def test_timed_tokens_sit_on_their_notes_and_headers_are_untimed(adapter) -> None:
    score = synthetic_score(3, seconds=8.0, qpm=100.0)
    encoded = adapter.encode_score(score, "x")
    onsets = np.unique([n.time for t in score.to("second").tracks for n in t.notes])
    timed = encoded.seconds[~np.isnan(encoded.seconds)]
    assert len(timed) > 50
    gaps = np.abs(timed[:, None] - onsets[None, :]).min(axis=1)
    assert (gaps <= 0.02).all()
    tune = score_to_abc(score, "x")
    header = tune[: tune.index("\nV:1") + 1]
    n_header = len(adapter.tokenizer(header, add_special_tokens=False)["input_ids"])
    assert np.isnan(encoded.seconds[:n_header]).all()  # BOS and the header lines
    # a prompt is untimed too, and shifts nothing else
    prompted = HFAbcAdapter(adapter.path, prompt="Compose a tune\\n")
    again = prompted.encode_score(score, "x")
    assert np.isnan(again.seconds[:4]).all()
    np.testing.assert_allclose(np.sort(again.seconds[~np.isnan(again.seconds)]), np.sort(timed))


def test_tempo_changes_are_kept_through_the_source_tempo_map(adapter) -> None:
    score = hand_made()
    score.tempos.append(Tempo(1920, 60.0))  # from beat 4 on, a quarter lasts 1 s
    seconds = adapter.encode_score(score, "x").seconds
    # the closing bar at beat 8: 4 beats at 120 qpm, then 4 at 60 qpm
    assert np.nanmax(seconds) == pytest.approx(2.0 + 4.0)


@pytest.mark.slow
def test_options_and_generation(adapter, model_dir, tmp_path) -> None:
    info = registered_adapters()["hf-abc"]
    assert {"path", "tokenizer", "prompt", "revision", "dtype", "device", "name"} <= set(
        info.options
    )
    assert adapter.can_generate and adapter.context_length == 512
    with pytest.raises(ConfigError, match="no text tokenizer"):
        load_adapter(f"hf-abc:path={model_dir},tokenizer={model_dir / 'nothing'}")
    short = load_adapter(f"hf-abc:path={tiny_abc_model(tmp_path / 'short', context=64)}")
    a = short.generate(2, top_k=5, seconds=10.0, seed=1)
    b = short.generate(2, top_k=5, seconds=10.0, seed=1)
    assert len(a) == 2
    assert [s.score.dumps_midi() for s in a] == [s.score.dumps_midi() for s in b]


@pytest.mark.slow
def test_run_command_on_a_tiny_model(model_dir, tmp_path, midi_folder) -> None:
    from curvebench.cli import main

    out = tmp_path / "run"
    args = ["run", "--task", "noise-at-5s", "--model", f"hf-abc:path={model_dir}"]
    args += ["--data", f"ood={midi_folder}", "--limit", "2", "--no-wandb", "--out", str(out)]
    assert main(args) == 0
    assert (out / "results.json").is_file()
