"""The validity table: per perturbation family and dataset role, which metric agrees with the
truth, and how sure we are.

The truth is the same for every family: the perturbed copy is worse music (:data:`TRUTH`).
Each metric gives, per pair, the original's score and the perturbed copy's score (for a Δℓ
detector, the swapped pair's and the pair's, see
:func:`curvebench.metrics.detectors.pair_detector_scores`), and says which way it points
(:class:`MetricSpec`). :func:`validity_table` then gives, for every (family × role), the AUROC
and pair agreement of every metric with 95% intervals clustered by original piece, the winner,
and pooled rows across families. :func:`ranking_taus` compares how metrics rank models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
from pydantic import ConfigDict

from curvebench.metrics.agreement import kendall_tau
from curvebench.metrics.clustered import Estimate, clustered_agreement, clustered_auroc

STRICT = ConfigDict(extra="forbid")
"""Read back from results.json, the table's types refuse unknown fields."""
TRUTH = "the perturbed copy is worse music"
"""What every family's table is scored against."""
ALL = "all"
"""The family (or role) name of a pooled row."""
TIE_TOL = 1e-12
"""Agreements (and AUROCs) closer than this are tied."""


@dataclass(frozen=True)
class MetricSpec:
    """A metric of the table and which way it points."""

    __pydantic_config__ = STRICT

    name: str
    """Key of the metric in each record's ``scores``."""
    higher_is_worse: bool = True
    """True when a higher score means worse music (absolute loss, every shape detector)."""
    per_item: bool = True
    """True when the original's score is a property of the original item alone (absolute loss,
    change score): AUROC then counts each original once. False for pair scores (Δℓ detectors),
    whose "original" score is that of the swapped pair, one per pair."""


@dataclass(frozen=True)
class PairScores:
    """One (original, perturbed copy) pair and every metric's scores for it."""

    family: str
    """Perturbation family (task or perturbation name)."""
    role: str
    """Role of the dataset the original comes from."""
    cluster: str
    """The original piece, unique across datasets (e.g. ``"<dataset>/<piece_id>"``): the
    bootstrap's resampling unit."""
    scores: Mapping[str, tuple[float, float]]
    """Metric name -> (original's score, perturbed copy's score); NaN = undefined."""


@dataclass(frozen=True)
class MetricValidity:
    """How one metric does against the truth on one group of pairs."""

    __pydantic_config__ = STRICT

    metric: str
    """Metric name."""
    higher_is_worse: bool
    """The orientation the scores were read with."""
    auroc: Estimate
    """P(perturbed copy scored worse than an original), clustered 95% interval."""
    agreement: Estimate
    """Fraction of pairs whose perturbed copy is scored worse (ties half), clustered interval."""
    verdict: str
    """``"agrees"`` (agreement interval above 0.5), ``"contradicts"`` (below 0.5: the metric
    ranks the corrupted copy as better), ``"undecided"`` (the interval holds 0.5, or none)."""


@dataclass(frozen=True)
class ValidityRow:
    """Every metric on one (family, role) group; ``"all"`` marks a pooled family or role."""

    __pydantic_config__ = STRICT

    family: str
    """Perturbation family, or ``"all"`` for families pooled."""
    role: str
    """Dataset role, or ``"all"`` for roles pooled."""
    n_pairs: int
    """Pairs in the group."""
    n_clusters: int
    """Distinct original pieces in the group."""
    metrics: list[MetricValidity]
    """One entry per metric, in the order the metrics were given."""
    winner: list[str]
    """Metric(s) with the highest agreement; a tie (within TIE_TOL) goes to the higher AUROC;
    metrics still tied are all listed. Empty when no metric has an agreement."""
    separated: bool
    """True when there is one winner and its agreement interval lies wholly above every other
    metric's agreement interval (the win is not within the bootstrap's noise)."""


@dataclass(frozen=True)
class ValidityTable:
    """The whole table: per-group rows, pooled rows and a count of wins."""

    __pydantic_config__ = STRICT

    truth: str
    """What the table is scored against (:data:`TRUTH`)."""
    rows: list[ValidityRow]
    """One row per (family, role), then per family with roles pooled (when it has several)."""
    pooled: list[ValidityRow]
    """Families pooled: one row per role, then one over everything."""
    wins: dict[str, int]
    """Per metric, the (family, role) rows it wins or ties for the win."""
    level: float = 0.95
    """Confidence level of every interval."""
    n_boot: int = 1000
    """Bootstrap resamples behind every interval."""
    metrics: list[MetricSpec] = field(default_factory=list)
    """The metrics of the table."""

    def to_dict(self) -> dict:
        """The table as plain JSON-ready dicts and lists."""
        return asdict(self)

    def flat_rows(self) -> list[dict]:
        """One flat dict per (row, metric), for a W&B table or a CSV: family, role, metric,
        auroc, auroc_ci_low, auroc_ci_high, agree, agree_ci_low, agree_ci_high, n_pairs,
        n_clusters, verdict, winner (bool)."""
        out = []
        for row in [*self.rows, *self.pooled]:
            for m in row.metrics:
                out.append(
                    {
                        "family": row.family,
                        "role": row.role,
                        "metric": m.metric,
                        "auroc": m.auroc.value,
                        "auroc_ci_low": m.auroc.ci_low,
                        "auroc_ci_high": m.auroc.ci_high,
                        "agree": m.agreement.value,
                        "agree_ci_low": m.agreement.ci_low,
                        "agree_ci_high": m.agreement.ci_high,
                        "n_pairs": row.n_pairs,
                        "n_clusters": row.n_clusters,
                        "verdict": m.verdict,
                        "winner": m.metric in row.winner,
                    }
                )
        return out


