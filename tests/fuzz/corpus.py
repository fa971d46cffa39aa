"""The fuzz corpus: hostile and broken inputs for ``run``, ``score`` and ``perturb``.

Run as a script (``python -m tests.fuzz.corpus FOLDER``) or call :func:`write_corpus`. Every
file is built here, byte by byte, so the corpus is the same on every machine and nothing large
is committed: the 6-hour WAV and the oversized MIDI are sparse files (their size is claimed,
not written).

:data:`GOOD` names the files a run scores; every other file must come back as a skip record
(or, in a folder listing, a passed-over file) with its reason.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

import numpy as np

GOOD = ("good.mid", "good-tiny-denormal.wav")
"""Files a symbolic (``good.mid``) or an audio model (both) reads and scores."""


def vlq(value: int) -> bytes:
    """A MIDI variable-length quantity."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


def midi_file(events: bytes, division: int = 480, fmt: int = 0) -> bytes:
    """A one-track standard MIDI file around raw track ``events`` (end-of-track appended)."""
    track = events + b"\x00\xff\x2f\x00"
    header = b"MThd" + struct.pack(">IHHH", 6, fmt, 1, division)
    return header + b"MTrk" + struct.pack(">I", len(track)) + track


def tempo_event(mspq: int) -> bytes:
    """A set-tempo meta event at delta 0 (microseconds per quarter, 24 bits)."""
    return b"\x00\xff\x51\x03" + mspq.to_bytes(3, "big")


def notes(count: int, step: int = 240, first_delta: int = 0) -> bytes:
    """``count`` notes in a row (C major arpeggio), each ``step`` ticks long."""
    out = bytearray()
    pitches = (60, 64, 67, 72)
    for i in range(count):
        p = pitches[i % 4]
        out += vlq(first_delta if i == 0 else 0) + bytes([0x90, p, 80])
        out += vlq(step) + bytes([0x80, p, 0])
    return bytes(out)


def million_notes() -> bytes:
    """10⁶ one-tick notes with running status (about 8 MB)."""
    one = b"\x00\x3c\x50\x01\x3c\x00"  # delta 0 note-on C4, delta 1 note-on vel 0 (off)
    return midi_file(b"\x00\x90\x3c\x50\x01\x3c\x00" + one * (10**6 - 1))


def wav_float(samples: np.ndarray, sr: int = 32_000) -> bytes:
    """A 32-bit float mono WAV of ``samples``."""
    data = np.asarray(samples, dtype="<f4").tobytes()
    fmt = struct.pack("<HHIIHH", 3, 1, sr, sr * 4, 4, 32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", len(data))
    return b"RIFF" + struct.pack("<I", len(body) + len(data)) + body + data


def wav_pcm16_header(frames: int, sr: int = 32_000) -> bytes:
    """The header of a 16-bit mono PCM WAV holding ``frames`` samples (data not included)."""
    size = frames * 2
    fmt = struct.pack("<HHIIHH", 1, 1, sr, sr * 2, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + b"data" + struct.pack("<I", size)
    return b"RIFF" + struct.pack("<I", len(body) + size) + body


def sparse(path: Path, head: bytes, size: int) -> None:
    """A file of ``size`` bytes whose first bytes are ``head`` and the rest a hole."""
    with open(path, "wb") as fh:
        fh.write(head)
        fh.truncate(size)


def write_corpus(folder: Path) -> dict[str, str]:
    """Write the corpus into ``folder``; returns each entry's name and what it is."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    good = midi_file(tempo_event(500_000) + notes(80))
    what: dict[str, str] = {}

    def put(name: str, data: bytes, about: str) -> None:
        (folder / name).write_bytes(data)
        what[name] = about

    put("good.mid", good, "a valid 40 s piece")
    tiny = np.full(32_000 * 12, 1e-40, dtype=np.float32)  # denormal samples
    tiny[::100] = 0.05
    put("good-tiny-denormal.wav", wav_float(tiny), "12 s of float WAV, mostly denormals")
    # names
    odd = os.fsencode(folder) + b"/bad-name-\xff\xfe.mid"
    with open(odd, "wb") as fh:
        fh.write(good)
    what[os.fsdecode(odd).rsplit("/", 1)[-1]] = "a file name that is not UTF-8"
    put("new\nline.mid", good, "a newline in the file name")
    # MIDI structure
    put("empty.mid", b"", "zero bytes")
    put("text.mid", b"this is not a MIDI file\n" * 10, "text named .mid")
    put("header-only.mid", good[:14], "the header chunk alone")
    put("truncated-header.mid", good[:9], "cut inside the header chunk")
    put("truncated-track.mid", good[: len(good) // 2], "cut inside the track chunk")
    lying = good[:18] + struct.pack(">I", 2**31) + good[22:]
    put("track-length-lies.mid", lying, "track longer than the file")
    put("tpq0.mid", midi_file(notes(8), division=0), "ticks per quarter 0")
    put("smpte.mid", midi_file(notes(8), division=0xE728), "SMPTE time division")
    put("tempo0.mid", midi_file(tempo_event(0) + notes(8)), "a tempo of 0 µs per quarter")
    put("tempo-max.mid", midi_file(tempo_event(0xFFFFFF) + notes(8)), "16.7 s per quarter")
    put("tempo-1us.mid", midi_file(tempo_event(1) + notes(400)), "1 µs per quarter")
    timesig = b"\x00\xff\x58\x04\x00\xff\x18\x08"  # numerator 0, denominator 2^255
    put("timesig-absurd.mid", midi_file(timesig + notes(8)), "time signature 0/2^255")
    put("huge-delta.mid", midi_file(notes(4, first_delta=0x0FFFFFFF)), "a delta of 2^28 ticks")
    put("no-notes.mid", midi_file(tempo_event(500_000)), "a valid file without notes")
    put("million-notes.mid", million_notes(), "10^6 notes")
    sparse(folder / "oversized.mid", good, 3 * 2**30)
    what["oversized.mid"] = "a 3 GiB (sparse) file named .mid"
    # audio
    put("nan.wav", wav_float(np.full(32_000, np.nan)), "NaN samples")
    put("inf.wav", wav_float(np.full(32_000, np.inf)), "infinite samples")
    put("zero-samples.wav", wav_float(np.zeros(0)), "a WAV of 0 samples")
    put("truncated.wav", wav_float(np.zeros(32_000))[:30], "a WAV cut inside its header")
    put("rate-1ghz.wav", wav_float(np.zeros(3200), sr=10**9), "a header claiming 1 GHz")
    six_hours = 6 * 3600 * 32_000
    sparse(folder / "six-hours.wav", wav_pcm16_header(six_hours), 44 + 2 * six_hours)
    what["six-hours.wav"] = "6 hours of (sparse) silence"
    # mislabelled
    put("wav-named.mid", wav_float(np.zeros(3200)), "a WAV named .mid")
    put("midi-named.wav", good, "a MIDI file named .wav")
    put("text.wav", b"RIFF not really", "text named .wav")
    # links
    os.symlink(folder / "missing-target.mid", folder / "dangling.mid")
    what["dangling.mid"] = "a link to nothing"
    os.symlink(folder / "loop-b.mid", folder / "loop-a.mid")
    os.symlink(folder / "loop-a.mid", folder / "loop-b.mid")
    what["loop-a.mid"] = what["loop-b.mid"] = "links to each other"
    (folder / "folder.mid").mkdir()
    what["folder.mid"] = "a folder named .mid"
    return what


if __name__ == "__main__":
    for name, about in write_corpus(Path(sys.argv[1])).items():
        sys.stdout.write(f"{name!r}: {about}\n")
