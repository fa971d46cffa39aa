"""bf16 throughput and model FLOPs utilisation of a 100M+-parameter causal LM on one GPU,
through curvebench's evaluator and through a bare forward loop.

    python benchmarks/gpu_throughput.py --json [--sequences 256] [--batch-size 32] [--repeats 5]

The model is a randomly initialised GPT-2 medium (24 layers, d=1024, context 1,024: 303M
parameters besides the embeddings) over the reference tokenizer's vocabulary, in bfloat16; the
input is random token ids of the full context length. FLOPs per token are the forward pass's
2·N + 2·n_layer·n_ctx·d (N: parameters, the LM head included); MFU divides the achieved FLOP/s
by the GPU's dense bf16 peak (``--peak-tflops``, default 989 for an H100 SXM).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from throughput import harness, interleaved, raw


def build_model(folder: Path, tiny: bool = False) -> None:
    """A random GPT-2 medium in bf16 with the reference tokenizer beside it (``tiny``: a
    2-layer one, to try the script on a CPU)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    import curvebench
    from curvebench.adapters.midi_tokens import load_tokenizer

    tokenizer = Path(curvebench.__file__).parent / "models" / "reference" / "tokenizer.json"
    vocab = len(load_tokenizer(tokenizer))
    size = (
        dict(n_embd=64, n_layer=2, n_head=2) if tiny else dict(n_embd=1024, n_layer=24, n_head=16)
    )
    config = GPT2Config(vocab_size=vocab, n_positions=1024, **size)
    torch.manual_seed(0)
    GPT2LMHeadModel(config).to(torch.bfloat16).save_pretrained(folder)
    shutil.copy(tokenizer, folder / "tokenizer.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sequences", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--peak-tflops", type=float, default=989.0)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="a 2-layer model on the CPU (a try)")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    from curvebench.adapters.hf_causal import HFCausalAdapter

    with tempfile.TemporaryDirectory() as tmp:
        build_model(Path(tmp), args.tiny)
        device = "cpu" if args.tiny else "cuda"
        adapter = HFCausalAdapter(tmp, dtype="bfloat16", device=device)
    cfg = adapter.model.config
    rng = np.random.default_rng(0)
    ctx = adapter.context_length
    sequences = [rng.integers(4, cfg.vocab_size, ctx) for _ in range(args.sequences)]
    tokens = args.sequences * (ctx - 1)
    params = sum(p.numel() for p in adapter.model.parameters())
    flops_per_token = 2 * params + 2 * cfg.n_layer * ctx * cfg.n_embd
    bs = args.batch_size
    times = interleaved(
        {
            "harness": lambda: harness(adapter, sequences, bs, accelerator=adapter.accelerator),
            "raw": lambda: raw(adapter, sequences, bs, device=device),
        },
        args.repeats,
    )
    out = {
        "device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu",
        "torch": torch.__version__,
        "parameters": params,
        "dtype": "bfloat16",
        "batch_size": bs,
        "sequences": args.sequences,
        "tokens": tokens,
        "repeats": args.repeats,
    }
    for side in ("harness", "raw"):
        median = float(np.median(times[side]))
        rate = tokens / median
        out[f"{side}_tokens_per_s"] = round(rate)
        out[f"{side}_tokens_per_s_range"] = [
            round(tokens / max(times[side])),
            round(tokens / min(times[side])),
        ]
        out[f"{side}_mfu"] = round(rate * flops_per_token / (args.peak_tflops * 1e12), 3)
    ratios = [r / h for r, h in zip(times["raw"], times["harness"], strict=True)]
    out["ratio"] = round(float(np.median(ratios)), 3)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
