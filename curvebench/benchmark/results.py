"""The results file: pydantic models written as results.json (strict: extra keys fail)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DatasetResult(_Strict):
    """Aggregates of one task on one dataset."""

    role: str = Field(description="Role of the dataset.")
    n_pairs: int = Field(description="Scored (original, perturbed) pairs.")
    n_originals: int = Field(description="Distinct originals in those pairs.")
    abs_loss_original: float | None = Field(
        description="Mean absolute loss (nats/token) of originals."
    )
    abs_loss_perturbed: float | None = Field(description="Mean absolute loss of perturbed copies.")
    abs_loss_delta: float | None = Field(description="Mean over pairs of perturbed − original.")
    frac_loss_lowered: float | None = Field(description="Fraction of pairs whose loss fell.")
    region_peak: float | None = Field(default=None, description="Mean Δℓ in the peak region.")
    region_assimilation: float | None = Field(default=None, description="Mean Δℓ, assimilation.")
    region_recovery: float | None = Field(default=None, description="Mean Δℓ, recovery.")


class ModelInfo(_Strict):
    """The model that was scored."""

    spec: str = Field(description="The model spec as given.")
    name: str = Field(description="Adapter name.")
    fingerprint: str = Field(description="sha256 of weights, tokenizer and config.")
    parameters: int = Field(description="Number of parameters.")
    modality: str = Field(description="symbolic or audio.")
    context_length: int = Field(description="Tokens per model pass.")


class DatasetInfo(_Strict):
    """One dataset of the run."""

    name: str
    role: str
    location: str
    n_pieces: int = Field(description="Pieces read (before skips).")
    content_sha256: str = Field(description="sha256 over the sorted content hashes of its pieces.")


class SkippedItem(_Strict):
    """An item left out, and why."""

    item: str
    reason: str


class RunConfig(_Strict):
    """How the run was made."""

    seed: int
    devices: int
    batch_size: int
    limit: int | None
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
    skipped: list[SkippedItem]
    samples_sha256: str = Field(description="sha256 of samples.jsonl.gz.")
    env: dict[str, str] = Field(description="Versions of Python and the libraries used.")
