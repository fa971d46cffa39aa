"""What the load stage hands on to the others: the run's datasets with their pieces, the
adapter, the scoring configuration and the caches."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from curvebench.adapters import Adapter
from curvebench.benchmark.results import DatasetInfo, RenderInfo
from curvebench.benchmark.scoring_config import ScoringConfig
from curvebench.cache import RunCaches
from curvebench.data.piece import Piece
from curvebench.data.sources import DataSpec, GeneratedSpec, Skip
from curvebench.specs import public_location
from curvebench.tasks import TaskConfig
from curvebench.tasks.loader import Protocol


@dataclass(frozen=True)
class Dataset:
    """One dataset of a run and its pieces."""

    spec: DataSpec
    pieces: list[Piece]
    generated: GeneratedSpec | None = None
    """How the pieces were drawn, for the generated role."""

    def info(self, render: list[RenderInfo] | None = None) -> DatasetInfo:
        """Its entry in results.json (``render``: what its MIDI was heard through)."""
        return DatasetInfo(
            name=self.spec.name,
            role=self.spec.role,
            location=public_location(self.spec.location),
            generated=self.generated,
            n_pieces=len(self.pieces),
            content_sha256=hashlib.sha256(
                "\n".join(sorted(p.sha256 for p in self.pieces)).encode()
            ).hexdigest(),
            render=render,
            codes_kept=codes_kept(self.pieces),
        )


def codes_kept(pieces: list[Piece]) -> float | None:
    """Mean over generated audio pieces of the fraction of sampled codes a decode → encode
    round trip keeps (``codes_kept`` in their meta); None when none says."""
    values = [float(dict(p.meta)["codes_kept"]) for p in pieces if "codes_kept" in dict(p.meta)]
    return round(sum(values) / len(values), 4) if values else None


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
