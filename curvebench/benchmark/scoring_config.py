"""How a run scores its sequences: the settings scoring reads, built once from the run's
options (the pipeline's load stage) and handed down."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from curvebench.benchmark.windows import effective_stride


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

    @property
    def shared(self) -> bool:
        """True when several processes score (DDP): they hand over their scores on disk."""
        return self.devices * self.num_nodes > 1

    def loss_settings(self, context_length: int) -> dict[str, object]:
        """The settings besides the model and the input that change a loss (part of the score
        cache's key and recorded in results.json): the rolling-window stride actually used
        with a context of ``context_length`` tokens."""
        return {"stride": effective_stride(context_length, self.stride)}
