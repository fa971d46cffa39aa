"""From datasets and tasks to the unique sequences to score and the pairs that use them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from curvebench.adapters.base import Adapter, Encoded
from curvebench.adapters.code_cache import CodeCache
from curvebench.benchmark.aggregate import rounded
from curvebench.benchmark.encode import ItemEncoder, Media, item_failure
from curvebench.benchmark.samples import SampleLine
from curvebench.data.files import DEFAULT_LIMITS, Limits
from curvebench.data.piece import Piece
from curvebench.data.render import DEFAULT_RENDERS, RenderCache
from curvebench.data.sources import Skip
from curvebench.data.timing import clip_seconds
from curvebench.errors import CurvebenchError, one_line
from curvebench.metrics.token_types import target_types
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


EXAMPLES_PER_GROUP = 2


@dataclass(frozen=True)
class Example:
    """An original and its perturbed copy kept for the run report's listening examples."""

    pair: Pair
    original: Media
    perturbed: Media


@dataclass
class Plan:
    """Unique sequences (scored once each), the pairs that use them, what was skipped, and a
    few examples to listen to."""

    sequences: dict[str, Encoded] = field(default_factory=dict)
    pairs: list[Pair] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    examples: list[Example] = field(default_factory=list)
    id_types: list[str] | None = None
    """The adapter's type of every vocabulary id, when its tokens are typed."""
    unexpected: list[Skip] = field(default_factory=list)
    """Skips whose cause was not a curvebench error (a library's exception): when nothing
    else could be prepared, the model, not the files, is the likelier cause."""
    example_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    """Examples kept so far per (task, dataset)."""
    workers: int = 0
    """Worker processes each rank prepared its pieces on (0: in the rank's own process)."""
    codec_device: str | None = None
    """The accelerator an audio model's codec ran on (None: the CPU)."""

    def check_any_prepared(self) -> None:
        """CurvebenchError when no pair was prepared and some item failed with an exception
        of a library: one cause for every item is the model's or the setup's, not a file's."""
        if self.pairs or not self.unexpected:
            return
        first = self.unexpected[0]
        raise CurvebenchError(
            f"no item could be prepared; {len(self.unexpected)} failed with an unexpected error, "
            f"the first ({first.item}, {first.stage}): {first.reason}. This looks like a problem "
            "of the model or its setup rather than of the files"
        )

    def skip(self, skip: Skip, unexpected: bool) -> None:
        """Record an item left out, and whether its cause was unexpected (not a curvebench
        error)."""
        self.skipped.append(skip)
        if unexpected:
            self.unexpected.append(skip)

    def add_sequence(self, encoded: Encoded) -> str:
        """Add a sequence to score (once, however many pairs use it); returns its key."""
        key = encoded.sha256
        self.sequences.setdefault(key, encoded)
        return key

    def line(self, pair: Pair, variant: str, key: str, loss: np.ndarray) -> SampleLine:
        """The raw samples line of one scored item of a pair."""
        encoded = self.sequences[key]
        duration = encoded.duration_s
        return SampleLine(
            task=pair.task,
            dataset=pair.dataset,
            role=pair.role,
            piece_id=pair.piece_id,
            variant=variant,
            key=key,
            n_tokens=encoded.length,
            duration_s=rounded(duration) if duration else None,
            loss=loss.tolist(),
            seconds=[None if s != s else round(float(s), 4) for s in encoded.target_seconds],
            types=None
            if self.id_types is None or encoded.ids.ndim != 1
            else target_types(encoded.ids, self.id_types, encoded.first_target),
            record=None if variant == "original" else pair.record,
        )

    def lines(
        self, tasks: list[TaskConfig], datasets: list[str], loss_of: dict[str, np.ndarray]
    ) -> list[SampleLine]:
        """One raw line per scored item, task by task and dataset by dataset (in ``datasets``
        order): each original once, then its perturbed copies."""
        groups: dict[tuple[str, str], list[Pair]] = {}
        for pair in self.pairs:
            groups.setdefault((pair.task, pair.dataset), []).append(pair)
        out = []
        for task in tasks:
            for name in datasets:
                seen: set[str] = set()
                for pair in groups.get((task.name, name), []):
                    if pair.piece_id not in seen:
                        seen.add(pair.piece_id)
                        out.append(
                            self.line(pair, "original", pair.original, loss_of[pair.original])
                        )
                    out.append(
                        self.line(pair, pair.variant, pair.perturbed, loss_of[pair.perturbed])
                    )
        return out


EXAMPLE_PIECES = 4
"""Examples come from the first pairs of a group's first pieces only, so that whoever
prepares a piece (this process, a worker, another rank) knows whether to keep its media."""


