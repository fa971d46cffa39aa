"""Datasets of pieces: the embedded corpus, a local folder, or a Hugging Face dataset.

Every source becomes a ``datasets.Dataset`` with the columns ``id``, ``midi`` (bytes) and
``source``, plus whatever metadata it has, so the rest of curvebench sees one shape.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import datasets
from pydantic import BaseModel, ConfigDict, Field

from curvebench.data.audio import audio_info, sha256_file
from curvebench.data.files import DEFAULT_LIMITS, Limits, checked_file, printable, suffix_kind
from curvebench.data.piece import ROLES, Piece
from curvebench.data.sampling import STRATA_COLUMNS, strata_of, stratified_sample
from curvebench.errors import ConfigError, CurvebenchError, DataError, SkipItem

log = logging.getLogger(__name__)

EMBEDDED_DIR = Path(__file__).parent / "embedded"
EMBEDDED_SPLITS = ("train", "validation", "ood")
META_COLUMNS = ("collection", "composer", "title", "duration_s")


@dataclass(frozen=True)
class DataSpec:
    """Where one dataset of a run comes from."""

    name: str
    """Name of the dataset in results (a folder's name, or embedded-train / embedded-ood)."""
    role: str
    """training, generated, ood or custom."""
    location: str
    """``embedded:SPLIT``, a local folder, or a Hugging Face dataset id."""


class GeneratedSpec(BaseModel):
    """How a generated-role dataset was drawn: recorded in results.json, so that a verifier
    rebuilds exactly the same pieces."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    generator: str = Field(description="Model spec of the model that generated the pieces.")
    top_k: int = Field(ge=1, description="Top-k of the sampling.")
    seed: int = Field(description="Sampling seed (piece i's seed derives from it).")
    seconds: float = Field(gt=0, description="Length of each sample in seconds.")
    n: int = Field(ge=0, description="Number of pieces drawn.")
    fallback: str | None = Field(
        default=None,
        description="Why the generator is not the model asked for (it cannot generate).",
    )

    @property
    def location(self) -> str:
        """Readable location string of the dataset."""
        return f"generated:{self.generator}:k={self.top_k}"


def embedded_specs() -> list[DataSpec]:
    """The embedded corpus: the training split (training role) and the classical ood set."""
    return [
        DataSpec("embedded-train", "training", "embedded:train"),
        DataSpec("embedded-ood", "ood", "embedded:ood"),
    ]


def parse_data_arg(text: str) -> DataSpec:
    """Parse ``--data [ROLE=]PATH``: a local folder of MIDI files or a Hugging Face dataset id."""
    role, sep, location = text.partition("=")
    if not sep:
        role, location = "custom", text
    if role not in ROLES:
        raise ConfigError(f"--data {text}: unknown role {role!r}; use one of {', '.join(ROLES)}")
    if not location:
        raise ConfigError(f"--data {text}: no path or dataset id given")
    if location.startswith(HUB_PREFIX):
        hub = HubLocation.parse(location)
        parts = [Path(hub.id.rstrip("/")).name, hub.config, hub.split if hub.split_given else None]
        return DataSpec("-".join(p for p in parts if p), role, location)
    name = Path(location.rstrip("/")).name or location
    return DataSpec(name, role, location)


HUB_PREFIX = "hf:"


@dataclass(frozen=True)
class HubLocation:
    """``hf:ID[:config][@revision][#split]``: a Hugging Face dataset (hub id or local folder)."""

    id: str
    """Hub id (``user/name``) or a local dataset folder."""
    config: str | None = None
    """The dataset's configuration (``name=`` of ``load_dataset``)."""
    revision: str | None = None
    """Branch, tag or commit."""
    split: str = "train"
    """The split read."""
    split_given: bool = False
    """The split was named (it is then part of the dataset's name)."""

    @classmethod
    def parse(cls, location: str) -> HubLocation:
        """Parse a location with or without the ``hf:`` prefix."""
        body = location.removeprefix(HUB_PREFIX)
        body, hash_, split = body.partition("#")
        body, at, revision = body.partition("@")
        dataset, colon, config = body.partition(":")
        if not dataset or (hash_ and not split) or (at and not revision) or (colon and not config):
            raise ConfigError(
                f"--data {location}: give hf:ID[:config][@revision][#split], e.g. "
                "hf:user/midi-set:piano@main#test"
            )
        return cls(dataset, config or None, revision or None, split or "train", bool(split))


@dataclass(frozen=True)
class Reading:
    """How a run reads its datasets' files: who listens, and the bounds on one item."""

    modality: str | None = None
    """``symbolic``: recordings are refused unread; ``audio``: a recording stays in its file,
    decoded later only as far as a task's clip; None: files are read whole."""
    limits: Limits = DEFAULT_LIMITS
    """Notes per piece, seconds per recording, bytes per MIDI file."""


class Skip(NamedTuple):
    """An item left out: where it was (dataset, piece; the task and the perturbed copy when it
    was refused inside a task), the one-line reason, and the stage that refused it."""

    dataset: str
    piece: str
    """The piece's id, or the file's name for a file passed over when the dataset was read."""
    reason: str
    stage: str
    task: str | None = None
    """The task, or None for a file passed over when its dataset was read."""
    variant: str | None = None
    """The perturbed copy's spec id, or None for the whole piece."""

    @property
    def item(self) -> str:
        """task/dataset/piece[/variant], or dataset/file: the item as one string."""
        return "/".join(p for p in (self.task, self.dataset, self.piece, self.variant) if p)


def load_split(
    spec: DataSpec, reading: Reading | None = None
) -> datasets.Dataset | datasets.IterableDataset:
    """Load a dataset's rows as a ``datasets.Dataset`` with id, midi and source columns."""
    return load_rows(spec, reading or Reading())[0]


def load_rows(
    spec: DataSpec, reading: Reading
) -> tuple[datasets.Dataset | datasets.IterableDataset, list[Skip]]:
    """A dataset's rows, and the files of a folder dataset that were refused (with the
    reason) or passed over (not music by their name)."""
    if spec.location.startswith("embedded:"):
        split = spec.location.split(":", 1)[1]
        if split not in EMBEDDED_SPLITS:
            raise ConfigError(f"unknown embedded split {split!r}; use {EMBEDDED_SPLITS}")
        return embedded_split(split), []
    path = Path(spec.location)
    if path.is_dir():
        return read_folder(path, reading, spec.name)
    if path.exists():
        raise ConfigError(f"--data {spec.location}: give a folder of MIDI files, not a file")
    return hub_dataset(spec.location), []


def hub_dataset(location: str) -> datasets.IterableDataset:
    """A Hugging Face dataset (``hf:ID[:config][@revision][#split]``, or a bare hub id or
    local dataset folder) with a MIDI bytes column, streamed: rows are read as they are used,
    so ``--limit N`` reads N rows, not the whole split."""
    hub = HubLocation.parse(location)
    try:
        ds = datasets.load_dataset(
            hub.id, name=hub.config, revision=hub.revision, split=hub.split, streaming=True
        )
        columns = ds.column_names or list(next(iter(ds)))
    except Exception as exc:  # datasets raises many kinds for a missing or unreachable dataset
        raise DataError(
            f"--data {location}: not a local folder, and loading it as a Hugging Face dataset "
            f"failed ({type(exc).__name__}: {exc})"
        ) from exc
    column = next((c for c in ("midi", "bytes", "file") if c in columns), None)
    if column is None and "audio" in columns:  # recordings: their encoded bytes, not decoded
        ds = ds.cast_column("audio", datasets.Audio(decode=False))
    elif column is None:
        raise DataError(
            f"{location}: no 'midi' column of MIDI bytes or 'audio' column among {columns}"
        )
    elif column != "midi":
        ds = ds.rename_column(column, "midi")
    if "id" not in columns or "source" not in columns:
        ds = ds.map(
            lambda row, i: {
                "id": row.get("id", f"{i:06d}"),
                "source": row.get("source", f"{location}[{i}]"),
            },
            with_indices=True,
        )
    return ds


def embedded_split(split: str) -> datasets.Dataset:
    """One split of the embedded corpus, loaded from its parquet file through ``datasets``."""
    file = EMBEDDED_DIR / f"{split}.parquet"
    # from_parquet reads the local file directly (load_dataset("parquet") pings the hub)
    return datasets.Dataset.from_parquet(str(file))


def folder_dataset(folder: Path, reading: Reading | None = None) -> datasets.Dataset:
    """Every MIDI and audio file (WAV, FLAC, OGG, MP3) under a folder (recursively), sorted by
    relative path; a MIDI file's bytes go to ``midi``, a recording's to ``audio``."""
    return read_folder(folder, reading or Reading())[0]


def read_folder(
    folder: Path, reading: Reading, dataset: str | None = None
) -> tuple[datasets.Dataset, list[Skip]]:
    """:func:`folder_dataset`, and every file it did not read with the reason: files whose
    names are not music are passed over; a music file is refused when it is a broken link,
    empty, not what its name says, beyond ``reading.limits``, or (a recording) has a header
    that cannot be read, or is heard by a model that reads notes. For an audio model a
    recording stays in its file (``audio_path``, hashed as it is read) and is decoded later,
    only as far as a task's clip. Names that are not UTF-8 are kept as ``\\xNN``; links to
    folders are not followed."""
    name_of_set = dataset or folder.name
    rows: dict[str, list] = {
        "id": [],
        "midi": [],
        "audio": [],
        "source": [],
        "audio_path": [],
        "content_sha256": [],
    }
    skipped: list[Skip] = []
    music, passed_over = _walk(folder)
    for path in music:
        name = printable(path.relative_to(folder))
        try:
            kind = checked_file(path, reading.limits, name)
            if kind == "audio" and reading.modality == "symbolic":
                raise SkipItem(f"{name}: a recording; the model reads notes (MIDI)")
            midi, audio, lazy, sha = b"", b"", "", ""
            if kind == "midi":
                midi = path.read_bytes()
            elif reading.modality == "audio":
                frames, rate = audio_info(path, name)
                reading.limits.check_seconds(frames / rate, name)
                lazy, sha = str(path), sha256_file(path)
            else:
                audio = path.read_bytes()
        except CurvebenchError as exc:
            reason = str(exc).removeprefix(f"{name}: ")
            skipped.append(Skip(name_of_set, name, reason, "read"))
            continue
        except OSError as exc:
            reason = f"cannot be read ({exc.strerror or exc})"
            skipped.append(Skip(name_of_set, name, reason, "read"))
            continue
        for column, value in zip(rows, (name, midi, audio, name, lazy, sha), strict=True):
            rows[column].append(value)
    skipped += [Skip(name_of_set, n, why, "list") for n, why in passed_over]
    if not rows["id"] and not skipped:
        raise DataError(f"{folder}: no MIDI (.mid, .midi) or audio (.wav, .flac, .ogg, .mp3) files")
    return datasets.Dataset.from_dict(rows), skipped


def _walk(folder: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """In one pass over ``folder``: every entry whose name says MIDI or audio (files, links,
    anything but real folders), sorted by relative path; and the files whose names are not
    music, with the reason (hidden files are not listed). Links to folders are not followed."""
    found, passed = [], []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        here = Path(root)
        found += [here / f for f in files if suffix_kind(f) is not None]
        found += [here / d for d in dirs if suffix_kind(d) and (here / d).is_symlink()]
        for f in files:
            if suffix_kind(f) is None and not f.startswith("."):
                path = here / f
                suffix = printable(path.suffix) or "no suffix"
                why = (
                    f"not a MIDI or audio file ({suffix}); a folder is read as MIDI "
                    "(.mid, .midi) and audio (.wav, .flac, .ogg, .mp3)"
                )
                passed.append((printable(path.relative_to(folder)), why))
    return sorted(found), sorted(passed)


def pieces_wanted(limit: int | float | None, total: int) -> int:
    """How many of ``total`` pieces a ``--limit`` takes: all (None), a count, or a fraction
    below 1 of them (rounded up, as lm-evaluation-harness does)."""
    if limit is None:
        return total
    if 0 < limit < 1:
        return math.ceil(limit * total)
    return min(int(limit), total)


def iter_pieces(
    spec: DataSpec,
    rows: datasets.Dataset | datasets.IterableDataset,
    limit: int | float | None = None,
    seed: int = 0,
) -> Iterator[Piece]:
    """Pieces of a loaded dataset: all of them, or ``limit`` of them (a count, or a fraction
    below 1 of the dataset). From a dataset in memory, a seeded sample stratified by composer
    or collection (:mod:`curvebench.data.sampling`), in row order; a streamed dataset is read
    only as far as needed (its first rows: a stream cannot be sampled without reading it all),
    and a fraction of one takes its size from the dataset's metadata (read whole when it has
    none)."""
    if isinstance(rows, datasets.IterableDataset):
        if limit is None:
            selected = rows
        elif 0 < limit < 1:
            split = rows.info.splits.get(rows.split) if rows.info.splits and rows.split else None
            total = split.num_examples if split and split.num_examples else None
            if total is None:
                listed = list(rows)
                selected = listed[: pieces_wanted(limit, len(listed))]
            else:
                selected = itertools.islice(rows, pieces_wanted(limit, total))
        else:
            selected = itertools.islice(rows, int(limit))
    else:
        wanted = pieces_wanted(limit, len(rows))
        if wanted >= len(rows):
            chosen = range(len(rows))
        else:
            columns = {c: rows[c] for c in STRATA_COLUMNS if c in rows.column_names}
            ids = [str(i) for i in rows["id"]]
            chosen = stratified_sample(ids, strata_of(columns), wanted, seed)
        selected = rows.select(chosen)
    for row in selected:
        midi = row.get("midi") or b""
        if isinstance(midi, dict):  # a datasets binary feature stored as {"bytes", "path"}
            midi = midi.get("bytes") or b""
        meta = tuple((k, str(row[k])) for k in META_COLUMNS if k in row and row[k] is not None)
        audio = row.get("audio") or b""
        source = str(row.get("source", ""))
        if isinstance(audio, dict):  # a datasets Audio feature read undecoded
            path = Path(audio["path"]) if audio.get("path") else None
            if path is not None and not source:
                source = path.name
            stored = audio.get("bytes")
            audio = stored or (path.read_bytes() if path is not None and path.is_file() else b"")
        yield Piece(
            id=str(row["id"]),
            dataset=spec.name,
            role=spec.role,
            midi=bytes(midi or b""),
            source=source,
            meta=meta,
            audio=bytes(audio) if isinstance(audio, bytes | bytearray) else b"",
            audio_path=str(row.get("audio_path") or ""),
            content_sha256=str(row.get("content_sha256") or ""),
        )
