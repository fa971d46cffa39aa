"""``curvebench run``, as named stages: load → prepare → score → aggregate → write.

Each stage is a function of the previous ones' outputs and is timed. Figures and W&B are not
stages: they consume the written outputs (``curvebench.report``), called by the CLI.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from curvebench.adapters import Adapter, load_adapter
from curvebench.benchmark.aggregate import DECIMALS, analyse
from curvebench.benchmark.plan import Plan, plan_task
from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine, write_samples
from curvebench.benchmark.score_cache import ScoreCache
from curvebench.benchmark.scoring import score_sequences
from curvebench.cache import cache_root
from curvebench.data.sources import (
    DataSpec,
    GeneratedSpec,
    embedded_specs,
    iter_pieces,
    load_split,
    parse_data_arg,
)
from curvebench.errors import ConfigError
from curvebench.pipeline.generated import generated_pieces
from curvebench.pipeline.options import Dataset, Loaded, RunOptions
from curvebench.pipeline.outputs import build_results, write_examples, write_results
from curvebench.tasks import TaskConfig, expand_tasks

log = logging.getLogger(__name__)

DEFAULT_GENERATED = 64
"""Generated pieces per top-k when no --limit is given."""
GENERATOR_SPEC = "reference"
"""The model that draws the generated role."""


@dataclass
class RunOutput:
    """What a run produced and where."""

    results: Results
    lines: list[SampleLine]
    """The samples lines as written."""
    results_path: Path
    samples_path: Path
    figures: list[Path] = field(default_factory=list)
    wandb_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage (and per consumer, added by the caller)."""
    cached: int = 0
    """Unique sequences whose losses came from the cache."""


@contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall time of a block under ``name``."""
    clock = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - clock


def load(options: RunOptions) -> Loaded:
    """Tasks, the model, and the pieces of every dataset (the generated role drawn)."""
    if options.devices < 1:
        raise ConfigError(f"--devices {options.devices}: give 1 or more")
    tasks = expand_tasks(options.tasks)
    if options.seed is not None:
        tasks = [t.model_copy(update={"seed": options.seed}) for t in tasks]
    adapter = load_adapter(options.model)
    specs = [parse_data_arg(d) for d in options.data] if options.data else embedded_specs()
    datasets = [
        Dataset(spec, list(iter_pieces(spec, load_split(spec), options.limit))) for spec in specs
    ]
    if not options.data and any("generated" in t.roles for t in tasks):
        datasets += _generated(tasks, adapter, options)
    return Loaded(tasks, adapter, adapter.fingerprint(), datasets)


def _generated(tasks: list[TaskConfig], adapter: Adapter, options: RunOptions) -> list[Dataset]:
    generator = adapter if options.model == GENERATOR_SPEC else load_adapter(GENERATOR_SPEC)
    out = []
    for k in sorted({k for t in tasks for k in t.generated_top_k}):
        spec = GeneratedSpec(
            generator=GENERATOR_SPEC,
            top_k=k,
            seed=options.seed if options.seed is not None else 0,
            seconds=max(t.clip_seconds for t in tasks),
            n=options.limit or DEFAULT_GENERATED,
        )
        data = DataSpec(f"{generator.name}-topk{k}", "generated", spec.location)
        pieces = generated_pieces(generator, spec, data.name)
        out.append(Dataset(data, pieces, spec))
    return out


def prepare(loaded: Loaded, progress: bool = False) -> Plan:
    """Every piece cut, perturbed and encoded: the unique sequences and the pairs using them."""
    plan = Plan()
    jobs = [
        (task, dataset.pieces)
        for task in loaded.tasks
        for dataset in loaded.datasets
        if dataset.spec.role in task.roles or dataset.spec.role == "custom"
    ]
    bar = tqdm(
        total=sum(len(p) for _, p in jobs),
        desc="perturb+encode",
        unit="piece",
        disable=not progress,
    )
    for task, pieces in jobs:
        plan_task(plan, task, loaded.adapter, pieces)
        bar.update(len(pieces))
    bar.close()
    return plan


def score(
    plan: Plan, adapter: Adapter, fingerprint: str, options: RunOptions
) -> tuple[dict[str, np.ndarray] | None, int]:
    """Losses of every unique sequence: from the cache where stored, the rest scored (and
    stored the moment each is done, so an interrupted run loses nothing). Several devices
    share their results through the cache (the run folder's own one under --no-cache); the
    extra DDP processes get None."""
    shared = options.devices * options.num_nodes > 1
    root = options.cache_dir or cache_root()
    if shared and not options.use_cache:
        root = options.out / ".scores"
    cache = ScoreCache(root, fingerprint) if options.use_cache or shared else None
    found = {k: cache.get(k) for k in plan.sequences} if cache and options.use_cache else {}
    loss_of = {k: v for k, v in found.items() if v is not None}
    missing = [k for k in plan.sequences if k not in loss_of]
    cached = len(loss_of)
    if missing:
        store = (lambda i, losses: cache.put(missing[i], losses)) if cache else None
        index = {k: i for i, k in enumerate(missing)}
        groups: dict[str, list[int]] = {}
        for pair in plan.pairs:  # a perturbed copy shares the start of its original
            if pair.original in index and pair.perturbed in index:
                members = groups.setdefault(pair.original, [index[pair.original]])
                if index[pair.perturbed] not in members:
                    members.append(index[pair.perturbed])
        scored = score_sequences(
            adapter,
            [plan.sequences[k].ids for k in missing],
            batch_size=options.batch_size,
            accelerator=options.accelerator,
            progress=options.progress,
            on_done=store,
            stride=options.stride,
            share_prefixes=list(groups.values()) if options.share_prefixes else None,
            devices=options.devices,
            num_nodes=options.num_nodes,
        )
        if not scored.main:
            return None, cached
        losses = scored.losses
        if shared:  # every rank's share is in the cache now
            losses = [cache.get(k) for k in missing]
            if not options.use_cache:
                shutil.rmtree(root, ignore_errors=True)
        loss_of.update(zip(missing, losses, strict=True))
    rounded = {k: np.round(loss_of[k].astype(np.float64), DECIMALS) for k in plan.sequences}
    return rounded, cached


def run(options: RunOptions) -> RunOutput | None:
    """Run tasks on one model and write results.json, samples.jsonl.gz and the examples.

    With ``devices`` > 1 this runs in every DDP process; the extra ones return None after
    scoring their share, and rank 0 writes everything.
    """
    timings: dict[str, float] = {}
    with timed(timings, "load"):
        loaded = load(options)
    with timed(timings, "prepare"):
        plan = prepare(loaded, options.progress)
    with timed(timings, "score"):
        loss_of, cached = score(plan, loaded.adapter, loaded.fingerprint, options)
    if loss_of is None:  # an extra DDP process: its share is stored, rank 0 goes on
        return None
    with timed(timings, "aggregate"):
        names = [d.spec.name for d in loaded.datasets]
        raw = plan.lines(loaded.tasks, names, loss_of)
        analysis = analyse(raw, loaded.tasks)
        lines = analysis.annotated(raw)
    with timed(timings, "write"):
        options.out.mkdir(parents=True, exist_ok=True)
        samples_path = options.out / "samples.jsonl.gz"
        samples_sha = write_samples(lines, samples_path)
        results = build_results(options, loaded, plan, analysis, samples_sha)
        write_examples(plan, options.out / "examples")
        results_path = write_results(results, options.out / "results.json")
    return RunOutput(results, lines, results_path, samples_path, timings=timings, cached=cached)
