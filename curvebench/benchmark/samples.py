"""One scored item: the typed samples line, its writer and its one reader.

``samples.jsonl.gz`` holds one line per scored item: each original once, then its perturbed
copies with their perturbation record. The raw fields (``loss``, ``seconds``, ``duration_s``,
``record``) are what every aggregate is computed from; the derived ones (``abs_loss``, ...,
``regions``, ``features``) are filled in by the aggregation and checked against it on
submission.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    model_validator,
)

from curvebench.errors import DataError, first_error
from curvebench.metrics.registry import item_metrics
from curvebench.perturbations import PerturbationRecord

OPTIONAL = (
    "types",
    "abs_loss_per_codebook",
    "record",
    "regions",
    "features",
    "detectors",
)
"""Fields left out of a line when they do not apply (audio-only, perturbed-only)."""


class _Line(BaseModel):
    """One scored item (an original or a perturbed copy) of one task and dataset; the item
    metrics' fields are added from the registry (:data:`SampleLine`)."""

    model_config = ConfigDict(extra="forbid")

    task: str = Field(description="Task name.")
    dataset: str = Field(description="Dataset name.")
    role: str = Field(description="Dataset role.")
    piece_id: str = Field(description="Piece id inside the dataset.")
    variant: str = Field(description="``original``, or the perturbation's spec id.")
    key: str = Field(description="sha256 of the token ids scored (the cache key's input half).")
    n_tokens: int = Field(description="Time steps fed to the model.")
    duration_s: float | None = Field(description="Seconds of music encoded, when known.")
    loss: list[float] | list[list[float]] = Field(
        description="Per-token nats ([T−1]), or per code for audio ([K][T], to 1e-4 nats; the "
        "per-frame loss is their mean over codebooks)."
    )
    seconds: list[float | None] = Field(description="Time of each scored step (None: untimed).")
    types: list[str] | None = Field(
        default=None, description="Token type of each scored step (typed tokenizers)."
    )
    abs_loss: float | None = Field(default=None, description="Mean nats per step.")
    perplexity: float | None = Field(default=None, description="exp(abs_loss).")
    nats_per_second: float | None = Field(default=None, description="Total nats / duration_s.")
    abs_loss_per_codebook: list[float] | None = Field(
        default=None, description="Audio: mean loss of each codebook."
    )
    record: PerturbationRecord | None = Field(
        default=None, description="Perturbed copies: where and how the perturbation acted."
    )
    regions: dict[str, float | None] | None = Field(
        default=None, description="Perturbed copies: mean Δℓ of the paper's regions."
    )
    features: dict[str, float | None] | None = Field(
        default=None, description="Perturbed copies: robust curve features."
    )
    detectors: dict[str, list[float | None]] | None = Field(
        default=None,
        description="Perturbed copies: Δℓ detectors, [swapped pair's score, pair's score].",
    )

    @model_validator(mode="before")
    @classmethod
    def _drop_loss_mean(cls, data: object) -> object:
        """A ``loss_mean`` field (an audio item's mean of ``loss`` over codebooks, which every
        reader recomputes) is read and dropped."""
        if isinstance(data, dict) and "loss_mean" in data:
            data = {k: v for k, v in data.items() if k != "loss_mean"}
        return data

    @property
    def is_original(self) -> bool:
        """True for an original, False for a perturbed copy."""
        return self.variant == "original"

    def to_json(self) -> str:
        """The line as written: every field, the optional ones only where they apply."""
        data = self.model_dump(mode="json")
        for name in OPTIONAL:
            if data[name] is None:
                del data[name]
        return json.dumps(data)


def _line_model() -> type[_Line]:
    fields: dict[str, Any] = {
        m.line_field: (
            float | None,
            Field(default=None, description=f"Item metric {m.name!r}: the {m.description}."),
        )
        for m in item_metrics()
        if m.line_field not in _Line.model_fields
    }
    return create_model("SampleLine", __base__=_Line, **fields)


SampleLine = _line_model()
"""A samples line: the raw fields, the derived numbers and one field per item metric of the
registry (:mod:`curvebench.metrics.registry`)."""


def write_samples(lines: Iterable[SampleLine], path: Path) -> str:
    """Write lines as gzip JSON lines (no timestamp in the header, so bytes are reproducible)
    through a unique temporary file renamed into place; returns the sha256 of the bytes
    written."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as raw:
        for line in lines:
            raw.write((line.to_json() + "\n").encode())
    data = buffer.getvalue()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return hashlib.sha256(data).hexdigest()


MAX_LINE_BYTES = 32 << 20
"""Longest samples line read (32 MiB: ~1.5 M losses); a longer one is refused, not loaded."""
BUDGET_LINE_BYTES = 4 << 20
"""Longest line of a file read under a budget (a submission): 4 MiB, some 40 times an item of
a 15 s audio clip of 4 codebooks at 50 Hz."""
BUDGET_NUMBERS = 10_000_000
"""Numbers a file read under a budget may hold in all, counted before a line is parsed: a
parsed number costs some 50 bytes with its line, so the lines are held in about 500 MB at most
(the board's largest entry, 1,982 audio items, holds 7.4 million)."""


def iter_samples(
    path: Path, max_lines: int | None = None, budget: bool = False
) -> Iterator[SampleLine]:
    """The lines of a samples.jsonl.gz, streamed and validated one by one, in bounded memory;
    DataError names the file and line of the first bad one, or says when there are more than
    ``max_lines`` lines or a line is longer than MAX_LINE_BYTES. With ``budget`` a line is at
    most BUDGET_LINE_BYTES and the file holds at most BUDGET_NUMBERS numbers, counted before a
    line is parsed, so a hostile file is refused before it fills memory."""
    longest = BUDGET_LINE_BYTES if budget else MAX_LINE_BYTES
    numbers_left = BUDGET_NUMBERS if budget else None
    try:
        with gzip.open(path, "rb") as fh:
            number = 0
            while text := fh.readline(longest + 1):
                number += 1
                if len(text) > longest:
                    raise DataError(f"{path}: line {number} is longer than {longest} bytes")
                if not text.strip():
                    continue
                if max_lines is not None and number > max_lines:
                    raise DataError(f"{path}: more than the {max_lines} lines results.json counts")
                if numbers_left is not None:
                    numbers_left -= text.count(b",") + 1
                    if numbers_left < 0:
                        raise DataError(
                            f"{path}: line {number}: the file holds more than {BUDGET_NUMBERS:,} "
                            "numbers, far more than any run of the protocol"
                        )
                try:
                    yield SampleLine.model_validate_json(text)
                except ValidationError as exc:
                    raise DataError(
                        f"{path}: line {number} is not a samples line ({first_error(exc)})"
                    ) from exc
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not gzipped JSON lines ({exc})") from exc


def read_samples(
    path: Path, max_lines: int | None = None, budget: bool = False
) -> list[SampleLine]:
    """Every line of a samples.jsonl.gz (see :func:`iter_samples`)."""
    return list(iter_samples(path, max_lines, budget))
