"""Loss by token type (Pitch, Velocity, Duration, Position, Bar, Tempo, ...), whole item and
per region, so a user sees which part of an encoding a perturbation moves.

Types come from the tokenizer (:func:`curvebench.adapters.midi_tokens.token_types`: one name
per vocabulary id). :func:`loss_by_type` splits one item's per-token losses into a (sum, count)
per type; the metrics pool them over items into mean nats per token of each type (total nats of
the type over all items divided by its token count, so an item weighs by its tokens of that
type). States are sums and counts with ``dist_reduce_fx="sum"``: shards merge exactly.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import torch
from torchmetrics import Metric

from curvebench.metrics.regions import REGION_NAMES, RegionBounds

TypeTotals = dict[str, tuple[float, int]]
"""Per type: (sum of losses in nats, number of tokens)."""


def target_types(ids: np.ndarray, id_types: Sequence[str], first_target: int = 1) -> list[str]:
    """Type of each scored target: ``id_types[ids[t]]`` for t ≥ ``first_target`` (1 when a
    BOS is never predicted), in the order of the losses."""
    return [id_types[int(i)] for i in np.asarray(ids).reshape(-1)[first_target:]]


def loss_by_type(losses: np.ndarray, types: Sequence[str]) -> TypeTotals:
    """Sum and count of the losses of each type (one type per loss), types in order of first
    appearance. The sums add up to the item's total loss."""
    losses = np.asarray(losses, dtype=np.float64).reshape(-1)
    if len(losses) != len(types):
        raise ValueError(f"one type per loss needed, got {len(losses)} losses, {len(types)} types")
    names = list(dict.fromkeys(types))
    index = {name: k for k, name in enumerate(names)}
    which = np.fromiter((index[t] for t in types), dtype=np.int64, count=len(types))
    sums = np.bincount(which, weights=losses, minlength=len(names))
    counts = np.bincount(which, minlength=len(names))
    return {name: (float(sums[k]), int(counts[k])) for k, name in enumerate(names)}


def loss_by_type_in_regions(
    losses: np.ndarray,
    types: Sequence[str],
    seconds: np.ndarray,
    bounds: RegionBounds,
    hz: float,
) -> dict[str, TypeTotals]:
    """:func:`loss_by_type` of the tokens in each region (``peak``, ``assimilation``,
    ``recovery``): a token is in a region when its grid step floor(seconds · hz) is in the
    region's [start, end). Untimed (NaN) tokens are in none; a token in two overlapping regions
    (the paper's rule) counts in both."""
    losses = np.asarray(losses, dtype=np.float64).reshape(-1)
    seconds = np.asarray(seconds, dtype=np.float64).reshape(-1)
    if not len(losses) == len(types) == len(seconds):
        raise ValueError(
            f"one type and time per loss needed, got {len(losses)} losses, {len(types)} "
            f"types and {len(seconds)} times"
        )
    timed = np.isfinite(seconds)
    step = np.full(len(seconds), -1, dtype=np.int64)
    step[timed] = np.floor(seconds[timed] * hz + 1e-9).astype(np.int64)
    out = {}
    for name in REGION_NAMES:
        lo, hi = getattr(bounds, name)
        inside = np.flatnonzero(timed & (step >= lo) & (step < hi))
        out[name] = loss_by_type(losses[inside], [types[i] for i in inside])
    return out


def type_vocab(id_types: Sequence[str] | None) -> dict[str, int] | None:
    """How many vocabulary ids each token type has (None for untyped tokens)."""
    if id_types is None:
        return None
    counts: dict[str, int] = {}
    for name in id_types:
        counts[name] = counts.get(name, 0) + 1
    return counts


def uniform_level(n_ids: int) -> float:
    """The loss of a model that knows a token's type but nothing else: log of the number of
    ids of that type (nats)."""
    return math.log(n_ids)


