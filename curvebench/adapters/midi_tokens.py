"""MIDI to token ids with the time in seconds of every token, through miditok.

miditok's own ``tok.encode(score)`` preprocesses the score (resampling it to the tokenizer's
resolution and quantising tempos), so event times are in the *preprocessed* ticks. We preprocess
explicitly, keep the original score's tempo map, and convert each event's tick to seconds of the
music as written, so that a token's time lines up with a perturbation's onset in seconds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import miditok
import numpy as np
from miditok import REMI, MusicTokenizer, TokenizerConfig
from symusic import Score, Track

from curvebench.data.timing import TempoMap
from curvebench.errors import ConfigError, SkipItem

TOKENIZER_FILE = "tokenizer.json"


def reference_tokenizer_config() -> TokenizerConfig:
    """The REMI configuration of curvebench's reference models.

    Piano pitch range (A0 to C8), 8 positions per beat for the first 4 beats of a duration and 4
    after (up to 12 beats), 16 velocity bins, 16 tempo bins from 40 to 250 BPM, no time
    signatures (bars are 4/4), all tracks merged into one stream, and PAD / BOS / EOS.
    """
    return TokenizerConfig(
        pitch_range=(21, 109),
        beat_res={(0, 4): 8, (4, 12): 4},
        num_velocities=16,
        use_tempos=True,
        num_tempos=16,
        tempo_range=(40, 250),
        use_time_signatures=False,
        use_programs=False,
        special_tokens=["PAD", "BOS", "EOS"],
    )


def reference_tokenizer() -> MusicTokenizer:
    """A fresh REMI tokenizer with the reference configuration."""
    return REMI(reference_tokenizer_config())


def load_tokenizer(path: str | Path) -> MusicTokenizer:
    """Load a miditok tokenizer from a tokenizer.json file or a folder that holds one."""
    path = Path(path)
    file = path / TOKENIZER_FILE if path.is_dir() else path
    if not file.is_file():
        raise ConfigError(f"{path}: no miditok {TOKENIZER_FILE} found; save one with tok.save()")
    cls_name = _tokenizer_class_name(file)
    cls = getattr(miditok, cls_name, None)
    if cls is None:
        raise ConfigError(f"{file}: unknown miditok tokenizer class {cls_name!r}")
    return cls(params=file)


def _tokenizer_class_name(file: Path) -> str:
    try:
        return json.loads(file.read_text())["tokenization"]
    except (KeyError, ValueError) as exc:
        raise ConfigError(f"{file}: not a miditok tokenizer file ({exc})") from exc


@dataclass(frozen=True)
class TokenizedMidi:
    """Token ids of one piece (BOS first) and the time in seconds of each token."""

    ids: np.ndarray
    """int64 [T]: the exact ids fed to the model."""
    seconds: np.ndarray
    """float64 [T]: onset time of each token's event in seconds of the music (BOS: 0)."""
    duration_s: float
    """End of the last note in seconds."""


def merge_tracks(score: Score) -> Score:
    """One track holding every pitched note of the score (drums dropped), tempo map kept."""
    merged = Score(score.ticks_per_quarter)
    merged.tempos.extend(score.tempos)
    merged.time_signatures.extend(score.time_signatures)
    track = Track("merged", 0, False)
    for source in score.tracks:
        if not source.is_drum:
            track.notes.extend(source.notes)
    track.notes.sort()
    merged.tracks.append(track)
    return merged


def _first_base_token(
    tokenizer: MusicTokenizer, ids: list[int], n_base: int, name: str
) -> np.ndarray:
    """Index of the first base token each learned id stands for: its time is the id's time.

    miditok keeps the map from a learned id's bytes to its base tokens in a private table; it
    is the only way to recover the span of each id.
    """
    table = tokenizer._vocab_learned_bytes_to_tokens
    counts = np.array([len(table[tokenizer._model.id_to_token(int(i))]) for i in ids])
    if counts.sum() != n_base:
        raise ConfigError(
            f"{name}: the tokenizer's learned ids cover {counts.sum()} base tokens, not "
            f"{n_base}; this miditok version maps ids differently, use a base tokenizer"
        )
    return np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)


