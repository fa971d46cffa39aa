from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from transformers import GPT2LMHeadModel

from curvebench.adapters import load_adapter
from curvebench.benchmark.scoring import score_sequences
from curvebench.cli import main
from curvebench.errors import ConfigError
from tests.helpers import synthetic_score


def test_per_token_losses_match_the_models_own_loss(tiny_model) -> None:
    adapter = load_adapter(f"hf-causal:path={tiny_model}")
    encoded = adapter.encode_score(synthetic_score(0, seconds=6.0), "x")
    ids = torch.from_numpy(encoded.ids)[None]
    ours = adapter.loss(ids, torch.ones_like(ids, dtype=torch.bool))[0]
    model = GPT2LMHeadModel.from_pretrained(tiny_model)
    with torch.no_grad():
        theirs = model(input_ids=ids, labels=ids).loss
    assert ours.shape == (ids.shape[1] - 1,)
    assert float(ours.mean()) == pytest.approx(float(theirs), rel=1e-5)


def test_padding_is_masked_and_does_not_change_losses(tiny_model) -> None:
    adapter = load_adapter(f"hf-causal:path={tiny_model}")
    a = adapter.encode_score(synthetic_score(0, seconds=6.0), "a").ids
    b = adapter.encode_score(synthetic_score(1, seconds=3.0), "b").ids
    together = score_sequences(adapter, [a, b], batch_size=2)
    alone = score_sequences(adapter, [b], batch_size=1)
    assert len(together[1]) == len(b) - 1
    np.testing.assert_allclose(together[1], alone[0], rtol=1e-5, atol=1e-5)


def test_the_attention_kernel_is_an_option_that_does_not_change_losses(tiny_model) -> None:
    default = load_adapter(f"hf-causal:path={tiny_model}")
    eager = load_adapter(f"hf-causal:path={tiny_model},attn=eager")
    assert (default.attention, eager.attention) == ("sdpa", "eager")
    # the kernel is not the model: one fingerprint, losses equal to float rounding
    assert default.fingerprint() == eager.fingerprint()
    ids = default.encode_score(synthetic_score(0, seconds=6.0), "x").ids
    np.testing.assert_allclose(
        score_sequences(default, [ids])[0], score_sequences(eager, [ids])[0], atol=1e-5
    )
    with pytest.raises(ConfigError, match="attn='fast'"):
        load_adapter(f"hf-causal:path={tiny_model},attn=fast")


def test_auto_attention_takes_flash_attention_only_where_it_can_run(monkeypatch) -> None:
    from curvebench.adapters import causal_lm

    asked = []

    def load(*args, **kwargs):
        asked.append(kwargs.get("attn_implementation"))
        if kwargs.get("attn_implementation") == "flash_attention_2":
            raise ValueError("this model does not support Flash Attention 2")
        return "model"

    assert causal_lm.with_attention(load, "auto", "bfloat16") == "model"
    assert causal_lm.flash_attention_usable("float32") is False
    monkeypatch.setattr(causal_lm, "flash_attention_usable", lambda weights: True)
    assert causal_lm.with_attention(load, "auto", "bfloat16") == "model"
    # without a GPU: transformers' choice; with one: flash first, then transformers' choice
    assert asked == [None, "flash_attention_2", None]
    assert causal_lm.with_attention(load, "sdpa", "float32") == "model"
    assert asked[-1] == "sdpa"


def test_rolling_windows_equal_full_context_where_both_apply(tiny_model) -> None:
    adapter = load_adapter(f"hf-causal:path={tiny_model}")
    ids = adapter.encode_score(synthetic_score(2, seconds=40.0), "long").ids
    assert len(ids) > adapter.context_length  # needs windows
    windowed = score_sequences(adapter, [ids], stride=64)[0]
    assert len(windowed) == len(ids) - 1 and not np.isnan(windowed).any()
    # the first window's targets had the full context: identical to one pass over them
    head = score_sequences(adapter, [ids[: adapter.context_length]])[0]
    np.testing.assert_allclose(windowed[: len(head)], head, rtol=1e-5, atol=1e-6)


def test_score_command_writes_ids_and_next_token_losses(tiny_model, tmp_path, midi_folder) -> None:
    file = sorted(midi_folder.glob("*.mid"))[0]
    out = tmp_path / "scores.jsonl"
    assert (
        main(["score", "--model", f"hf-causal:path={tiny_model}", str(file), "--out", str(out)])
        == 0
    )
    line = json.loads(out.read_text().splitlines()[0])
    assert line["source"] == str(file)
    tokens = line["tokens"]
    assert len(line["loss"]) == len(tokens) - 1 == len(line["seconds"])
    model = GPT2LMHeadModel.from_pretrained(tiny_model)
    ids = torch.tensor(tokens[:200])[None]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0], -1)
    expected = [-float(logp[i, tokens[i + 1]]) for i in range(199)]
    np.testing.assert_allclose(line["loss"][:199], expected, rtol=1e-4, atol=1e-5)


