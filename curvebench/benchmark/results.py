"""The results file: pydantic models written as results.json (strict: extra keys fail)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, create_model, field_validator

from curvebench.data.sources import GeneratedSpec
from curvebench.metrics.catalog import METRICS, MetricInfo
from curvebench.metrics.validity import ValidityTable
from curvebench.tasks import TaskConfig

SCHEMA_VERSION = 3
"""3: skipped items are structured (dataset, piece, task, variant); version 2 files, whose
skipped items are one string each, are read and converted."""
READ_VERSIONS = (2, SCHEMA_VERSION)
"""Versions of results.json this curvebench reads."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def result_model(metrics: Iterable[MetricInfo]) -> type[_Strict]:
    """The schema of one (task, dataset) group's aggregates: ``role`` plus one field per
    declared metric (and ``<name>_ci`` for those with an interval)."""
    fields: dict[str, Any] = {
        "role": (str, Field(description="Role of the dataset.")),
        "note": (
            str | None,
            Field(default=None, description="Why the group has no scored pair, when it has none."),
        ),
    }
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

    @property
    def loss_unit(self) -> str:
        """The unit of its per-step losses: nats per code (audio codecs), per text token (ABC
        models) or per token."""
        if self.modality == "audio":
            return "nats/code"
        return "nats/text token" if self.spec.split(":")[0] == "hf-abc" else "nats/token"

    spec: str = Field(description="The model spec as given.")
    name: str = Field(description="Adapter name.")
    fingerprint: str = Field(description="sha256 of weights, tokenizer and config.")
    parameters: int = Field(description="Number of parameters.")
    modality: str = Field(description="symbolic or audio.")
    context_length: int = Field(description="Tokens per model pass.")
    type_vocab: dict[str, int] | None = Field(
        default=None,
        description="Typed tokenizers: how many vocabulary ids each token type has (its "
        "within-type uniform level is the log of that count).",
    )
    settings: dict[str, str] = Field(
        default_factory=dict, description="Scoring settings of the adapter (layout, condition)."
    )


class RenderInfo(_Strict):
    """What made the audio of a rendered dataset (``data.render.render_identity``)."""

    soundfont: str = Field(description="Soundfont file name.")
    sha256: str = Field(description="sha256 of the soundfont file.")
    fluidsynth: str = Field(description="FluidSynth's runtime version.")
    gain: float = Field(description="FluidSynth's -g.")
    level_db: float = Field(description="Gain applied after rendering, in dB.")
    rate: int = Field(description="Sample rate of the render, Hz.")


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
    render: list[RenderInfo] | None = Field(
        default=None,
        description="An audio model hearing MIDI: each render its pieces were heard through "
        "(one per render level of the run's tasks).",
    )
    codes_kept: float | None = Field(
        default=None,
        description="Generated role of an audio model: mean fraction of the codes the model "
        "sampled that encoding the decoded audio gives back (the benchmark scores the audio's "
        "codes); below 0.5 the run warns.",
    )


class SkippedItem(_Strict):
    """An item left out, and why."""

    dataset: str
    """The dataset it belongs to."""
    piece: str
    """The piece's id, or the file's name for a file passed over when the dataset was read."""
    task: str | None = None
    """The task that refused it; None for a file passed over when its dataset was read."""
    variant: str | None = None
    """The perturbed copy's spec id when one copy was refused; None for the whole piece."""
    reason: str
    """Why, in one line."""
    stage: str | None = None
    """Where it was refused: list, read, clip, render, perturb or encode (None when the file
    does not say)."""

    @property
    def item(self) -> str:
        """task/dataset/piece[/variant], or dataset/file: the item as one string."""
        return "/".join(p for p in (self.task, self.dataset, self.piece, self.variant) if p)


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
    precision: str = Field(
        default="32-true",
        description="Precision of the forward passes (``32-true``, or ``bf16-mixed``: "
        "bfloat16 autocast).",
    )
    protocol: str | None = Field(
        default=None, description="The protocol group followed (``board``), if any."
    )
    protocol_version: int | None = Field(default=None, description="Its version.")
    tasks: dict[str, TaskConfig] = Field(description="Full config of every task, by name.")
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
    validity: ValidityTable | None = Field(
        default=None,
        description="Every metric against the truth (the perturbed copy is worse music), per "
        "perturbation family and dataset role, with 95% intervals clustered by original piece.",
    )
    skipped: list[SkippedItem]
    samples_sha256: str = Field(description="sha256 of samples.jsonl.gz.")
    env: dict[str, str] = Field(description="Versions of Python and the libraries used.")

    @field_validator("skipped", mode="before")
    @classmethod
    def _structured_skips(cls, skipped: object, info: ValidationInfo) -> object:
        """A version 2 file's skipped items (``item``: task/dataset/piece[/variant], or
        dataset/file) split into their parts, by the run's own task and dataset names."""
        config, datasets = info.data.get("config"), info.data.get("datasets")
        if not isinstance(skipped, list) or config is None or datasets is None:
            return skipped
        names = sorted((d.name for d in datasets), key=len, reverse=True)
        return [_split_item(s, set(config.tasks), names) for s in skipped]


def _split_item(skip: object, tasks: set[str], datasets: list[str]) -> object:
    if not isinstance(skip, dict) or not isinstance(skip.get("item"), str):
        return skip
    rest = {k: v for k, v in skip.items() if k != "item"}
    item = skip["item"]
    head, _, tail = item.partition("/")
    task = head if head in tasks and any(tail.startswith(d + "/") for d in datasets) else None
    if task is None:
        tail = item
    dataset = next((d for d in datasets if tail.startswith(d + "/")), None)
    if dataset is None:
        return skip  # refused by the schema: no dataset of the run
    piece, variant = tail[len(dataset) + 1 :], None
    if task is not None:
        first, _, last = piece.rpartition("/")
        if first and ":" in last:  # one perturbed copy: piece/spec
            piece, variant = first, last
    return rest | {"dataset": dataset, "piece": piece, "task": task, "variant": variant}
