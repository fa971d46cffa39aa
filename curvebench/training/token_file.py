"""The token file between the two training stages: one .npz holding the token ids of the
(augmented) training split, the validation split and the ood split, the piece ids, the
tokenizer file's text and the facts of how it was made.

Reading needs numpy alone, so that training (stage 2) runs where neither the corpus readers
nor miditok are installed. Arrays: ``{split}_ids`` (uint16, all pieces concatenated, each
BOS first), ``{split}_ends`` (int64, cumulative ends), ``{split}_pieces`` (str, piece ids;
augmented copies as ``ID#augK``), ``tokenizer_json`` (str) and ``meta`` (str, JSON).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curvebench.errors import DataError

SPLITS = ("train", "validation", "ood")


@dataclass(frozen=True)
class TokenFile:
    """The contents of a token file."""

    pieces: dict[str, list[np.ndarray]]
    """Per split, the token ids of every piece (int64, BOS first)."""
    piece_ids: dict[str, list[str]]
    """Per split, the id of every piece, in the same order."""
    tokenizer_json: str
    """Text of the miditok tokenizer.json the ids come from."""
    meta: dict
    """How the file was made: name, seed, augmentation, vocabulary size, special ids."""


def file_name(name: str) -> str:
    """File name of a reference model's token file."""
    return f"{name}-tokens.npz"


def write_token_file(path: Path, data: TokenFile) -> Path:
    """Write a token file (compressed, ids as uint16)."""
    if data.meta["vocab_size"] > np.iinfo(np.uint16).max + 1:
        raise DataError(f"{path}: a vocabulary of {data.meta['vocab_size']} does not fit uint16")
    arrays: dict[str, np.ndarray] = {
        "tokenizer_json": np.array(data.tokenizer_json),
        "meta": np.array(json.dumps(data.meta, sort_keys=True)),
    }
    for split in SPLITS:
        seqs = data.pieces[split]
        arrays[f"{split}_ids"] = np.concatenate(seqs).astype(np.uint16)
        arrays[f"{split}_ends"] = np.cumsum([len(s) for s in seqs]).astype(np.int64)
        arrays[f"{split}_pieces"] = np.array(data.piece_ids[split])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return path


def read_token_file(path: Path) -> TokenFile:
    """Read a token file written by :func:`write_token_file`."""
    if not path.is_file():
        raise DataError(
            f"{path}: no token file; make one with `curvebench train-reference --tokens-only`"
        )
    try:
        with np.load(path, allow_pickle=False) as data:
            pieces, ids = {}, {}
            for split in SPLITS:
                flat = data[f"{split}_ids"].astype(np.int64)
                pieces[split] = np.split(flat, data[f"{split}_ends"][:-1])
                ids[split] = [str(x) for x in data[f"{split}_pieces"]]
            meta = json.loads(str(data["meta"]))
            return TokenFile(pieces, ids, str(data["tokenizer_json"]), meta)
    except (KeyError, ValueError, OSError) as exc:
        raise DataError(f"{path}: not a curvebench token file ({exc})") from exc
