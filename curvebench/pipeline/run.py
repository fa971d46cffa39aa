"""``curvebench run``, as named stages: load → prepare → score → aggregate → write.

Each stage is a function of the previous ones' outputs and is timed. Figures and W&B are not
stages: they consume the written outputs (``curvebench.report``), called by
:func:`curvebench.api.run`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from curvebench.adapters import Adapter, load_adapter
from curvebench.benchmark.aggregate import analyse
from curvebench.benchmark.batch_probe import probe_batch_size
from curvebench.benchmark.derived import written_loss
from curvebench.benchmark.plan import Plan
from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine, write_samples
from curvebench.benchmark.score_cache import ScoreCache, loss_bound
from curvebench.benchmark.scoring import score_sequences
from curvebench.benchmark.scoring_config import ScoringConfig, scoring_precision
from curvebench.cache import RunCaches
from curvebench.data.files import DEFAULT_LIMITS
from curvebench.data.sources import (
    DataSpec,
    GeneratedSpec,
    Reading,
    embedded_specs,
    iter_pieces,
    load_rows,
    parse_data_arg,
    pieces_wanted,
)
from curvebench.errors import ConfigError
from curvebench.pipeline.generated import generated_pieces
from curvebench.pipeline.options import RunOptions
from curvebench.pipeline.outputs import (
    build_results,
    private_paths,
    write_examples,
    write_results,
)
from curvebench.pipeline.prepare import codec_device, prepare, prepare_workers
from curvebench.pipeline.ranks import ONE, Ranks, finish, launch
from curvebench.pipeline.stages import Dataset, Loaded
from curvebench.specs import public_spec
from curvebench.stopping import held
from curvebench.tasks import TaskConfig, expand_tasks, protocol_of
from curvebench.tasks.loader import Protocol
from curvebench.threads import run_threads, torch_threads

log = logging.getLogger(__name__)

DEFAULT_GENERATED = 64
"""Generated pieces per top-k when no --limit is given."""
FALLBACK = "reference"
"""The model that draws the generated role when the model under test cannot generate."""


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
    wandb_url: str | None = None
    """The W&B run's page when it was logged online."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per stage (and per consumer, added by the caller)."""
    cached: int = 0
    """Unique sequences whose losses came from the cache."""
    private: list[str] = field(default_factory=list)
    """Every path of this machine the run was given or used (``outputs.private_paths``): none
    may reach what is logged."""


@contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Record the wall time of a block under ``name``."""
    clock = time.perf_counter()
    yield
    timings[name] = time.perf_counter() - clock


def load(options: RunOptions, ranks: Ranks = ONE) -> Loaded:
    """Tasks, the model, the pieces of every dataset (the generated role drawn, each rank its
    share), and the run's scoring settings and caches, built here once from the options and
    handed on."""
    caches = options.caches()
    tasks = expand_tasks(options.tasks)
    if options.seed is not None:
        tasks = [t.model_copy(update={"seed": options.seed}) for t in tasks]
    specs = unique_names([parse_data_arg(d) for d in options.data] or embedded_specs())
    adapter = options.model if isinstance(options.model, Adapter) else load_adapter(options.model)
    if options.stride is not None and options.stride >= adapter.context_length:
        raise ConfigError(
            f"--stride {options.stride}: must be below the model's context of "
            f"{adapter.context_length} tokens"
        )
    reading = Reading(adapter.modality, options.limits)
    datasets, passed_over = [], []
    for spec in specs:
        rows, refused = load_rows(spec, reading)
        pieces = iter_pieces(spec, rows, options.limit, sample_seed(options))
        datasets.append(Dataset(spec, list(pieces)))
        passed_over += refused
    if not options.data and any("generated" in t.roles for t in tasks):
        datasets += _generated(tasks, adapter, options, caches, ranks)
    return Loaded(
        tasks,
        adapter,
        adapter.fingerprint(),
        datasets,
        scoring=options.scoring(),
        caches=caches,
        passed_over=passed_over,
    )


def sample_seed(options: RunOptions) -> int:
    """The seed of ``--limit``'s stratified sample (and of the generated role): --seed, else 0."""
    return options.seed if options.seed is not None else 0


def unique_names(specs: list[DataSpec]) -> list[DataSpec]:
    """The datasets with unique names: a name two datasets share gets its role appended;
    datasets that still clash (the same role and folder name twice) are refused."""
    counts = Counter(s.name for s in specs)
    out = [replace(s, name=f"{s.name}-{s.role}") if counts[s.name] > 1 else s for s in specs]
    clash = [n for n, c in Counter(s.name for s in out).items() if c > 1]
    if clash:
        raise ConfigError(
            f"--data: two datasets would both be named {clash[0]!r}; give each a different "
            "folder or role"
        )
    return out


