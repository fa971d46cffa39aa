"""Every result field of a (task, dataset) group, declared once: name, meaning, unit, direction
and whether it is a headline column.

The results schema (``DatasetResult``), the CLI table, the run report, the leaderboard,
``curvebench compare`` and W&B are all driven by this catalog. The columns of the validity
metrics (``auroc_<name>``, ``agree_<name>``) are generated from
:mod:`curvebench.metrics.registry`; an aggregate of another kind is one declaration here plus
its computation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from curvebench.metrics.registry import validity_metrics

Better = Literal["higher", "lower"]


@dataclass(frozen=True)
class MetricInfo:
    """One result field of a (task, dataset) group."""

    name: str
    """Field name in results.json."""
    description: str
    """One sentence: what the number is."""
    unit: str = ""
    """Unit of the value (``nats/token``, ``nats/s``, ``fraction``, ...); empty when none."""
    better: Better | None = None
    """``higher`` or ``lower`` when one direction means a better model; None otherwise."""
    headline: bool = False
    """Shown in the CLI table, the run report and the leaderboard."""
    label: str = ""
    """Short column header (the name when empty)."""
    signed: bool = False
    """Shown with its sign (differences)."""
    digits: int = 3
    """Decimals shown."""
    kind: Literal["float", "int", "list", "map", "map2"] = "float"
    """Value type: a number, a count, a list of numbers (per codebook), numbers by name
    (per token type) or by two names (per region, then per token type)."""
    interval: bool = False
    """Has a bootstrap 95% interval, stored as ``<name>_ci`` = [low, high]."""
    rank: bool = False
    """Used by ``compare`` to rank models (needs ``better``)."""
    shape: bool = False
    """Reads the shape of the loss curve (not the mean loss): set against absolute loss."""

    @property
    def header(self) -> str:
        """Column header."""
        return self.label or self.name

    @property
    def ci_name(self) -> str:
        """Name of the interval field."""
        return self.name + "_ci"

    def annotation(self) -> Any:
        """The field's Python type in the results schema."""
        return {
            "float": float | None,
            "int": int,
            "list": list[float] | None,
            "map": dict[str, float | None] | None,
            "map2": dict[str, dict[str, float | None]] | None,
        }[self.kind]

    def format(self, value: object) -> str:
        """The value as shown in tables ("-" when undefined)."""
        if value is None or (isinstance(value, float) and value != value):
            return "-"
        if self.kind == "int":
            return str(value)
        if self.kind == "list":
            return " ".join(f"{v:.{self.digits}f}" for v in value)  # type: ignore[union-attr]
        if self.kind in ("map", "map2"):
            return str(value)
        return f"{value:+.{self.digits}f}" if self.signed else f"{value:.{self.digits}f}"


METRICS: dict[str, MetricInfo] = {}
"""Every declared metric, in declaration order (the order of table columns)."""


def declare(info: MetricInfo) -> MetricInfo:
    """Add a metric to the catalog; a duplicate name is an error."""
    if info.name in METRICS:
        raise ValueError(f"metric {info.name!r} declared twice")
    if info.rank and info.better is None:
        raise ValueError(f"metric {info.name!r}: a ranking metric needs a direction")
    METRICS[info.name] = info
    return info


def headline_metrics() -> list[MetricInfo]:
    """The headline columns, in declaration order."""
    return [m for m in METRICS.values() if m.headline]


def rank_metrics() -> list[MetricInfo]:
    """The metrics ``compare`` ranks models by."""
    return [m for m in METRICS.values() if m.rank]


def score_means() -> list[MetricInfo]:
    """The mean score of originals and of perturbed copies of the item metrics that ask for
    them (:mod:`curvebench.metrics.registry`)."""
    return [
        MetricInfo(f"{m.line_field}_{side}", f"Mean {m.description} of {side} items.")
        for m in validity_metrics()
        if m.per_item and m.means
        for side in ("original", "perturbed")
    ]


def validity_columns() -> list[MetricInfo]:
    """The AUROC and the pair agreement of every validity metric
    (:mod:`curvebench.metrics.registry`)."""
    out = []
    for m in validity_metrics():
        against = "originals vs. perturbed copies" if m.per_item else "pairs vs. swapped pairs"
        out += [
            MetricInfo(
                m.auroc_field,
                f"AUROC of the {m.description}: {against}.",
                better="higher",
                headline=m.headline,
                label=f"auroc {m.label}",
                digits=2,
                interval=True,
                rank=True,
                shape=m.shape,
            ),
            MetricInfo(
                m.agree_field,
                f"Fraction of pairs whose {m.description} points at the perturbed copy.",
                "fraction",
                better="higher",
                interval=True,
                rank=True,
                shape=m.shape,
            ),
        ]
    return out


