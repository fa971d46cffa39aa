"""One item as the model sees it: read, cut to the task's clip, rendered for audio models,
perturbed and encoded, with the stage under way recorded for the skip record of an item that
fails (:func:`item_failure` says which failures are the item's)."""

from __future__ import annotations

import errno
from dataclasses import dataclass

import numpy as np
from symusic import Score

from curvebench.adapters.base import Adapter, AudioAdapter, Encoded
from curvebench.adapters.code_cache import CodeCache
from curvebench.data.audio import piece_waveform
from curvebench.data.piece import Piece
from curvebench.data.render import DEFAULT_RENDERS, DEFAULT_SR, RenderCache, RenderSetting
from curvebench.errors import ConfigError, SkipItem
from curvebench.perturbations import Perturbation, PerturbationRecord
from curvebench.tasks import TaskConfig
from curvebench.trace import trace

Media = bytes | np.ndarray
"""What a person can listen to: MIDI bytes, or a waveform at DEFAULT_SR (audio models)."""


@dataclass
class PendingAudio:
    """A waveform whose codes are computed later, with others (``ItemEncoder(defer=True)``:
    workers render and perturb, the main process runs the codec on batches on its device)."""

    wave: np.ndarray
    name: str
    item: str
    """The item (for the trace)."""


class ItemEncoder:
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
        defer: bool = False,
    ) -> None:
        self.adapter, self.task, self.renders, self.defer = adapter, task, renders, defer
        self.stage = "read"
        """The stage under way (named in the skip record of an item that fails)."""
        self.item = ""
        """The item under way (task/dataset/piece, and #variant for a copy), for the trace."""
        self.audio = isinstance(adapter, AudioAdapter)
        self.codes = codes if self.audio else None

    def _encode_audio(self, wave: np.ndarray, name: str, like: np.ndarray | None = None) -> Encoded:
        self.stage = "encode"
        if not isinstance(self.adapter, AudioAdapter):
            raise TypeError(f"{self.adapter.name} reads notes, not audio")
        if self.defer:
            return PendingAudio(wave, name, self.item)
        trace("encode", self.item)
        return self.adapter.encode_audio(wave, DEFAULT_SR, name, codes=self.codes, like=like)

    def _checked(self, encoded: Encoded, name: str) -> Encoded:
        if isinstance(encoded, PendingAudio):  # checked once it is encoded
            return encoded
        return checked(self.adapter, encoded, name)

    def render(self, score: Score, name: str) -> np.ndarray:
        self.stage = "render"
        trace("render", self.item)
        setting = render_setting(self.adapter, self.task)
        wave = self.renders.render(score.dumps_midi(), DEFAULT_SR, name=name, setting=setting)
        return wave[: round(self.task.clip_seconds * DEFAULT_SR)]

    def original(self, clipped: Score, name: str) -> tuple[Encoded, Media]:
        if not self.audio:
            self.stage = "encode"
            trace("encode", self.item)
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
        trace("perturb", self.item)
        if clipped is None and not perturbation.acts_on_audio:
            raise SkipItem(f"{name}: {perturbation.kind} acts on notes; this piece is a recording")
        if self.audio and perturbation.acts_on_audio:
            noisy, record = perturbation.apply_audio(original, DEFAULT_SR, seed)
            encoded = self._encode_audio(noisy, name, like=original)
            return self._checked(encoded, name), record, noisy
        score, record = perturbation.apply(clipped, seed)
        if not self.audio:
            self.stage = "encode"
            trace("encode", self.item)
            encoded = self.adapter.encode_score(score, name)
            return self._checked(encoded, name), record, score.dumps_midi()
        wave = self.render(score, name)
        encoded = self._encode_audio(wave, name, like=original)
        return self._checked(encoded, name), record, wave


def render_setting(adapter: Adapter, task: TaskConfig) -> RenderSetting:
    """The render an audio model hears a task's MIDI with: its own, at the task's level."""
    if not isinstance(adapter, AudioAdapter):
        raise TypeError(f"{adapter.name} reads notes; nothing is rendered for it")
    setting = adapter.render_setting()
    return setting.at_paper_level() if task.render_level == "paper" else setting


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


def checked(adapter: Adapter, encoded: Encoded, name: str) -> Encoded:
    """``encoded``, or SkipItem when an audio model's codes exceed its context."""
    if encoded.first_target == 0 and encoded.length > adapter.context_length:
        raise SkipItem(
            f"{name}: {encoded.length} steps exceed the model's context of "
            f"{adapter.context_length}; shorten the task's clip_seconds"
        )
    return encoded