def tokenize_score(tokenizer: MusicTokenizer, score: Score, name: str = "piece") -> TokenizedMidi:
    """Encode a score to ids with BOS first, and give every token its time in seconds."""
    if not tokenizer.one_token_stream:
        score = merge_tracks(score)
    if score.note_num() == 0:
        raise SkipItem(f"{name}: no notes to tokenize (an empty or drums-only file)")
    pre = tokenizer.preprocess_score(score)
    # base tokens first (one event each, with its time); learned ids (BPE/Unigram) after
    seq = tokenizer.encode(pre, no_preprocess_score=True, encode_ids=False)
    if isinstance(seq, list):
        seq = seq[0] if seq else None
    if seq is None or not seq.events:
        raise SkipItem(f"{name}: no notes to tokenize")
    ticks = np.array([e.time for e in seq.events], dtype=np.float64)
    if tokenizer.is_trained:
        tokenizer.encode_token_ids(seq)
        ticks = ticks[_first_base_token(tokenizer, seq.ids, len(ticks), name)]
    ids = np.asarray(seq.ids, dtype=np.int64)
    ticks *= score.ticks_per_quarter / pre.ticks_per_quarter
    tempo = TempoMap(score)
    seconds = tempo.seconds(ticks)
    bos = tokenizer.vocab["BOS_None"]
    return TokenizedMidi(
        ids=np.concatenate([[bos], ids]).astype(np.int64),
        seconds=np.concatenate([[0.0], seconds]),
        duration_s=float(tempo.seconds(score.end())),
    )


def detokenize(tokenizer: MusicTokenizer, ids: list[int] | np.ndarray) -> Score:
    """Decode ids (special tokens dropped) to a score."""
    specials = {tokenizer.vocab[t] for t in tokenizer.special_tokens if t in tokenizer.vocab}
    kept = [int(i) for i in ids if int(i) not in specials]
    return tokenizer.decode([kept])


LEARNED_TYPE = "BPE"
"""Type of a learned id that stands for several base tokens (or none), when not typed by its
first base token."""


def token_type(token: str) -> str:
    """Type of a miditok token string, the part before its first "_" ("Pitch_60" → "Pitch",
    "Duration_1.0.8" → "Duration", "TimeSig_4/4" → "TimeSig", "BOS_None" → "BOS")."""
    return token.split("_", 1)[0]


def token_types(tokenizer: MusicTokenizer, merged: str = "first") -> list[str]:
    """Type name of every id of the tokenizer's vocabulary (list index = id).

    For a base (untrained) tokenizer each id is one token string, typed by :func:`token_type`.
    For a trained one (BPE, Unigram, WordPiece) an id standing for one base token takes that
    token's type; an id standing for several takes the type of its first base token
    (``merged="first"``) or :data:`LEARNED_TYPE` (``merged="BPE"``). Learned ids are looked
    up in miditok's private byte-to-token table, as :func:`tokenize_score` does for their times.
    """
    if merged not in ("first", LEARNED_TYPE):
        raise ConfigError(f"merged token type {merged!r}: choose 'first' or {LEARNED_TYPE!r}")
    if tokenizer.is_multi_voc:
        raise ConfigError(
            f"{type(tokenizer).__name__}: token types need a single-vocabulary tokenizer"
        )
    if not tokenizer.is_trained:
        by_id = {i: token for token, i in tokenizer.vocab.items()}
        return [token_type(by_id[i]) for i in range(len(tokenizer))]
    table = tokenizer._vocab_learned_bytes_to_tokens
    types = []
    for i in range(len(tokenizer)):
        base = table.get(tokenizer._model.id_to_token(i)) or []
        if len(base) == 1 or (base and merged == "first"):
            types.append(token_type(base[0]))
        else:
            types.append(LEARNED_TYPE)
    return types
