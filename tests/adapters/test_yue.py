from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.signal import resample_poly
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from curvebench.adapters import load_adapter, registered_adapters
from curvebench.adapters.yue import YuEAdapter
from curvebench.adapters.yue_tokens import (
    EOA,
    SOA,
    STAGE_1,
    STAGE_2,
    XCODEC,
    stage1_ids,
    stage1_text,
    stage2_ids,
)
from curvebench.errors import ConfigError
from tests.helpers import synthetic_score

VOCAB = 45334 + 8 * 1024  # text, specials, then 8 X-Codec codebooks: 53,526


def tiny_xcodec(folder: Path, seed: int = 0) -> Path:
    """A random X-Codec (tiny DAC + 1-layer HuBERT) at 16 kHz / 50 Hz with 8 codebooks of
    1,024, codebooks seeded at random so that different audio gets different codes."""
    from transformers import XcodecConfig, XcodecModel

    torch.manual_seed(seed)
    config = XcodecConfig(
        acoustic_model_config={
            "encoder_hidden_size": 4,
            "decoder_hidden_size": 16,  # halved by each of 4 upsampling blocks
            "hidden_size": 8,
            "codebook_size": 1024,
            "codebook_dim": 4,
        },
        semantic_model_config={
            "hidden_size": 8,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 16,
            "conv_dim": [8] * 7,
            "num_conv_pos_embeddings": 4,
            "num_conv_pos_embedding_groups": 2,
        },
    )
    model = XcodecModel(config).eval()
    with torch.no_grad():
        for i, layer in enumerate(model.quantizer.quantizers):
            layer.codebook.embed.copy_(torch.randn_like(layer.codebook.embed) * 0.5**i)
    model.save_pretrained(folder)
    return folder


