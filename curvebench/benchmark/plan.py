"""From datasets and tasks to the unique sequences to score and the pairs that use them."""

from __future__ import annotations

import errno
import logging
from dataclasses import dataclass, field

import numpy as np
from symusic import Score

from curvebench.adapters.base import Adapter, AudioAdapter, Encoded
from curvebench.adapters.code_cache import CodeCache
from curvebench.benchmark.aggregate import rounded
from curvebench.benchmark.samples import Record, SampleLine
from curvebench.data.audio import piece_waveform
from curvebench.data.files import DEFAULT_LIMITS, Limits
from curvebench.data.piece import Piece
from curvebench.data.render import DEFAULT_RENDERS, DEFAULT_SR, RenderCache
from curvebench.data.sources import Skip
from curvebench.data.timing import clip_seconds
from curvebench.errors import ConfigError, CurvebenchError, SkipItem, one_line
from curvebench.metrics.token_types import target_types
from curvebench.perturbations import Perturbation, PerturbationRecord, derive_seed
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


Media = bytes | np.ndarray
"""What a person can listen to: MIDI bytes, or a waveform at DEFAULT_SR (audio models)."""
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

    def skip(self, skip: Skip, cause: Exception) -> None:
        """Record an item left out, and whether its cause was unexpected."""
        self.skipped.append(skip)
        if not isinstance(cause, CurvebenchError):
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
            record=None if variant == "original" else Record.of(pair.record),
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


class _Encoder:
    """Encodes scores (and, for audio models, waveforms) for one adapter and task.

    Audio models hear the rendered piece cut to the task's length; ``noise`` then uses the
    paper's waveform recipe on that audio, and the other perturbations act on the notes before
    rendering. ``codes`` caches the audio codec's codes (None: encode every time); ``renders``
    says where renders are kept.
    """

    def __init__(
        self,
        adapter: Adapter,
        task: TaskConfig,
        codes: CodeCache | None = None,
        renders: RenderCache = DEFAULT_RENDERS,
    ) -> None:
        self.adapter, self.task, self.renders = adapter, task, renders
        self.stage = "read"
        """The stage under way (named in the skip record of an item that fails)."""
        self.audio = isinstance(adapter, AudioAdapter)
        self.codes = codes if self.audio else None

    def _encode_audio(self, wave: np.ndarray, name: str) -> Encoded:
        self.stage = "encode"
        if not isinstance(self.adapter, AudioAdapter):
            raise TypeError(f"{self.adapter.name} reads notes, not audio")
        return self.adapter.encode_audio(wave, DEFAULT_SR, name, codes=self.codes)

    def _checked(self, encoded: Encoded, name: str) -> Encoded:
        if encoded.first_target == 0 and encoded.length > self.adapter.context_length:
            raise SkipItem(
                f"{name}: {encoded.length} steps exceed the model's context of "
                f"{self.adapter.context_length}; shorten the task's clip_seconds"
            )
        return encoded

    def render(self, score: Score, name: str) -> np.ndarray:
        self.stage = "render"
        wave = self.renders.render(score.dumps_midi(), DEFAULT_SR, name=name)
        return wave[: round(self.task.clip_seconds * DEFAULT_SR)]

    def original(self, clipped: Score, name: str) -> tuple[Encoded, Media]:
        if not self.audio:
            self.stage = "encode"
            encoded = self._checked(self.adapter.encode_score(clipped, name), name)
            return encoded, clipped.dumps_midi()
        wave = self.render(clipped, name)
        return self._checked(self._encode_audio(wave, name), name), wave

    def recording(self, piece: Piece) -> tuple[Encoded, Media]:
        """A recording, cut to the task's length, for an audio model."""
        self.stage = "read"
        if not self.audio:
            raise SkipItem(f"{piece.id}: a recording; {self.adapter.name} reads notes (MIDI)")
        seconds = self.task.clip_seconds
        wave = piece_waveform(piece, DEFAULT_SR, seconds)[: round(seconds * DEFAULT_SR)]
        return self._checked(self._encode_audio(wave, piece.id), piece.id), wave

    def perturbed(
        self,
        perturbation: Perturbation,
        clipped: Score | None,
        original: Media,
        seed: int,
        name: str,
    ) -> tuple[Encoded, PerturbationRecord, Media]:
        self.stage = "perturb"
        if clipped is None and not perturbation.acts_on_audio:
            raise SkipItem(f"{name}: {perturbation.kind} acts on notes; this piece is a recording")
        if self.audio and perturbation.acts_on_audio:
            noisy, record = perturbation.apply_audio(original, DEFAULT_SR, seed)
            encoded = self._encode_audio(noisy, name)
            return self._checked(encoded, name), record, noisy
        score, record = perturbation.apply(clipped, seed)
        if not self.audio:
            self.stage = "encode"
            encoded = self.adapter.encode_score(score, name)
            return self._checked(encoded, name), record, score.dumps_midi()
        wave = self.render(score, name)
        encoded = self._encode_audio(wave, name)
        return self._checked(encoded, name), record, wave


def item_failure(exc: Exception) -> bool:
    """Whether an exception raised while one item was read, cut, rendered, perturbed or
    encoded is that item's (it is skipped, the run goes on) rather than the run's: a bad
    option or a missing tool (ConfigError), memory, or a full disk stop the run."""
    if isinstance(exc, ConfigError | MemoryError):
        return False
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return False
    if "OutOfMemoryError" in type(exc).__name__:  # torch's, on any accelerator
        return False
    return not (isinstance(exc, RuntimeError) and "CUDA error" in str(exc))


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
    any stage is skipped with its reason and the stage (:func:`item_failure`)."""
    perturbations = task.parsed_perturbations()
    encoder = _Encoder(adapter, task, codes, renders)
    if plan.id_types is None:
        plan.id_types = adapter.token_type_names()
    kept = 0
    for piece in pieces:
        where = f"{task.name}/{piece.dataset}/{piece.id}"
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
            original = plan.add_sequence(encoded)
        except Exception as exc:
            if not item_failure(exc):
                raise
            plan.skip(Skip(where, one_line(exc), encoder.stage), exc)
            continue
        for perturbation in perturbations:
            seed = derive_seed(task.seed, piece.sha256, perturbation.spec_id)
            try:
                encoded, record, perturbed_media = encoder.perturbed(
                    perturbation, clipped, media, seed, piece.id
                )
                perturbed = plan.add_sequence(encoded)
            except Exception as exc:
                if not item_failure(exc):
                    raise
                where_copy = f"{where}/{perturbation.spec_id}"
                plan.skip(Skip(where_copy, one_line(exc), encoder.stage), exc)
                continue
            pair = Pair(
                task.name,
                piece.dataset,
                piece.role,
                piece.id,
                perturbation.spec_id,
                original,
                perturbed,
                record,
            )
            plan.pairs.append(pair)
            if kept < EXAMPLES_PER_GROUP:
                plan.examples.append(Example(pair, media, perturbed_media))
                kept += 1
