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


@pytest.mark.parametrize("name", NAMES)
def test_trained_on_the_whole_encoding_space(name: str) -> None:
    """Augmented training: the ood set differs in music, not in which tokens exist, so its
    loss is far below a uniform guess and no token type costs more than its cost on augmented
    validation copies by a wide margin (the card's table; the musical gap, rhythm and pitch,
    remains)."""
    facts = json.loads((MODELS_DIR / name / "training.json").read_text())
    assert facts["augmentation"]["copies"] >= 1
    assert facts["ood_loss_nats"] < 0.5 * facts["log_vocab_nats"]
    ratios = facts["ood_over_validation_augmented_by_type"]
    assert set(ratios) >= {"Pitch", "Velocity", "Duration", "Position"}
    assert max(ratios.values()) < 3.0
    assert ratios["Velocity"] < 2.0 and ratios["Duration"] < 2.0
