"""``curvebench leaderboard verify SUBMISSION --rescore K``: re-score K random items of a
submission with the model, where the maintainer has it, to catch fabricated samples.

Each chosen item is rebuilt from scratch: its piece is read from the named dataset, cut and
perturbed exactly as the run did (the seeds derive from task seed, piece hash and spec), and
encoded; the ids must hash to the item's ``key`` and the model's per-token losses must match
the submitted ones.
"""

from __future__ import annotations

import logging
import math
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from curvebench.adapters import Adapter, load_adapter
from curvebench.benchmark.plan import Plan, plan_task
from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine
from curvebench.benchmark.scoring import score_sequences
from curvebench.data.piece import Piece
from curvebench.data.sources import DataSpec, embedded_specs, iter_pieces, load_split
from curvebench.errors import CurvebenchError, one_line
from curvebench.leaderboard.policy import safe_spec
from curvebench.leaderboard.protocol import first_difference
from curvebench.leaderboard.submission import (
    RESULTS_FILE,
    SAMPLES_FILE,
    SubmissionError,
    read_samples,
    validate_submission,
)
from curvebench.pipeline.generated import generated_pieces

log = logging.getLogger(__name__)

LOSS_TOLERANCE = 1e-3
"""Largest per-token difference (nats) accepted between submitted and re-scored losses."""

MIN_COPIES = 96
"""Perturbed copies re-scored by default (each with its original), or SHARE_COPIES of the
copies when that is more: a forgery of a fraction f of the lines escapes with probability at
most (1 − f + f²/4)^k for k copies drawn (:func:`escape_bound`), under 1e-4 for f = 0.1."""
SHARE_COPIES = 0.02


def default_copies(n_copies: int) -> int:
    """How many copies ``verify`` re-scores by default, for a submission of ``n_copies``."""
    return min(n_copies, max(MIN_COPIES, math.ceil(SHARE_COPIES * n_copies)))


def escape_bound(fraction: float, copies: int) -> float:
    """Upper bound of the probability that a forgery of ``fraction`` of a submission's lines
    has none of its lines among ``copies`` copies drawn with equal chances (proportional
    strata) and their originals: with a share α of the forged lines among copies, the draw
    misses them with probability about (1 − αf)^k · (1 − (1 − α)f)^k ≤ (1 − f + f²/4)^k."""
    return (1.0 - fraction + fraction * fraction / 4.0) ** copies


def draw_items(lines: list[SampleLine], copies: int | None, seed: int) -> list[SampleLine]:
    """The lines to re-score: ``copies`` perturbed copies drawn at random in proportion to the
    (task, dataset, variant) strata (every copy has the same chance, and every stratum its
    share), each with its original; every line when ``copies`` is None."""
    if copies is None:
        return list(lines)
    rng = random.Random(seed)
    strata: dict[tuple[str, str, str], list[int]] = {}
    for i, line in enumerate(lines):
        if not line.is_original:
            strata.setdefault((line.task, line.dataset, line.variant), []).append(i)
    total = sum(len(v) for v in strata.values())
    copies = min(copies, total)
    quotas = {k: copies * len(v) / total for k, v in strata.items()}
    counts = {k: math.floor(q) for k, q in quotas.items()}
    left = copies - sum(counts.values())  # the largest remainders, ties broken at random
    order = sorted(strata, key=lambda k: (quotas[k] - counts[k], rng.random()), reverse=True)
    for k in order[:left]:
        counts[k] += 1
    chosen = sorted(i for k, members in strata.items() for i in rng.sample(members, counts[k]))
    originals = {(x.task, x.dataset, x.piece_id): i for i, x in enumerate(lines) if x.is_original}
    picked: set[int] = set()
    for i in chosen:
        line = lines[i]
        o = originals.get((line.task, line.dataset, line.piece_id))
        picked |= {i} | ({o} if o is not None else set())
    return [lines[i] for i in sorted(picked)]


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


def _piece(
    results: Results,
    dataset: str,
    piece_id: str,
    data: dict[str, str] | None = None,
    adapter: Adapter | None = None,
) -> Piece:
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
        generator = (
            adapter
            if spec.generator == results.model.spec
            else load_adapter(safe_spec(spec.generator, Path(dataset)))
        )
        return generated_pieces(generator, just_this, dataset, first=index)[0]
    embedded = {s.name: s for s in embedded_specs()}
    if dataset in embedded:  # the package's own data, whatever the submission says it read
        spec = embedded[dataset]
    else:
        location = (data or {}).get(dataset, info.location)
        if location.startswith("local:"):
            raise SubmissionError(
                f"dataset {dataset!r} was a local folder ({location}); give --data "
                f"{dataset}=PATH with the same files to rebuild its items"
            )
        spec = DataSpec(info.name, info.role, location)
    for piece in iter_pieces(spec, load_split(spec)):
        if piece.id == piece_id:
            return piece
    raise SubmissionError(f"piece {piece_id!r} is not in dataset {dataset!r} ({spec.location})")


@dataclass
class _Rebuilt:
    """An item whose input was rebuilt as submitted: its sequence, to be scored."""

    item: str
    ids: np.ndarray
    theirs: np.ndarray