@dataclass
class Copy:
    """One perturbed copy of a piece, prepared."""

    variant: str
    encoded: Encoded
    record: PerturbationRecord
    media: Media | None


@dataclass
class Prepared:
    """What preparing one piece for one task gave: its original, its perturbed copies and the
    items that failed (with whether the cause was unexpected: not a curvebench error). Media
    are kept only for a piece whose pairs may be listening examples (``EXAMPLE_PIECES``).
    Small and picklable: workers and other ranks hand these back."""

    original: Encoded | None = None
    media: Media | None = None
    copies: list[Copy] = field(default_factory=list)
    skips: list[tuple[Skip, bool]] = field(default_factory=list)


def prepare_piece(
    encoder: ItemEncoder,
    task: TaskConfig,
    piece: Piece,
    limits: Limits = DEFAULT_LIMITS,
    keep_media: bool = False,
) -> Prepared:
    """One piece cut to the task's length and encoded, and each perturbed copy; a piece or
    copy that fails at any stage is recorded as skipped with its reason and the stage
    (:func:`item_failure`); any other failure is raised."""
    out = Prepared()
    encoder.item = f"{task.name}/{piece.dataset}/{piece.id}"

    def failed(exc: Exception, variant: str | None = None) -> None:
        if not item_failure(exc):
            raise exc
        skip = Skip(piece.dataset, piece.id, one_line(exc), encoder.stage, task.name, variant)
        out.skips.append((skip, not isinstance(exc, CurvebenchError)))

    try:
        if piece.is_audio:
            clipped = None
            encoded, media = encoder.recording(piece)
        else:
            encoder.stage = "read"
            score = piece.score(limits)
            encoder.stage = "clip"
            clipped = clip_seconds(score, task.clip_seconds)
            encoded, media = encoder.original(clipped, piece.id)
    except Exception as exc:
        failed(exc)
        return out
    out.original, out.media = encoded, media if keep_media else None
    for perturbation in task.parsed_perturbations():
        seed = derive_seed(task.seed, piece.sha256, perturbation.seed_id)
        encoder.item = f"{task.name}/{piece.dataset}/{piece.id}#{perturbation.spec_id}"
        try:
            encoded, record, perturbed_media = encoder.perturbed(
                perturbation, clipped, media, seed, piece.id
            )
        except Exception as exc:
            failed(exc, perturbation.spec_id)
            continue
        copy_media = perturbed_media if keep_media else None
        out.copies.append(Copy(perturbation.spec_id, encoded, record, copy_media))
    return out


def add_prepared(plan: Plan, task: TaskConfig, piece: Piece, prepared: Prepared) -> None:
    """Add one prepared piece to the plan: its sequences, pairs and skips, and its first pairs
    as listening examples while its group (task and dataset) has fewer than
    ``EXAMPLES_PER_GROUP``."""
    for skip, unexpected in prepared.skips:
        plan.skip(skip, unexpected)
    if prepared.original is None:
        return
    original = plan.add_sequence(prepared.original)
    group = (task.name, piece.dataset)
    for copy in prepared.copies:
        pair = Pair(
            task.name,
            piece.dataset,
            piece.role,
            piece.id,
            copy.variant,
            original,
            plan.add_sequence(copy.encoded),
            copy.record,
        )
        plan.pairs.append(pair)
        kept = plan.example_counts.get(group, 0)
        if copy.media is not None and prepared.media is not None and kept < EXAMPLES_PER_GROUP:
            plan.examples.append(Example(pair, prepared.media, copy.media))
            plan.example_counts[group] = kept + 1


def plan_task(
    plan: Plan,
    task: TaskConfig,
    adapter: Adapter,
    pieces: list[Piece],
    codes: CodeCache | None = None,
    renders: RenderCache = DEFAULT_RENDERS,
    limits: Limits = DEFAULT_LIMITS,
) -> None:
    """Encode each piece (cut to the task's length) and each perturbed copy, adding pairs and
    keeping the first few pairs of each dataset as listening examples; an audio model's codec
    codes go through ``codes`` (the run's codes cache) when given, its renders are kept as
    ``renders`` says (default: under ``$CURVEBENCH_CACHE``). A piece or copy that fails at
    any stage is skipped with its reason and the stage (:func:`item_failure`). In this
    process, one piece after another (a run shares the pieces out: ``pipeline.prepare``)."""
    encoder = ItemEncoder(adapter, task, codes, renders)
    if plan.id_types is None:
        plan.id_types = adapter.token_type_names()
    for i, piece in enumerate(pieces):
        prepared = prepare_piece(encoder, task, piece, limits, keep_media=i < EXAMPLE_PIECES)
        add_prepared(plan, task, piece, prepared)
