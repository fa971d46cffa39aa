from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from curvebench.metrics.means import MeanCurve
from curvebench.metrics.regions import RegionMeans, region_bounds, region_means

ONSET, LENGTH, N = 250, 100, 750


def planted(peak: float = 2.0, dip: float = -1.0, peak_len: int = 20) -> np.ndarray:
    """Zero baseline, a peak from onset-5 for ``peak_len`` steps, a dip to the end of the
    assimilation region, then zeros."""
    d = np.zeros(N)
    d[ONSET - 5 : ONSET - 5 + peak_len] = peak
    d[ONSET - 5 + peak_len : ONSET - 1 + LENGTH + 4] = dip
    return d


def test_planted_peak_and_dip_give_exact_regions() -> None:
    b = region_bounds(planted(), ONSET, LENGTH)
    assert b.baseline == 0.0
    assert b.peak == (245, 265)
    assert b.assimilation == (265, 353)
    assert b.recovery == (353, N)
    m = region_means(planted(), ONSET, LENGTH)
    assert m == {"peak": 2.0, "assimilation": -1.0, "recovery": 0.0}


def test_no_effect_gives_zero_regions_and_empty_peak() -> None:
    m = region_means(np.zeros(N), ONSET, LENGTH)
    # Δℓ ≤ baseline at once, so the peak region is empty and the rest is zero
    assert math.isnan(m["peak"])
    assert m["assimilation"] == 0.0 and m["recovery"] == 0.0


def test_peak_that_never_settles_falls_back_to_50_steps() -> None:
    d = np.ones(N)
    d[: ONSET - 50] = 0.0
    b = region_bounds(d, ONSET, LENGTH)
    assert b.peak == (245, 295)
    assert b.assimilation == (295, 353)


def test_baseline_is_the_level_to_return_to() -> None:
    d = planted() + 0.3  # everything shifted: baseline 0.3, same structure
    b = region_bounds(d, ONSET, LENGTH)
    assert b.baseline == pytest.approx(0.3)
    assert b.peak == (245, 265)


def test_masked_steps_are_skipped_in_the_settling_rule_and_means() -> None:
    d = planted()
    d[::2] = np.nan  # every other step empty, as on a sparse time grid
    b = region_bounds(d, ONSET, LENGTH)
    assert b.peak == (245, 265)  # first of five consecutive *valid* steps at or below 0
    m = region_means(d, ONSET, LENGTH)
    assert m["peak"] == 2.0 and m["assimilation"] == -1.0


def test_region_metric_merges_shards_like_one_process() -> None:
    curves = [planted(2.0, -1.0), planted(1.0, -2.0), planted(3.0, -0.5, peak_len=10)]
    whole = RegionMeans()
    for c in curves:
        whole.update(region_means(c, ONSET, LENGTH))
    a, b = RegionMeans(), RegionMeans()
    a.update(region_means(curves[0], ONSET, LENGTH))
    for c in curves[1:]:
        b.update(region_means(c, ONSET, LENGTH))
    a.merge_state(b)
    assert a.compute() == whole.compute()
    assert whole.compute()["region_peak"] == pytest.approx(2.0)
    assert whole.compute()["region_assimilation"] == pytest.approx(-3.5 / 3)


def test_mean_curve_ignores_masked_steps() -> None:
    metric = MeanCurve(4)
    metric.update(np.array([1.0, np.nan, 3.0, np.nan]))
    metric.update(np.array([3.0, 2.0, np.nan, np.nan]))
    out = metric.compute()
    assert out[:3].tolist() == [2.0, 2.0, 3.0]
    assert torch.isnan(out[3])
