"""Stage 1 of reference training: the embedded corpus augmented and tokenized into a token
file (:mod:`curvebench.training.token_file`), so that training needs nothing but that file."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import logging
import tempfile
from pathlib import Path

import numpy as np

from curvebench.adapters.corpus_tokens import tokenize_split
from curvebench.adapters.midi_tokens import TOKENIZER_FILE, reference_tokenizer, tokenize_score
from curvebench.data.piece import parse_midi
from curvebench.data.sources import embedded_split
from curvebench.errors import CurvebenchError
from curvebench.training.augment import (
    DEFAULT_AUGMENTATION,
    Augmentation,
    EncodingRange,
    augment_copy,
)
from curvebench.training.token_file import TokenFile, file_name, write_token_file

log = logging.getLogger(__name__)


def encoding_range(tokenizer) -> EncodingRange:
    """The pitch, velocity and tempo ranges of a miditok tokenizer."""
    low, high = tokenizer.config.pitch_range
    return EncodingRange(
        pitch=(int(low), int(high) - 1),
        velocity=(int(tokenizer.velocities[0]), int(tokenizer.velocities[-1])),
        tempo=(float(tokenizer.tempos[0]), float(tokenizer.tempos[-1])),
    )


def augmented_train_split(
    aug: Augmentation, seed: int, limit: int | None = None
) -> tuple[list[np.ndarray], list[str]]:
    """Token ids and ids of the training pieces, each original followed by its augmented
    copies (``ID#augK``); ``limit`` keeps the first pieces only (for tests)."""
    return augmented_split("train", range(aug.copies + 1), aug, seed, limit)


def augmented_split(
    split: str, copies: range, aug: Augmentation, seed: int, limit: int | None = None
) -> tuple[list[np.ndarray], list[str]]:
    """Token ids and ids of an embedded split's pieces in the versions ``copies`` (0: as
    written, ``ID``; K > 0: augmented copy K, ``ID#augK``), piece by piece; ``limit`` keeps the
    first pieces only."""
    tokenizer = reference_tokenizer()
    limits = encoding_range(tokenizer)
    rows = embedded_split(split)
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    seqs, ids = [], []
    for row in rows:
        try:
            score = parse_midi(row["midi"], row["id"])
            versions = [
                (row["id"], score)
                if k == 0
                else (f"{row['id']}#aug{k}", augment_copy(score, row["id"], k, limits, aug, seed))
                for k in copies
            ]
            for piece_id, version in versions:
                seqs.append(tokenize_score(tokenizer, version, piece_id).ids)
                ids.append(piece_id)
        except CurvebenchError as exc:
            log.warning("skipping %s: %s", row["id"], exc)
    return seqs, ids


def make_token_file(
    name: str,
    out: Path,
    aug: Augmentation = DEFAULT_AUGMENTATION,
    seed: int = 0,
    limit: int | None = None,
) -> Path:
    """Tokenize the augmented training split and the validation and ood splits into
    ``out/NAME-tokens.npz``; returns its path."""
    tokenizer = reference_tokenizer()
    train, train_ids = augmented_train_split(aug, seed, limit)
    pieces, piece_ids = {"train": train}, {"train": train_ids}
    for split in ("validation", "ood"):
        pieces[split] = tokenize_split(split)
        rows = embedded_split(split)
        piece_ids[split] = _kept_ids(rows, len(pieces[split]), split)
        if limit is not None:
            pieces[split], piece_ids[split] = pieces[split][:limit], piece_ids[split][:limit]
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer.save(Path(tmp) / TOKENIZER_FILE)
        tokenizer_json = (Path(tmp) / TOKENIZER_FILE).read_text()
    meta = {
        "name": name,
        "seed": seed,
        "augmentation": dataclasses.asdict(aug),
        "vocab_size": len(tokenizer),
        "pad_id": tokenizer.vocab["PAD_None"],
        "bos_id": tokenizer.vocab["BOS_None"],
        "eos_id": tokenizer.vocab["EOS_None"],
        "miditok": importlib.metadata.version("miditok"),
        "train_original_pieces": sum("#aug" not in i for i in train_ids),
    }
    data = TokenFile(pieces, piece_ids, tokenizer_json, meta)
    path = write_token_file(out / file_name(name), data)
    log.info("%s: %s training sequences, %s tokens", path, len(train), sum(map(len, train)))
    return path


def _kept_ids(rows, n_kept: int, split: str) -> list[str]:
    """Ids of the pieces :func:`tokenize_split` kept (it skips pieces with no notes)."""
    ids = list(rows["id"])
    if len(ids) != n_kept:
        tokenizer = reference_tokenizer()
        ids = []
        for row in rows:
            try:
                tokenize_score(tokenizer, parse_midi(row["midi"], row["id"]), row["id"])
                ids.append(row["id"])
            except CurvebenchError:
                continue
    if len(ids) != n_kept:
        raise CurvebenchError(f"embedded:{split}: cannot match piece ids to tokenized pieces")
    return ids