def tiny_yue(folder: Path, positions: int = 2048, seed: int = 0) -> Path:
    """A random 1-layer LLaMA with YuE's vocabulary size, a small byte-level text tokenizer
    (ids below 32,000) and a tiny X-Codec in ``folder / "codec"``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    torch.manual_seed(seed)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(list(stage1_text("instrumental pop", "[verse] la la")), trainer)
    PreTrainedTokenizerFast(tokenizer_object=tok).save_pretrained(folder)
    config = LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=positions,
    )
    LlamaForCausalLM(config).save_pretrained(folder, safe_serialization=True)
    tiny_xcodec(folder / "codec", seed)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_yue(tmp_path_factory.mktemp("yue"))


@pytest.fixture(scope="module")
def stage1(model_dir: Path) -> YuEAdapter:
    return load_adapter(f"yue:path={model_dir},codec={model_dir / 'codec'}")


@pytest.fixture(scope="module")
def stage2(model_dir: Path) -> YuEAdapter:
    return load_adapter(f"yue:path={model_dir},codec={model_dir / 'codec'},stage=2")


def noise(seconds: float, sr: int = 32000, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.3, 0.3, int(seconds * sr)).astype(np.float32)


def test_layouts_give_the_ids_worked_out_by_hand() -> None:
    # stage 1: prompt, <SOA> <xcodec>, then (vocal, instrumental) codebook 0 at 45,334 + code
    ids, seconds = stage1_ids([5, 6, 7], np.array([0, 1023]), np.array([10, 20]), 50.0)
    assert ids.tolist() == [5, 6, 7, SOA, XCODEC, 45334, 45344, 46357, 45354]
    assert (SOA, XCODEC) == (32001, 32016)
    np.testing.assert_array_equal(seconds, [np.nan] * 5 + [0, 0, 0.02, 0.02])
    # stage 2: <SOA> <stage_1>, codebook 0 of every frame, <stage_2>, then 8 codes a frame,
    # code c of codebook k at 45,334 + 1,024·k + c
    codes = np.array([[100 * k + t for t in range(2)] for k in range(8)])
    ids, seconds = stage2_ids(codes, 50.0)
    frame = [[45334 + 1024 * k + 100 * k + t for k in range(8)] for t in range(2)]
    assert ids.tolist() == [SOA, STAGE_1, 45334, 45335, STAGE_2, *frame[0], *frame[1]]
    assert (STAGE_1, STAGE_2) == (32013, 32017)
    np.testing.assert_array_equal(
        seconds, [np.nan] * 5 + [np.nan] + [0.0] * 7 + [np.nan] + [0.02] * 7
    )
    # the prompt texts, as YuE's inference writes them for an instrumental
    head, marker, section = stage1_text("instrumental", "[instrumental]")
    assert head == (
        "Generate music from the given lyrics segment by segment.\n[Genre] instrumental\n"
        "[instrumental]\n\n\n"
    )
    assert (marker, section) == ("[start_of_segment]", "[instrumental]\n\n\n")


def test_stage1_encodes_silence_as_vocal_and_the_mix_as_instrumental(stage1) -> None:
    wave = noise(1.0)
    encoded = stage1.encode_audio(wave, 32000, "noise")
    audio = resample_poly(wave.astype(np.float64), 1, 2).astype(np.float32)
    mix = stage1.codec.encode(audio)[0]
    silence = stage1.codec.encode(np.zeros_like(audio))[0]
    assert len(np.unique(mix)) > 5
    ids, _ = stage1_ids(stage1.text_ids, silence, mix, 50.0)
    np.testing.assert_array_equal(encoded.ids, ids)
    assert encoded.first_target == 1 and encoded.ids.ndim == 1
    n_text = len(stage1.text_ids) + 2
    assert np.isnan(encoded.seconds[:n_text]).all()
    frames = (len(encoded.ids) - n_text) // 2
    assert abs(frames - 50) <= 1
    # every audio token sits on its frame: frame t at t / 50 s, two tokens a frame
    np.testing.assert_allclose(encoded.seconds[n_text:], np.repeat(np.arange(frames) / 50, 2))
    both = load_adapter(f"yue:path={stage1.path},codec={stage1.path}/codec,vocal=mix")
    mixed = both.encode_audio(wave, 32000, "noise").ids[n_text:]
    np.testing.assert_array_equal(mixed[0::2], mixed[1::2])


@pytest.mark.parametrize("stage", ["stage1", "stage2"])
def test_per_token_losses_equal_the_models_own_loss(stage, request, model_dir) -> None:
    adapter = request.getfixturevalue(stage)
    encoded = adapter.encode_audio(noise(0.6, seed=1), 32000, "x")
    ids = torch.from_numpy(encoded.ids)[None]
    with torch.no_grad():
        ours = adapter.loss(ids, torch.ones_like(ids, dtype=torch.bool))[0]
        theirs = LlamaForCausalLM.from_pretrained(model_dir)(input_ids=ids, labels=ids).loss
    assert ours.shape == (ids.shape[1] - 1,)
    assert float(ours.mean()) == pytest.approx(float(theirs), rel=1e-5)


def test_stage2_times_only_the_predicted_codebooks(stage2) -> None:
    encoded = stage2.encode_audio(noise(0.5), 32000, "x")
    frames = (len(encoded.ids) - 3) // 9  # <SOA> <stage_1>, T codes, <stage_2>, 8·T codes
    assert len(encoded.ids) == 3 + 9 * frames and abs(frames - 25) <= 1
    body = encoded.seconds[3 + frames :].reshape(frames, 8)
    assert np.isnan(encoded.seconds[: 3 + frames]).all() and np.isnan(body[:, 0]).all()
    np.testing.assert_allclose(body[:, 1:], np.repeat(np.arange(frames)[:, None] / 50, 7, 1))
    # the in-stream codebook 0 is the prompt's codebook 0, frame by frame
    prompt = encoded.ids[2 : 2 + frames]
    np.testing.assert_array_equal(encoded.ids[3 + frames :: 8], prompt)


def test_options_are_registered_and_checked(stage1, model_dir) -> None:
    info = registered_adapters()["yue"]
    assert {"path", "stage", "codec", "tokenizer", "genre", "lyrics", "vocal"} <= set(info.options)
    assert stage1.modality == "audio" and not stage1.can_generate and stage1.pad_id == EOA
    assert stage1.context_length == 2048 and len(stage1.fingerprint()) == 64
    codec = model_dir / "codec"
    with pytest.raises(ConfigError, match="stage"):
        load_adapter(f"yue:path={model_dir},codec={codec},stage=3")
    with pytest.raises(ConfigError, match="vocal"):
        load_adapter(f"yue:path={model_dir},codec={codec},vocal=choir")
    with pytest.raises(ConfigError, match="X-Codec"):
        load_adapter(f"yue:path={model_dir},codec={model_dir / 'none'}")
    with pytest.raises(ConfigError, match="audio, not MIDI"):
        stage1.generate(1, 10, 1.0, 0)
    other = load_adapter(f"yue:path={model_dir},codec={codec},genre=jazz piano")
    assert other.text_ids != stage1.text_ids and other.fingerprint() != stage1.fingerprint()


def test_encode_score_renders_then_encodes(stage1) -> None:
    encoded = stage1.encode_score(synthetic_score(0, seconds=1.0), "short")
    n_text = len(stage1.text_ids) + 2
    assert encoded.duration_s > 1.0  # the render runs on through the release
    assert (len(encoded.ids) - n_text) // 2 == pytest.approx(encoded.duration_s * 50, abs=1)


@pytest.mark.slow
def test_run_command_on_a_tiny_model(model_dir, tmp_path, midi_folder) -> None:
    from curvebench.cli import main

    out = tmp_path / "run"
    spec = f"yue:path={model_dir},codec={model_dir / 'codec'}"
    args = ["run", "--task", "noise-at-5s", "--model", spec, "--data", f"ood={midi_folder}"]
    args += ["--limit", "2", "--no-wandb", "--out", str(out)]
    assert main(args) == 0
    assert (out / "results.json").is_file()