def _verdict(agreement: Estimate) -> str:
    if agreement.ci_low is not None and agreement.ci_low > 0.5:
        return "agrees"
    if agreement.ci_high is not None and agreement.ci_high < 0.5:
        return "contradicts"
    return "undecided"


def _metric_validity(
    pairs: Sequence[PairScores], spec: MetricSpec, n_boot: int, seed: int, level: float
) -> MetricValidity:
    """AUROC and agreement of one metric over a group of pairs."""
    both = np.array([p.scores.get(spec.name, (math.nan, math.nan)) for p in pairs], float)
    both = both.reshape(-1, 2)
    clusters = [p.cluster for p in pairs]
    options = {"higher_is_worse": spec.higher_is_worse, "n_boot": n_boot, "seed": seed}
    agreement = clustered_agreement(both[:, 0], both[:, 1], clusters, level=level, **options)
    if spec.per_item:  # each original once: first pair of each (family, role, cluster)
        seen: dict[tuple[str, str, str], float] = {}
        for p, (orig, _) in zip(pairs, both, strict=True):
            seen.setdefault((p.family, p.role, p.cluster), orig)
        negatives = list(seen.values())
        negative_clusters = [key[2] for key in seen]
    else:
        negatives, negative_clusters = list(both[:, 0]), clusters
    scores = np.concatenate([negatives, both[:, 1]])
    labels = np.r_[np.zeros(len(negatives), np.int64), np.ones(len(pairs), np.int64)]
    auroc = clustered_auroc(scores, labels, [*negative_clusters, *clusters], level=level, **options)
    return MetricValidity(spec.name, spec.higher_is_worse, auroc, agreement, _verdict(agreement))


def _winner(metrics: list[MetricValidity]) -> tuple[list[str], bool]:
    """The winning metric(s) of a row and whether a single winner is separated."""
    scored = [m for m in metrics if m.agreement.value is not None]
    if not scored:
        return [], False
    top = max(m.agreement.value for m in scored)
    tied = [m for m in scored if top - m.agreement.value <= TIE_TOL]
    aurocs = [-math.inf if m.auroc.value is None else m.auroc.value for m in tied]
    best = max(aurocs)
    tied = [m for m, a in zip(tied, aurocs, strict=True) if best - a <= TIE_TOL]
    if len(tied) > 1:
        return [m.metric for m in tied], False
    win = tied[0]
    others = [m.agreement.ci_high for m in scored if m is not win]
    separated = win.agreement.ci_low is not None and all(
        high is None or win.agreement.ci_low > high for high in others
    )
    return [win.metric], separated


def _row(
    family: str,
    role: str,
    pairs: Sequence[PairScores],
    specs: Sequence[MetricSpec],
    n_boot: int,
    seed: int,
    level: float,
) -> ValidityRow:
    metrics = [_metric_validity(pairs, s, n_boot, seed, level) for s in specs]
    winner, separated = _winner(metrics)
    n_clusters = len({p.cluster for p in pairs})
    return ValidityRow(family, role, len(pairs), n_clusters, metrics, winner, separated)


def validity_table(
    pairs: Sequence[PairScores],
    metrics: Sequence[MetricSpec],
    *,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> ValidityTable:
    """The validity table of ``metrics`` over ``pairs`` (see :class:`ValidityTable`).

    Groups come in the order their (family, role) first appears in ``pairs``. Every interval
    resamples original pieces (``PairScores.cluster``) with all their copies, ``n_boot`` times
    from ``seed``; a pooled row resamples a piece with its copies in every family, since they
    share one original.
    """
    groups: dict[tuple[str, str], list[PairScores]] = {}
    for p in pairs:
        groups.setdefault((p.family, p.role), []).append(p)
    args = (metrics, n_boot, seed, level)
    rows = [_row(f, r, group, *args) for (f, r), group in groups.items()]
    wins = {m.name: 0 for m in metrics}
    for row in rows:
        for name in row.winner:
            wins[name] += 1
    families = list(dict.fromkeys(f for f, _ in groups))
    roles = list(dict.fromkeys(r for _, r in groups))
    for family in families:
        if sum(f == family for f, _ in groups) > 1:
            rows.append(_row(family, ALL, [p for p in pairs if p.family == family], *args))
    pooled = [_row(ALL, role, [p for p in pairs if p.role == role], *args) for role in roles]
    if len(roles) > 1:
        pooled.append(_row(ALL, ALL, list(pairs), *args))
    return ValidityTable(TRUTH, rows, pooled, wins, level, n_boot, list(metrics))


def ranking_taus(
    values: Mapping[str, Mapping[str, float]],
    reference: str,
    higher_is_better: Mapping[str, bool],
) -> dict[str, float | None]:
    """Kendall τ between the model ranking by ``reference`` and by every other metric.

    ``values[metric][model]`` is one number per model (for absolute loss, its mean loss, lower
    = better model; for a shape metric, e.g. its AUROC on the validity table, higher = better
    model). ``higher_is_better[metric]`` orients each metric so that both rankings put the
    better model first; τ = +1 means the same order, −1 the reverse. Uses
    :func:`curvebench.metrics.agreement.kendall_tau` (models present in both; None when fewer
    than 2 or a metric gives every model the same value).
    """

    def oriented(metric: str) -> dict[str, float]:
        sign = 1.0 if higher_is_better[metric] else -1.0
        return {model: sign * v for model, v in values[metric].items()}

    ref = oriented(reference)
    out: dict[str, float | None] = {}
    for metric in values:
        if metric == reference:
            continue
        tau = kendall_tau(ref, oriented(metric))
        out[metric] = None if math.isnan(tau) else tau
    return out
