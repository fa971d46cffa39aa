"""bf16 throughput and model FLOPs utilisation of a 100M+-parameter causal LM on one GPU,
through curvebench's evaluator and through a bare forward loop.

    python benchmarks/gpu_throughput.py --json [--sequences 256] [--batch-size 32] [--repeats 5]
                                       [--profile]

The model is a randomly initialised GPT-2 medium (24 layers, d=1024, context 1,024: 303M
parameters besides the embeddings) over the reference tokenizer's vocabulary, in bfloat16; the
input is random token ids of the full context length. FLOPs per token are the forward pass's
2·N + 2·n_layer·n_ctx·d (N: parameters, the LM head included); MFU divides the achieved FLOP/s
by the GPU's dense bf16 peak (``--peak-tflops``, default 989 for an H100 SXM). ``--profile``
adds what one harness pass over two batches spends its time on (``profile``: the top kernels,
host syncs, device-to-host copies and the per-token loss's share), to find what holds MFU.
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
    parser.add_argument(
        "--profile", action="store_true", help="also profile the harness on two batches"
    )
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
    if args.profile:
        out["profile"] = profile_harness(adapter, sequences[: 2 * bs], bs, device)
    print(json.dumps(out))


SYNCS = ("cudaStreamSynchronize", "cudaDeviceSynchronize", "aten::_local_scalar_dense")
"""Profiler events that make the host wait for the device."""
LOSS_OPS = ("log_softmax", "gather", "nll_loss", "masked_fill")
"""The per-token loss's operators (their kernels' names contain these)."""


def profile_harness(adapter, sequences: list, batch_size: int, device: str) -> dict:
    """What one harness pass over ``sequences`` spends its time on: the 10 operators or
    kernels with the most self time on the device (the CPU's when there is no GPU), the host
    syncs, the device-to-host copies, and the per-token loss's share."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU]
    if device == "cuda":
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        harness(adapter, sequences, batch_size, accelerator=adapter.accelerator)
    events = prof.key_averages()

    def own(e) -> float:  # microseconds of self time where the work runs
        return float(e.self_device_time_total if device == "cuda" else e.self_cpu_time_total)

    total = sum(own(e) for e in events) or 1.0
    top = sorted(events, key=own, reverse=True)[:10]
    copies = [e for e in events if "Memcpy DtoH" in e.key or "memcpy" in e.key.lower()]
    return {
        "clock": "device" if device == "cuda" else "cpu",
        "total_ms": round(total / 1e3, 2),
        "top": [{"name": e.key[:80], "ms": round(own(e) / 1e3, 3), "calls": e.count} for e in top],
        "host_syncs": {k: e.count for e in events for k in SYNCS if e.key == k},
        "device_to_host_copies": sum(e.count for e in copies),
        "loss_share": round(
            sum(own(e) for e in events if any(op in e.key for op in LOSS_OPS)) / total, 4
        ),
    }


if __name__ == "__main__":
    main()
