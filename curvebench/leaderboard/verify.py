"""``curvebench leaderboard verify SUBMISSION --rescore K``: re-score K random items of a
submission with the model, where the maintainer has it, to catch fabricated samples.

Each chosen item is rebuilt from scratch: its piece is read from the named dataset, cut and
perturbed exactly as the run did (the seeds derive from task seed, piece hash and spec), and
encoded; the ids must hash to the item's ``key`` and the model's per-token losses must match
the submitted ones.
"""

from __future__ import annotations

import logging
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curvebench.adapters import Adapter, load_adapter
from curvebench.benchmark.plan import Plan, plan_task
from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine
from curvebench.benchmark.scoring import score_sequences
from curvebench.data.piece import Piece
from curvebench.data.sources import DataSpec, iter_pieces, load_split
from curvebench.leaderboard.submission import (
    RESULTS_FILE,
    SAMPLES_FILE,
    SubmissionError,
    read_samples,
    validate_submission,
)
from curvebench.pipeline.generated import generated_pieces
from curvebench.tasks import TaskConfig

log = logging.getLogger(__name__)

LOSS_TOLERANCE = 1e-3
"""Largest per-token difference (nats) accepted between submitted and re-scored losses."""


@dataclass(frozen=True)
class Rescored:
    """The outcome for one re-scored item."""

    item: str
    """task/dataset/piece/variant."""
    ok: bool
    """True when the rebuilt input matches and every loss agrees."""
    max_diff: float | None
    """Largest absolute per-token difference (None when the input did not match)."""
    reason: str = ""
    """Why not, when not ok."""


def _piece(results: Results, dataset: str, piece_id: str) -> Piece:
    info = next((d for d in results.datasets if d.name == dataset), None)
    if info is None:
        raise SubmissionError(f"dataset {dataset!r} is not listed in the submission")
    if info.generated is not None:  # rebuilt from the recorded sampling spec
        spec = info.generated
        try:
            index = int(piece_id.rsplit("/", 1)[-1])
        except ValueError as exc:
            raise SubmissionError(f"piece {piece_id!r} is not a generated piece's id") from exc
        if not 0 <= index < spec.n:
            raise SubmissionError(f"piece {piece_id!r}: index outside the {spec.n} drawn")
        just_this = spec.model_copy(update={"n": index + 1})
        return generated_pieces(load_adapter(spec.generator), just_this, dataset, first=index)[0]
    spec = DataSpec(info.name, info.role, info.location)
    for piece in iter_pieces(spec, load_split(spec)):
        if piece.id == piece_id:
            return piece
    raise SubmissionError(f"piece {piece_id!r} is not in dataset {dataset!r} ({info.location})")


def _rescore_line(adapter: Adapter, results: Results, line: SampleLine) -> Rescored:
    item = "/".join((line.task, line.dataset, line.piece_id, line.variant))
    task = TaskConfig.model_validate(results.config.tasks[line.task])
    plan = Plan()
    plan_task(plan, task, adapter, [_piece(results, line.dataset, line.piece_id)])
    wanted = [
        p.original if line.is_original else p.perturbed
        for p in plan.pairs
        if line.variant in ("original", p.variant)
    ]
    if line.key not in wanted:
        return Rescored(item, False, None, "the rebuilt input does not hash to the item's key")
    ours = score_sequences(adapter, [plan.sequences[line.key].ids])[0]
    theirs = np.asarray(line.loss, dtype=np.float64)
    if ours.shape != theirs.shape:
        return Rescored(item, False, None, f"loss shape {theirs.shape}, model gives {ours.shape}")
    diff = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
    ok = diff <= LOSS_TOLERANCE
    return Rescored(item, ok, diff, "" if ok else f"losses differ by up to {diff:.4g} nats")


def verify(run_dir: Path, rescore: int, seed: int = 0) -> list[Rescored]:
    """Validate a submission, then re-score ``rescore`` random items with its model."""
    run_dir = Path(run_dir)
    results = validate_submission(run_dir)
    adapter = load_adapter(results.model.spec)
    if adapter.fingerprint() != results.model.fingerprint:
        raise SubmissionError(
            f"{run_dir / RESULTS_FILE}: the model {results.model.spec!r} here has fingerprint "
            f"{adapter.fingerprint()[:12]}, the submission {results.model.fingerprint[:12]}; "
            "re-scoring needs the submitted weights"
        )
    lines = read_samples(run_dir / SAMPLES_FILE)
    chosen = random.Random(seed).sample(lines, min(rescore, len(lines)))
    return [_rescore_line(adapter, results, line) for line in chosen]
