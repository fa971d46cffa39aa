"""Wall time of a prepare-heavy audio run on 1 and on N devices (CPU processes here, GPUs where
lent): ``curvebench run`` on pieces of the embedded training split, every run from empty
caches, so rendering, the waveform noise and the codec are most of it.

    python benchmarks/devices.py --json [--model audio-reference] [--pieces 16]
        [--task noise-length-sweep] [--devices 1,2] [--accelerator cpu] [--repeats 3]

Each run gets ``--cores`` CPU threads in all (each of its N processes cores / N: ``--threads``),
so that one device prepares on that many worker processes and N devices on their ranks. The
device counts run in turn ``--repeats`` times (so machine noise hits all alike), each
command timed whole (start-up, loading the model, prepare, score, write); the medians and
ranges are reported with the run's own stage timings (``prepare``, ``score``) from one of its
lines of output, and whether every device count wrote the same results.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_pieces(folder: Path, n: int) -> int:
    """The first ``n`` pieces of the embedded training split as MIDI files in ``folder``."""
    from curvebench.data.sources import embedded_specs, iter_pieces, load_split

    spec = embedded_specs()[0]
    pieces = list(iter_pieces(spec, load_split(spec), n))
    for piece in pieces:
        (folder / f"{piece.id.replace('/', '_')}.mid").write_bytes(piece.midi)
    return len(pieces)


def one_run(args, devices: int, data: Path) -> tuple[float, dict, dict]:
    """Seconds of one cold run on ``devices``, its results and its stage timings."""
    work = Path(tempfile.mkdtemp(prefix="devices-bench-"))
    command = [
        sys.executable,
        "-m",
        "curvebench.cli",
        "run",
        "--model",
        args.model,
        "--task",
        args.task,
        "--data",
        f"training={data}",
        "--no-wandb",
        "--accelerator",
        args.accelerator,
        "--devices",
        str(devices),
        "--cache-dir",
        str(work / "cache"),
        "--out",
        str(work / "out"),
        "--threads",
        str(max(1, args.cores // devices)),
    ]
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES", "")}
    if args.accelerator == "cpu":
        env["CUDA_VISIBLE_DEVICES"] = ""
    try:
        start = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=3600)
        seconds = time.perf_counter() - start
        if done.returncode != 0:
            raise SystemExit(f"run on {devices} devices failed:\n{done.stderr[-2000:]}")
        results = json.loads((work / "out" / "results.json").read_text())
        stages = {}
        for line in done.stdout.splitlines():  # "time:     12.3s (load 1.2s, prepare 3.4s, ...)"
            if line.startswith("time:") and "(" in line:
                for part in line.split("(", 1)[1].rstrip(")").split(","):
                    name, _, value = part.strip().partition(" ")
                    if value.endswith("s"):
                        stages[name] = float(value[:-1])
        return seconds, results, stages
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="audio-reference")
    parser.add_argument("--task", default="noise-length-sweep")
    parser.add_argument("--pieces", type=int, default=16)
    parser.add_argument("--devices", default="1,2")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--cores",
        type=int,
        default=os.cpu_count(),
        help="CPU threads per run, shared among its processes (each gets cores / devices)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON line")
    args = parser.parse_args()
    counts = [int(x) for x in args.devices.split(",")]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="devices-bench-data-") as folder:
        pieces = write_pieces(Path(folder), args.pieces)
        times: dict[int, list[float]] = {n: [] for n in counts}
        stages: dict[int, dict] = {}
        results: dict[int, dict] = {}
        for _ in range(args.repeats):
            for n in counts:
                seconds, result, timing = one_run(args, n, Path(folder))
                times[n].append(seconds)
                stages[n], results[n] = timing, result
    first = results[counts[0]]
    out = {
        "model": args.model,
        "task": args.task,
        "pieces": pieces,
        "accelerator": args.accelerator,
        "repeats": args.repeats,
        "cores": args.cores,
        "runs": {
            str(n): {
                "s": round(float(np.median(t)), 2),
                "s_range": [round(min(t), 2), round(max(t), 2)],
                "stages_last_run": stages[n],
                "prepare_workers": results[n]["env"].get("prepare_workers"),
            }
            for n, t in times.items()
        },
        "same_results": all(
            r["results"] == first["results"] and r["samples_sha256"] == first["samples_sha256"]
            for r in results.values()
        ),
        "loadavg_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
