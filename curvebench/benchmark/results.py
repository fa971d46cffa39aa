"""The results file: pydantic models written as results.json (strict: extra keys fail)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, create_model

from curvebench.data.sources import GeneratedSpec
from curvebench.metrics.catalog import METRICS, MetricInfo

SCHEMA_VERSION = 2
"""2: datasets carry a typed ``generated`` spec; per-line derived numbers are checked."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def result_model(metrics: Iterable[MetricInfo]) -> type[_Strict]:
    """The schema of one (task, dataset) group's aggregates: ``role`` plus one field per
    declared metric (and ``<name>_ci`` for those with an interval)."""
    fields: dict[str, Any] = {"role": (str, Field(description="Role of the dataset."))}
    for m in metrics:
        extra = {"unit": m.unit, "better": m.better, "headline": m.headline}
        default = ... if m.kind == "int" else None
        fields[m.name] = (
            m.annotation(),
            Field(default=default, description=m.description, json_schema_extra=extra),
        )
        if m.interval:
            fields[m.ci_name] = (
                list[float] | None,
                Field(default=None, description=f"Bootstrap 95% interval of {m.name}."),
            )
    return create_model("DatasetResult", __base__=_Strict, **fields)


DatasetResult = result_model(METRICS.values())
"""Aggregates of one task on one dataset (fields from :mod:`curvebench.metrics.catalog`)."""


class ModelInfo(_Strict):
    """The model that was scored."""

    spec: str = Field(description="The model spec as given.")
    name: str = Field(description="Adapter name.")
    fingerprint: str = Field(description="sha256 of weights, tokenizer and config.")
    parameters: int = Field(description="Number of parameters.")
    modality: str = Field(description="symbolic or audio.")
    context_length: int = Field(description="Tokens per model pass.")
    settings: dict[str, str] = Field(
        default_factory=dict, description="Scoring settings of the adapter (layout, condition)."
    )


class DatasetInfo(_Strict):
    """One dataset of the run."""

    name: str = Field(description="Dataset name (unique in the run).")
    role: str = Field(description="training, generated, ood or custom.")
    location: str = Field(description="Where it came from (embedded split, folder, hub id).")
    generated: GeneratedSpec | None = Field(
        default=None, description="Generated role: how the pieces were drawn."
    )
    n_pieces: int = Field(description="Pieces read (before skips).")
    content_sha256: str = Field(description="sha256 over the sorted content hashes of its pieces.")


class SkippedItem(_Strict):
    """An item left out, and why."""

    item: str
    """task/dataset/piece[/variant], or dataset/file for a file never read."""
    reason: str
    """Why, in one line."""
    stage: str | None = None
    """Where it was refused: list, read, clip, render, perturb or encode (None in files
    written before stages were recorded)."""


class RunConfig(_Strict):
    """How the run was made."""

    seed: int
    devices: int
    batch_size: int
    limit: int | float | None = Field(
        description="Pieces per dataset asked for (a fraction below 1: that share of each)."
    )
    stride: int | None = Field(
        default=None, description="Rolling-window stride used for long sequences (tokens)."
    )
    protocol: str | None = Field(
        default=None, description="The protocol group followed (``board``), if any."
    )
    protocol_version: int | None = Field(default=None, description="Its version.")
    tasks: dict[str, dict] = Field(description="Full config of every task, by name.")
    task_versions: dict[str, int]


class Results(_Strict):
    """Everything a run reports; aggregates follow from samples.jsonl.gz."""

    schema_version: int = SCHEMA_VERSION
    curvebench_version: str
    created: str = Field(description="UTC time the run finished (ISO 8601).")
    model: ModelInfo
    config: RunConfig
    datasets: list[DatasetInfo]
    results: dict[str, dict[str, DatasetResult]] = Field(
        description="results[task][dataset] aggregates."
    )
    curves: dict[str, dict[str, list[float | None]]] = Field(
        default_factory=dict, description="Mean Δℓ per grid step, by task and dataset."
    )
    validity: dict | None = Field(
        default=None,
        description="Every metric against the truth (the perturbed copy is worse music), per "
        "perturbation family and dataset role, with 95% intervals clustered by original piece "
        "(curvebench.metrics.validity.ValidityTable).",
    )
    skipped: list[SkippedItem]
    samples_sha256: str = Field(description="sha256 of samples.jsonl.gz.")
    env: dict[str, str] = Field(description="Versions of Python and the libraries used.")
