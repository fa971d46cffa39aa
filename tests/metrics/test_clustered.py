from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.functional.classification import binary_auroc

from curvebench.metrics.clustered import (
    Estimate,
    cluster_ids,
    clustered_agreement,
    clustered_auroc,
)


def copies_data(seed: int = 0, pieces: int = 30, copies: int = 12):
    """Pairs of ``pieces`` originals with ``copies`` perturbed copies each, the copies of a
    piece sharing most of their score (as the copies of one original do)."""
    rng = np.random.default_rng(seed)
    piece = rng.normal(0.0, 1.0, pieces)
    original = np.repeat(piece, copies)
    perturbed = original + np.repeat(rng.normal(0.2, 1.0, pieces), copies)
    perturbed += rng.normal(0.0, 0.1, perturbed.size)
    clusters = np.repeat(np.arange(pieces), copies)
    return original, perturbed, clusters


def width(e: Estimate) -> float:
    return e.ci_high - e.ci_low


def test_auroc_known_answer_with_ties_and_direction() -> None:
    scores = np.array([1.0, 2.0, 3.0, 2.0, 4.0])
    labels = np.array([0, 0, 0, 1, 1])
    e = clustered_auroc(scores, labels, np.arange(5), n_boot=50)
    assert e.value == 0.75  # (1 + ½ + 0) + 3 of 6 pairs
    expected = float(binary_auroc(torch.tensor(scores), torch.tensor(labels)))
    assert e.value == pytest.approx(expected)
    flipped = clustered_auroc(scores, labels, np.arange(5), higher_is_worse=False, n_boot=50)
    assert flipped.value == 0.25
    assert (e.n, e.n_clusters) == (5, 5)


def test_agreement_known_answer_and_direction() -> None:
    original = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    perturbed = np.array([2.0, 2.0, 1.0, 5.0, 1.0])
    e = clustered_agreement(original, perturbed, [0, 0, 1, 2, 3], n_boot=200)
    assert e.value == 0.625 and (e.n, e.n_clusters) == (4, 3)
    assert e.ci_low <= e.value <= e.ci_high
    low = clustered_agreement(original, perturbed, [0, 0, 1, 2, 3], higher_is_worse=False)
    assert low.value == 0.375  # a metric pointing the other way ranks them "better"


def test_perfect_separation_has_a_degenerate_interval() -> None:
    e = clustered_auroc([0.1, 0.2, 0.8, 0.9, 0.95], [0, 0, 1, 1, 1], ["a", "b", "a", "b", "b"])
    assert (e.value, e.ci_low, e.ci_high) == (1.0, 1.0, 1.0)
    a = clustered_agreement([0.0, 0.0], [1.0, 2.0], ["a", "b"])
    assert (a.value, a.ci_low, a.ci_high) == (1.0, 1.0, 1.0)


def test_undefined_cases_are_none() -> None:
    e = clustered_auroc([1.0, 2.0], [1, 1], [0, 1])
    assert e.value is None and e.ci_low is None and e.n == 2
    assert clustered_agreement([], [], []) == Estimate(None, None, None, 0, 0)
    with pytest.raises(ValueError):
        clustered_agreement([1.0], [1.0, 2.0], [0])
    with pytest.raises(ValueError):
        clustered_auroc([1.0], [2], [0])


def test_duplicating_every_copy_does_not_narrow_the_clustered_interval() -> None:
    original, perturbed, clusters = copies_data(copies=3)
    twice = [np.repeat(a, 2) for a in (original, perturbed, clusters)]
    base = clustered_agreement(original, perturbed, clusters, n_boot=400, seed=1)
    dup = clustered_agreement(*twice, n_boot=400, seed=1)
    assert (dup.value, dup.ci_low, dup.ci_high) == (base.value, base.ci_low, base.ci_high)
    # the naive bootstrap (every row its own cluster) believes the copies are new evidence
    naive = clustered_agreement(original, perturbed, np.arange(original.size), n_boot=400)
    naive_dup = clustered_agreement(*twice[:2], np.arange(twice[0].size), n_boot=400)
    assert width(naive_dup) < 0.85 * width(naive)

    # AUROC: each original once, every perturbed copy twice
    first = np.unique(clusters, return_index=True)[1]
    scores = np.r_[original[first], perturbed]
    labels = np.r_[np.zeros(first.size, int), np.ones(perturbed.size, int)]
    groups = np.r_[clusters[first], clusters]
    auc = clustered_auroc(scores, labels, groups, n_boot=400, seed=2)
    auc_dup = clustered_auroc(
        np.r_[scores, perturbed],
        np.r_[labels, np.ones(perturbed.size, int)],
        np.r_[groups, clusters],
        n_boot=400,
        seed=2,
    )
    assert (auc_dup.value, auc_dup.ci_low, auc_dup.ci_high) == (
        auc.value,
        auc.ci_low,
        auc.ci_high,
    )
    assert auc_dup.n_clusters == auc.n_clusters


def test_clustered_interval_is_wider_than_the_naive_one_with_many_copies() -> None:
    original, perturbed, clusters = copies_data()
    clustered = clustered_agreement(original, perturbed, clusters, n_boot=400)
    naive = clustered_agreement(original, perturbed, np.arange(original.size), n_boot=400)
    assert clustered.value == naive.value
    assert width(clustered) > 2 * width(naive)


def test_seeded_and_independent_of_row_order() -> None:
    original, perturbed, clusters = copies_data(copies=4)
    e = clustered_agreement(original, perturbed, clusters, n_boot=300, seed=5)
    perm = np.random.default_rng(9).permutation(original.size)
    assert (
        clustered_agreement(original[perm], perturbed[perm], clusters[perm], n_boot=300, seed=5)
        == e
    )
    assert clustered_agreement(original, perturbed, clusters, n_boot=300, seed=6) != e


def test_cluster_ids_are_stable_and_names_work() -> None:
    ids = cluster_ids(["a/1", "a/2", "a/1"])
    assert ids[0] == ids[2] != ids[1] and ids.dtype == np.int64
    assert ids.min() >= 0 and ids.max() < 2**48
    e1 = clustered_agreement([0.0, 1.0, 0.0], [1.0, 0.0, 2.0], ["x", "y", "x"], n_boot=100)
    e2 = clustered_agreement([0.0, 1.0, 0.0], [1.0, 0.0, 2.0], ids[[0, 1, 0]], n_boot=100)
    assert e1.value == e2.value and e1.n_clusters == e2.n_clusters == 2
