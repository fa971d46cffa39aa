"""The training loop the reference models share: a Lightning module whose loss is the mean over
real tokens (or codes) of a batch, and AdamW with linear warm-up and cosine decay to a tenth.

Each model says only how a batch is scored (:meth:`SummedLossLM.batch_loss`: summed nats and
how many targets they cover), which parameters learn and its AdamW betas.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar, Protocol

import lightning as L
import torch


class ScheduleRecipe(Protocol):
    """The recipe fields the optimiser reads."""

    @property
    def lr(self) -> float:
        """Peak learning rate."""

    @property
    def warmup(self) -> int:
        """Warm-up steps."""

    @property
    def max_steps(self) -> int:
        """Optimizer steps."""


def warmup_cosine(warmup: int, max_steps: int) -> Callable[[int], float]:
    """Learning-rate factor of each step: linear warm-up over ``warmup`` steps, then cosine
    decay from 1 to 0.1 at ``max_steps`` (0.1 after it)."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, max_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


class SummedLossLM(L.LightningModule):
    """Trains ``model`` on the mean of :meth:`batch_loss`; logs ``train_loss`` and
    ``val_loss`` (the validation mean weighted by target count)."""

    betas: ClassVar[tuple[float, float]] = (0.9, 0.999)
    """AdamW's betas."""

    def __init__(self, model: torch.nn.Module, recipe: ScheduleRecipe) -> None:
        super().__init__()
        self.model, self.recipe = model, recipe

    def batch_loss(self, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """Summed loss in nats over a batch's targets, and the number of targets."""
        raise NotImplementedError

    def training_step(self, batch: Any, _: int) -> torch.Tensor:
        total, count = self.batch_loss(batch)
        loss = total / count
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: Any, _: int) -> None:
        total, count = self.batch_loss(batch)
        self.log("val_loss", total / count, prog_bar=True, batch_size=int(count))

    def configure_optimizers(self):
        r = self.recipe
        params = [p for p in self.model.parameters() if p.requires_grad]
        opt = torch.optim.AdamW(params, lr=r.lr, weight_decay=0.01, betas=self.betas)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(r.warmup, r.max_steps))
        return [opt], [{"scheduler": sched, "interval": "step"}]
