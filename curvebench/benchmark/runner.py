"""``curvebench run``: datasets × tasks × one model → results.json, samples, figures, W&B."""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

import curvebench
from curvebench.adapters import Adapter, load_adapter
from curvebench.benchmark.aggregate import (
    DECIMALS,
    results_from_samples,
    sample_lines,
    write_samples,
)
from curvebench.benchmark.plan import Plan, plan_task
from curvebench.benchmark.results import (
    DatasetInfo,
    ModelInfo,
    Results,
    RunConfig,
    SkippedItem,
)
from curvebench.benchmark.score_cache import ScoreCache
from curvebench.benchmark.scoring import is_main_process, score_sequences
from curvebench.cache import cache_root
from curvebench.data.generated import generated_pieces
from curvebench.data.piece import Piece
from curvebench.data.sources import (
    DataSpec,
    embedded_specs,
    iter_pieces,
    load_split,
    parse_data_arg,
)
from curvebench.errors import ConfigError
from curvebench.tasks import TaskConfig, expand_tasks

log = logging.getLogger(__name__)

DEFAULT_GENERATED = 64
GENERATOR_SPEC = "reference"


@dataclass
class RunOptions:
    """Everything ``curvebench run`` takes."""

    tasks: tuple[str, ...] = ("noise-at-5s",)
    model: str = "reference"
    data: tuple[str, ...] = ()
    limit: int | None = None
    devices: int = 1
    num_nodes: int = 1
    seed: int | None = None
    out: Path = Path("runs/latest")
    wandb: bool = True
    batch_size: int = 16
    accelerator: str = "auto"
    progress: bool = False
    stride: int | None = None
    """Rolling-window stride for sequences longer than the context (default: half of it)."""
    share_prefixes: bool = True
    """Score perturbed copies from their original's key-value cache where the model can."""
    cache_dir: Path | None = None
    """Where scored sequences are kept (default ``$CURVEBENCH_CACHE``)."""
    use_cache: bool = True
    """False: score everything afresh and store nothing."""


@dataclass
class RunOutput:
    """What a run produced and where."""

    results: Results
    results_path: Path
    samples_path: Path
    figures: list[Path] = field(default_factory=list)
    wandb_dir: Path | None = None
    timings: dict[str, float] = field(default_factory=dict)
    cached: int = 0
    """Unique sequences whose losses came from the cache."""


def _dataset_pieces(
    specs: list[DataSpec], tasks: list[TaskConfig], adapter: Adapter, options: RunOptions
) -> list[tuple[DataSpec, list[Piece]]]:
    """Pieces of every dataset: files and corpora as given, plus the generated role."""
    out = []
    for spec in specs:
        out.append((spec, list(iter_pieces(spec, load_split(spec), options.limit))))
    if not options.data and any("generated" in t.roles for t in tasks):
        generator = adapter if options.model == GENERATOR_SPEC else load_adapter(GENERATOR_SPEC)
        ks = sorted({k for t in tasks for k in t.generated_top_k})
        seconds = max(t.clip_seconds for t in tasks)
        n = options.limit or DEFAULT_GENERATED
        seed = options.seed if options.seed is not None else 0
        for k in ks:
            spec = DataSpec(
                f"{generator.name}-topk{k}", "generated", f"generated:{generator.name}:k={k}"
            )
            pieces = generated_pieces(generator, k, n, seed, seconds, spec.name)
            out.append((spec, pieces))
    return out


