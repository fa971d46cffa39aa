from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from curvebench.adapters import load_adapter
from curvebench.cli import main
from curvebench.training.audio_lm import code_rows
from curvebench.training.audio_reference import build_codes, load_codes


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
def test_two_stages_build_a_model_the_musicgen_adapter_loads(tmp_path: Path) -> None:
    """Stage 1 on a few rendered pieces, stage 2 through the CLI for two steps."""
    codes = tmp_path / "codes.npz"
    facts = build_codes(codes, pieces=5, val_pieces=2, seconds=15.0)
    assert facts["train_pieces"] == 5 and facts["train_frames"] >= 2048
    codec, splits, _ = load_codes(codes)
    assert len(splits["train"]) == 5 and all(c.shape[0] == 4 for c in splits["train"])
    out = tmp_path / "model"
    argv = ["train-audio-reference", "--out", str(out), "--from-codes", str(codes)]
    assert main([*argv, "--max-steps", "2"]) == 0
    trained = json.loads((out / "training.json").read_text())
    assert trained["steps_done"] == 2 and trained["train_pieces"] == 5
    assert (out / "MODEL_CARD.md").is_file() and codes.is_file()  # stage 2 keeps its input
    adapter = load_adapter(f"musicgen:path={out}")
    # the shipped codec is stage 1's: the stored codes of a piece are the adapter's codes
    assert adapter.model.audio_encoder.state_dict().keys() == codec.state_dict().keys()
    for name, value in codec.state_dict().items():
        torch.testing.assert_close(adapter.model.audio_encoder.state_dict()[name], value)
