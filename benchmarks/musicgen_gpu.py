"""How long the paper's MusicGen-small experiment takes on a GPU: scoring 15 s clips (750
frames × 4 codebooks) with a model of musicgen-small's size through curvebench's evaluator.

    python benchmarks/musicgen_gpu.py --json [--clips 64] [--batch-size 16] [--dtype float32]

The weights are random (no download here), built with facebook/musicgen-small's configuration
(decoder: 24 layers, width 1,024, 16 heads, 4 codebooks of 2,048, a T5-base text encoder,
EnCodec at 32 kHz): the time per clip is that of the real model. Reported for both layouts:
the delay pattern (curvebench's default) and the paper scripts' feeding.
"""

from __future__ import annotations

import argparse
import json
import logging
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import torch


def build(folder: Path) -> None:
    """A random MusicGen with musicgen-small's configuration, saved to ``folder``."""
    from transformers import (
        EncodecConfig,
        MusicgenConfig,
        MusicgenDecoderConfig,
        MusicgenForConditionalGeneration,
        T5Config,
    )

    torch.manual_seed(0)
    text = T5Config()  # t5-base sizes
    codec = EncodecConfig(
        sampling_rate=32000,
        upsampling_ratios=[8, 5, 4, 4],
        codebook_size=2048,
        target_bandwidths=[2.2],
        num_filters=64,
        hidden_size=128,
        num_lstm_layers=2,
    )
    decoder = MusicgenDecoderConfig(
        vocab_size=2048,
        hidden_size=1024,
        ffn_dim=4096,
        num_hidden_layers=24,
        num_attention_heads=16,
        num_codebooks=4,
        max_position_embeddings=2048,
        pad_token_id=2048,
        bos_token_id=2048,
        decoder_start_token_id=2048,
    )
    config = MusicgenConfig(text_encoder=text, audio_encoder=codec, decoder=decoder)
    MusicgenForConditionalGeneration(config).save_pretrained(folder)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--clips", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    from curvebench.adapters.musicgen import MusicGenAdapter
    from curvebench.benchmark.scoring import score_sequences

    out = {"device": torch.cuda.get_device_name(0), "clips": args.clips, "dtype": args.dtype}
    with tempfile.TemporaryDirectory() as tmp:
        build(Path(tmp))
        rng = np.random.default_rng(0)
        codes = [rng.integers(0, 2048, size=(4, 750)) for _ in range(args.clips)]
        for layout in ("delay", "paper"):
            adapter = MusicGenAdapter(tmp, dtype=args.dtype, layout=layout)
            out["parameters"] = adapter.num_parameters()
            score_sequences(adapter, codes[:2], batch_size=2, accelerator="gpu")  # warm-up
            torch.cuda.synchronize()
            start = time.perf_counter()
            score_sequences(adapter, codes, batch_size=args.batch_size, accelerator="gpu")
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            out[f"{layout}_clips_per_s"] = round(args.clips / seconds, 2)
            out[f"{layout}_music_seconds_per_s"] = round(15 * args.clips / seconds, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
