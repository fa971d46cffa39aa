"""Throughput of the audio path (render → codec → LM) on the embedded audio model: seconds of
music per second for each stage, cold and cached, and the speedup from scoring noisy copies on
their original's key-value cache.

    python benchmarks/audio_throughput.py --json [--model audio-reference] [--limit 8]
                                                 [--task noise-length-sweep] [--repeats 5]

The pieces are the run's ``--limit`` sample of the embedded training split, cut to the task's
clip. Stages, each timed on every piece or clip of the task:

- ``render``: FluidSynth renders of the originals, into an empty render cache (``cold``) and
  from a filled one (``warm``);
- ``perturb``: the task's waveform recipe (the noisy copies);
- ``codec``: EnCodec codes of the originals and copies, into an empty codes cache (``cold``:
  encoding, hashing and storing; each copy from its original's stack output and a window
  around its noise, as a run does, and ``cold_whole``: every copy encoded whole) and from a
  filled one (``cached``);
- ``prepare``: curvebench's own prepare stage (render, perturb, encode; empty caches), in one
  process (``serial``) and on the run's worker processes (``workers``, ``--workers``);
- ``lm``: the LM's per-code losses of every unique clip through curvebench's evaluator, copies
  scored from their original's key-value cache (``shared``, a run's default) or from scratch
  (``scratch``); ``sharing_speedup`` = scratch / shared, and ``sharing_arithmetic_limit`` the
  ratio of decoder steps (the copies of the sweep share the 5 s before the noise of 15 s).

After one warm-up of each, the stages run in turn ``--repeats`` times (so machine noise hits
all alike); each reports its median seconds, the spread (min–max) and seconds of music per
second. ``cold_run`` and ``warm_run`` add the stages a first run and a run with filled render
and codes caches go through, one after another; ``first_run_serial`` and
``first_run_workers`` are a first run as curvebench makes it (prepare stage + LM), in one
process and on worker processes. ``--clock cpu`` times CPU seconds (every thread, and FluidSynth's
process) instead of wall seconds: on a machine busy with other work, a steadier measure of
the work done; with ``--threads 1`` it is not inflated by threads waiting for each other
when other processes hold the cores.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from throughput import interleaved  # the sibling benchmark's warm-up + interleaved repeats


def build(model: str, task_name: str, limit: int):
    """The adapter, task, clipped scores of the pieces, and the sequences and prefix groups a
    run scores (from curvebench's own plan, built once into a scratch cache)."""
    from curvebench.adapters import load_adapter
    from curvebench.adapters.code_cache import CodeCache
    from curvebench.benchmark.plan import Plan, plan_task
    from curvebench.data.sources import embedded_specs, iter_pieces, load_split
    from curvebench.data.timing import clip_seconds
    from curvebench.tasks import load_task

    adapter = load_adapter(model)
    task = load_task(task_name)
    spec = embedded_specs()[0]
    pieces = list(iter_pieces(spec, load_split(spec), limit))
    plan = Plan()
    with tempfile.TemporaryDirectory() as scratch:
        plan_task(plan, task, adapter, pieces, CodeCache(Path(scratch)))
    kept = {p.piece_id for p in plan.pairs}
    pieces = [p for p in pieces if p.id in kept]
    scores = [clip_seconds(p.score(), task.clip_seconds) for p in pieces]
    keys = list(plan.sequences)
    index = {k: i for i, k in enumerate(keys)}
    groups: dict[str, list[int]] = {}
    for pair in plan.pairs:
        members = groups.setdefault(pair.original, [index[pair.original]])
        if index[pair.perturbed] not in members:
            members.append(index[pair.perturbed])
    sequences = [plan.sequences[k].ids for k in keys]
    seconds = sum(plan.sequences[k].duration_s for k in keys)
    return adapter, task, pieces, scores, sequences, list(groups.values()), seconds, keys


def render_all(scores: list, names: list[str], folder: Path, clip: float) -> list[np.ndarray]:
    """Each score rendered (through the render cache in ``folder``) and cut to the clip."""
    from curvebench.data.render import DEFAULT_SR, render_midi

    return [
        render_midi(s.dumps_midi(), DEFAULT_SR, cache_dir=folder, name=n)[
            : round(clip * DEFAULT_SR)
        ]
        for s, n in zip(scores, names, strict=True)
    ]


def perturb_all(task, pieces: list, waves: list[np.ndarray]) -> list[np.ndarray]:
    """Every original, then its copies by the task's waveform recipe, as a run derives them."""
    from curvebench.data.render import DEFAULT_SR
    from curvebench.perturbations import derive_seed

    out = []
    for piece, wave in zip(pieces, waves, strict=True):
        out.append(wave)
        for p in task.parsed_perturbations():
            seed = derive_seed(task.seed, piece.sha256, p.seed_id)
            out.append(p.apply_audio(wave, DEFAULT_SR, seed)[0])
    return out


def encode_all(
    adapter, waves: list[np.ndarray], folder: Path, likes: list[np.ndarray | None] | None = None
) -> list[str]:
    """Codes of every waveform through the codes cache in ``folder``, each copy encoded
    ``like`` its original where ``likes`` says (as a run does), else whole: their keys."""
    from curvebench.adapters.code_cache import CodeCache
    from curvebench.data.render import DEFAULT_SR

    cache = CodeCache(folder)
    likes = likes or [None] * len(waves)
    return [
        adapter.encode_audio(w, DEFAULT_SR, "clip", codes=cache, like=like).sha256
        for w, like in zip(waves, likes, strict=True)
    ]


def originals_of(task, waves: list[np.ndarray]) -> list[np.ndarray | None]:
    """For :func:`perturb_all`'s list: None for an original, its original for a copy."""
    per = 1 + len(task.parsed_perturbations())
    return [None if i % per == 0 else waves[i - i % per] for i in range(len(waves))]


def prepare_run(
    adapter, task, pieces: list, folder: Path, workers: int, codec: str | None = None
) -> int:
    """curvebench's own prepare stage over the pieces (render, perturb, encode), with its
    render and codes caches in ``folder``, on ``workers`` worker processes (0: one process),
    the codec on ``codec`` (an accelerator: batched there; None: where each piece is
    prepared); the number of sequences it made."""
    from curvebench.benchmark.scoring_config import ScoringConfig
    from curvebench.cache import RunCaches
    from curvebench.data.sources import embedded_specs
    from curvebench.pipeline.prepare import prepare
    from curvebench.pipeline.stages import Dataset, Loaded

    loaded = Loaded(
        [task],
        adapter,
        "bench",
        [Dataset(embedded_specs()[0], pieces)],
        ScoringConfig(),
        RunCaches.of(folder),
    )
    return len(prepare(loaded, workers=workers, codec_device=codec).sequences)


def score(adapter, sequences: list, batch_size: int, groups, accelerator: str) -> list:
    """Per-code losses through curvebench's evaluator."""
    from curvebench.benchmark.scoring import score_sequences

    return score_sequences(
        adapter, sequences, batch_size=batch_size, accelerator=accelerator, share_prefixes=groups
    ).losses


def sharing_limit(adapter, sequences: list, groups: list) -> float:
    """Decoder steps of scoring every clip from scratch over those of scoring the copies from
    their shared steps (the most sharing can save, with no cost but the model's steps)."""
    from curvebench.adapters.musicgen_layouts import shared_steps
    from curvebench.benchmark.scoring import _prefix_groups

    k_count = sequences[0].shape[0]
    extra = k_count - 1 if adapter.layout == "delay" else -1

    def steps(i: int) -> int:
        return sequences[i].shape[-1] + extra

    scratch = sum(steps(i) for i in range(len(sequences)))
    shared = scratch
    for group in _prefix_groups(adapter, sequences, groups):
        common = shared_steps(adapter.layout, group.prefix.shape[-1])
        shared -= (len(group.members) - 1) * common
    return scratch / shared


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (FluidSynth), all threads."""
    children = os.times()
    return time.process_time() + children.children_user + children.children_system


CLOCKS = {"wall": time.perf_counter, "cpu": cpu_seconds}
"""The clocks of ``--clock``."""


def timed(fn: Callable[[], object], clock: Callable[[], float]) -> float:
    """Seconds of ``fn`` on ``clock``."""
    start = clock()
    fn()
    return clock() - start


def fresh(fn: Callable[[Path], object], clock: Callable[[], float]) -> Callable[[], float]:
    """Seconds of ``fn`` on an empty cache folder (made before and removed after the clock)."""

    def run() -> float:
        folder = Path(tempfile.mkdtemp(prefix="audio-bench-"))
        try:
            return timed(lambda: fn(folder), clock)
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    return run


def summary(times: list[float], music_s: float) -> dict[str, object]:
    """Median seconds, their spread, and seconds of music per second at the median."""
    median = float(np.median(times))
    return {
        "s": round(median, 3),
        "s_range": [round(min(times), 3), round(max(times), 3)],
        "music_s_per_s": round(music_s / median, 1) if median > 0 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--model", default="audio-reference")
    parser.add_argument("--task", default="noise-length-sweep")
    parser.add_argument("--limit", type=int, default=8, help="pieces of the training split")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each stage")
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's, all cores)"
    )
    parser.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall seconds (default), or CPU seconds of every thread and child process (less "
        "sensitive to other work on a busy machine)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes of the prepare stage (default: the run's, one per thread)",
    )
    parser.add_argument(
        "--json", action="store_true", help="one JSON line (the default prints it too)"
    )
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.workers is None:
        args.workers = max(2, torch.get_num_threads())
    logging.disable(logging.WARNING)
    warnings.filterwarnings("ignore")
    load_before = os.getloadavg()

    adapter, task, pieces, scores, sequences, groups, music_s, keys = build(
        args.model, args.task, args.limit
    )
    names = [p.id for p in pieces]
    clip = task.clip_seconds
    warm = Path(tempfile.mkdtemp(prefix="audio-bench-warm-"))
    originals = render_all(scores, names, warm, clip)
    waves = perturb_all(task, pieces, originals)
    likes = originals_of(task, waves)
    assert sorted(set(encode_all(adapter, waves, warm))) == sorted(keys), "not the run's clips"
    codec = "cuda" if args.accelerator in ("gpu", "cuda") else None  # batched there
    with tempfile.TemporaryDirectory() as scratch:
        assert prepare_run(adapter, task, pieces, Path(scratch), args.workers, codec) == len(keys)
    shared = score(adapter, sequences, args.batch_size, groups, args.accelerator)
    scratch = score(adapter, sequences, args.batch_size, None, args.accelerator)
    worst = max(float(np.abs(a - b).max()) for a, b in zip(shared, scratch, strict=True))
    bs, acc = args.batch_size, args.accelerator
    try:
        times = interleaved(
            {
                "render_cold": fresh(lambda f: render_all(scores, names, f, clip), clock),
                "render_warm": lambda: timed(lambda: render_all(scores, names, warm, clip), clock),
                "perturb": lambda: timed(lambda: perturb_all(task, pieces, originals), clock),
                "codec_cold": fresh(lambda f: encode_all(adapter, waves, f, likes), clock),
                "codec_cold_whole": fresh(lambda f: encode_all(adapter, waves, f), clock),
                "codec_cached": lambda: timed(lambda: encode_all(adapter, waves, warm), clock),
                "prepare_cold_serial": fresh(
                    lambda f: prepare_run(adapter, task, pieces, f, 0), clock
                ),
                "prepare_cold_workers": fresh(
                    lambda f: prepare_run(adapter, task, pieces, f, args.workers, codec), clock
                ),
                "lm_shared": lambda: timed(
                    lambda: score(adapter, sequences, bs, groups, acc), clock
                ),
                "lm_scratch": lambda: timed(
                    lambda: score(adapter, sequences, bs, None, acc), clock
                ),
            },
            args.repeats,
        )
    finally:
        shutil.rmtree(warm, ignore_errors=True)
    originals_s = len(pieces) * clip
    clip_s = {"render": originals_s, "perturb": music_s - originals_s}
    stages = {
        name: summary(t, clip_s.get(name.split("_")[0], music_s)) for name, t in times.items()
    }
    cold = ("render_cold", "perturb", "codec_cold", "lm_shared")
    warm_run = ("render_warm", "perturb", "codec_cached", "lm_shared")
    first = {
        "first_run_serial": ("prepare_cold_serial", "lm_shared"),
        "first_run_workers": ("prepare_cold_workers", "lm_shared"),
    }
    speedups = [s / h for s, h in zip(times["lm_scratch"], times["lm_shared"], strict=True)]
    result = {
        "model": args.model,
        "task": args.task,
        "threads": torch.get_num_threads(),
        "clock": args.clock,
        "batch_size": bs,
        "repeats": args.repeats,
        "pieces": len(pieces),
        "clips": len(sequences),
        "music_s": round(music_s, 1),
        "frames": int(sum(s.shape[-1] for s in sequences)),
        **stages,
        "cold_run": summary(np.sum([times[c] for c in cold], axis=0).tolist(), music_s),
        **{
            name: summary(np.sum([times[c] for c in parts], axis=0).tolist(), music_s)
            for name, parts in first.items()
        },
        "workers": args.workers,
        "warm_run": summary(np.sum([times[c] for c in warm_run], axis=0).tolist(), music_s),
        "sharing_speedup": round(float(np.median(speedups)), 2),
        "sharing_speedup_range": [round(min(speedups), 2), round(max(speedups), 2)],
        "sharing_arithmetic_limit": round(sharing_limit(adapter, sequences, groups), 2),
        "shared_vs_scratch_max_abs_diff": worst,
        "loadavg_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