def run(options: RunOptions) -> RunOutput | None:
    """Run tasks on one model and write results.json, samples.jsonl.gz and figures.

    With ``devices`` > 1 this runs in every DDP process; the extra ones return None after
    scoring their share, and rank 0 writes everything.
    """
    if options.devices < 1:
        raise ConfigError(f"--devices {options.devices}: give 1 or more")
    timings: dict[str, float] = {}
    clock = time.perf_counter()
    tasks = expand_tasks(options.tasks)
    if options.seed is not None:
        tasks = [t.model_copy(update={"seed": options.seed}) for t in tasks]
    adapter = load_adapter(options.model)
    fingerprint = adapter.fingerprint()
    specs = [parse_data_arg(d) for d in options.data] if options.data else embedded_specs()
    datasets = _dataset_pieces(specs, tasks, adapter, options)
    timings["load"] = time.perf_counter() - clock

    clock = time.perf_counter()
    plan = Plan()
    jobs = [
        (task, pieces)
        for task in tasks
        for spec, pieces in datasets
        if spec.role in task.roles or spec.role == "custom"
    ]
    bar = tqdm(
        total=sum(len(p) for _, p in jobs),
        desc="perturb+encode",
        unit="piece",
        disable=not options.progress,
    )
    for task, pieces in jobs:
        plan_task(plan, task, adapter, pieces)
        bar.update(len(pieces))
    bar.close()
    timings["prepare"] = time.perf_counter() - clock

    clock = time.perf_counter()
    loss_of, cached = _score(plan, adapter, fingerprint, options)
    if loss_of is None:  # an extra DDP process: its share is stored, rank 0 goes on
        return None
    timings["score"] = time.perf_counter() - clock

    clock = time.perf_counter()
    options.out.mkdir(parents=True, exist_ok=True)
    samples_path = options.out / "samples.jsonl.gz"
    names = [spec.name for spec, _ in datasets]
    lines = write_samples(sample_lines(plan, tasks, names, loss_of), samples_path)
    results, curves = results_from_samples(lines, tasks)
    samples_sha = hashlib.sha256(samples_path.read_bytes()).hexdigest()
    task_by_name = {t.name: t for t in tasks}
    result = Results(
        curvebench_version=curvebench.__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model=ModelInfo(
            spec=options.model,
            name=adapter.name,
            fingerprint=fingerprint,
            parameters=adapter.num_parameters(),
            modality=adapter.modality,
            context_length=adapter.context_length,
        ),
        config=RunConfig(
            seed=tasks[0].seed,
            devices=options.devices,
            batch_size=options.batch_size,
            limit=options.limit,
            tasks={n: t.model_dump(mode="json") for n, t in task_by_name.items()},
            task_versions={n: t.version for n, t in task_by_name.items()},
        ),
        datasets=[
            DatasetInfo(
                name=spec.name,
                role=spec.role,
                location=spec.location,
                n_pieces=len(pieces),
                content_sha256=hashlib.sha256(
                    "\n".join(sorted(p.sha256 for p in pieces)).encode()
                ).hexdigest(),
            )
            for spec, pieces in datasets
        ],
        results=results,
        curves=curves,
        skipped=[SkippedItem(item=i, reason=r) for i, r in plan.skipped],
        samples_sha256=samples_sha,
        env=_env(),
    )
    write_examples(plan, options.out / "examples")
    results_path = options.out / "results.json"
    tmp = results_path.with_suffix(".json.tmp")
    tmp.write_text(result.model_dump_json(indent=2) + "\n")
    tmp.replace(results_path)
    timings["metrics"] = time.perf_counter() - clock

    from curvebench.report.figures import write_run_figures

    clock = time.perf_counter()
    figures = write_run_figures(result, options.out)
    timings["figures"] = time.perf_counter() - clock
    output = RunOutput(result, results_path, samples_path, figures, timings=timings, cached=cached)
    if options.wandb:
        from curvebench.benchmark.wandb_log import log_run

        clock = time.perf_counter()
        output.wandb_dir = log_run(output, options.out)
        timings["wandb"] = time.perf_counter() - clock
    return output


def _score(
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
    found = {k: cache.get(k) for k in plan.sequences} if options.use_cache else {}
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
        losses = score_sequences(
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
        if not is_main_process():
            return None, cached
        if shared:  # every rank's share is in the cache now
            losses = [cache.get(k) for k in missing]
            if not options.use_cache:
                shutil.rmtree(root, ignore_errors=True)
        loss_of.update(zip(missing, losses, strict=True))
    rounded = {k: np.round(loss_of[k].astype(np.float64), DECIMALS) for k in plan.sequences}
    return rounded, cached


def write_examples(plan: Plan, folder: Path) -> None:
    """The plan's listening examples as files (MIDI, or WAV for audio models) and an index."""
    from curvebench.data.render import DEFAULT_SR, write_wav

    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for i, example in enumerate(plan.examples):
        entry = {**{k: getattr(example.pair, k) for k in ("task", "dataset", "role", "piece_id")}}
        entry["variant"] = example.pair.variant
        for kind in ("original", "perturbed"):
            media = getattr(example, kind)
            name = f"{i:03d}-{kind}." + ("mid" if isinstance(media, bytes) else "wav")
            if isinstance(media, bytes):
                (folder / name).write_bytes(media)
            else:
                write_wav(folder / name, media, DEFAULT_SR)
            entry[kind] = name
        index.append(entry)
    (folder / "index.json").write_text(json.dumps(index, indent=1) + "\n")


def _env() -> dict[str, str]:
    import importlib.metadata as md

    env = {"python": platform.python_version(), "platform": platform.platform()}
    for dist in (
        "torch",
        "lightning",
        "torchmetrics",
        "miditok",
        "symusic",
        "transformers",
        "datasets",
        "numpy",
    ):
        try:
            env[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return env
