"""Files looked at before they are read: what a file holds (by its first bytes, not its name),
its size and length against the run's limits, and a printable name for any file name.

Nothing here decodes music: a file that fails a check is refused with a one-line reason before
its content is read, so a hostile file costs a ``stat`` and a few bytes.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from curvebench.errors import ConfigError, DataError

MIDI_SUFFIXES = (".mid", ".midi")
"""File endings read as MIDI (any case)."""
AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
"""File endings read as audio (any case)."""


@dataclass(frozen=True)
class Limits:
    """Bounds on what one item may cost; a file beyond one is skipped with the reason and the
    option that raises the bound."""

    max_notes: int = 100_000
    """Notes in one MIDI piece (``--max-notes``); the longest piano works hold about 30,000."""
    max_seconds: float = 1_800.0
    """Length of one recording (read from its header) or of a MIDI piece heard whole by
    ``score`` and ``perturb`` (``--max-seconds``); ``run`` hears only a task's clip of a
    piece."""
    max_file_mb: float = 64.0
    """Size of a MIDI file, which is read whole (``--max-file-mb``)."""

    def __post_init__(self) -> None:
        for name in ("max_notes", "max_seconds", "max_file_mb"):
            if not getattr(self, name) > 0:
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} {getattr(self, name)}: give a positive number")

    def check_notes(self, count: int, name: str) -> None:
        """DataError when a piece holds more notes than ``max_notes``."""
        if count > self.max_notes:
            raise DataError(
                f"{name}: {count:,} notes, over the limit of {self.max_notes:,} per piece "
                "(raise it with --max-notes)"
            )

    def check_seconds(self, seconds: float, name: str, what: str = "a recording") -> None:
        """DataError when a recording (or ``what``) is longer than ``max_seconds``."""
        if seconds > self.max_seconds:
            raise DataError(
                f"{name}: {what} of {seconds:,.0f} s, over the limit of "
                f"{self.max_seconds:,.0f} s (raise it with --max-seconds)"
            )


DEFAULT_LIMITS = Limits()


def printable(name: str | bytes | os.PathLike) -> str:
    """A file name as safe text: bytes that are not UTF-8 as ``\\xNN``, control characters
    (a newline in a name) as ``\\xNN`` too, so the name fits on one line of any report."""
    raw = os.fsencode(name)
    text = raw.decode("utf-8", "backslashreplace")
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def content_kind(head: bytes) -> str | None:
    """``midi`` or ``audio`` by a file's first bytes, None when they are neither."""
    if head.startswith(b"MThd"):
        return "midi"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio"
    if head.startswith((b"fLaC", b"OggS", b"ID3")):
        return "audio"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:  # an MPEG frame
        return "audio"
    return None


def suffix_kind(path: str | os.PathLike) -> str | None:
    """``midi`` or ``audio`` by a file's ending, None for any other."""
    suffix = Path(path).suffix.lower()
    if suffix in MIDI_SUFFIXES:
        return "midi"
    return "audio" if suffix in AUDIO_SUFFIXES else None


def checked_file(path: Path, limits: Limits = DEFAULT_LIMITS, shown: str | None = None) -> str:
    """The kind of a file (``midi`` or ``audio``) after checking, without reading it whole,
    that it is a readable regular file, not empty, holds what its name says, and (MIDI) is
    within ``limits``; DataError with a one-line reason otherwise. ``shown`` names the file
    in messages (default: its printable path)."""
    shown = shown or printable(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if os.path.islink(path):
            why = "a link loop" if exc.errno == errno.ELOOP else "a link to nothing"
            raise DataError(f"{shown}: {why}") from None
        raise DataError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise DataError(f"{shown}: a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise DataError(f"{shown}: not a regular file (a device, pipe or socket)")
    if st.st_size == 0:
        raise DataError(f"{shown}: the file is empty")
    named = suffix_kind(path)
    if named == "midi" and st.st_size > limits.max_file_mb * 2**20:
        raise DataError(
            f"{shown}: {st.st_size / 2**20:,.0f} MB, over the limit of {limits.max_file_mb:,.0f} "
            "MB for a MIDI file (raise it with --max-file-mb)"
        )
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError as exc:
        raise DataError(f"{shown}: cannot be read ({exc.strerror or exc})") from None
    found = content_kind(head)
    if found is None:
        what = "MIDI (MThd)" if named == "midi" else "WAV, FLAC, OGG or MP3"
        raise DataError(f"{shown}: not a {what} file (its first bytes are {head[:8]!r})")
    if named is not None and found != named:
        ending = ".wav/.flac/.ogg/.mp3" if found == "audio" else ".mid"
        raise DataError(
            f"{shown}: holds {found.replace('midi', 'MIDI')} but is named "
            f"{Path(path).suffix}; rename it {ending}"
        )
    return found
