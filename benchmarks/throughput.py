"""Throughput of curvebench's evaluator against a bare forward loop, the saving from scoring
each original once, and how peak memory grows with the number of items.

    python benchmarks/throughput.py --json [--model reference] [--limit 16] [--batch-size 16]
                                           [--repeats 5]

After one warm-up of each, the harness and the bare loop run alternately ``--repeats`` times
(so machine noise and order hit both alike); the line reports the medians, the spread
(min–max) and the median ratio, plus sharing_speedup, peak_rss_mb and rss_growth (peak RSS at
10x the items over 1x, each in a fresh process).
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import subprocess
import sys
import time
import warnings

import numpy as np
import torch


def sequences_of_the_sweep(model: str, limit: int) -> tuple[object, list, list, list]:
    """The reference noise-length-sweep on the embedded training split: the unique sequences
    curvebench scores, every pair's (original, copy) as scoring from scratch would, and the
    prefix groups (an original's index, then its copies') curvebench shares."""
    from curvebench.adapters import load_adapter
    from curvebench.benchmark.plan import Plan, plan_task
    from curvebench.data.sources import embedded_specs, iter_pieces, load_split
    from curvebench.tasks import load_task

    adapter = load_adapter(model)
    spec = embedded_specs()[0]
    pieces = list(iter_pieces(spec, load_split(spec), limit))
    plan = Plan()
    plan_task(plan, load_task("noise-length-sweep"), adapter, pieces)
    context = adapter.context_length

    def ids(key: str) -> np.ndarray:
        return plan.sequences[key].ids[:context]  # one window each: the same work for both

    keys = list(plan.sequences)
    unique = [ids(k) for k in keys]
    scratch = [ids(k) for p in plan.pairs for k in (p.original, p.perturbed)]
    index = {k: i for i, k in enumerate(keys)}
    groups: dict[str, list[int]] = {}
    for p in plan.pairs:
        groups.setdefault(p.original, [index[p.original]]).append(index[p.perturbed])
    return adapter, unique, scratch, list(groups.values())


def harness(
    adapter,
    sequences: list,
    batch_size: int,
    groups: list | None = None,
    accelerator: str = "cpu",
) -> float:
    """Seconds curvebench's evaluator takes to score the sequences."""
    from curvebench.benchmark.scoring import score_sequences

    _sync(accelerator)
    start = time.perf_counter()
    score_sequences(
        adapter, sequences, batch_size=batch_size, accelerator=accelerator, share_prefixes=groups
    )
    _sync(accelerator)
    return time.perf_counter() - start


def _sync(accelerator: str) -> None:
    if accelerator == "gpu" and torch.cuda.is_available():
        torch.cuda.synchronize()


def raw(adapter, sequences: list, batch_size: int, device: str = "cpu") -> float:
    """A bare batched loop: the same model, the same length-sorted batches, no Lightning; the
    per-token losses brought back to the host as the harness does."""
    model = adapter.module.to(device)
    order = sorted(range(len(sequences)), key=lambda i: -len(sequences[i]))
    _sync("gpu" if device != "cpu" else "cpu")
    start = time.perf_counter()
    with torch.inference_mode():
        for s in range(0, len(order), batch_size):
            batch = [sequences[i] for i in order[s : s + batch_size]]
            width = max(len(b) for b in batch)
            ids = torch.full((len(batch), width), adapter.pad_id, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for b, seq in enumerate(batch):
                ids[b, : len(seq)] = torch.from_numpy(seq)
                mask[b, : len(seq)] = 1
            ids, mask = ids.to(device), mask.to(device)
            logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
            nll = -torch.log_softmax(logits, -1).gather(-1, ids[:, 1:, None]).squeeze(-1)
            nll.masked_fill(mask[:, 1:] == 0, 0.0).cpu().numpy()
    return time.perf_counter() - start


def interleaved(runs: dict[str, object], repeats: int) -> dict[str, list[float]]:
    """Each callable once as a warm-up, then all of them in turn ``repeats`` times: seconds."""
    for fn in runs.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            times[name].append(fn())
    return times


def peak_rss(model: str, limit: int, repeat: int, batch_size: int) -> float:
    """Peak RSS (MB) of a fresh process that scores the sweep's sequences ``repeat`` times over."""
    code = (
        "import resource,sys; sys.path.insert(0, 'benchmarks'); import throughput as t; "
        f"a, u, _, _ = t.sequences_of_the_sweep({model!r}, {limit}); "
        f"t.harness(a, u * {repeat}, {batch_size}); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="reference")
    parser.add_argument("--limit", type=int, default=16, help="pieces of the training split")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each side")
    parser.add_argument(
        "--json", action="store_true", help="one JSON line (the default prints it too)"
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")

    adapter, unique, scratch, groups = sequences_of_the_sweep(args.model, args.limit)
    tokens = sum(len(s) - 1 for s in unique)
    bs = args.batch_size
    times = interleaved(
        {
            "harness": lambda: harness(adapter, unique, bs),
            "raw": lambda: raw(adapter, unique, bs),
        },
        args.repeats,
    )
    ratios = [r / h for r, h in zip(times["raw"], times["harness"], strict=True)]
    harness_s, raw_s = np.median(times["harness"]), np.median(times["raw"])
    scratch_s = harness(adapter, scratch, bs)
    shared_s = harness(adapter, unique, bs, groups)
    rss_1 = peak_rss(args.model, args.limit, 1, bs)
    rss_10 = peak_rss(args.model, args.limit, 10, bs)
    result = {
        "model": args.model,
        "threads": torch.get_num_threads(),
        "batch_size": bs,
        "repeats": args.repeats,
        "sequences": len(unique),
        "tokens": tokens,
        "harness_tokens_per_s": round(tokens / harness_s),
        "harness_tokens_per_s_range": [
            round(tokens / max(times["harness"])),
            round(tokens / min(times["harness"])),
        ],
        "raw_tokens_per_s": round(tokens / raw_s),
        "raw_tokens_per_s_range": [
            round(tokens / max(times["raw"])),
            round(tokens / min(times["raw"])),
        ],
        "ratio": round(float(np.median(ratios)), 3),
        "ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
        "scratch_sequences": len(scratch),
        "originals_once_speedup": round(scratch_s / harness_s, 2),
        "sharing_speedup": round(scratch_s / shared_s, 2),
        "peak_rss_mb": round(rss_1, 1),
        "peak_rss_mb_10x": round(rss_10, 1),
        "rss_growth": round(rss_10 / rss_1, 2),
        "max_rss_this_process_mb": round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
        ),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