def check_out(out: Path) -> None:
    """Refuse an output folder that cannot be written before any work is done."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: is a file; give a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / f".write-test.{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write there ({exc.strerror or exc})") from exc


@contextmanager
def out_lock(out: Path) -> Iterator[None]:
    """Hold the output folder for this run: a second run into the same --out is refused (the
    extra processes of a multi-device run do not take it; rank 0 writes)."""
    if any(os.environ.get(v, "0") != "0" for v in ("LOCAL_RANK", "NODE_RANK", "RANK")):
        yield
        return
    with open(out / ".curvebench.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"--out {out}: another curvebench run is writing there; wait for it or give "
                "another folder"
            ) from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def generator_for(adapter: Adapter, options: RunOptions) -> tuple[str, Adapter, str | None]:
    """The spec and adapter that draw the generated role, and why it is not the model asked
    for (None when it is)."""
    if options.generator != "self":
        spec = options.generator
        return spec, adapter if spec == options.model else load_adapter(spec), None
    if adapter.can_generate:
        spec = options.model if isinstance(options.model, str) else adapter.name
        return spec, adapter, None
    reason = f"{adapter.name} cannot generate; the generated role is drawn from {FALLBACK}"
    log.warning(reason)
    return FALLBACK, load_adapter(FALLBACK), reason


def _generated(
    tasks: list[TaskConfig],
    adapter: Adapter,
    options: RunOptions,
    caches: RunCaches,
    ranks: Ranks = ONE,
) -> list[Dataset]:
    spec_text, generator, fallback = generator_for(adapter, options)
    out = []
    for turn, k in enumerate(sorted({k for t in tasks for k in t.generated_top_k})):
        spec = GeneratedSpec(
            generator=public_spec(spec_text),
            top_k=k,
            seed=sample_seed(options),
            seconds=max(t.clip_seconds for t in tasks),
            n=pieces_wanted(options.limit, DEFAULT_GENERATED),
            fallback=fallback,
        )
        data = DataSpec(f"{generator.name}-topk{k}", "generated", spec.location)
        pieces = generated_pieces(
            generator,
            spec,
            data.name,
            caches.generated,
            progress=options.progress,
            ranks=ranks.turned(turn),
        )
        out.append(Dataset(data, pieces, spec))
    return out


def score(
    plan: Plan, adapter: Adapter, fingerprint: str, config: ScoringConfig, caches: RunCaches
) -> tuple[dict[str, np.ndarray] | None, int]:
    """Losses of every unique sequence: from the cache where stored, the rest scored (and
    stored the moment each is done, so an interrupted run loses nothing). Several devices
    share their results through the cache (the run folder's own one under --no-cache); the
    extra DDP processes get None.

    The batches are laid out over every sequence, cached or not (see ``score_sequences``'s
    ``skip``), so a resumed run's losses are bit-identical to an uninterrupted run's."""
    root = caches.shared_scores if config.shared else caches.scores
    settings = config.loss_settings(adapter.context_length)
    keys = list(plan.sequences)
    vocab = 1 + max((int(plan.sequences[k].ids.max(initial=0)) for k in keys), default=0)
    cache = None if root is None else ScoreCache(root, fingerprint, settings, loss_bound(vocab))
    shape = {k: _loss_shape(plan.sequences[k].ids) for k in keys}
    found = {k: cache.get(k, shape[k]) for k in keys} if cache and caches.keep else {}
    loss_of = {k: v for k, v in found.items() if v is not None}
    # every rank must agree on what is left to score (another run may be filling the cache):
    # rank 0's view is the one
    loss_of = {k: loss_of.get(k) for k in rank0(sorted(loss_of))}
    cached = len(loss_of)
    if len(loss_of) < len(keys):
        store = (lambda i, losses: cache.put(keys[i], losses)) if cache else None
        index = {k: i for i, k in enumerate(keys)}
        groups: dict[str, list[int]] = {}
        for pair in plan.pairs:  # a perturbed copy shares the start of its original
            members = groups.setdefault(pair.original, [index[pair.original]])
            if index[pair.perturbed] not in members:
                members.append(index[pair.perturbed])
        scored = score_sequences(
            adapter,
            [plan.sequences[k].ids for k in keys],
            batch_size=config.batch_size,
            accelerator=config.accelerator,
            progress=config.progress,
            on_done=store,
            stride=config.stride,
            share_prefixes=list(groups.values()) if config.share_prefixes else None,
            devices=config.devices,
            num_nodes=config.num_nodes,
            skip={index[k] for k in loss_of},
            precision=config.precision,
        )
        if not scored.main:
            return None, cached
        if config.shared:  # every rank's share is in the cache now
            fresh = {k: cache.get(k, shape[k]) for k in keys if k not in loss_of}
            if not caches.keep:
                shutil.rmtree(root, ignore_errors=True)
        else:
            fresh = {k: scored.losses[index[k]] for k in keys if k not in loss_of}
        loss_of.update(fresh)
    rounded = {k: written_loss(loss_of[k]) for k in keys}
    return rounded, cached


def rank0(value: object) -> object:
    """``value`` as rank 0 has it, on every rank of a multi-device run (itself otherwise)."""
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def _loss_shape(ids: np.ndarray) -> tuple[int, ...]:
    """Shape of a sequence's losses: T − 1 for flat ids, [K, T] for codes."""
    return tuple(ids.shape) if ids.ndim == 2 else (max(0, ids.shape[-1] - 1),)


def run(options: RunOptions) -> RunOutput | None:
    """Run tasks on one model and write results.json, samples.jsonl.gz and the examples.

    With ``devices`` > 1 this runs in every DDP process; the extra ones return None after
    scoring their share, and rank 0 writes everything.
    """
    options, protocol = apply_protocol(options)
    check_out(options.out)
    threads = run_threads(options.threads, options.accelerator, options.devices)
    with out_lock(options.out), torch_threads(threads):
        return _run(options, protocol)


def apply_protocol(options: RunOptions) -> tuple[RunOptions, tuple[str, Protocol] | None]:
    """The options a protocol group (the board's) fixes, set; ConfigError naming what a run
    asked for that the protocol does not allow."""
    found = protocol_of(tuple(options.tasks))
    if found is None:
        return options, None
    name, protocol = found
    given = {
        "--data": tuple(options.data),
        "--limit": options.limit,
        "--seed": options.seed,
        "--generator": options.generator,
        "--max-notes/--max-seconds/--max-file-mb": options.limits,
    }
    allowed = {
        "--data": [()],
        "--limit": [None, protocol.limit],
        "--seed": [None, protocol.seed],
        "--generator": ["self"],
        "--max-notes/--max-seconds/--max-file-mb": [DEFAULT_LIMITS],
    }
    clashes = [(flag, given[flag]) for flag in given if given[flag] not in allowed[flag]]
    if clashes:
        flag, given = clashes[0]
        raise ConfigError(
            f"--task {name} is a fixed protocol (embedded data, {protocol.limit} pieces per "
            f"dataset, seed {protocol.seed}, the model's own samples): drop {flag} {given}"
        )
    return replace(options, limit=protocol.limit, seed=protocol.seed), found


def check_pinned(loaded: Loaded, protocol: tuple[str, Protocol]) -> None:
    """Every dataset the protocol pins holds exactly the pinned pieces."""
    name, pinned = protocol
    found = {d.spec.name: d.info().content_sha256 for d in loaded.datasets}
    for dataset, sha in pinned.datasets.items():
        if found.get(dataset) != sha:
            raise ConfigError(
                f"--task {name}: dataset {dataset} is not the protocol's pinned sample (content "
                f"sha256 {str(found.get(dataset))[:12]}…, pinned {sha[:12]}…); the embedded "
                "corpus or the sampler differs from this curvebench's"
            )


def _run(options: RunOptions, protocol: tuple[str, Protocol] | None = None) -> RunOutput | None:
    timings: dict[str, float] = {}
    # every process of a multi-device run starts now, so that each stage is shared out
    ranks = launch(options.accelerator, options.devices, options.num_nodes)
    try:
        return _stages(options, protocol, ranks, timings)
    finally:
        finish(ranks)


def _stages(
    options: RunOptions,
    protocol: tuple[str, Protocol] | None,
    ranks: Ranks,
    timings: dict[str, float],
) -> RunOutput | None:
    with timed(timings, "load"):
        loaded = load(options, ranks)
        loaded.protocol = protocol
        if protocol is not None:
            check_pinned(loaded, protocol)
    with timed(timings, "prepare"):
        units = sum(len(d.pieces) for d in loaded.datasets)
        workers = prepare_workers(loaded.adapter, torch.get_num_threads(), units)
        device = codec_device(loaded.adapter, options.accelerator, protocol)
        plan = prepare(loaded, options.progress, options.limits, ranks, workers, device)
    accelerator = loaded.adapter.accelerator or options.accelerator
    weights = next(
        (t.dtype for t in loaded.adapter.module.parameters() if t.is_floating_point()),
        torch.float32,
    )
    precision = scoring_precision(options.precision, accelerator, weights, protocol is not None)
    scoring = loaded.scoring = replace(loaded.scoring, precision=precision)
    if scoring.batch_size == "auto":
        sequences = [s.ids for s in plan.sequences.values()]
        size = probe_batch_size(loaded.adapter, sequences, scoring)
        scoring = replace(scoring, batch_size=size)
    with timed(timings, "score"):
        loss_of, cached = score(plan, loaded.adapter, loaded.fingerprint, scoring, loaded.caches)
    if loss_of is None or not ranks.main:  # an extra process: its share is stored
        return None
    with timed(timings, "aggregate"):
        names = [d.spec.name for d in loaded.datasets]
        raw = plan.lines(loaded.tasks, names, loss_of)
        analysis = analyse(raw, loaded.tasks)
        lines = analysis.annotated(raw)
    with timed(timings, "write"), held():  # a stop waits for the outputs to be whole
        options.out.mkdir(parents=True, exist_ok=True)
        samples_path = options.out / "samples.jsonl.gz"
        samples_sha = write_samples(lines, samples_path)
        results = build_results(options, loaded, plan, analysis, samples_sha, scoring)
        write_examples(plan, options.out / "examples")
        results_path = write_results(results, options.out / "results.json")
    private = private_paths(options, loaded.caches)
    return RunOutput(
        results,
        lines,
        results_path,
        samples_path,
        timings=timings,
        cached=cached,
        private=private,
    )
