"""The shipped audio reference model, through the MusicGen adapter."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import EncodecModel, MusicgenForConditionalGeneration

from curvebench.adapters import load_adapter, registered_adapters
from curvebench.adapters.code_cache import CODEC_THREADS
from curvebench.adapters.musicgen import AUDIO_REFERENCE_DIR, MusicGenAdapter
from curvebench.data.render import render_midi
from curvebench.threads import torch_threads
from tests.helpers import synthetic_score


@pytest.fixture(scope="module")
def adapter() -> MusicGenAdapter:
    return load_adapter("audio-reference")


@pytest.fixture(scope="module")
def clip() -> np.ndarray:
    """Four seconds of a rendered synthetic piece at 32 kHz."""
    return render_midi(synthetic_score(5, seconds=6.0).dumps_midi(), sr=32000)[: 4 * 32000]


def test_it_is_musicgen_smalls_format_and_small(adapter: MusicGenAdapter) -> None:
    assert "audio-reference" in registered_adapters()
    assert adapter.name == "audio-reference" and adapter.modality == "audio"
    assert isinstance(adapter.model, MusicgenForConditionalGeneration)
    assert isinstance(adapter.model.audio_encoder, EncodecModel)
    assert (adapter.sampling_rate, adapter.frame_rate, adapter.num_codebooks) == (32000, 50, 4)
    assert adapter.model.decoder.config.vocab_size == 2048 and adapter.bandwidth == 2.2
    assert adapter.context_length >= 750  # the tasks' 15 s clips fit
    size = sum(f.stat().st_size for f in AUDIO_REFERENCE_DIR.iterdir())
    assert size <= 25 * 2**20
    assert {"config.json", "model.safetensors", "MODEL_CARD.md", "training.json"} <= {
        f.name for f in AUDIO_REFERENCE_DIR.iterdir()
    }


def test_loads_the_same_through_the_musicgen_adapter(adapter: MusicGenAdapter) -> None:
    same = load_adapter(f"musicgen:path={AUDIO_REFERENCE_DIR}")
    assert same.fingerprint() == adapter.fingerprint()
    paper = load_adapter("audio-reference:layout=paper")
    assert paper.settings() == {"layout": "paper", "condition": "none"}


def test_codes_are_encodec_models_own(adapter: MusicGenAdapter, clip: np.ndarray) -> None:
    model = MusicgenForConditionalGeneration.from_pretrained(AUDIO_REFERENCE_DIR)
    codec = model.audio_encoder
    with torch.no_grad(), torch_threads(CODEC_THREADS):  # the thread count curvebench encodes on
        theirs = codec.encode(torch.as_tensor(clip)[None, None]).audio_codes[0, 0]
    ours = adapter.encode_audio(clip, 32000, "clip").ids
    assert ours.shape == (4, 200)
    np.testing.assert_array_equal(ours, theirs.numpy())
    assert all(len(np.unique(row)) > 20 for row in ours)  # the codebooks are used


def test_losses_are_musicgen_for_causal_lms_own(adapter: MusicGenAdapter, clip: np.ndarray) -> None:
    codes = torch.as_tensor(adapter.encode_audio(clip, 32000, "clip").ids)[None]
    frames, k = codes.shape[-1], codes.shape[1]
    with torch.no_grad():
        ours = adapter.loss(codes, torch.ones(1, frames, dtype=torch.bool))
    delayed = torch.full((1, k, frames + k), 2048)
    for j in range(k):
        delayed[:, j, j + 1 : j + 1 + frames] = codes[:, j]
    labels = delayed[:, :, 1:].transpose(1, 2)  # [B, T + K - 1, K]; 2048 labels are ignored
    with torch.no_grad():
        theirs = adapter.model.decoder(labels=labels).loss  # MusicgenForCausalLM, no text
    assert float(ours.mean()) == pytest.approx(float(theirs), rel=1e-5)


def test_model_card_numbers_are_the_training_facts() -> None:
    facts = json.loads((AUDIO_REFERENCE_DIR / "training.json").read_text())
    card = (AUDIO_REFERENCE_DIR / "MODEL_CARD.md").read_text()
    assert f"{facts['validation_loss_nats_per_code']} nats per code" in card
    assert facts["validation_loss_nats_per_code"] < facts["uniform_loss_nats"]
    assert len(facts["codebook_perplexity_validation"]) == 4
