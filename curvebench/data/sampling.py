"""Seeded, stratified samples of a dataset: what ``--limit N`` takes (never the first N rows).

The rows are split into strata by their ``composer`` column (else ``collection``; a dataset
with neither is one stratum). Each stratum gets a share of the N pieces proportional to its
size (largest remainder, ties to the larger stratum, then by name), and inside a stratum the
pieces are taken in the order of sha256(seed | id), so the sample depends only on the seed,
the ids and N: not on the order of the rows or on the machine.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict

STRATA_COLUMNS = ("composer", "collection")
"""Columns that define strata, in order of preference."""


def _rank(seed: int, piece_id: str) -> str:
    return hashlib.sha256(f"{seed}|{piece_id}".encode()).hexdigest()


def allocate(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Pieces per stratum: proportional to its size, largest remainder, never above its size."""
    total = sum(sizes.values())
    if n >= total:
        return dict(sizes)
    quota = {k: n * v / total for k, v in sizes.items()}
    out = {k: int(q) for k, q in quota.items()}
    order = sorted(sizes, key=lambda k: (-(quota[k] - out[k]), -sizes[k], k))
    for k in order[: n - sum(out.values())]:
        out[k] += 1
    return out


def stratified_sample(ids: list[str], strata: list[str] | None, n: int, seed: int) -> list[int]:
    """Indices (ascending) of ``n`` of the rows, stratified by ``strata`` (one label per row)."""
    if n >= len(ids):
        return list(range(len(ids)))
    groups: dict[str, list[int]] = defaultdict(list)
    for i in range(len(ids)):
        groups[strata[i] if strata else ""].append(i)
    shares = allocate({k: len(v) for k, v in groups.items()}, n)
    chosen: list[int] = []
    for key, members in groups.items():
        members.sort(key=lambda i: _rank(seed, ids[i]))
        chosen += members[: shares[key]]
    return sorted(chosen)


def strata_of(columns: dict[str, list]) -> list[str] | None:
    """Each row's stratum label from the first strata column the dataset has, or None."""
    for name in STRATA_COLUMNS:
        if name in columns:
            return ["" if v is None else str(v) for v in columns[name]]
    return None
