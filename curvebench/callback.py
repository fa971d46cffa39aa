"""``CurveBenchCallback``: the shape metrics of a model while it trains (Lightning).

Every ``every_n_steps`` optimizer steps (or ``every_n_epochs`` epochs) it runs a small task on
the model being trained through the same evaluator as ``curvebench run`` and logs the headline
metrics with ``pl_module.log`` as ``curvebench/TASK/DATASET/METRIC``, so they reach whatever
logger the trainer has (W&B, TensorBoard, CSV). The model is scored where it is (no device
moves), in eval mode, and handed back in its own modes; nothing is cached (the weights change).
Under DDP only rank 0 scores and logs.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lightning as L
import torch

from curvebench.adapters.in_memory import as_adapter
from curvebench.metrics.catalog import headline_metrics
from curvebench.metrics.registry import validity_metrics
from curvebench.pipeline import RunOptions
from curvebench.pipeline import run as run_pipeline

log = logging.getLogger(__name__)

EXTRA_METRICS = ("nats_per_second_original",)
"""Logged besides the headline metrics (``metrics.catalog``) and each validity metric's
agreement (``metrics.registry``)."""
QUIET = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")
"""Loggers of the evaluator's own Trainer, kept to warnings while it scores."""
DEFAULT_DATA = ("training=embedded:validation", "ood=embedded:ood")
"""Held-out pieces of the embedded corpus's training distribution, and its ood set."""


class CurveBenchCallback(L.Callback):
    """Run curvebench tasks on the model being trained and log the headline metrics.

    ``model`` picks the scored module out of the LightningModule (default: its ``model``
    attribute, else the LightningModule itself): a transformers causal LM, or an
    ``nn.Module`` mapping ids [B, T] to logits [B, T, V]. ``tokenizer`` is its miditok
    tokenizer. ``history`` keeps every evaluation's logged values, by global step.
    """

    def __init__(
        self,
        tokenizer: Any,
        tasks: Sequence[str] = ("noise-at-5s",),
        data: Sequence[str] = DEFAULT_DATA,
        limit: float = 4,
        every_n_steps: int | None = None,
        every_n_epochs: int | None = None,
        model: Callable[[L.LightningModule], torch.nn.Module] | None = None,
        context_length: int | None = None,
        batch_size: int = 16,
        out: str | Path | None = None,
        prefix: str = "curvebench",
    ) -> None:
        super().__init__()
        if (every_n_steps is None) == (every_n_epochs is None):
            raise ValueError("give one of every_n_steps or every_n_epochs")
        self.tokenizer = tokenizer
        self.tasks, self.data, self.limit = tuple(tasks), tuple(data), limit
        self.every_n_steps, self.every_n_epochs = every_n_steps, every_n_epochs
        self.pick = model or (lambda m: getattr(m, "model", m))
        self.context_length = context_length
        self.batch_size = batch_size
        self.out = Path(out) if out is not None else None
        self.prefix = prefix
        self.history: list[dict[str, float]] = []
        """``{"step": ..., "curvebench/TASK/DATASET/METRIC": ...}`` of every evaluation."""
        self._last_step = -1

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any
    ) -> None:
        step = trainer.global_step
        if self.every_n_steps and step % self.every_n_steps == 0 and step != self._last_step:
            self.evaluate(trainer, pl_module)

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.every_n_epochs and (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self.evaluate(trainer, pl_module)

    def evaluate(self, trainer: L.Trainer, pl_module: L.LightningModule) -> dict[str, float]:
        """Score the tasks now and log the headline metrics; returns what was logged."""
        self._last_step = trainer.global_step
        if trainer.global_rank != 0:
            return {}
        module = self.pick(pl_module)
        adapter = as_adapter(
            module,
            self.tokenizer,
            name=f"{type(module).__name__}-step{trainer.global_step}",
            context_length=self.context_length,
            place=False,
            hash_weights=False,
        )
        root = self.out or Path(trainer.default_root_dir) / "curvebench"
        levels = [(logging.getLogger(n), logging.getLogger(n).level) for n in QUIET]
        for logger, _ in levels:
            logger.setLevel(logging.WARNING)
        try:
            output = self._run(adapter, root / f"step-{trainer.global_step:07d}", pl_module)
        finally:
            for logger, level in levels:
                logger.setLevel(level)
        names = [m.name for m in headline_metrics()] + list(EXTRA_METRICS)
        names += [m.agree_field for m in validity_metrics()]
        values = {}
        for task, per_dataset in output.results.results.items():
            for dataset, r in per_dataset.items():
                for name in names:
                    value = getattr(r, name, None)
                    if isinstance(value, int | float) and value == value:  # NaN left out
                        values[f"{self.prefix}/{task}/{dataset}/{name}"] = float(value)
        for name, value in values.items():
            pl_module.log(name, value, rank_zero_only=True, batch_size=1)
        self.history.append({"step": trainer.global_step, **values})
        return values

    def _run(self, adapter: Any, out: Path, pl_module: L.LightningModule) -> Any:
        return run_pipeline(
            RunOptions(
                tasks=self.tasks,
                model=adapter,
                data=self.data,
                limit=self.limit,
                out=out,
                wandb=False,
                batch_size=self.batch_size,
                accelerator=accelerator_of(pl_module.device),
                use_cache=False,
            )
        )


def accelerator_of(device: torch.device) -> str:
    """The evaluator's accelerator for a module on ``device`` (``cuda:1`` → GPU 1)."""
    if device.type == "cuda":
        return f"cuda:{device.index or 0}"
    return device.type if device.type in ("cpu", "mps") else "auto"
