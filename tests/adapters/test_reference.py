"""The shipped reference model: loads offline, matches its card, and models music."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curvebench.adapters import load_adapter
from curvebench.adapters.hf_causal import MODELS_DIR
from curvebench.training.reference import validation_loss

FOLDER = MODELS_DIR / "reference"


def test_weights_are_small_safetensors_with_card_and_tokenizer() -> None:
    assert (FOLDER / "model.safetensors").stat().st_size <= 25 * 2**20
    for name in ("config.json", "tokenizer.json", "MODEL_CARD.md", "training.json"):
        assert (FOLDER / name).is_file(), name


@pytest.mark.slow
def test_validation_loss_matches_the_model_card() -> None:
    facts = json.loads((FOLDER / "training.json").read_text())
    adapter = load_adapter("reference")
    assert adapter.num_parameters() == facts["parameters"]
    loss, tokens = validation_loss(FOLDER)
    assert tokens == facts["validation_tokens"]
    assert loss == pytest.approx(facts["validation_loss_nats"], abs=1e-3)
    # far below a uniform guess over the vocabulary
    assert loss < 0.25 * np.log(len(adapter.tokenizer))
