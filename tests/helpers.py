"""Tiny music and tiny models, built offline for the tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from symusic import Note, Score, Tempo, Track
from transformers import GPT2Config, GPT2LMHeadModel

from curvebench.adapters.midi_tokens import TOKENIZER_FILE, reference_tokenizer


def synthetic_score(seed: int, seconds: float = 20.0, qpm: float = 120.0, tpq: int = 480) -> Score:
    """A melody of eighth notes over a bass of half notes, ``seconds`` long."""
    rng = np.random.default_rng(seed)
    score = Score(tpq)
    score.tempos.append(Tempo(0, qpm))
    melody, bass = Track("melody", 0, False), Track("bass", 32, False)
    eighth = tpq // 2
    n = int(seconds * qpm / 60 * 2)
    pitch = 67
    for i in range(n):
        pitch = int(np.clip(pitch + rng.choice([-2, -1, 1, 2]), 55, 84))
        melody.notes.append(Note(i * eighth, eighth, pitch, 80))
        if i % 4 == 0:
            bass.notes.append(Note(i * eighth, 4 * eighth, 43 + int(rng.integers(0, 12)), 70))
    score.tracks.extend([melody, bass])
    return score


def write_midi_folder(folder: Path, n: int, seconds: float = 20.0) -> list[Path]:
    """``n`` synthetic MIDI files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        path = folder / f"piece{i:02d}.mid"
        path.write_bytes(synthetic_score(i, seconds).dumps_midi())
        paths.append(path)
    return paths


def tiny_gpt2(folder: Path, context: int = 256, seed: int = 0) -> Path:
    """A random 1-layer GPT-2 with the reference tokenizer, saved as a model folder."""
    import torch

    torch.manual_seed(seed)
    tok = reference_tokenizer()
    config = GPT2Config(
        vocab_size=len(tok),
        n_positions=context,
        n_embd=32,
        n_layer=1,
        n_head=2,
        bos_token_id=tok.vocab["BOS_None"],
        eos_token_id=tok.vocab["EOS_None"],
        pad_token_id=tok.pad_token_id,
    )
    GPT2LMHeadModel(config).save_pretrained(folder, safe_serialization=True)
    tok.save(folder / TOKENIZER_FILE)
    return folder


def tiny_musicgen_model(
    folder: Path, codebooks: int = 4, card: int = 16, positions: int = 64
) -> Path:
    """A random MusicGen (1-layer T5, small EnCodec at 32 kHz / 50 Hz, 2-layer decoder) whose
    special start/pad token is ``card``, as in MusicGen; saved with save_pretrained."""
    import torch
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    torch.manual_seed(0)
    text = T5Config(vocab_size=32, d_model=8, d_kv=4, d_ff=16, num_layers=1, num_heads=2)
    codec = EncodecConfig(
        sampling_rate=32000,
        upsampling_ratios=[8, 5, 4, 4],  # hop 640: 50 frames per second
        codebook_size=card,
        codebook_dim=8,
        target_bandwidths=[codebooks * np.log2(card) * 50 / 1000],  # exactly K codebooks
        hidden_size=8,
        num_filters=2,
        num_lstm_layers=1,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=card,
        hidden_size=16,
        ffn_dim=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_codebooks=codebooks,
        max_position_embeddings=positions,
        pad_token_id=card,
        bos_token_id=card,
        decoder_start_token_id=card,
    )
    config = MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=decoder)
    model = MusicgenForConditionalGeneration(config)
    # EnCodec's codebooks start all-zero: seed each with frames of the encoder's own output on
    # noise (as k-means would), so that different audio gets different codes
    with torch.no_grad():
        frames = model.audio_encoder.encoder(torch.randn(1, 1, 32000) * 0.3)[0].T
        for i, layer in enumerate(model.audio_encoder.quantizer.layers):
            picks = frames[torch.randperm(len(frames))[:card]]
            layer.codebook.embed.copy_(picks * (0.5**i))
    model.save_pretrained(folder)
    return folder


def length_sweep_with_sharing_on_and_off(adapter_class: type, model: str, midi: Path, out: Path):
    """The noise-length-sweep on two pieces of the folder ``midi``, uncached, once with prefix
    sharing and once without; returns (shared, scratch, calls), ``calls`` holding (prefix
    steps, copies) of each ``loss_from_prefix`` call of the shared run."""
    import pytest

    from curvebench.api import RunOptions, run

    calls = []
    original = adapter_class.loss_from_prefix

    def counting(self, prefix, continuations, mask):
        calls.append((prefix.shape[-1], continuations.shape[0]))
        return original(self, prefix, continuations, mask)

    common = dict(
        tasks=("noise-length-sweep",),
        model=model,
        data=(f"ood={midi}",),
        limit=2,
        wandb=False,
        use_cache=False,
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(adapter_class, "loss_from_prefix", counting)
        shared = run(RunOptions(**common, out=out / "shared"))
    scratch = run(RunOptions(**common, out=out / "scratch", share_prefixes=False))
    return shared, scratch, calls
