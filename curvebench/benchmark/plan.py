"""From datasets and tasks to the unique sequences to score and the pairs that use them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from curvebench.adapters.base import Adapter, Encoded
from curvebench.data.piece import Piece
from curvebench.data.timing import clip_seconds
from curvebench.errors import CurvebenchError
from curvebench.perturbations import PerturbationRecord, derive_seed
from curvebench.tasks import TaskConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pair:
    """An original and one perturbed copy of it, inside one task and dataset."""

    task: str
    dataset: str
    role: str
    piece_id: str
    variant: str
    """The perturbation's spec id."""
    original: str
    """Key (ids hash) of the original's sequence."""
    perturbed: str
    """Key of the perturbed copy's sequence."""
    record: PerturbationRecord


@dataclass
class Plan:
    """Unique sequences (scored once each), the pairs that use them, and what was skipped."""

    sequences: dict[str, Encoded] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def add_sequence(self, encoded: Encoded) -> str:
        key = encoded.sha256
        self.sequences.setdefault(key, encoded)
        return key


def plan_task(plan: Plan, task: TaskConfig, adapter: Adapter, pieces: list[Piece]) -> None:
    """Encode each piece (cut to the task's length) and each perturbed copy, adding pairs."""
    perturbations = task.parsed_perturbations()
    for piece in pieces:
        where = f"{task.name}/{piece.dataset}/{piece.id}"
        try:
            clipped = clip_seconds(piece.score(), task.clip_seconds)
            original = plan.add_sequence(adapter.encode_score(clipped, piece.id))
        except CurvebenchError as exc:
            plan.skipped.append((where, str(exc)))
            continue
        for perturbation in perturbations:
            seed = derive_seed(task.seed, piece.sha256, perturbation.spec_id)
            try:
                perturbed_score, record = perturbation.apply(clipped, seed)
                perturbed = plan.add_sequence(adapter.encode_score(perturbed_score, piece.id))
            except CurvebenchError as exc:
                plan.skipped.append((f"{where}/{perturbation.spec_id}", str(exc)))
                continue
            plan.pairs.append(
                Pair(
                    task.name,
                    piece.dataset,
                    piece.role,
                    piece.id,
                    perturbation.spec_id,
                    original,
                    perturbed,
                    record,
                )
            )