def _rebuild_line(
    adapter: Adapter,
    results: Results,
    line: SampleLine,
    data: dict[str, str] | None,
    plans: dict[tuple[str, str, str], Plan],
) -> _Rebuilt | Rescored:
    """The item's input rebuilt from its piece (one plan per piece, kept in ``plans`` for
    the piece's other items), or the Rescored verdict of an input that does not match."""
    item = "/".join((line.task, line.dataset, line.piece_id, line.variant))
    where = (line.task, line.dataset, line.piece_id)
    plan = plans.get(where)
    if plan is None:
        task = results.config.tasks[line.task]
        plan = plans[where] = Plan()
        piece = _piece(results, line.dataset, line.piece_id, data, adapter)
        plan_task(plan, task, adapter, [piece])
    wanted = [
        p.original if line.is_original else p.perturbed
        for p in plan.pairs
        if line.variant in ("original", p.variant)
    ]
    if line.key not in wanted:
        return Rescored(item, False, None, "the rebuilt input does not hash to the item's key")
    if not line.is_original:
        rebuilt = next(p.record for p in plan.pairs if p.variant == line.variant)
        field = first_difference(line.record, rebuilt)
        if field is not None:
            return Rescored(
                item,
                False,
                None,
                f"its record's {field} is {getattr(line.record, field)!r}, the rebuilt "
                f"perturbation gives {getattr(rebuilt, field)!r}",
            )
    theirs = np.asarray(line.loss, dtype=np.float64)
    return _Rebuilt(item, plan.sequences[line.key].ids, theirs)


def _rescore_lines(
    adapter: Adapter,
    results: Results,
    lines: list[SampleLine],
    data: dict[str, str] | None = None,
    progress: bool = False,
) -> list[Rescored]:
    """Each line's input rebuilt, then every rebuilt input scored in one pass (one evaluator
    for the whole verification, as a run scores), each compared with its submitted losses."""
    plans: dict[tuple[str, str, str], Plan] = {}
    bar = tqdm(lines, desc="rebuilding", unit="item", disable=not progress)
    rebuilt = [_rebuild_line(adapter, results, line, data, plans) for line in bar]
    todo = [r for r in rebuilt if isinstance(r, _Rebuilt)]
    stride = results.config.stride  # as the run scored it
    losses = iter(score_sequences(adapter, [r.ids for r in todo], stride=stride, progress=progress))
    return [_compared(r, next(losses)) if isinstance(r, _Rebuilt) else r for r in rebuilt]


def _compared(rebuilt: _Rebuilt, ours: np.ndarray) -> Rescored:
    """The verdict on one rebuilt item: its losses as scored here against the submitted."""
    item, theirs = rebuilt.item, rebuilt.theirs
    if ours.shape != theirs.shape:
        return Rescored(item, False, None, f"loss shape {theirs.shape}, model gives {ours.shape}")
    diff = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
    ok = diff <= LOSS_TOLERANCE
    return Rescored(item, ok, diff, "" if ok else f"losses differ by up to {diff:.4g} nats")


AUTO = "auto"
"""``rescore`` value for :func:`default_copies` of the submission's copies."""


def verify(
    run_dir: Path,
    rescore: int | str | None = AUTO,
    seed: int = 0,
    model: str | None = None,
    data: dict[str, str] | None = None,
    progress: bool = False,
) -> list[Rescored]:
    """Validate a submission, then re-score ``rescore`` perturbed copies drawn by
    :func:`draw_items` with ``seed``, each with its original (None: every line), with its
    model (or the ``model`` spec given, e.g. a local copy of the submitted weights; ``data``
    maps a dataset name to where its files are here). The model must have the submitted
    fingerprint and parameter count before any item is scored."""
    run_dir = Path(run_dir)
    results = validate_submission(run_dir)
    where = run_dir / RESULTS_FILE
    spec = safe_spec(model or results.model.spec, where)
    try:
        adapter = load_adapter(spec)
    except CurvebenchError:
        raise
    except Exception as exc:  # a library's own refusal (a pickle, a missing file): not a verdict
        raise SubmissionError(
            f"{where}: the model {spec} cannot be loaded here ({one_line(exc)})"
        ) from exc
    if adapter.fingerprint() != results.model.fingerprint:
        raise SubmissionError(
            f"{where}: the model {results.model.spec!r} here has fingerprint "
            f"{adapter.fingerprint()[:12]}, the submission {results.model.fingerprint[:12]}; "
            "re-scoring needs the submitted weights"
        )
    if adapter.num_parameters() != results.model.parameters:
        raise SubmissionError(
            f"{where}: model.parameters is {results.model.parameters}, the model has "
            f"{adapter.num_parameters()}"
        )
    lines = read_samples(run_dir / SAMPLES_FILE)
    if rescore == AUTO:
        rescore = default_copies(sum(not line.is_original for line in lines))
    chosen = draw_items(lines, rescore, seed)
    return _rescore_lines(adapter, results, chosen, data, progress) + check_skips(
        adapter, results, data
    )


def check_skips(
    adapter: Adapter, results: Results, data: dict[str, str] | None = None
) -> list[Rescored]:
    """Each item the submission says it skipped is rebuilt and must be skipped again (a piece
    left out of the results on purpose is caught here)."""
    out = []
    for skipped in results.skipped:
        task = results.config.tasks.get(skipped.task or "")
        if task is None:
            continue  # a file passed over while loading, not an item of a task
        try:
            piece = _piece(results, skipped.dataset, skipped.piece, data, adapter)
        except SubmissionError as exc:
            out.append(Rescored(skipped.item, False, None, str(exc)))
            continue
        plan = Plan()
        plan_task(plan, task, adapter, [piece])
        again = any(s.item == skipped.item for s in plan.skipped)
        reason = "" if again else "rebuilt, it is not skipped: it was left out on purpose"
        out.append(Rescored(skipped.item, again, None, reason))
    return out
