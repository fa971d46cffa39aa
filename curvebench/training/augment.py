"""Data augmentation of the reference models' training pieces, on the symusic Score before
tokenizing, so that the models see the whole encoding space of their tokenizer.

The embedded training corpus (Bach chorales and folk tunes written out by music21) has one
velocity (90, music21's default) for 98.5% of its notes, about ten tempos, and note lengths
equal to their written values. Each augmented copy of a piece changes, drawn per copy:

- **transposition**: a whole piece shifted by -5 to +5 semitones, only to offsets that keep
  every pitch inside the tokenizer's range (miditok's ``augment_score(pitch_offset=...)``);
- **dynamics**: a piece-level dynamic drawn uniformly over the tokenizer's velocity range,
  then a level per section of 4, 8 or 16 beats around it (as dynamic markings change a
  piece's level), then a small per-note jitter (accents, a player's unevenness);
- **note values**: with probability 1/4 each, the piece written in halved or doubled note
  values (a chorale in 2/2 with half-note beats reads as quarter notes doubled), its tempo
  changed so that it sounds the same; REMI durations and positions are in beats, so this is
  what moves Duration and Position tokens, not a tempo change;
- **articulation**: every note's length scaled by a piece-level factor from staccato (0.5)
  to legato (1.05), times a small per-note jitter; positions are unchanged;
- **tempo**: the tempo map scaled by a factor drawn log-uniformly in [0.6, 1.6], clipped to
  the tokenizer's tempo range.

Every draw comes from a generator seeded by (seed, piece id, copy number): the copies are a
pure function of those, whatever the order the pieces are processed in.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from miditok.data_augmentation import augment_score
from symusic import Score


@dataclass(frozen=True)
class Augmentation:
    """How the augmented copies of a training piece are drawn (see the module docstring)."""

    copies: int = 4
    """Augmented copies per piece, beside the original (which is always kept)."""
    transpose: int = 5
    """Largest transposition in semitones, up or down."""
    velocity_section_sd: float = 12.0
    """Standard deviation of a section's level around the piece's dynamic."""
    velocity_section_beats: tuple[int, ...] = (4, 8, 16)
    """Section lengths in beats, one drawn per piece."""
    velocity_note_sd: float = 4.0
    """Standard deviation of the per-note velocity jitter."""
    note_value_scales: tuple[float, ...] = (0.5, 1.0, 1.0, 2.0)
    """Factors on written note values, one drawn uniformly from this list per copy."""
    articulation: tuple[float, float] = (0.5, 1.05)
    """Range of the piece-level factor on note lengths (staccato to legato)."""
    articulation_note_sd: float = 0.1
    """Standard deviation of the per-note log factor on note lengths."""
    tempo_factor: tuple[float, float] = (0.6, 1.6)
    """Range of the log-uniform factor on the tempo map."""


DEFAULT_AUGMENTATION = Augmentation()
"""The augmentation of the shipped reference models."""


@dataclass(frozen=True)
class EncodingRange:
    """The tokenizer's ranges the augmentation stays inside."""

    pitch: tuple[int, int]
    """Lowest and highest pitch (inclusive)."""
    velocity: tuple[int, int]
    """Lowest and highest velocity bin."""
    tempo: tuple[float, float]
    """Lowest and highest tempo in quarter notes per minute."""


def copy_rng(seed: int, piece_id: str, copy: int) -> np.random.Generator:
    """The generator of one copy of one piece: seeded by (seed, piece id, copy number)."""
    key = int.from_bytes(hashlib.sha256(piece_id.encode()).digest()[:8], "little")
    return np.random.default_rng([seed, key, copy])


def augment_copy(
    score: Score,
    piece_id: str,
    copy: int,
    limits: EncodingRange,
    aug: Augmentation = DEFAULT_AUGMENTATION,
    seed: int = 0,
) -> Score:
    """Augmented copy number ``copy`` of a score (a new Score; the input is not changed)."""
    rng = copy_rng(seed, piece_id, copy)
    out = augment_score(score, pitch_offset=_transposition(score, rng, limits, aug.transpose))
    beats = _rescale_note_values(out, float(rng.choice(aug.note_value_scales)))
    factor = float(rng.uniform(*aug.articulation))
    low_v, high_v = limits.velocity
    dynamic = rng.uniform(low_v, high_v)
    section = int(rng.choice(aug.velocity_section_beats)) * out.ticks_per_quarter
    n_sections = int(out.end() // section) + 1
    levels = dynamic + rng.normal(0.0, aug.velocity_section_sd, n_sections)
    min_len = max(1, out.ticks_per_quarter // 8)
    for track in out.tracks:
        notes = track.notes.numpy()
        n = len(notes["time"])
        if n == 0:
            continue
        level = levels[notes["time"] // section] + rng.normal(0.0, aug.velocity_note_sd, n)
        velocity = np.clip(np.rint(level), 1, 127).astype(np.int8)
        scale = factor * np.exp(rng.normal(0.0, aug.articulation_note_sd, n))
        duration = np.maximum(np.rint(notes["duration"] * scale), min_len).astype(np.int32)
        track.notes = type(track.notes).from_numpy(
            notes["time"], duration, notes["pitch"], velocity
        )
    tempo = float(np.exp(rng.uniform(*np.log(aug.tempo_factor))))
    for t in out.tempos:
        t.qpm = float(np.clip(t.qpm * beats * tempo, *limits.tempo))
    return out


def _transposition(score: Score, rng: np.random.Generator, limits: EncodingRange, most: int) -> int:
    """A shift in [-most, most] that keeps every pitch inside the range (0 if none would)."""
    pitches = [n.pitch for track in score.tracks if not track.is_drum for n in track.notes]
    if not pitches:
        return 0
    low = max(-most, limits.pitch[0] - min(pitches))
    high = min(most, limits.pitch[1] - max(pitches))
    return int(rng.integers(low, high + 1)) if low <= high else 0


def _rescale_note_values(score: Score, scale: float) -> float:
    """Write the score in note values ``scale`` times the original (2: quarters become halves)
    by changing its ticks per quarter; returns the factor the tempo needs to sound the same."""
    score.ticks_per_quarter = max(1, round(score.ticks_per_quarter / scale))
    return scale
