"""Every GPU figure in one call, for the few minutes a device is lent: the evaluator against a
bare loop (bf16 MFU, GPT-2-medium size, with a profile of two of its batches),
MusicGen-small-size scoring in float32 and bfloat16, the audio path's first run on the
accelerator, and (``--train``) the reference model trained to its full recipe. Each step
runs as its own process under a share of ``--budget`` seconds; what it printed (its JSON
lines) and how it ended go to ``OUT/suite.jsonl`` and stdout.

    python benchmarks/gpu_suite.py --out "$OUT" [--budget 480] [--train]
    python benchmarks/gpu_suite.py --out /tmp/suite --smoke     # the smallest sizes, on a CPU

``--smoke`` tries the script where no GPU is: each step at its smallest size on the CPU, and
the steps that need CUDA reported as skipped.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
CLI = str(Path(sys.executable).parent / "curvebench")


def steps(smoke: bool, train: bool, out: Path) -> list[tuple[str, list[str] | None, float]]:
    """(name, command or None when it cannot run here, share of the budget)."""
    py = sys.executable
    throughput = [py, str(HERE / "gpu_throughput.py"), "--json", "--profile"]
    musicgen = [py, str(HERE / "musicgen_gpu.py"), "--json", "--dtype"]
    audio = [py, str(HERE / "audio_throughput.py"), "--json"]
    training = [CLI, "train-reference", "--out", str(out / "reference")]
    if smoke:
        tiny = ["--tiny", "--sequences", "4", "--batch-size", "2", "--repeats", "1"]
        return [
            ("harness-vs-bare-bf16", [*throughput, *tiny], 0.4),
            ("musicgen-float32", None, 0.0),
            ("musicgen-bfloat16", None, 0.0),
            ("audio-first-run", [*audio, "--limit", "1", "--repeats", "1"], 0.6),
            ("train-reference", None, 0.0),  # its corpus stage alone takes many CPU minutes
        ]
    full_training = ["--name", "reference", "--max-steps", "4000", "--device", "cuda"]
    return [
        ("harness-vs-bare-bf16", [*throughput, "--sequences", "1024", "--repeats", "5"], 0.2),
        ("musicgen-float32", [*musicgen, "float32"], 0.15),
        ("musicgen-bfloat16", [*musicgen, "bfloat16"], 0.15),
        ("audio-first-run", [*audio, "--accelerator", "gpu", "--repeats", "3"], 0.2),
        ("train-reference", [*training, *full_training] if train else None, 0.3),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder for suite.jsonl (and the model)")
    parser.add_argument("--budget", type=float, default=480.0, help="seconds for every step")
    parser.add_argument("--train", action="store_true", help="train reference to its recipe")
    parser.add_argument("--smoke", action="store_true", help="smallest sizes, on the CPU")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    failed = 0
    with open(out / "suite.jsonl", "w") as log:
        for name, command, share in steps(args.smoke, args.train, out):
            record: dict[str, object] = {"step": name}
            if command is None:
                record["skipped"] = (
                    "needs CUDA"
                    if not name.startswith("train")
                    else ("not with --smoke" if args.smoke else "no --train")
                )
            else:
                began = time.perf_counter()
                try:
                    done = subprocess.run(
                        command,
                        capture_output=True,
                        text=True,
                        timeout=max(30.0, share * args.budget),
                        cwd=HERE.parent,
                    )
                    record["rc"] = done.returncode
                    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
                    record["results"] = [json.loads(line) for line in lines]
                    if done.returncode:
                        record["stderr"] = done.stderr[-1500:]
                        failed += 1
                except subprocess.TimeoutExpired:
                    record["rc"] = "timeout"
                    failed += 1
                record["seconds"] = round(time.perf_counter() - began, 1)
            text = json.dumps(record)
            log.write(text + "\n")
            log.flush()
            print(text, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
