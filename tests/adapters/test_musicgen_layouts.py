from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from curvebench.adapters import load_adapter
from curvebench.adapters.musicgen import MusicGenAdapter
from curvebench.errors import ConfigError
from tests.helpers import tiny_musicgen_model

K, CARD, POSITIONS = 4, 16, 128


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random MusicGen with a small word-level text tokenizer beside it."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    out = tiny_musicgen_model(tmp_path_factory.mktemp("musicgen"), K, CARD, POSITIONS)
    vocab = {"<pad>": 0, "</s>": 1, "<unk>": 2, "calm": 3, "piano": 4, "music": 5}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.post_processor = processors.TemplateProcessing(
        single="$A </s>", special_tokens=[("</s>", 1)]
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.save_pretrained(out)
    return out


def audio(seconds: float = 1.2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * 32000)) / 32000
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * rng.standard_normal(t.size)).astype(
        np.float32
    )


def losses(adapter: MusicGenAdapter, codes: np.ndarray) -> torch.Tensor:
    ids = torch.as_tensor(codes)[None]
    with torch.no_grad():
        return adapter.loss(ids, torch.ones(1, ids.shape[-1], dtype=torch.bool))[0]


def test_paper_layout_is_the_paper_scripts_feeding(folder: Path) -> None:
    adapter = load_adapter(f"musicgen:path={folder},layout=paper")
    assert adapter.settings() == {"layout": "paper", "condition": "none"}
    wave = audio()
    ours = losses(adapter, adapter.encode_audio(wave, 32000, "clip").ids)
    # the script (losscal/loss_cal_small.py), step by step: encode without a bandwidth (the
    # config's first), feed codes[:-1] to the decoder alone, cross-entropy against codes[1:]
    model = adapter.model
    with torch.no_grad():
        tokens = model.audio_encoder.encode(torch.as_tensor(wave)[None, None]).audio_codes.long()
        b, c, k, t = tokens.shape
        inputs, targets = tokens[..., :-1], tokens[..., 1:]
        logits = model.decoder(inputs.reshape(b, c * k, -1)).logits.reshape(b * c, k, t - 1, -1)
    paper = torch.stack(
        [
            F.cross_entropy(logits[0, j], targets.reshape(b * c, k, -1)[0, j], reduction="none")
            for j in range(k)
        ]
    )  # [K, T - 1]: position i is frame i + 1, predicted from frames 0..i
    assert ours.shape == (K, t) and t == 60
    torch.testing.assert_close(ours[:, 1:], paper, rtol=1e-5, atol=1e-6)
    assert (ours[:, 0] == 0).all()  # frame 0 is never predicted in that feeding
    # the per-frame curve is the script's CSV (mean over codebooks), one frame later
    torch.testing.assert_close(ours.mean(0)[1:], paper.mean(0), rtol=1e-5, atol=1e-6)


def test_paper_layout_is_causal_over_whole_frames(folder: Path) -> None:
    adapter = load_adapter(f"musicgen:path={folder},layout=paper")
    codes = np.random.default_rng(1).integers(0, CARD, (K, 30))
    changed = codes.copy()
    changed[2, 12] = (codes[2, 12] + 1) % CARD  # one code of frame 12
    before, after = losses(adapter, codes), losses(adapter, changed)
    # frames up to 12 are predicted from frames before 12: all of their losses stay, except
    # the changed code's own; from frame 13 on every codebook sees it
    same = torch.ones(K, 30, dtype=torch.bool)
    same[2, 12], same[:, 13:] = False, False
    torch.testing.assert_close(after[same], before[same], rtol=0, atol=1e-6)
    assert ((after[~same] - before[~same]).abs() > 1e-7).all()


def test_paper_layout_batches_with_padding(folder: Path) -> None:
    adapter = load_adapter(f"musicgen:path={folder},layout=paper,condition=null")
    rng = np.random.default_rng(2)
    long, short = rng.integers(0, CARD, (K, 20)), rng.integers(0, CARD, (K, 11))
    ids = torch.full((2, K, 20), adapter.pad_id)
    ids[0], ids[1, :, :11] = torch.as_tensor(long), torch.as_tensor(short)
    mask = torch.zeros(2, 20, dtype=torch.bool)
    mask[0], mask[1, :11] = True, True
    with torch.no_grad():
        batch = adapter.loss(ids, mask)
    torch.testing.assert_close(batch[1, :, :11], losses(adapter, short), rtol=1e-5, atol=1e-6)
    assert (batch[1, :, 11:] == 0).all()


def test_conditions_change_losses_settings_and_fingerprint(folder: Path) -> None:
    default = load_adapter(f"musicgen:path={folder}")
    assert default.settings() == {"layout": "delay", "condition": "null"}
    codes = np.random.default_rng(3).integers(0, CARD, (K, 16))
    by_condition = {}
    for condition in ("null", "none", "empty", "calm piano"):
        adapter = load_adapter(f"musicgen:path={folder},condition={condition}")
        assert adapter.settings()["condition"] == condition
        by_condition[condition] = (losses(adapter, codes), adapter.fingerprint())
    assert by_condition["null"][1] == default.fingerprint()  # explicit default: same cache key
    prints = {fp for _, fp in by_condition.values()}
    assert len(prints) == 4
    # transformers masks the null state to zeros before the bias-free cross-attention, whose
    # output is then zero: MusicGen's null condition is the decoder without cross-attention
    torch.testing.assert_close(by_condition["null"][0], by_condition["none"][0])
    values = [by_condition[c][0] for c in ("null", "empty", "calm piano")]
    for i in range(3):
        for j in range(i + 1, 3):
            assert not torch.allclose(values[i], values[j])


def test_a_text_prompt_is_the_models_own_text_conditioned_loss(folder: Path) -> None:
    adapter = load_adapter(f"musicgen:path={folder},condition=calm piano")
    codes = torch.as_tensor(np.random.default_rng(4).integers(0, CARD, (1, K, 12)))
    ours = losses(adapter, codes[0].numpy())
    delayed = torch.full((1, K, 12 + K), CARD)
    for k in range(K):
        delayed[:, k, k + 1 : k + 13] = codes[:, k]
    text = torch.tensor([[3, 4, 1]])  # "calm piano" + </s>
    with torch.no_grad():
        theirs = adapter.model(
            input_ids=text,
            attention_mask=torch.ones_like(text),
            labels=delayed[:, :, 1:].transpose(1, 2),
        ).loss
    assert float(ours.mean()) == pytest.approx(float(theirs), rel=1e-5)


def test_bad_options_are_config_errors(folder: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="layout"):
        load_adapter(f"musicgen:path={folder},layout=interleaved")
    with pytest.raises(ConfigError, match="condition"):
        load_adapter(f"musicgen:path={folder},condition= ")
    bare = tiny_musicgen_model(tmp_path / "bare", K, CARD, POSITIONS)  # no tokenizer files
    adapter = load_adapter(f"musicgen:path={bare},condition=calm piano")
    with pytest.raises(ConfigError, match="knows none of the words"):
        losses(adapter, np.zeros((K, 4), dtype=np.int64))
