"""A piece of music, the unit every dataset yields."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Literal

from symusic import Score

from curvebench.data.files import DEFAULT_LIMITS, Limits
from curvebench.errors import DataError, one_line

Role = Literal["training", "generated", "ood", "custom"]
ROLES: tuple[str, ...] = ("training", "generated", "ood", "custom")


@dataclass(frozen=True)
class Piece:
    """One item of a dataset, with its MIDI content."""

    id: str
    """Stable identifier inside its dataset (for files: the path relative to the folder)."""
    dataset: str
    """Name of the dataset the piece belongs to."""
    role: str
    """Role of the dataset: training, generated, ood or custom."""
    midi: bytes = field(default=b"", repr=False)
    """The standard MIDI file bytes (empty for a recording)."""
    source: str = ""
    """Where the piece came from (a path, a corpus reference or a dataset row)."""
    meta: tuple[tuple[str, str], ...] = ()
    """Extra descriptive fields (composer, title, top-k, ...)."""
    audio: bytes = field(default=b"", repr=False)
    """An audio file's bytes (WAV, FLAC, OGG, MP3) when the piece is a recording, not notes;
    ``id`` (or ``source``) ends with its suffix."""
    audio_path: str = field(default="", repr=False, compare=False)
    """A recording left in its file (a local folder), decoded only as far as a task hears it;
    never written anywhere (``source`` names the file)."""
    content_sha256: str = ""
    """The sha256 of the file's bytes when they are not held (``audio_path``)."""

    @property
    def is_audio(self) -> bool:
        """True for a recording (audio models hear it as it is; note-level perturbations do
        not apply)."""
        return bool(self.audio or self.audio_path)

    @property
    def sha256(self) -> str:
        """Content hash of the MIDI or audio file's bytes; feeds perturbation seeds and
        caches."""
        return self.content_sha256 or hashlib.sha256(self.audio or self.midi).hexdigest()

    def score(self, limits: Limits = DEFAULT_LIMITS) -> Score:
        """The piece as a symusic Score in ticks (checked as :func:`parse_midi` says)."""
        return parse_midi(self.midi, self.source or self.id, limits)


def parse_midi(data: bytes, name: str, limits: Limits = DEFAULT_LIMITS) -> Score:
    """Parse MIDI bytes, turning a parser failure into a DataError that names the input; a
    score whose timing cannot be read (ticks per quarter or a tempo of 0) or with more notes
    than ``limits`` allow is refused the same way."""
    if not data:
        raise DataError(f"{name}: the file is empty; give a standard MIDI file (.mid)")
    if not data.startswith(b"MThd"):
        raise DataError(f"{name}: not a standard MIDI file (no MThd header)")
    try:
        score = Score.from_midi(data)
    except Exception as exc:  # symusic raises RuntimeError/ValueError on corrupt input
        raise DataError(f"{name}: cannot parse MIDI ({one_line(exc)})") from exc
    if score.ticks_per_quarter <= 0:
        raise DataError(f"{name}: {score.ticks_per_quarter} ticks per quarter note; no timing")
    if any(t.mspq <= 0 for t in score.tempos):
        raise DataError(f"{name}: a tempo of 0 microseconds per quarter note; no timing")
    limits.check_notes(score.note_num(), name)
    return score