def test_bad_specs_fail_with_a_message(tiny_model, tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown adapter"):
        load_adapter("gpt9")
    with pytest.raises(ConfigError, match="unknown option"):
        load_adapter(f"hf-causal:path={tiny_model},temperature=2")
    with pytest.raises(ConfigError, match=r"no miditok tokenizer\.json"):
        load_adapter(f"hf-causal:path={tiny_model},tokenizer={tmp_path}")


def test_fingerprint_changes_with_weights(tiny_model, tmp_path) -> None:
    from tests.helpers import tiny_gpt2

    a = load_adapter(f"hf-causal:path={tiny_model}").fingerprint()
    assert a == load_adapter(f"hf-causal:path={tiny_model}").fingerprint()
    other = tiny_gpt2(tmp_path / "other", seed=1)
    assert load_adapter(f"hf-causal:path={other}").fingerprint() != a


def test_generate_gives_scores_of_at_most_the_asked_length(tiny_model) -> None:
    adapter = load_adapter(f"hf-causal:path={tiny_model}")
    a = adapter.generate(2, top_k=10, seconds=8.0, seed=0)
    b = adapter.generate(2, top_k=10, seconds=8.0, seed=0)
    assert len(a) == 2 and not any(s.is_audio for s in a)
    assert [s.score.dumps_midi() for s in a] == [s.score.dumps_midi() for s in b]


def test_llama_style_model_scores_like_its_own_loss(tmp_path) -> None:
    from transformers import LlamaConfig, LlamaForCausalLM

    from curvebench.adapters.midi_tokens import TOKENIZER_FILE, reference_tokenizer

    torch.manual_seed(0)
    tok = reference_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=128,
        pad_token_id=tok.pad_token_id,
        bos_token_id=tok.vocab["BOS_None"],
        eos_token_id=tok.vocab["EOS_None"],
    )
    LlamaForCausalLM(config).save_pretrained(tmp_path, safe_serialization=True)
    tok.save(tmp_path / TOKENIZER_FILE)
    adapter = load_adapter(f"hf-causal:path={tmp_path}")
    assert adapter.context_length == 128
    ids = adapter.encode_score(synthetic_score(3, seconds=4.0), "x").ids[:100]
    ours = score_sequences(adapter, [ids])[0]
    with torch.no_grad():
        theirs = LlamaForCausalLM.from_pretrained(tmp_path)(
            input_ids=torch.from_numpy(ids)[None], labels=torch.from_numpy(ids)[None]
        ).loss
    assert float(ours.mean()) == pytest.approx(float(theirs), rel=1e-5)


def test_device_option_picks_the_accelerator(tiny_model, monkeypatch) -> None:
    adapter = load_adapter(f"hf-causal:path={tiny_model},device=cpu")
    assert adapter.accelerator == "cpu"
    ids = adapter.encode_score(synthetic_score(0, seconds=3.0), "x").ids
    assert len(score_sequences(adapter, [ids], accelerator="auto")[0]) == len(ids) - 1
    with pytest.raises(ConfigError, match=r"device=cuda: no CUDA GPU on this machine"):
        load_adapter(f"hf-causal:path={tiny_model},device=cuda")  # one line, no traceback
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)  # as on a machine with one GPU
    assert load_adapter(f"hf-causal:path={tiny_model},device=cuda").accelerator == "gpu"
    with pytest.raises(ConfigError, match="device"):
        load_adapter(f"hf-causal:path={tiny_model},device=tpu9")


def test_sampling_stops_once_the_clip_is_drawn_and_keeps_every_piece(monkeypatch) -> None:
    """Rows stop once their bar starts past the clip's seconds: the pieces, cut to the clip,
    are the ones full-length sampling gives with the same seed, from fewer tokens."""
    from curvebench.adapters import hf_causal

    adapter = load_adapter("reference")
    stopped = adapter.generate(8, 10, 6.0, seed=5)
    drawn = adapter.drawn_tokens
    monkeypatch.setattr(
        hf_causal.PastSeconds,
        "__call__",
        lambda self, ids, scores, **kw: torch.zeros(ids.shape[0], dtype=torch.bool),
    )
    full = adapter.generate(8, 10, 6.0, seed=5)
    assert [s.score.dumps_midi() for s in stopped] == [s.score.dumps_midi() for s in full]
    assert drawn < 0.7 * adapter.drawn_tokens
