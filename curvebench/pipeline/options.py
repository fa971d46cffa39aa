"""What a run is given (its options) and what its load stage hands on."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from curvebench.adapters import Adapter
from curvebench.adapters.base import check_accelerator
from curvebench.benchmark.results import DatasetInfo
from curvebench.benchmark.scoring_config import ScoringConfig
from curvebench.cache import RunCaches
from curvebench.data.files import DEFAULT_LIMITS, Limits
from curvebench.data.piece import Piece
from curvebench.data.sources import DataSpec, GeneratedSpec, Skip
from curvebench.errors import ConfigError
from curvebench.specs import public_location
from curvebench.tasks import TaskConfig
from curvebench.tasks.loader import Protocol


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


@dataclass(frozen=True)
class Dataset:
    """One dataset of a run and its pieces."""

    spec: DataSpec
    pieces: list[Piece]
    generated: GeneratedSpec | None = None
    """How the pieces were drawn, for the generated role."""

    def info(self) -> DatasetInfo:
        """Its entry in results.json."""
        return DatasetInfo(
            name=self.spec.name,
            role=self.spec.role,
            location=public_location(self.spec.location),
            generated=self.generated,
            n_pieces=len(self.pieces),
            content_sha256=hashlib.sha256(
                "\n".join(sorted(p.sha256 for p in self.pieces)).encode()
            ).hexdigest(),
        )


@dataclass
class Loaded:
    """The load stage's output."""

    tasks: list[TaskConfig]
    adapter: Adapter
    fingerprint: str
    datasets: list[Dataset]
    scoring: ScoringConfig
    """How the run scores its sequences."""
    caches: RunCaches
    """Where the run keeps what it computes."""
    passed_over: list[Skip] = field(default_factory=list)
    """Files of the datasets' folders that were not read (item, reason, stage)."""
    protocol: tuple[str, Protocol] | None = None
    """The protocol group the run follows (name, protocol), if any."""
