from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from curvebench.adapters import load_adapter
from curvebench.cli import main
from curvebench.errors import ConfigError
from curvebench.training.audio_lm import code_rows
from curvebench.training.audio_reference import load_codec, load_codes, train_codec
from curvebench.training.codec_train import CodecRecipe


def test_code_rows_cut_and_pad_pieces() -> None:
    pieces = [np.arange(4 * 130).reshape(4, 130) % 2048, np.ones((4, 40), dtype=np.int64)]
    rows, masks = code_rows(pieces, frames=100)
    # 130 frames: a row of 100 and one of 30 (< 50 frames: dropped); 40 frames: dropped
    assert rows.shape == (1, 4, 100) and masks.all()
    rows, masks = code_rows(pieces, frames=80)
    assert rows.shape == (2, 4, 80) and masks[1].sum() == 50
    assert (rows[1, :, 50:] == 2048).all()
    torch.testing.assert_close(rows[1, :, :50], torch.as_tensor(pieces[0][:, 80:]))


@pytest.mark.slow
def test_three_resumable_stages_build_a_model_the_musicgen_adapter_loads(tmp_path: Path) -> None:
    """The codec stage for a few steps, stopped and resumed; then codes and decoder through
    the CLI; the MusicGen adapter loads the result and hears audio through the trained codec."""
    out = tmp_path / "work"
    argv = ["train-audio-reference", "--out", str(out), "--pieces", "3", "--val-pieces", "2"]
    arch = ["--filters", "4", "--lstm-layers", "1"]  # a codec of another size than the default
    assert main([*argv, "--stage", "codec", "--codec-steps", "2", "--tune-steps", "1", *arch]) == 0
    facts = json.loads((out / "codec" / "facts.json").read_text())
    assert facts["codec_steps_done"] == 2 and facts["decoder_tune_steps_done"] == 1
    assert (out / "codec-checkpoints" / "last.ckpt").is_file()
    assert len(facts["codes_surviving_round_trip"]) == 4
    assert all(0 <= x <= 1 for x in facts["codes_surviving_round_trip"])
    # a codec of another size is not resumed from that checkpoint, in one clear line
    with pytest.raises(ConfigError, match="a codec of another size"):
        train_codec(out, CodecRecipe(max_steps=3, tune_steps=1), pieces=3, val_pieces=2)
    # resumed: the checkpoint's two steps are not done again
    recipe = CodecRecipe(max_steps=3, tune_steps=1, filters=4, lstm_layers=1)
    again = train_codec(out, recipe, pieces=3, val_pieces=2)
    assert again["codec_steps_done"] == 3
    # all: codec done, so codes, lm and own
    assert main([*argv, "--max-steps", "2", "--own-steps", "2", "--own-clips", "2"]) == 0
    trained = json.loads((out / "model" / "training.json").read_text())
    assert trained["own_steps_done"] == 2 and trained["own_tune_clips"] == 2
    assert trained["steps_done"] == 2 and trained["train_pieces"] == 3
    assert trained["codec_steps_done"] == 3 and trained["own_samples"] == 8
    own = trained["own_samples_by_top_k"]
    assert list(own) == ["10", "50", "250"]
    assert all(0 < v["loss_nats_per_code"] < 10 for v in own.values())
    card = (out / "model" / "MODEL_CARD.md").read_text()
    assert "its own samples, top-k 250" in card and "--codec-steps 3" in card
    assert "four stages" in card and "--own-steps 2" in card
    assert "4 filters, 1 LSTM layer;" in card and "--filters 4 --lstm-layers 1" in card
    adapter = load_adapter(f"musicgen:path={out / 'model'}")
    codec = load_codec(out)
    assert (codec.config.num_filters, codec.config.num_lstm_layers) == (4, 1)
    moved = []
    for name, value in codec.state_dict().items():
        shipped = adapter.model.audio_encoder.state_dict()[name]
        if name.startswith("decoder."):  # the own stage tunes the decoder alone
            moved.append(not torch.equal(shipped, value))
        else:  # every code of real audio stays what it was
            torch.testing.assert_close(shipped, value)
    assert any(moved)
    _, splits, _ = load_codes(out / "codes.npz")
    assert len(splits["train"]) == 3 and all(c.shape[0] == 4 for c in splits["train"])
    assert main([*argv, "--stage", "lm", "--max-steps", "2"]) == 0  # a stage asked for runs
