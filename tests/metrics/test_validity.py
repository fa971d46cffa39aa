from __future__ import annotations

import json

import numpy as np
import pytest

from curvebench.metrics.change import change_score
from curvebench.metrics.registry import PairView, pair_metrics
from curvebench.metrics.spread import robust_spread
from curvebench.metrics.validity import (
    ALL,
    TRUTH,
    MetricSpec,
    PairScores,
    ranking_taus,
    validity_table,
)

HZ, SECONDS, ONSET_S, LENGTH_S = 50, 10.0, 4.0, 1.0
METRICS = [
    MetricSpec("abs_loss"),
    MetricSpec("peak_evidence", per_item=False),
    MetricSpec("peak_area", per_item=False),
    MetricSpec("change_score"),
]


def misleading_pairs(pieces: int = 24, copies: int = 3, seed: int = 0) -> list[PairScores]:
    """Absolute loss misleading by construction: each copy has a clear peak for 1 s at the
    onset, then turns predictable (the loss falls by 1 nat a step), so its mean loss is LOWER
    than its original's. A small noise everywhere stands for re-encoding."""
    rng = np.random.default_rng(seed)
    onset, length = round(ONSET_S * HZ), round(LENGTH_S * HZ)
    out = []
    for piece in range(pieces):
        original = rng.gamma(8.0, 0.25, round(SECONDS * HZ))  # ~2 nats a step
        for _ in range(copies):
            perturbed = original + rng.normal(0.0, 0.05, original.size)
            perturbed[onset : onset + length] += 3.0
            perturbed[onset + length :] = np.maximum(perturbed[onset + length :] - 1.0, 0.05)
            assert perturbed.mean() < original.mean()
            delta = perturbed - original
            pair = PairView(delta, ONSET_S, LENGTH_S, HZ, robust_spread(original))
            scores = {m.name: m.compute(pair) for m in pair_metrics()}
            scores["abs_loss"] = (original.mean(), perturbed.mean())
            scores["change_score"] = (change_score(original, HZ), change_score(perturbed, HZ))
            out.append(PairScores("repeat", "training", f"set/{piece}", scores))
    return out


@pytest.fixture(scope="module")
def table():
    return validity_table(misleading_pairs(), METRICS, n_boot=200, seed=0)


def by_metric(row) -> dict:
    return {m.metric: m for m in row.metrics}


def test_delta_detector_finds_what_absolute_loss_misses(table) -> None:
    (row,) = table.rows
    m = by_metric(row)
    assert (row.family, row.role, row.n_pairs, row.n_clusters) == ("repeat", "training", 72, 24)
    assert m["abs_loss"].auroc.value <= 0.5
    assert m["abs_loss"].agreement.value == 0.0
    assert m["abs_loss"].verdict == "contradicts"
    assert m["peak_evidence"].auroc.value >= 0.9
    assert m["peak_evidence"].agreement.value >= 0.9
    assert m["peak_evidence"].verdict == "agrees"
    assert m["peak_area"].auroc.value >= 0.9
    assert m["change_score"].auroc.value >= 0.9
    assert "abs_loss" not in row.winner
    assert m["abs_loss"].auroc.n == 24 + 72  # each original once
    assert m["peak_evidence"].auroc.n == 2 * 72  # one swapped pair per pair


def test_table_structure_pooled_rows_and_json(table) -> None:
    assert table.truth == TRUTH
    assert [(r.family, r.role) for r in table.pooled] == [(ALL, "training")]
    assert sum(table.wins.values()) >= 1 and table.wins["abs_loss"] == 0
    flat = table.flat_rows()
    assert len(flat) == 2 * len(METRICS)
    assert json.loads(json.dumps(table.to_dict()))["rows"][0]["family"] == "repeat"


def scored(family: str, role: str, cluster: str, **scores) -> PairScores:
    return PairScores(family, role, cluster, scores)


def test_winner_ties_and_pooling_over_families_and_roles() -> None:
    pairs = [
        scored("a", "r1", "p1", x=(0.0, 1.0), y=(0.0, 1.0), z=(1.0, 0.0)),
        scored("a", "r1", "p2", x=(0.0, 1.0), y=(0.0, 1.0), z=(1.0, 0.0)),
        scored("a", "r2", "q1", x=(0.0, 1.0), y=(1.0, 0.0), z=(1.0, 0.0)),
        scored("b", "r1", "p1", x=(1.0, 0.0), y=(0.0, 1.0), z=(0.0, 1.0)),
    ]
    specs = [MetricSpec("x"), MetricSpec("y"), MetricSpec("z")]
    t = validity_table(pairs, specs, n_boot=50)
    rows = {(r.family, r.role): r for r in t.rows}
    assert list(rows) == [("a", "r1"), ("a", "r2"), ("b", "r1"), ("a", ALL)]
    assert rows[("a", "r1")].winner == ["x", "y"]  # same agreement and AUROC: both listed
    assert not rows[("a", "r1")].separated
    assert rows[("a", "r2")].winner == ["x"]
    assert rows[("b", "r1")].winner == ["y", "z"]
    assert t.wins == {"x": 2, "y": 2, "z": 1}
    pooled = {(r.family, r.role): r for r in t.pooled}
    assert list(pooled) == [(ALL, "r1"), (ALL, "r2"), (ALL, ALL)]
    assert pooled[(ALL, "r1")].n_clusters == 2  # p1 of both families is one piece
    assert by_metric(pooled[(ALL, "r1")])["y"].agreement.value == 1.0
    # a metric missing from the records is undefined, never a winner
    t2 = validity_table(pairs[:1], [MetricSpec("x"), MetricSpec("w")], n_boot=20)
    assert t2.rows[0].winner == ["x"] and t2.rows[0].metrics[1].agreement.value is None


def test_orientation_turns_a_likelihood_into_a_loss() -> None:
    pairs = [scored("f", "r", f"p{i}", ll=(-1.0, -2.0 - i)) for i in range(5)]
    up = validity_table(pairs, [MetricSpec("ll", higher_is_worse=True)], n_boot=50)
    down = validity_table(pairs, [MetricSpec("ll", higher_is_worse=False)], n_boot=50)
    assert up.rows[0].metrics[0].agreement.value == 0.0
    assert down.rows[0].metrics[0].agreement.value == 1.0


def test_ranking_taus() -> None:
    values = {
        "abs_loss": {"m1": 1.0, "m2": 2.0, "m3": 3.0},  # lower = better: m1 best
        "auroc_peak": {"m1": 0.9, "m2": 0.8, "m3": 0.7},  # higher = better: m1 best
        "auroc_change": {"m1": 0.7, "m2": 0.8, "m3": 0.9},
        "flat": {"m1": 0.5, "m2": 0.5, "m3": 0.5},
    }
    better = {"abs_loss": False, "auroc_peak": True, "auroc_change": True, "flat": True}
    taus = ranking_taus(values, "abs_loss", better)
    assert taus == {"auroc_peak": 1.0, "auroc_change": -1.0, "flat": None}
