"""What a run is given: its options."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from curvebench.adapters import Adapter
from curvebench.adapters.base import check_accelerator
from curvebench.benchmark.scoring_config import ScoringConfig
from curvebench.cache import RunCaches
from curvebench.data.files import DEFAULT_LIMITS, Limits
from curvebench.errors import ConfigError
from curvebench.threads import check_threads


@dataclass
class RunOptions:
    """Everything ``curvebench run`` takes."""

    tasks: tuple[str, ...] = ("noise-at-5s",)
    model: str | Adapter = "reference"
    """A model spec ``NAME[:key=value,...]``, or an adapter object (a model in memory)."""
    data: tuple[str, ...] = ()
    limit: int | float | None = None
    """At most this many pieces per dataset; a fraction below 1 takes that share of each."""
    devices: int = 1
    num_nodes: int = 1
    seed: int | None = None
    out: Path = Path("runs/latest")
    wandb: bool = True
    batch_size: int | str = 16
    """Sequences per model pass, or ``auto`` (probed on the device: benchmark.batch_probe)."""
    accelerator: str = "auto"
    """A Lightning accelerator (``adapters.base.ACCELERATORS``); ``cuda:N`` (or ``gpu:N``) is
    GPU number N."""
    progress: bool = False
    stride: int | None = None
    """Rolling-window stride for sequences longer than the context (default: half of it)."""
    share_prefixes: bool = True
    """Score perturbed copies from their original's key-value cache where the model can."""
    cache_dir: Path | None = None
    """Where a run keeps what it computed: scored sequences, generated samples, renders and
    codec codes (default ``$CURVEBENCH_CACHE``)."""
    use_cache: bool = True
    """False: score, render and encode everything afresh and store nothing."""
    limits: Limits = DEFAULT_LIMITS
    """Bounds on one item (notes per piece, seconds per recording, MB per MIDI file); an item
    beyond one is skipped with the reason."""
    threads: int | None = None
    """CPU threads torch uses (None: the cores the 1-minute load leaves free, at least 1;
    :mod:`curvebench.threads`)."""
    precision: str = "auto"
    """``auto`` (bfloat16 autocast on a CUDA GPU outside the board, else float32), ``32`` or
    ``bf16`` (:func:`~curvebench.benchmark.scoring_config.scoring_precision`)."""
    generator: str = "self"
    """Who draws the generated role: ``self`` (the model under test; the reference model when
    it cannot generate, with the reason recorded) or a model spec."""

    def __post_init__(self) -> None:
        """Refuse nonsense before anything is loaded or scored (a one-line ConfigError)."""
        self.out = Path(self.out)
        if isinstance(self.batch_size, str) and self.batch_size != "auto":
            raise ConfigError(f"--batch-size {self.batch_size}: give a number or auto")
        for name, value, least in (
            ("--devices", self.devices, 1),
            ("--num-nodes", self.num_nodes, 1),
            ("--batch-size", None if self.batch_size == "auto" else self.batch_size, 1),
            ("--stride", self.stride, 1),
        ):
            if value is not None and value < least:
                raise ConfigError(f"{name} {value}: give {least} or more")
        if self.limit is not None and not 0 < self.limit < 1:  # a fraction, or a count
            if self.limit < 1 or self.limit != int(self.limit):
                raise ConfigError(
                    f"--limit {self.limit}: give a count (1 or more) or a fraction (0.1)"
                )
            self.limit = int(self.limit)
        if self.seed is not None and self.seed < 0:
            raise ConfigError(f"--seed {self.seed}: give 0 or more")
        check_accelerator(self.accelerator, self.devices, self.num_nodes)
        check_threads(self.threads)

    def scoring(self) -> ScoringConfig:
        """The settings scoring reads."""
        return ScoringConfig(
            batch_size=self.batch_size,
            accelerator=self.accelerator,
            devices=self.devices,
            num_nodes=self.num_nodes,
            stride=self.stride,
            share_prefixes=self.share_prefixes,
            progress=self.progress,
        )

    def caches(self) -> RunCaches:
        """Where the run keeps what it computes (``$CURVEBENCH_CACHE`` read now)."""
        return RunCaches.of(self.cache_dir, self.use_cache, self.out)
