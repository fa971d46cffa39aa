"""The token file round-trips, with ids kept as uint16."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from curvebench.errors import DataError
from curvebench.training.token_file import SPLITS, TokenFile, read_token_file, write_token_file


def test_write_then_read_gives_the_same_pieces(tmp_path: Path) -> None:
    pieces = {s: [np.array([1, 5, 282]), np.array([1, 7])] for s in SPLITS}
    ids = {s: [f"{s}/a", f"{s}/b#aug1"] for s in SPLITS}
    meta = {"name": "x", "vocab_size": 283, "pad_id": 0, "bos_id": 1, "eos_id": 2}
    path = write_token_file(tmp_path / "x.npz", TokenFile(pieces, ids, '{"a": 1}', meta))
    with np.load(path) as data:
        assert data["train_ids"].dtype == np.uint16
    back = read_token_file(path)
    assert back.meta == meta and back.tokenizer_json == '{"a": 1}' and back.piece_ids == ids
    for split in SPLITS:
        assert [p.tolist() for p in back.pieces[split]] == [[1, 5, 282], [1, 7]]


def test_a_missing_file_names_the_command(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="--tokens-only"):
        read_token_file(tmp_path / "none.npz")
