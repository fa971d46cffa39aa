"""The complete run from Python: the pipeline's stages, then its consumers (figures, W&B).

``curvebench run`` is :func:`run` behind argument parsing; :func:`evaluate` is the notebook
entry point (``curvebench.evaluate``): a spec, an adapter or a model object in memory.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curvebench.adapters.in_memory import as_adapter, kept_in_place
from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine
from curvebench.errors import ConfigError
from curvebench.pipeline import RunOptions, RunOutput
from curvebench.pipeline import run as run_pipeline
from curvebench.report.figures import write_run_figures
from curvebench.report.tables import frame, item_rows, result_rows
from curvebench.report.wandb_log import WandbSettings

__all__ = ["Evaluation", "RunOptions", "RunOutput", "WandbSettings", "evaluate", "run"]


def run(
    options: RunOptions, wandb: WandbSettings | None = None, figures: bool = True
) -> RunOutput | None:
    """Run tasks on one model: results.json, samples.jsonl.gz and the examples (the pipeline),
    then the figures and, unless ``options.wandb`` is False, the W&B run (``wandb`` names it).
    None in the extra processes of a multi-device run."""
    output = run_pipeline(options)
    if output is None:
        return None
    out = output.results_path.parent
    if figures:
        clock = time.perf_counter()
        output.figures = write_run_figures(output.results, output.lines, out)
        output.timings["figures"] = time.perf_counter() - clock
    if options.wandb:
        from curvebench.report.wandb_log import log_run

        clock = time.perf_counter()
        logged = log_run(output, out, wandb or WandbSettings(), output.private)
        output.wandb_dir, output.wandb_url = logged.folder, logged.url
        output.timings["wandb"] = time.perf_counter() - clock
    return output


@dataclass
class Evaluation:
    """What :func:`evaluate` gives back: the typed results and every scored item."""

    results: Results
    """results.json as a typed object (``results.results[task][dataset].region_peak``, ...)."""
    samples: list[SampleLine]
    """One line per scored item (original or perturbed copy), per-token losses included."""
    out: Path
    """The folder holding results.json, samples.jsonl.gz, the examples and the figures."""
    figures: list[Path] = field(default_factory=list)
    """The Δℓ-curve figures written."""
    wandb_url: str | None = None
    """The W&B run's page when it was logged online."""

    def table(self) -> Any:
        """One row per (task, dataset) with every metric: a pandas DataFrame when pandas is
        installed, else a list of dicts."""
        return frame(result_rows(self.results))

    def items(self) -> Any:
        """One row per scored item (piece, dataset, variant, loss, nats/s, region means): a
        DataFrame when pandas is installed, else a list of dicts."""
        return frame(item_rows(self.samples))

    def metric(self, name: str, task: str | None = None, dataset: str | None = None) -> Any:
        """One metric of one (task, dataset); the only task or dataset when not named."""
        task = task or _only(self.results.results, "task")
        per_dataset = self.results.results[task]
        return getattr(per_dataset[dataset or _only(per_dataset, "dataset")], name)


def _only(mapping: dict[str, Any], what: str) -> str:
    if len(mapping) != 1:
        raise ConfigError(f"name the {what}: one of {', '.join(mapping)}")
    return next(iter(mapping))


def evaluate(
    model: Any,
    tokenizer: Any = None,
    *,
    tasks: str | Sequence[str] = ("noise-at-5s",),
    data: str | Sequence[str] = (),
    limit: float | None = None,
    devices: int = 1,
    accelerator: str = "auto",
    batch_size: int | str = 16,
    precision: str = "auto",
    seed: int | None = None,
    out: str | Path | None = None,
    name: str | None = None,
    context_length: int | None = None,
    use_cache: bool = True,
    figures: bool = True,
    progress: bool = False,
    wandb: bool | WandbSettings = False,
    threads: int | None = None,
) -> Evaluation:
    """Run tasks on a model and return its results, from a notebook or a script.

    ``model`` is a model spec (``"hf-causal:path=DIR"``), an :class:`~curvebench.adapters.Adapter`,
    a ``transformers`` causal LM with its miditok ``tokenizer`` (or a ``(model, tokenizer)``
    pair), or any ``nn.Module`` mapping ids [B, T] to logits [B, T, V] with its tokenizer
    (``curvebench.adapters.in_memory`` states the protocol). ``name`` names an in-memory model
    in the results (default: its model type). ``data`` takes what ``--data`` takes
    (``ROLE=FOLDER``, ``ROLE=hf:ID``); the embedded corpus when empty. ``limit`` is a count or
    a fraction (0.1) of each dataset. ``out`` defaults to a new temporary folder. ``wandb``
    True logs the run (or pass :class:`WandbSettings` to name it). ``threads``: CPU threads for
    torch during the run (default: the cores the load leaves free). ``precision``: ``auto``
    (bfloat16 autocast on a CUDA GPU outside the board, else float32), ``32`` or ``bf16``. A
    model in memory is left on its device and in its mode.
    """
    adapter = as_adapter(model, tokenizer, name=name, context_length=context_length)
    options = RunOptions(
        tasks=(tasks,) if isinstance(tasks, str) else tuple(tasks),
        model=adapter,
        data=(data,) if isinstance(data, str) else tuple(data),
        limit=limit,
        devices=devices,
        accelerator=accelerator,
        batch_size=batch_size,
        precision=precision,
        seed=seed,
        out=Path(out) if out is not None else Path(tempfile.mkdtemp(prefix="curvebench-")),
        wandb=bool(wandb),
        progress=progress,
        use_cache=use_cache,
        threads=threads,
    )
    settings = wandb if isinstance(wandb, WandbSettings) else None
    if isinstance(adapter, str):
        output = run(options, settings, figures)
    else:
        with kept_in_place(adapter.model if hasattr(adapter, "model") else adapter.module):
            output = run(options, settings, figures)
    if output is None:  # an extra process of a multi-device run
        raise ConfigError("evaluate(devices>1) runs in one process: use `curvebench run` for DDP")
    return Evaluation(output.results, output.lines, options.out, output.figures, output.wandb_url)
