from __future__ import annotations

import numpy as np
import pytest

from curvebench.metrics.regions import RegionBounds
from curvebench.metrics.token_types import (
    LossByType,
    RegionLossByType,
    loss_by_type,
    loss_by_type_in_regions,
    target_types,
)

TYPES = ["Bar", "Position", "Pitch", "Velocity", "Duration"]


def test_target_types_skip_the_bos() -> None:
    id_types = ["BOS", "Bar", "Pitch", "Velocity"]
    assert target_types(np.array([0, 1, 2, 3, 2]), id_types) == [
        "Bar",
        "Pitch",
        "Velocity",
        "Pitch",
    ]
    assert target_types(np.array([1, 2]), id_types, first_target=0) == ["Bar", "Pitch"]


def test_loss_by_type_on_a_hand_made_item() -> None:
    losses = np.array([0.5, 2.0, 1.25, 3.0, 0.25, 4.0])
    types = ["Bar", "Pitch", "Velocity", "Pitch", "Bar", "Duration"]
    out = loss_by_type(losses, types)
    assert out == {"Bar": (0.75, 2), "Pitch": (5.0, 2), "Velocity": (1.25, 1), "Duration": (4.0, 1)}
    assert sum(s for s, _ in out.values()) == losses.sum()
    assert sum(c for _, c in out.values()) == len(losses)
    with pytest.raises(ValueError):
        loss_by_type(losses, types[:-1])


def random_item(rng: np.random.Generator, n: int) -> tuple[np.ndarray, list[str]]:
    # losses on a 1/256 grid, so every sum is exact whatever the order
    losses = rng.integers(0, 256 * 8, n) / 256
    return losses, [TYPES[k] for k in rng.integers(0, len(TYPES), n)]


def test_type_sums_add_up_to_the_item_loss_exactly() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        losses, types = random_item(rng, int(rng.integers(1, 500)))
        out = loss_by_type(losses, types)
        assert sum(s for s, _ in out.values()) == losses.sum()
        assert sum(c for _, c in out.values()) == len(losses)
    # on arbitrary floats, to rounding
    losses = rng.exponential(2.0, 1000)
    out = loss_by_type(losses, [TYPES[k] for k in rng.integers(0, 5, 1000)])
    assert sum(s for s, _ in out.values()) == pytest.approx(losses.sum(), rel=1e-12)


def test_loss_by_type_per_region_follows_the_token_times() -> None:
    losses = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    types = ["Pitch", "Velocity", "Pitch", "Pitch", "Bar", "Pitch"]
    seconds = np.array([0.0, 0.1, 0.12, np.nan, 0.3, 0.5])  # steps 0, 5, 6, -, 15, 25
    bounds = RegionBounds(0.0, (5, 7), (7, 20), (20, 30))
    out = loss_by_type_in_regions(losses, types, seconds, bounds, hz=50.0)
    assert out == {
        "peak": {"Velocity": (2.0, 1), "Pitch": (3.0, 1)},
        "assimilation": {"Bar": (5.0, 1)},
        "recovery": {"Pitch": (6.0, 1)},
    }
    overlap = RegionBounds(0.0, (0, 30), (7, 7), (20, 30))  # the paper's overlapping recovery
    assert loss_by_type_in_regions(losses, types, seconds, overlap, 50.0)["peak"] == {
        "Pitch": (10.0, 3), "Velocity": (2.0, 1), "Bar": (5.0, 1)
    }  # fmt: skip


def test_loss_by_type_metric_pools_items_and_merges_shards_like_one() -> None:
    rng = np.random.default_rng(1)
    items = [loss_by_type(*random_item(rng, int(rng.integers(1, 200)))) for _ in range(7)]
    whole = LossByType(TYPES)
    for item in items:
        whole.update(item)
    a, b = LossByType(TYPES), LossByType(TYPES)
    for item in items[:3]:
        a.update(item)
    for item in items[3:]:
        b.update(item)
    a.merge_state(b)
    assert a.compute() == whole.compute()
    for name in TYPES:
        total = sum(item[name][0] for item in items if name in item)
        count = sum(item[name][1] for item in items if name in item)
        assert whole.compute()[name] == total / count


def test_loss_by_type_metric_on_a_hand_made_case() -> None:
    m = LossByType(["Pitch", "Velocity", "Tempo"])
    m.update({"Pitch": (3.0, 2), "Velocity": (10.0, 1)})
    m.update({"Pitch": (1.0, 2)})
    assert m.compute() == {"Pitch": 1.0, "Velocity": 10.0, "Tempo": None}
    with pytest.raises(ValueError, match="Chord"):
        m.update({"Chord": (1.0, 1)})


def test_region_loss_by_type_merges_shards_like_one() -> None:
    rng = np.random.default_rng(2)
    bounds = RegionBounds(0.0, (10, 40), (40, 80), (80, 150))
    items = []
    for _ in range(5):
        losses, types = random_item(rng, 120)
        seconds = np.sort(rng.uniform(0, 3.0, 120))
        items.append(loss_by_type_in_regions(losses, types, seconds, bounds, 50.0))
    whole = RegionLossByType(TYPES)
    for item in items:
        whole.update(item)
    a, b = RegionLossByType(TYPES), RegionLossByType(TYPES)
    a.update(items[0])
    for item in items[1:]:
        b.update(item)
    b.merge_state(a)
    assert b.compute() == whole.compute()
    peak = whole.compute()["peak"]
    total = sum(item["peak"].get("Pitch", (0.0, 0))[0] for item in items)
    count = sum(item["peak"].get("Pitch", (0.0, 0))[1] for item in items)
    assert peak["Pitch"] == total / count


def test_uniform_levels_and_shares_of_the_change() -> None:
    from curvebench.metrics.token_types import delta_shares, type_vocab, uniform_level

    vocab = type_vocab(["PAD", "Pitch", "Pitch", "Pitch", "Velocity", "Velocity"])
    assert vocab == {"PAD": 1, "Pitch": 3, "Velocity": 2}
    assert uniform_level(vocab["Pitch"]) == pytest.approx(np.log(3))
    assert type_vocab(None) is None
    originals = [{"Pitch": (2.0, 2), "Velocity": (1.0, 2)}]
    perturbed = [{"Pitch": (5.0, 2), "Velocity": (2.0, 2)}]
    shares = delta_shares(originals, perturbed)  # Δ total = 4: Pitch 3, Velocity 1
    assert shares == {"Pitch": pytest.approx(0.75), "Velocity": pytest.approx(0.25)}
    assert delta_shares(originals, originals) == {"Pitch": None, "Velocity": None}
