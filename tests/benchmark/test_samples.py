"""The samples line format: what is written, and what an older file still reads as."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from curvebench.benchmark.derived import CODE_DECIMALS, DECIMALS, written_loss
from curvebench.benchmark.samples import SampleLine, iter_samples, write_samples


def _audio_line(loss: list[list[float]], **extra: object) -> dict:
    return {
        "task": "noise-at-5s",
        "dataset": "ood",
        "role": "ood",
        "piece_id": "a",
        "variant": "original",
        "key": "0" * 64,
        "n_tokens": len(loss[0]),
        "duration_s": len(loss[0]) / 50,
        "loss": loss,
        "seconds": [t / 50 for t in range(len(loss[0]))],
        **extra,
    }


def test_tokens_keep_five_decimals_and_codes_four() -> None:
    rng = np.random.default_rng(0)
    tokens, codes = rng.uniform(0, 9, 40), rng.uniform(0, 9, (4, 40))
    np.testing.assert_array_equal(written_loss(tokens), np.round(tokens, DECIMALS))
    np.testing.assert_array_equal(written_loss(codes), np.round(codes, CODE_DECIMALS))
    assert not np.array_equal(written_loss(codes), np.round(codes, DECIMALS))
    assert np.abs(written_loss(codes) - codes).max() <= 0.5 * 10.0**-CODE_DECIMALS


def test_an_older_audio_line_with_its_frame_means_still_reads(tmp_path: Path) -> None:
    """Files written before the per-frame mean left the line: the mean is dropped on reading
    (it is recomputed from ``loss`` wherever it is used), every other field kept."""
    loss = [[1.0, 2.0, 3.0], [3.0, 4.0, 5.0]]
    path = tmp_path / "samples.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write(json.dumps(_audio_line(loss, loss_mean=[2.0, 3.0, 4.0], abs_loss=3.0)) + "\n")
    (line,) = iter_samples(path)
    assert line.loss == loss and line.abs_loss == 3.0
    assert "loss_mean" not in json.loads(line.to_json())


def test_an_unknown_field_is_still_refused() -> None:
    import pytest
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="loss_median"):
        SampleLine.model_validate(_audio_line([[1.0]], loss_median=[1.0]))


def test_written_lines_round_trip(tmp_path: Path) -> None:
    lines = [SampleLine.model_validate(_audio_line([[1.25, 2.5], [0.5, 0.75]]))]
    path = tmp_path / "samples.jsonl.gz"
    write_samples(lines, path)
    assert list(iter_samples(path)) == lines
