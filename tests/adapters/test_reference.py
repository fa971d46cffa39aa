"""The shipped reference model: loads offline, matches its card, and models music."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curvebench.adapters import load_adapter
from curvebench.adapters.hf_causal import MODELS_DIR
from curvebench.training.evaluate import validation_loss

NAMES = ["reference", "reference-tiny"]


@pytest.mark.parametrize("name", NAMES)
def test_weights_are_small_safetensors_with_card_and_tokenizer(name: str) -> None:
    folder = MODELS_DIR / name
    assert (folder / "model.safetensors").stat().st_size <= 25 * 2**20
    for file in ("config.json", "tokenizer.json", "MODEL_CARD.md", "training.json"):
        assert (folder / file).is_file(), file


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_validation_loss_matches_the_model_card(name: str) -> None:
    folder = MODELS_DIR / name
    facts = json.loads((folder / "training.json").read_text())
    adapter = load_adapter(name)
    assert adapter.num_parameters() == facts["parameters"]
    loss, tokens = validation_loss(folder)
    assert tokens == facts["validation_tokens"]
    assert loss == pytest.approx(facts["validation_loss_nats"], abs=1e-3)
    # far below a uniform guess over the vocabulary
    assert loss < 0.25 * np.log(len(adapter.tokenizer))
