"""Sampling the generated role: curvebench's sampler against a bare batched ``generate`` over the
same rows, tokens per second, tokens drawn against tokens scored, and torch's thread count on an
idle or a busy machine.

    python benchmarks/generation.py --json [--model reference] [--rows 8] [--repeats 5]
                                           [--threads 1,2] [--busy 0]

For each top-k (10, 250) and each thread count, after one warm-up, the harness
(``adapter.generate``: rows stop once their clip is drawn) and the bare loop (the model's own
``generate`` with the same seed, every row to the context length) run alternately ``--repeats``
times, so machine noise and order hit both alike. One JSON line per (k, threads): medians and
spread (min–max) of both, their ratio, tokens drawn by each, the tokens the clipped pieces
score, and the harness's tokens per second. ``--busy N`` keeps N processes spinning on the CPU
for the whole measurement (a shared machine); ``--threads`` takes counts or ``default`` (what a
run picks: :func:`curvebench.threads.default_threads`, read once the busy processes run).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import statistics
import time
import warnings

import torch


def _spin() -> None:
    while True:
        pass


def _bare(adapter, rows: int, top_k: int, seed: int) -> tuple[float, int]:
    """Seconds and tokens of the model's own batched generate, every row to the context."""
    tok = adapter.tokenizer
    torch.manual_seed(seed)
    start = torch.full((rows, 1), tok.vocab["BOS_None"], dtype=torch.long)
    began = time.perf_counter()
    out = adapter.model.generate(
        input_ids=start,
        attention_mask=torch.ones_like(start),
        do_sample=True,
        top_k=top_k,
        max_new_tokens=adapter.context_length - 1,
        pad_token_id=adapter.pad_id,
        eos_token_id=tok.vocab.get("EOS_None"),
    )
    return time.perf_counter() - began, int((out[:, 1:] != adapter.pad_id).sum())


def _harness(adapter, rows: int, top_k: int, seconds: float, seed: int) -> tuple[float, int, int]:
    """Seconds, tokens drawn and tokens scored of curvebench's sampler."""
    began = time.perf_counter()
    samples = adapter.generate(rows, top_k, seconds, seed)
    took = time.perf_counter() - began
    scored = sum(len(adapter.encode_score(s.score, "sample").ids) for s in samples)
    return took, adapter.drawn_tokens, scored


def _spread(values: list[float]) -> list[float]:
    return [round(min(values), 3), round(max(values), 3)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="reference")
    parser.add_argument("--rows", type=int, default=8, help="rows sampled together (a chunk)")
    parser.add_argument("--seconds", type=float, default=15.0, help="the task's clip")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", default="1,2", help="comma-separated counts or default")
    parser.add_argument("--busy", type=int, default=0, help="processes spinning meanwhile")
    parser.add_argument("--json", action="store_true", help="one JSON line per setting")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    from curvebench.adapters import load_adapter
    from curvebench.threads import default_threads

    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for p in spinners:
        p.start()
    try:
        if spinners:
            time.sleep(65)  # let the 1-minute load average see them
        adapter = load_adapter(args.model)
        counts = [default_threads() if c == "default" else int(c) for c in args.threads.split(",")]
        for top_k in (10, 250):
            for threads in counts:
                torch.set_num_threads(threads)
                _harness(adapter, args.rows, top_k, args.seconds, 0)  # warm-up
                _bare(adapter, args.rows, top_k, 0)
                ours, bare = [], []
                for r in range(1, args.repeats + 1):
                    took, drawn, scored = _harness(adapter, args.rows, top_k, args.seconds, r)
                    ours.append(took)
                    took_bare, drawn_bare = _bare(adapter, args.rows, top_k, r)
                    bare.append(took_bare)
                row = {
                    "model": args.model,
                    "top_k": top_k,
                    "threads": threads,
                    "busy": args.busy,
                    "rows": args.rows,
                    "harness_s": round(statistics.median(ours), 3),
                    "harness_range": _spread(ours),
                    "bare_s": round(statistics.median(bare), 3),
                    "bare_range": _spread(bare),
                    "ratio": round(statistics.median(ours) / statistics.median(bare), 3),
                    "tokens_drawn": drawn,
                    "tokens_drawn_bare": drawn_bare,
                    "tokens_scored": scored,
                    "tokens_per_s": round(drawn / statistics.median(ours), 1),
                }
                print(json.dumps(row) if args.json else row, flush=True)
    finally:
        for p in spinners:
            p.kill()


if __name__ == "__main__":
    main()
