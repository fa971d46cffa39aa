from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchmetrics import Metric

from curvebench.metrics.agreement import (
    LengthCorrelation,
    LengthMeanCorrelation,
    correlations,
    kendall_tau,
    length_means,
)


def sharded(make: type[Metric], batches: list[tuple], split: int, reverse: bool) -> Metric:
    """Updates split over two instances and merged, as DDP gathers two ranks."""
    a, b = make(), make()
    for batch in batches[:split]:
        a.update(*batch)
    for batch in batches[split:]:
        b.update(*batch)
    if reverse:
        b.merge_state(a)
        return b
    a.merge_state(b)
    return a


def single(make: type[Metric], batches: list[tuple]) -> Metric:
    """All updates in one instance."""
    m = make()
    for batch in batches:
        m.update(*batch)
    return m


def test_length_correlation_is_minus_one_for_a_decreasing_line() -> None:
    m = LengthCorrelation()
    m.update(torch.tensor([0.1, 0.2, 1.0]), torch.tensor([-0.2, -0.4, -2.0]))
    m.update(torch.tensor([2.0, 4.0]), torch.tensor([-4.0, -8.0]))
    out = m.compute()
    assert out["n"] == 5
    assert out["pearson"] == pytest.approx(-1.0, abs=1e-12)
    assert out["spearman"] == pytest.approx(-1.0, abs=1e-12)


def test_length_correlation_is_undefined_for_few_or_constant_points() -> None:
    m = LengthCorrelation()
    m.update(torch.tensor([1.0, 2.0]), torch.tensor([0.5, 0.1]))
    assert m.compute() == {"pearson": None, "spearman": None, "n": 2}
    m.update(torch.tensor([3.0]), torch.tensor([0.5]))
    flat = LengthCorrelation()
    flat.update(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([0.5, 0.5, 0.5]))
    assert flat.compute()["pearson"] is None
    assert m.compute()["pearson"] is not None


@pytest.mark.parametrize("reverse", [False, True])
def test_length_correlation_merges_shards_like_one_process(reverse: bool) -> None:
    rng = np.random.default_rng(4)
    batches = []
    for _ in range(3):
        x = rng.uniform(0.1, 4.0, 10)
        batches.append((torch.from_numpy(x), torch.from_numpy(-x + rng.normal(0, 0.5, 10))))
    assert (
        sharded(LengthCorrelation, batches, 1, reverse).compute()
        == single(LengthCorrelation, batches).compute()
    )


def test_kendall_tau_of_identical_and_reversed_rankings() -> None:
    a = {"ngram": 3.1, "reference": 2.4, "musicgen": 1.9, "yue": 2.0}
    assert kendall_tau(a, dict(a)) == 1.0
    assert kendall_tau(a, {k: -v for k, v in a.items()}) == -1.0
    assert kendall_tau(a, {"ngram": 1.0, "reference": 2.0, "other": 5.0}) == -1.0
    assert math.isnan(kendall_tau(a, {"ngram": 1.0, "other": 2.0}))


def test_length_means_average_the_pairs_of_each_length() -> None:
    lengths, means = length_means(
        np.array([2.0, 1.0, 2.0, 1.0004, 3.0, np.nan]), np.array([1.0, 0.0, 3.0, 1.0, 5.0, 9.0])
    )
    assert lengths.tolist() == [1.0, 2.0, 3.0]  # 1.0004 rounds to 1.0 (3 decimals)
    assert means.tolist() == [0.5, 2.0, 5.0]


def test_correlations_on_a_hand_computed_case() -> None:
    out = correlations(np.array([1.0, 2.0, 3.0]), np.array([0.0, 1.0, 5.0]))
    assert out["pearson"] == pytest.approx(5 / math.sqrt(28), abs=1e-12)  # cov 5, √2·√14
    assert out["spearman"] == pytest.approx(1.0, abs=1e-12)
    assert correlations(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == {
        "pearson": None,
        "spearman": None,
    }


def test_length_mean_correlation_is_the_papers_six_point_correlation() -> None:
    # 6 lengths, 4 pairs each; the pairs scatter but each length's mean Δ is exactly −length
    rng = np.random.default_rng(5)
    lengths = np.repeat(np.arange(1.0, 7.0), 4)
    noise = rng.normal(0.0, 3.0, (6, 4))
    noise -= noise.mean(axis=1, keepdims=True)
    deltas = -lengths + noise.reshape(-1)
    per_pair = LengthCorrelation()
    per_pair.update(torch.from_numpy(lengths), torch.from_numpy(deltas))
    assert per_pair.compute()["pearson"] > -0.9
    m = LengthMeanCorrelation()
    m.update(torch.from_numpy(lengths[:10]), torch.from_numpy(deltas[:10]))
    m.update(torch.from_numpy(lengths[10:]), torch.from_numpy(deltas[10:]))
    out = m.compute()
    assert out["n"] == 24 and out["n_lengths"] == 6
    assert out["pearson"] == pytest.approx(-1.0, abs=1e-12)
    assert out["spearman"] == pytest.approx(-1.0, abs=1e-12)


def test_length_mean_correlation_needs_three_lengths() -> None:
    m = LengthMeanCorrelation()
    m.update(torch.tensor([1.0, 1.0, 2.0, 2.0]), torch.tensor([0.5, 0.1, 0.2, 0.9]))
    assert m.compute() == {"pearson": None, "spearman": None, "n": 4, "n_lengths": 2}


@pytest.mark.parametrize("reverse", [False, True])
def test_length_mean_correlation_merges_shards_like_one_process(reverse: bool) -> None:
    rng = np.random.default_rng(6)
    batches = []
    for _ in range(3):
        x = rng.choice([0.5, 1.0, 2.0, 4.0], 10)
        batches.append((torch.from_numpy(x), torch.from_numpy(-x + rng.normal(0, 0.5, 10))))
    assert (
        sharded(LengthMeanCorrelation, batches, 1, reverse).compute()
        == single(LengthMeanCorrelation, batches).compute()
    )


def test_tau_interval_is_a_point_when_every_model_is_certain_and_wide_when_they_overlap() -> None:
    from curvebench.metrics.agreement import kendall_tau_interval

    loss = {m: (float(i), (float(i) - 0.01, float(i) + 0.01)) for i, m in enumerate("abcd")}
    aligned = {m: (float(i), (float(i) - 0.01, float(i) + 0.01)) for i, m in enumerate("abcd")}
    assert kendall_tau_interval(loss, aligned) == (1.0, 1.0)
    # the second metric's values are 0.1 apart but each ± 1: its ranking is a coin toss
    vague = {m: (0.1 * i, (0.1 * i - 1.0, 0.1 * i + 1.0)) for i, m in enumerate("abcd")}
    low, high = kendall_tau_interval(loss, vague)
    assert low <= -0.6 and high == 1.0
    # a model without an interval: τ's uncertainty is unknown too
    bare = dict(aligned, c=(2.0, (None, None)))
    assert kendall_tau_interval(bare, aligned) == (None, None)
    assert kendall_tau_interval({"a": (1.0, (0.0, 2.0))}, aligned) == (None, None)
    # seeded: the same interval twice
    assert kendall_tau_interval(loss, vague) == kendall_tau_interval(loss, vague)
