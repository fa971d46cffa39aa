"""The precision a run scores in: chosen, recorded, part of the score cache's key."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from curvebench.api import RunOptions, run
from curvebench.benchmark.scoring_config import ScoringConfig, scoring_precision
from curvebench.errors import ConfigError


def test_auto_is_bf16_on_a_cuda_gpu_with_float32_weights_outside_the_board(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: True)
    assert scoring_precision("auto", "gpu", torch.float32, False) == "bf16-mixed"
    assert scoring_precision("auto", "cuda:1", torch.float32, False) == "bf16-mixed"
    assert scoring_precision("auto", "cpu", torch.float32, False) == "32-true"
    assert scoring_precision("auto", "gpu", torch.bfloat16, False) == "32-true"  # as loaded
    assert scoring_precision("auto", "gpu", torch.float32, True) == "32-true"  # the board
    assert scoring_precision("32", "gpu", torch.float32, False) == "32-true"
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda: False)
    assert scoring_precision("auto", "gpu", torch.float32, False) == "32-true"
    with pytest.raises(ConfigError, match="board scores in float32"):
        scoring_precision("bf16", "gpu", torch.float32, True)
    with pytest.raises(ConfigError, match="use auto, 32 or bf16"):
        scoring_precision("fp8", "gpu", torch.float32, False)


def test_precision_is_in_the_score_cache_key_only_when_not_float32() -> None:
    assert ScoringConfig().loss_settings(512) == {"stride": 256}
    assert ScoringConfig(precision="bf16-mixed").loss_settings(512) == {
        "stride": 256,
        "precision": "bf16-mixed",
    }


def test_a_bf16_run_is_recorded_scored_afresh_and_close_to_float32(
    tiny_model, midi_folder, tmp_path
) -> None:
    def one(precision: str, name: str):
        return run(
            RunOptions(
                model=f"hf-causal:path={tiny_model}",
                data=(f"ood={midi_folder}",),
                limit=2,
                out=tmp_path / name,
                wandb=False,
                accelerator="cpu",
                precision=precision,
                cache_dir=tmp_path / "cache",
            )
        )

    full = one("auto", "full")
    half = one("bf16", "half")
    assert full.results.config.precision == "32-true"
    assert half.results.config.precision == "bf16-mixed"
    assert half.cached == 0  # float32 losses in the cache are not bf16 losses
    # per token: bfloat16 moves the losses (their means over a piece hardly), not by much
    a = np.concatenate([np.ravel(x.loss) for x in full.lines]).astype(float)
    b = np.concatenate([np.ravel(x.loss) for x in half.lines]).astype(float)
    assert a.shape == b.shape and np.any(a != b)
    assert np.max(np.abs(a - b)) < 0.05
