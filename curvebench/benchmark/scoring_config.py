"""How a run scores its sequences: the settings scoring reads, built once from the run's
options (the pipeline's load stage) and handed down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch

from curvebench.benchmark.windows import effective_stride
from curvebench.errors import ConfigError


@dataclass(frozen=True)
class ScoringConfig:
    """The scoring settings of one run."""

    batch_size: int | Literal["auto"] = 16
    """Sequences per model pass, or ``auto`` (probed on the device: ``batch_probe``)."""
    accelerator: str = "auto"
    """The Lightning accelerator (checked when the run's options were built)."""
    devices: int = 1
    """Devices per node."""
    num_nodes: int = 1
    """Nodes (multi-node DDP)."""
    stride: int | None = None
    """Rolling-window stride for sequences longer than the context (None: half of it)."""
    share_prefixes: bool = True
    """Score perturbed copies from their original's key-value cache where the model can."""
    progress: bool = False
    """Show a progress bar while scoring."""
    precision: str = "32-true"
    """Lightning's precision of the forward passes: ``32-true``, or ``bf16-mixed`` (autocast
    to bfloat16; :func:`scoring_precision`)."""

    @property
    def shared(self) -> bool:
        """True when several processes score (DDP): they hand over their scores on disk."""
        return self.devices * self.num_nodes > 1

    def loss_settings(self, context_length: int) -> dict[str, object]:
        """The settings besides the model and the input that change a loss (part of the score
        cache's key and recorded in results.json): the rolling-window stride actually used
        with a context of ``context_length`` tokens."""
        settings: dict[str, object] = {"stride": effective_stride(context_length, self.stride)}
        if self.precision != "32-true":  # float32 keys stay what they were
            settings["precision"] = self.precision
        return settings


PRECISIONS = {"32": "32-true", "bf16": "bf16-mixed"}
"""``--precision`` values other than ``auto``, and Lightning's names for them."""


def scoring_precision(
    requested: str, accelerator: str, weights: torch.dtype, protocol: bool
) -> str:
    """The precision a run scores in. ``auto``: bfloat16 autocast on a CUDA GPU that has it,
    for a model whose weights are float32, outside a protocol; float32 otherwise. Board runs
    score in float32 whatever is asked, so that any machine verifies them."""
    if requested not in ("auto", *PRECISIONS):
        raise ConfigError(f"--precision {requested}: use auto, 32 or bf16")
    if protocol:
        if requested == "bf16":
            raise ConfigError(
                "--precision bf16: the board scores in float32 so any machine can verify it"
            )
        return "32-true"
    if requested != "auto":
        return PRECISIONS[requested]
    gpu = accelerator.partition(":")[0] in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    if gpu and weights == torch.float32 and torch.cuda.is_bf16_supported():
        return "bf16-mixed"
    return "32-true"
