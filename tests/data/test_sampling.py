"""--limit takes a seeded sample stratified by composer or collection, never the first rows."""

from __future__ import annotations

import random
from collections import Counter

from curvebench.data.sampling import allocate, stratified_sample
from curvebench.data.sources import embedded_specs, iter_pieces, load_split


def test_allocation_is_proportional_with_largest_remainders() -> None:
    assert allocate({"a": 30, "b": 30, "c": 22, "d": 16}, 16) == {"a": 5, "b": 5, "c": 3, "d": 3}
    assert allocate({"a": 3, "b": 1}, 10) == {"a": 3, "b": 1}
    assert sum(allocate({"x": 7, "y": 5, "z": 1}, 6).values()) == 6


def test_the_sample_depends_on_seed_ids_and_n_only() -> None:
    ids = [f"piece-{i}" for i in range(100)]
    strata = [f"g{i % 4}" for i in range(100)]
    first = [ids[i] for i in stratified_sample(ids, strata, 12, seed=0)]
    assert len(first) == 12 and Counter(s[-1] for s in first)  # all four strata present
    assert Counter(int(s.split("-")[1]) % 4 for s in first) == {0: 3, 1: 3, 2: 3, 3: 3}
    order = list(range(100))
    random.Random(1).shuffle(order)
    shuffled = [ids[i] for i in order]
    again = [shuffled[i] for i in stratified_sample(shuffled, [strata[i] for i in order], 12, 0)]
    assert sorted(again) == sorted(first)
    assert stratified_sample(ids, strata, 12, seed=1) != stratified_sample(ids, strata, 12, 0)
    assert stratified_sample(ids, None, 12, seed=0) != list(range(12))


def test_the_embedded_sets_are_sampled_across_composers_and_collections() -> None:
    train, ood = embedded_specs()
    pieces = list(iter_pieces(ood, load_split(ood), limit=16, seed=0))
    composers = Counter(dict(p.meta)["composer"] for p in pieces)
    assert len(pieces) == 16 and len(composers) >= 5
    assert max(composers.values()) <= 5
    training = list(iter_pieces(train, load_split(train), limit=16, seed=0))
    collections = Counter(dict(p.meta)["collection"] for p in training)
    assert len(collections) == 4  # Bach chorales, Essen, O'Neill, Ryan: not 16 chorales
    assert [p.id for p in training] == [
        p.id for p in iter_pieces(train, load_split(train), limit=16, seed=0)
    ]