def delta_shares(
    originals: Iterable[TypeTotals], perturbed: Iterable[TypeTotals]
) -> dict[str, float | None]:
    """Each type's share of the change in total nats from originals to perturbed copies:
    (nats of the type in the copies − in the originals) / (all nats in the copies − in the
    originals). None when the total does not change."""
    totals: dict[str, float] = {}
    for sign, items in ((-1.0, originals), (1.0, perturbed)):
        for item in items:
            for name, (total, _) in item.items():
                totals[name] = totals.get(name, 0.0) + sign * total
    whole = sum(totals.values())
    return {name: (v / whole if whole else None) for name, v in totals.items()}


def _mean(total: float, count: float) -> float | None:
    return total / count if count > 0 else None


def type_means(items: Iterable[TypeTotals], types: Sequence[str]) -> dict[str, float | None]:
    """Mean nats per token of each of ``types`` over items (total nats of the type over all
    items over its token count; None when no token of it was seen)."""
    sums, counts = dict.fromkeys(types, 0.0), dict.fromkeys(types, 0)
    for totals in items:
        for name, (total, count) in totals.items():
            if name not in sums:
                raise ValueError(f"token type {name!r} is not among the types ({', '.join(types)})")
            sums[name] += total
            counts[name] += count
    return {name: _mean(sums[name], counts[name]) for name in sums}


def region_type_means(
    items: Iterable[dict[str, TypeTotals]], types: Sequence[str]
) -> dict[str, dict[str, float | None]]:
    """:func:`type_means` region by region."""
    items = list(items)
    return {
        region: type_means((totals.get(region, {}) for totals in items), types)
        for region in REGION_NAMES
    }


class _TypedTotals(Metric):
    """Sums and counts of losses per (group, type), pooled over items."""

    full_state_update = False

    def __init__(self, types: Sequence[str], groups: Sequence[str], **kwargs) -> None:
        super().__init__(**kwargs)
        self.types = tuple(dict.fromkeys(types))
        self.groups = tuple(groups)
        self._type_index = {name: k for k, name in enumerate(self.types)}
        zeros = torch.zeros(len(self.groups), len(self.types), dtype=torch.float64)
        self.add_state("sums", default=zeros.clone(), dist_reduce_fx="sum")
        self.add_state("counts", default=zeros.clone(), dist_reduce_fx="sum")

    def _add(self, group: int, totals: TypeTotals) -> None:
        for name, (total, count) in totals.items():
            if name not in self._type_index:
                raise ValueError(
                    f"token type {name!r} is not among this metric's types "
                    f"({', '.join(self.types)})"
                )
            k = self._type_index[name]
            self.sums[group, k] += total
            self.counts[group, k] += count

    def _means(self, group: int) -> dict[str, float | None]:
        return {
            name: _mean(float(self.sums[group, k]), float(self.counts[group, k]))
            for k, name in enumerate(self.types)
        }


class LossByType(_TypedTotals):
    """Mean nats per token of each type over items. ``types`` is the fixed list of type names
    (e.g. the distinct values of ``token_types(tokenizer)``); ``compute`` gives
    {type: mean or None when no token of it was seen}."""

    def __init__(self, types: Sequence[str], **kwargs) -> None:
        super().__init__(types, ("all",), **kwargs)

    def update(self, totals: TypeTotals) -> None:
        """Add one item's :func:`loss_by_type`."""
        self._add(0, totals)

    def compute(self) -> dict[str, float | None]:
        """Mean loss per token of each type."""
        return self._means(0)


class RegionLossByType(_TypedTotals):
    """Mean nats per token of each type in each region over items; ``compute`` gives
    {region: {type: mean or None}}."""

    def __init__(self, types: Sequence[str], **kwargs) -> None:
        super().__init__(types, REGION_NAMES, **kwargs)

    def update(self, totals: dict[str, TypeTotals]) -> None:
        """Add one item's :func:`loss_by_type_in_regions`."""
        for g, region in enumerate(self.groups):
            self._add(g, totals.get(region, {}))

    def compute(self) -> dict[str, dict[str, float | None]]:
        """Mean loss per token of each type, region by region."""
        return {region: self._means(g) for g, region in enumerate(self.groups)}
