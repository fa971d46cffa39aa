"""MIDI to ABC text and back through abcMIDI's ``midi2abc`` / ``abc2midi`` (the Debian and
Homebrew package ``abcmidi``), the converters the ABC community maintains.

The ABC is normalised so that the same music always gives the same text: the ``T:`` line
(midi2abc writes the input file's path there) and comment and ``%%`` directive lines are
dropped, and so are end-of-line comments. Drum tracks are left out before converting: ABC
language models are trained on pitched music.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from symusic import Score

from curvebench.errors import ConfigError, DataError, SkipItem

TIMEOUT_S = 60


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            f"{name} not found: install abcMIDI (`apt-get install abcmidi` or "
            "`brew install abcmidi`) to use ABC models"
        )
    return path


def normalise_abc(text: str) -> str:
    """Drop T: lines, comment and directive lines and end-of-line comments; strip the lines."""
    kept = []
    for line in text.splitlines():
        if line.startswith("%") or line.startswith("T:"):
            continue
        kept.append(line.split("%")[0].rstrip())
    return "\n".join(kept).strip() + "\n"


def score_to_abc(score: Score, name: str = "piece") -> str:
    """One ABC tune (one voice per pitched track) for a score."""
    pitched = Score(score.ticks_per_quarter)
    pitched.tempos.extend(score.tempos)
    pitched.time_signatures.extend(score.time_signatures)
    pitched.key_signatures.extend(score.key_signatures)
    pitched.tracks.extend(t.copy() for t in score.tracks if not t.is_drum and len(t.notes))
    if not len(pitched.tracks):
        raise SkipItem(f"{name}: no pitched notes to write as ABC")
    with tempfile.TemporaryDirectory() as folder:
        midi = Path(folder) / "piece.mid"
        midi.write_bytes(pitched.dumps_midi())
        done = subprocess.run(
            [_tool("midi2abc"), "-f", midi.name],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            check=False,
        )
    if done.returncode != 0 or "K:" not in done.stdout:
        raise DataError(f"{name}: midi2abc failed ({done.stderr.strip() or done.returncode})")
    return normalise_abc(done.stdout)


def abc_to_score(text: str) -> Score:
    """The score abc2midi makes of an ABC tune; an empty score when it cannot."""
    with tempfile.TemporaryDirectory() as folder:
        source, target = Path(folder) / "tune.abc", Path(folder) / "tune.mid"
        source.write_text(text if text.lstrip().startswith("X:") else "X:1\n" + text)
        subprocess.run(
            [_tool("abc2midi"), source.name, "-o", target.name, "-silent"],
            cwd=folder,
            capture_output=True,
            timeout=TIMEOUT_S,
            check=False,
        )
        if not target.is_file():
            return Score(480)
        try:
            return Score.from_midi(target.read_bytes())
        except Exception:  # abc2midi wrote something symusic cannot read: nothing usable
            return Score(480)
