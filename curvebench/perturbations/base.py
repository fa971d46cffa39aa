"""The perturbation protocol, its record, seed derivation and the spec-string registry.

A perturbation is a frozen spec (kind + parameters) with a pure ``apply(score, seed)``. Its
random generator is seeded from (task seed, piece hash, spec id), never from call order, so a
result does not depend on batch size, order or number of devices.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar, get_type_hints

import numpy as np
from pydantic import ConfigDict, TypeAdapter, ValidationError
from symusic import Score

from curvebench.errors import ConfigError
from curvebench.specs import parse_spec


@dataclass(frozen=True)
class PerturbationRecord:
    """Where and how a perturbation acted on one piece (a samples line's ``record``)."""

    __pydantic_config__ = ConfigDict(extra="forbid")

    kind: str
    """The perturbation's kind (``noise``, ...)."""
    onset_s: float | None
    """Start of the acted region in seconds; None when it acted on the whole piece."""
    duration_s: float | None
    """Length of the acted region in seconds; None when global."""
    preserves_tokens: bool
    """True when token count and timing are unchanged (Δℓ may align by token index)."""
    notes_removed: int = 0
    """Notes taken out of the piece."""
    notes_added: int = 0
    """Notes put into the piece."""
    snr_db: float | None = None
    """Noise in audio: the clip's loudness over the noise's RMS as injected, in dB, measured
    on the copy (None elsewhere, or for a silent clip)."""


@dataclass(frozen=True)
class Perturbation:
    """Base of every perturbation spec; subclasses are frozen dataclasses with documented fields."""

    kind: ClassVar[str] = ""
    """Name used in spec strings."""
    acts_on_audio: ClassVar[bool] = False
    """True when the class also has a waveform recipe, ``apply_audio(wave, sr, seed)``, that
    audio models get instead of the note-level ``apply``."""
    seed: int = 0
    """Extra seed mixed into the derived one, to draw a different realisation."""

    @property
    def spec_id(self) -> str:
        """Canonical spec string (``noise:color=white,duration=2.0,...``); stable, hashable."""
        # fields left at None (a random start, say) are left out so the string parses back
        fields = sorted(
            f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None
        )
        body = ",".join(f"{name}={getattr(self, name)}" for name in fields)
        return f"{self.kind}:{body}"

    @property
    def seed_id(self) -> str:
        """What a copy's seed is derived from with the piece (:func:`derive_seed`): the spec
        id, unless the class draws one realisation shared by several specs (a nested noise
        sweep leaves out the duration)."""
        return self.spec_id

    def apply(self, score: Score, seed: int) -> tuple[Score, PerturbationRecord]:
        """Return a perturbed copy of ``score`` (never modified) and the record."""
        raise NotImplementedError

    def apply_audio(
        self, wave: np.ndarray, sr: int, seed: int
    ) -> tuple[np.ndarray, PerturbationRecord]:
        """The waveform recipe of classes with ``acts_on_audio``: a perturbed copy of a mono
        waveform (never modified) and the record."""
        raise NotImplementedError(f"{self.kind} has no waveform recipe")

    def window(self) -> tuple[float, float] | None:
        """(onset, duration) in seconds of the fixed window the perturbation acts on, or None
        when it acts on the whole piece or at a random place."""
        return None

    def rng(self, seed: int) -> np.random.Generator:
        """The generator for one application, from the derived seed and the spec's own seed."""
        return np.random.default_rng([seed, self.seed])


def window_record(
    perturbation: Perturbation, notes_removed: int = 0, notes_added: int = 0
) -> PerturbationRecord:
    """The record of a perturbation that rewrote the notes of its fixed window: that window as
    the acted region, token count and timing not kept."""
    window = perturbation.window()
    if window is None:
        raise ValueError(f"{perturbation.kind} acts on no fixed window")
    onset, duration = window
    return PerturbationRecord(
        kind=perturbation.kind,
        onset_s=onset,
        duration_s=duration,
        preserves_tokens=False,
        notes_removed=notes_removed,
        notes_added=notes_added,
    )


_REGISTRY: dict[str, type[Perturbation]] = {}


def register(cls: type[Perturbation]) -> type[Perturbation]:
    """Class decorator adding a perturbation kind; a duplicate kind is an error."""
    if cls.kind in _REGISTRY:
        raise ValueError(f"perturbation kind {cls.kind!r} registered twice")
    _REGISTRY[cls.kind] = cls
    return cls


def registered_kinds() -> dict[str, type[Perturbation]]:
    """Every registered perturbation kind and its class."""
    return dict(_REGISTRY)


@cache
def _option_types(cls: type[Perturbation]) -> dict[str, TypeAdapter]:
    """A pydantic validator per option of a perturbation class, from its resolved type hints
    (so ``float | None`` accepts ``"2.0"``, ``bool`` accepts ``"true"``, and a typo fails)."""
    hints = get_type_hints(cls)
    return {f.name: TypeAdapter(hints[f.name]) for f in dataclasses.fields(cls)}


def parse_perturbation(spec: str) -> Perturbation:
    """Parse ``KIND[:key=value,...]`` into a perturbation; unknown kinds or keys fail loudly."""
    kind, options = parse_spec(spec, "perturbation")
    cls = _REGISTRY.get(kind)
    if cls is None:
        raise ConfigError(
            f"perturbation {spec!r}: unknown kind {kind!r}; known: {', '.join(sorted(_REGISTRY))}"
        )
    types = _option_types(cls)
    kwargs: dict[str, Any] = {}
    for key, value in options.items():
        if key not in types:
            raise ConfigError(
                f"perturbation {spec!r}: bad option {key!r}; {kind} takes {', '.join(types)}"
            )
        try:
            kwargs[key] = types[key].validate_python(value)
        except ValidationError as exc:
            raise ConfigError(f"perturbation {spec!r}: {key}={value!r} is not valid") from exc
        if isinstance(kwargs[key], float) and not math.isfinite(kwargs[key]):
            raise ConfigError(f"perturbation {spec!r}: {key}={value!r}: give a finite number")
    if kwargs.get("seed", 0) < 0:
        raise ConfigError(f"perturbation {spec!r}: seed={kwargs['seed']}: give 0 or more")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"perturbation {spec!r}: {exc}") from exc


def derive_seed(task_seed: int, piece_sha256: str, spec_id: str) -> int:
    """A 63-bit seed from (task seed, piece hash, spec id)."""
    digest = hashlib.sha256(f"{task_seed}|{piece_sha256}|{spec_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1
