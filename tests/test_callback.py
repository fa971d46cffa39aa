"""``CurveBenchCallback`` inside a training loop, and the example script that uses it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader
from transformers import GPT2Config

from curvebench.adapters.midi_tokens import reference_tokenizer
from curvebench.callback import CurveBenchCallback
from curvebench.training.reference import ReferenceLM, ReferenceRecipe

ROOT = Path(__file__).resolve().parents[1]


def test_callback_logs_the_shape_metrics_and_leaves_training_alone(midi_folder, tmp_path):
    torch.manual_seed(0)
    tok = reference_tokenizer()
    config = GPT2Config(
        vocab_size=len(tok), n_positions=256, n_embd=32, n_layer=1, n_head=2,
        pad_token_id=tok.pad_token_id,
    )  # fmt: skip
    recipe = ReferenceRecipe("t", n_embd=32, n_layer=1, n_head=2, context=256, max_steps=3)
    lm = ReferenceLM(config, recipe)
    params = list(lm.model.parameters())
    rows = torch.randint(4, len(tok), (12, 64))
    callback = CurveBenchCallback(
        tok, data=[f"ood={midi_folder}"], limit=1, every_n_steps=2, out=tmp_path / "cb"
    )
    trainer = L.Trainer(
        max_steps=3, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, callbacks=[callback], accelerator="cpu",
    )  # fmt: skip
    trainer.fit(lm, DataLoader(rows, batch_size=4))
    assert [h["step"] for h in callback.history] == [2]
    key = f"curvebench/noise-at-5s/{midi_folder.name}"
    logged = trainer.callback_metrics
    for metric in ("abs_loss_original", "nats_per_second_original", "region_peak"):
        assert float(logged[f"{key}/{metric}"]) == pytest.approx(
            callback.history[0][f"{key}/{metric}"]
        )
    assert lm.model.training and all(m.training for m in lm.model.modules())
    assert list(lm.model.parameters()) == params  # the same tensors, still trained
    assert (
        trainer.global_step == 3 and (tmp_path / "cb" / "step-0000002" / "results.json").is_file()
    )


@pytest.mark.slow
def test_example_script_prints_loss_and_shape_over_training() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_with_callback.py"), "--steps", "4",
         "--every", "2", "--limit", "1"],
        capture_output=True, text=True, env=env, timeout=600, check=True,
    ).stdout  # fmt: skip
    assert "trained 4 steps" in out and "val_loss" in out and "peak" in out
    rows = [line.split() for line in out.splitlines() if line[:4].strip() in ("2", "4")]
    assert len(rows) == 4 and all(float(r[1]) > 0 and r[2] != "-" for r in rows)
