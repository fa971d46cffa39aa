"""A run's written outputs besides the samples: results.json (with its provenance) and the
listening examples."""

from __future__ import annotations

import importlib.metadata as md
import json
import os
import platform
from datetime import datetime, timezone
from pathlib import Path

import curvebench
from curvebench.adapters.base import Adapter, AudioAdapter
from curvebench.benchmark.aggregate import Analysis, with_empty_groups
from curvebench.benchmark.encode import render_setting
from curvebench.benchmark.plan import Plan
from curvebench.benchmark.results import (
    ModelInfo,
    RenderInfo,
    Results,
    RunConfig,
    SkippedItem,
)
from curvebench.benchmark.scoring_config import ScoringConfig
from curvebench.cache import RunCaches
from curvebench.data.audio import write_wav
from curvebench.data.render import DEFAULT_SR, render_identity
from curvebench.data.sources import HUB_PREFIX
from curvebench.metrics.token_types import type_vocab
from curvebench.pipeline.options import RunOptions
from curvebench.pipeline.stages import Dataset, Loaded
from curvebench.specs import is_local_path, parse_spec, public_spec, scrub
from curvebench.tasks import TaskConfig

ENV_DISTRIBUTIONS = (
    "torch",
    "lightning",
    "torchmetrics",
    "miditok",
    "symusic",
    "transformers",
    "datasets",
    "numpy",
)


def renders(adapter: Adapter, tasks: list[TaskConfig], dataset: Dataset) -> list[RenderInfo] | None:
    """The renders an audio model heard a dataset of MIDI pieces through (one per render level
    of the tasks on its role); None for a symbolic model or recordings."""
    if not isinstance(adapter, AudioAdapter) or all(p.is_audio for p in dataset.pieces):
        return None
    levels = {
        t.render_level: t
        for t in tasks
        if dataset.spec.role in t.roles or dataset.spec.role == "custom"
    }
    out = []
    for task in levels.values():
        identity = render_identity(render_setting(adapter, task), DEFAULT_SR)
        out.append(RenderInfo(**identity))
    return out or None


def build_results(
    options: RunOptions,
    loaded: Loaded,
    plan: Plan,
    analysis: Analysis,
    samples_sha: str,
    scoring: ScoringConfig,
) -> Results:
    """The results file's model: aggregates plus config, provenance and hashes (``scoring``:
    the settings the sequences were scored with, a probed batch size included)."""
    tasks = {t.name: t for t in loaded.tasks}
    adapter = loaded.adapter
    private = [d.spec.location for d in loaded.datasets] + private_paths(options, loaded.caches)
    skipped = [
        SkippedItem(
            dataset=s.dataset,
            piece=scrub(s.piece, private),
            task=s.task,
            variant=s.variant,
            reason=scrub(s.reason, private),
            stage=s.stage,
        )
        for s in loaded.passed_over + plan.skipped
    ]
    datasets = [(d.spec.name, d.spec.role) for d in loaded.datasets]
    return Results(
        curvebench_version=curvebench.__version__,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        model=ModelInfo(
            spec=public_spec(options.model) if isinstance(options.model, str) else adapter.name,
            name=adapter.name,
            fingerprint=loaded.fingerprint,
            parameters=adapter.num_parameters(),
            modality=adapter.modality,
            context_length=adapter.context_length,
            settings=adapter.settings(),
            type_vocab=type_vocab(adapter.token_type_names()),
        ),
        config=RunConfig(
            seed=loaded.tasks[0].seed,
            devices=scoring.devices,
            batch_size=scoring.batch_size,
            limit=options.limit,
            stride=scoring.loss_settings(adapter.context_length)["stride"],
            precision=scoring.precision,
            protocol=loaded.protocol[0] if loaded.protocol else None,
            protocol_version=loaded.protocol[1].version if loaded.protocol else None,
            tasks=dict(tasks),
            task_versions={n: t.version for n, t in tasks.items()},
        ),
        datasets=[d.info(renders(adapter, loaded.tasks, d)) for d in loaded.datasets],
        results=with_empty_groups(analysis.results, loaded.tasks, datasets, skipped),
        curves=analysis.curves,
        validity=analysis.validity,
        skipped=skipped,
        samples_sha256=samples_sha,
        env={
            **environment(),
            "prepare_workers": str(plan.workers),
            "codec_device": plan.codec_device or "cpu",
            **({"attention": adapter.attention} if adapter.attention else {}),
        },
    )


def private_paths(options: RunOptions, caches: RunCaches) -> list[str]:
    """Every path of this machine a run was given or uses (its data folders, ``hf:`` folders
    too, the model's path options, --out, the cache folder and the home folder), absolute and
    resolved: none may reach anything the run writes (:func:`curvebench.specs.scrub`
    replaces them)."""
    given = [d.partition("=")[2] or d for d in options.data]
    given = [g.removeprefix(HUB_PREFIX).split("#")[0].split("@")[0] for g in given]
    if isinstance(options.model, str):
        given += list(parse_spec(options.model, "model")[1].values())
    given += [str(options.out), str(caches.root), str(Path.home())]
    out = []
    for g in given:
        if g and is_local_path(g):
            out += [str(Path(g).expanduser().absolute()), str(Path(g).expanduser().resolve())]
    return sorted({p for p in out if len(p) > 1}, key=len, reverse=True)


def write_results(results: Results, path: Path) -> Path:
    """Write results.json through a unique temporary file renamed into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(results.model_dump_json(indent=2) + "\n")
    tmp.replace(path)
    return path


def write_examples(plan: Plan, folder: Path) -> None:
    """The plan's listening examples as files (MIDI, or WAV for audio models) and an index."""
    folder.mkdir(parents=True, exist_ok=True)
    index = []
    for i, example in enumerate(plan.examples):
        pair = example.pair
        entry = {
            "task": pair.task,
            "dataset": pair.dataset,
            "role": pair.role,
            "piece_id": pair.piece_id,
            "variant": pair.variant,
        }
        for kind, media in (("original", example.original), ("perturbed", example.perturbed)):
            name = f"{i:03d}-{kind}." + ("mid" if isinstance(media, bytes) else "wav")
            if isinstance(media, bytes):
                (folder / name).write_bytes(media)
            else:
                write_wav(folder / name, media, DEFAULT_SR)
            entry[kind] = name
        index.append(entry)
    (folder / "index.json").write_text(json.dumps(index, indent=1) + "\n")


def environment() -> dict[str, str]:
    """Versions of Python and of the libraries a result depends on, and the CPU threads
    torch ran on."""
    import torch

    env = {"python": platform.python_version(), "platform": platform.platform()}
    env["torch_threads"] = str(torch.get_num_threads())
    for dist in ENV_DISTRIBUTIONS:
        try:
            env[dist] = md.version(dist)
        except md.PackageNotFoundError:
            continue
    return env
