from __future__ import annotations

import math

import numpy as np
import pytest

from curvebench.metrics.regions import region_bounds
from curvebench.metrics.shape import CurveFeatureMeans, curve_features, spike_score
from curvebench.metrics.smoothing import nan_moving_average

ONSET, LENGTH, N = 250, 100, 750
ASSIM_END = ONSET - 1 + LENGTH + 4  # 353, start of the recovery region


def triangle_peak(apex: int = ONSET + 5, height: float = 2.0, slope: float = 0.25) -> np.ndarray:
    """Zero curve with a symmetric triangle of ``height`` at ``apex`` falling ``slope`` a step."""
    d = np.zeros(N)
    k = np.arange(-7, 8)
    d[apex + k] = height - slope * np.abs(k)
    return d


def peak_then_dip(dip: float = -1.0, dip_end: int = ASSIM_END) -> np.ndarray:
    """+2 for 20 steps from onset − 5, then ``dip`` up to ``dip_end``, zeros elsewhere."""
    d = np.zeros(N)
    d[ONSET - 5 : ONSET + 15] = 2.0
    d[ONSET + 15 : dip_end] = dip
    return d


def test_moving_average_skips_nan_and_keeps_empty_windows_nan() -> None:
    x = np.array([1.0, np.nan, 3.0, np.nan, np.nan, np.nan, 5.0])
    out = nan_moving_average(x, 3)
    assert out[:4].tolist() == [1.0, 2.0, 3.0, 3.0]
    assert math.isnan(out[4])
    assert out[5:].tolist() == [5.0, 5.0]
    same = nan_moving_average(x, 1)
    assert np.array_equal(same, x, equal_nan=True)
    with pytest.raises(ValueError):
        nan_moving_average(x, 0)


def test_moving_average_of_zeros_is_exactly_zero() -> None:
    x = np.concatenate([np.full(10, 1e6), np.zeros(20)])
    assert (nan_moving_average(x, 5)[13:] == 0.0).all()


def test_planted_peak_gives_exact_height_and_latency() -> None:
    f = curve_features(triangle_peak(), ONSET, LENGTH)
    # smoothed apex = (2 + 2 * 1.75 + 2 * 1.5) / 5
    assert f["peak_height"] == pytest.approx(1.7, abs=1e-12)
    assert f["peak_latency_s"] == pytest.approx(5 / 50, abs=1e-12)
    assert f["area_positive"] == pytest.approx(
        (2.0 + 2 * sum(2 - 0.25 * k for k in range(1, 8))) / 50
    )
    assert f["area_negative"] == 0.0


def test_planted_dip_gives_exact_depth_and_negative_area() -> None:
    f = curve_features(peak_then_dip(), ONSET, LENGTH)
    assert region_bounds(peak_then_dip(), ONSET, LENGTH).assimilation == (265, ASSIM_END)
    assert f["peak_height"] == 2.0
    assert f["peak_latency_s"] == pytest.approx(-3 / 50)  # first step whose window is all peak
    assert f["assimilation_depth"] == -1.0
    assert f["area_negative"] == pytest.approx(-(ASSIM_END - 265) / 50, abs=1e-12)
    assert f["area_positive"] == pytest.approx(20 * 2.0 / 50, abs=1e-12)


def test_no_effect_gives_zero_areas_and_no_peak() -> None:
    f = curve_features(np.zeros(N), ONSET, LENGTH)
    assert f["area_positive"] == 0.0 and f["area_negative"] == 0.0
    # the peak lasts at least until the onset: [onset − 5, onset), all zero
    assert f["peak_height"] == 0.0
    assert f["assimilation_depth"] == 0.0 and f["recovery_time_s"] == 0.0
    noisy = np.random.default_rng(0).normal(0.0, 0.01, N)
    g = curve_features(noisy, ONSET, LENGTH)
    assert abs(g["peak_height"]) < 0.02


def test_recovery_time_counts_from_assimilation_end_to_the_noise_band() -> None:
    d = peak_then_dip(dip=-2.0, dip_end=400)
    d[: ONSET - 50 : 2] = 0.1  # baseline noise: ±0.1, so the band is [-0.2, 0.2]
    d[1 : ONSET - 50 : 2] = -0.1
    f = curve_features(d, ONSET, LENGTH)
    # smoothed: step 400 = -0.8, 401 = -0.4, 402 = 0.0 and stays 0
    assert f["recovery_time_s"] == pytest.approx((402 - ASSIM_END) / 50, abs=1e-12)
    assert f["assimilation_depth"] == -2.0


def test_recovery_time_is_nan_when_the_curve_never_settles() -> None:
    d = peak_then_dip(dip=-2.0, dip_end=N)
    assert math.isnan(curve_features(d, ONSET, LENGTH)["recovery_time_s"])


def test_masked_steps_are_skipped() -> None:
    d = peak_then_dip()
    d[::2] = np.nan
    f = curve_features(d, ONSET, LENGTH)
    assert f["peak_height"] == 2.0 and f["assimilation_depth"] == -1.0
    assert f["area_negative"] == pytest.approx(-44 / 50, abs=1e-12)  # half the steps are masked


def test_spike_score_exact_on_a_tiny_curve() -> None:
    loss = np.array([1.0, 3.0, 1.0, 3.0, 9.0])
    # smooth=1: at t=4 the window [1, 3, 1, 3] has mean 2 and std 1, so z = (9 - 2) / 1
    assert spike_score(loss, baseline_steps=4, smooth=1) == pytest.approx(7.0)
    # smooth=3: smoothed[4] = mean(3, 9) = 6, z = (6 - 2) / 1; smoothed[3] gives 2·√2 < 4
    assert spike_score(loss, baseline_steps=4, smooth=3) == pytest.approx(4.0)
    # too short a history: no step has 2 valid values behind it
    assert math.isnan(spike_score(np.array([1.0, 2.0]), baseline_steps=4, smooth=1))


def test_spike_score_is_higher_with_a_planted_jump() -> None:
    rng = np.random.default_rng(1)
    clean = 3.0 + rng.normal(0.0, 0.2, N)
    corrupted = clean.copy()
    corrupted[ONSET : ONSET + 20] += 2.0
    assert spike_score(corrupted) > spike_score(clean) + 5.0
    masked = corrupted.copy()
    masked[::3] = np.nan
    assert spike_score(masked) > spike_score(clean)


@pytest.mark.filterwarnings("ignore:The ``compute`` method")
def test_feature_metric_averages_and_merges_shards_like_one_process() -> None:
    curves = [peak_then_dip(-1.0), peak_then_dip(-2.0), np.zeros(N)]
    feats = [curve_features(c, ONSET, LENGTH) for c in curves]
    whole = CurveFeatureMeans()
    for f in feats:
        whole.update(f)
    a, b = CurveFeatureMeans(), CurveFeatureMeans()
    a.update(feats[0])
    for f in feats[1:]:
        b.update(f)
    a.merge_state(b)
    out = whole.compute()
    assert a.compute() == out
    assert out["shape_peak_height"] == pytest.approx(4.0 / 3)  # the zero curve's peak is 0
    assert out["shape_assimilation_depth"] == pytest.approx(-1.0)
    assert CurveFeatureMeans().compute()["shape_peak_height"] is None