for _info in (
    MetricInfo(
        "n_pairs", "Scored (original, perturbed) pairs.", kind="int", headline=True, label="n"
    ),
    MetricInfo("n_originals", "Distinct originals in those pairs.", kind="int"),
    MetricInfo(
        "abs_loss_original",
        "Mean absolute loss of originals.",
        "nats/token",
        "lower",
        headline=True,
        label="loss orig",
        rank=True,
        interval=True,
    ),
    MetricInfo(
        "abs_loss_perturbed",
        "Mean absolute loss of perturbed copies.",
        "nats/token",
        label="loss pert",
    ),
    MetricInfo(
        "abs_loss_delta",
        "Mean over pairs of perturbed − original absolute loss.",
        "nats/token",
        headline=True,
        label="Δ",
        signed=True,
        interval=True,
    ),
    MetricInfo(
        "frac_loss_lowered",
        "Fraction of pairs whose absolute loss fell.",
        "fraction",
        headline=True,
        label="lowered",
        digits=2,
        interval=True,
    ),
    MetricInfo(
        "region_peak",
        "Mean Δℓ in the paper's peak region.",
        "nats",
        headline=True,
        label="peak",
        signed=True,
        better="higher",
        rank=True,
        shape=True,
        interval=True,
    ),
    MetricInfo(
        "region_assimilation",
        "Mean Δℓ in the assimilation region.",
        "nats",
        headline=True,
        label="assim",
        signed=True,
        interval=True,
    ),
    MetricInfo(
        "region_recovery",
        "Mean Δℓ in the recovery region.",
        "nats",
        headline=True,
        label="recov",
        signed=True,
        interval=True,
    ),
    MetricInfo(
        "abs_loss_original_per_codebook",
        "Audio: mean loss of each codebook over originals.",
        "nats/code",
        kind="list",
    ),
    MetricInfo(
        "abs_loss_perturbed_per_codebook",
        "Audio: the same over perturbed copies.",
        "nats/code",
        kind="list",
    ),
    MetricInfo("perplexity_original", "exp(abs_loss_original).", better="lower"),
    MetricInfo("perplexity_perturbed", "exp(abs_loss_perturbed)."),
    MetricInfo(
        "nats_per_second_original",
        "Mean over originals of total nats / seconds of music: the absolute measure that "
        "compares models with different tokenizers.",
        "nats/s",
        better="lower",
        headline=True,
        label="nats/s orig",
        digits=1,
        interval=True,
        rank=True,
    ),
    MetricInfo(
        "bits_per_second_original",
        "nats_per_second_original in bits (÷ ln 2).",
        "bits/s",
        better="lower",
        digits=1,
        interval=True,
    ),
    MetricInfo(
        "nats_per_second_delta",
        "Mean over pairs of perturbed − original nats per second.",
        "nats/s",
        signed=True,
        digits=1,
        interval=True,
    ),
    MetricInfo("nats_per_second_perturbed", "The same over perturbed copies.", "nats/s"),
    *score_means(),
    *validity_columns(),
    MetricInfo("shape_peak_height", "Max smoothed Δℓ in the peak region.", "nats"),
    MetricInfo("shape_peak_latency_s", "Onset to the peak's maximum.", "s"),
    MetricInfo("shape_assimilation_depth", "Min smoothed Δℓ in the assimilation region.", "nats"),
    MetricInfo(
        "shape_recovery_time_s", "Time until Δℓ stays inside the baseline's noise band.", "s"
    ),
    MetricInfo("shape_area_positive", "Positive area of Δℓ.", "nats·s"),
    MetricInfo("shape_area_negative", "Negative area of Δℓ.", "nats·s"),
    MetricInfo(
        "abs_loss_by_type_original",
        "Mean loss of originals' tokens by token type (Pitch, Velocity, Duration, ...).",
        "nats/token",
        kind="map",
    ),
    MetricInfo(
        "abs_loss_by_type_perturbed",
        "The same over perturbed copies' tokens.",
        "nats/token",
        kind="map",
    ),
    MetricInfo(
        "region_loss_by_type_original",
        "Mean loss by token type of the originals' tokens inside each pair's regions.",
        "nats/token",
        kind="map2",
    ),
    MetricInfo(
        "region_loss_by_type_perturbed",
        "The same for the perturbed copies' tokens inside their regions.",
        "nats/token",
        kind="map2",
    ),
    MetricInfo(
        "length_delta_pearson",
        "Length sweeps: Pearson r of noise duration vs. Δ absolute loss (pairs).",
    ),
    MetricInfo("length_delta_spearman", "Length sweeps: Spearman ρ of the same."),
    MetricInfo(
        "length_delta_pearson_means",
        "Length sweeps: Pearson r of length vs. the mean Δ of each length (the paper's).",
    ),
    MetricInfo(
        "length_delta_spearman_means", "Length sweeps: Spearman ρ over the per-length means."
    ),
    MetricInfo(
        "long_noise_delta",
        "Length sweeps: mean Δ absolute loss over pairs whose noise lasts 1 to 4 s (50 to 200 "
        "frames at 50 Hz), pooled over those lengths as the paper's Figure 4 pools them.",
        "nats/token",
        signed=True,
    ),
    MetricInfo(
        "long_noise_frac_lowered",
        "Length sweeps: fraction of those pairs whose loss the noise lowered.",
        "fraction",
    ),
    MetricInfo("long_noise_pairs", "Length sweeps: how many pairs those are.", digits=0),
):
    declare(_info)
