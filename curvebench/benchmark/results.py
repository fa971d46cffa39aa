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
    abs_loss_original_per_codebook: list[float] | None = Field(
        default=None, description="Audio: mean loss of each codebook over originals."
    )
    abs_loss_perturbed_per_codebook: list[float] | None = Field(
        default=None, description="Audio: the same over perturbed copies."
    )
    perplexity_original: float | None = Field(default=None, description="exp(abs_loss_original).")
    perplexity_perturbed: float | None = Field(default=None, description="exp(abs_loss_perturbed).")
    nats_per_second_original: float | None = Field(
        default=None, description="Mean over originals of total nats / seconds of music."
    )
    nats_per_second_perturbed: float | None = Field(
        default=None, description="The same over perturbed copies."
    )
    shape_score_original: float | None = Field(
        default=None, description="Mean reference-free spike score of originals."
    )
    shape_score_perturbed: float | None = Field(
        default=None, description="Mean spike score of perturbed copies."
    )
    auroc_abs_loss: float | None = Field(
        default=None, description="AUROC of absolute loss: originals vs. perturbed copies."
    )
    auroc_abs_loss_ci: list[float] | None = Field(default=None, description="Bootstrap 95% CI.")
    auroc_shape: float | None = Field(default=None, description="AUROC of the spike score.")
    auroc_shape_ci: list[float] | None = Field(default=None, description="Bootstrap 95% CI.")
    agree_abs_loss: float | None = Field(
        default=None, description="Fraction of pairs whose perturbed copy has the higher loss."
    )
    agree_abs_loss_ci: list[float] | None = Field(default=None, description="Bootstrap 95% CI.")
    agree_shape: float | None = Field(
        default=None, description="Fraction of pairs whose perturbed copy has the higher spike."
    )
    agree_shape_ci: list[float] | None = Field(default=None, description="Bootstrap 95% CI.")
    shape_peak_height: float | None = Field(default=None, description="Max smoothed Δℓ in peak.")
    shape_peak_latency_s: float | None = Field(default=None, description="Onset to peak max.")
    shape_assimilation_depth: float | None = Field(
        default=None, description="Min smoothed Δℓ in the assimilation region."
    )
    shape_recovery_time_s: float | None = Field(
        default=None, description="Time until Δℓ stays inside the baseline's noise band."
    )
    shape_area_positive: float | None = Field(default=None, description="Positive area, nats·s.")
    shape_area_negative: float | None = Field(default=None, description="Negative area, nats·s.")
    length_delta_pearson: float | None = Field(
        default=None, description="Length sweeps: Pearson r of noise duration vs. Δ abs loss."
    )
    length_delta_spearman: float | None = Field(
        default=None, description="Length sweeps: Spearman ρ of the same."
    )


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
