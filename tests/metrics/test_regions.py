from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from curvebench.metrics.means import MeanCurve
from curvebench.metrics.regions import (
    RegionMeans,
    RegionSteps,
    region_bounds,
    region_means,
    region_steps,
)

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


def test_no_effect_gives_zero_regions_and_a_peak_until_the_onset() -> None:
    # Δℓ is at the baseline everywhere; the peak cannot end before the corruption starts
    assert region_bounds(np.zeros(N), ONSET, LENGTH).peak == (245, 250)
    m = region_means(np.zeros(N), ONSET, LENGTH)
    assert m == {"peak": 0.0, "assimilation": 0.0, "recovery": 0.0}


def test_peak_search_starts_at_the_onset_on_an_unmasked_curve() -> None:
    # a causal model leaves Δℓ exactly 0 before the onset (sum alignment): the five zero
    # steps before the onset must not end the peak before the corruption is seen
    d = np.zeros(N)
    d[ONSET : ONSET + 10] = 1.5
    b = region_bounds(d, ONSET, LENGTH)
    assert b.peak == (245, 260)
    assert region_means(d, ONSET, LENGTH)["peak"] == 1.0  # 5 zeros and 10 × 1.5


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
    assert b.peak == (245, 265)  # legacy rule: first of five consecutive *valid* steps ≤ 0
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


def step_rule(d: np.ndarray, onset: int, length: int) -> tuple:
    """The rule written in steps (50, 5, 5, 50, (onset − 1) + length + 4), on an unmasked
    curve: what the seconds constants must reproduce at 50 Hz."""
    n = len(d)
    head = d[: max(0, onset - 50)]
    baseline = head.mean() if head.size else 0.0
    start = max(0, onset - 5)
    search = range(max(start, onset), n - 4)  # the peak cannot end before the onset
    end = next((t for t in search if (d[t : t + 5] <= baseline).all()), start + 50)
    end = min(end, n)
    assim = min(max(end, onset - 1 + length + 4), n)
    return (start, end), (end, assim), (assim, n)


def random_curve(rng: np.random.Generator, n: int, onset: int) -> np.ndarray:
    """Noise around 0 with a positive bump of random height and length after the onset."""
    d = rng.normal(0.0, 0.3, n)
    bump = int(rng.integers(0, 120))
    d[onset - 3 : onset - 3 + bump] += rng.uniform(0.0, 3.0)
    return d


def test_constants_in_seconds_are_the_paper_steps_at_50_hz() -> None:
    assert region_steps(50.0) == RegionSteps(50, 5, 5, 50, 3)  # 3 = −1 + 4
    assert region_steps(100.0) == RegionSteps(100, 10, 10, 100, 6)
    assert region_steps(25.0).stable == 3  # 2.5 steps rounds half up
    with pytest.raises(ValueError):
        region_steps(0.0)


def test_seconds_rule_equals_the_step_rule_at_50_hz_on_random_curves() -> None:
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(120, 500))
        onset = int(rng.integers(5, n - 5))
        length = int(rng.integers(0, 150))
        d = random_curve(rng, n, onset)
        b = region_bounds(d, onset, length, hz=50.0)
        assert (b.peak, b.assimilation, b.recovery) == step_rule(d, onset, length)


def test_regions_cover_the_same_seconds_at_100_hz_on_an_upsampled_curve() -> None:
    rng = np.random.default_rng(1)
    for _ in range(200):
        n = int(rng.integers(120, 400))
        onset = int(rng.integers(5, n - 5))
        length = int(rng.integers(0, 150))
        d = random_curve(rng, n, onset)
        b50 = region_bounds(d, onset, length, hz=50.0)
        b100 = region_bounds(np.repeat(d, 2), 2 * onset, 2 * length, hz=100.0)
        for name in ("peak", "assimilation", "recovery"):
            lo, hi = getattr(b50, name)
            assert getattr(b100, name) == (2 * lo, 2 * hi)
        m50 = region_means(d, onset, length, hz=50.0)
        m100 = region_means(np.repeat(d, 2), 2 * onset, 2 * length, hz=100.0)
        for name, value in m50.items():
            assert m100[name] == pytest.approx(value, nan_ok=True, abs=1e-12)


# --- regions=paper: the paper's released code, on curves where the two rules differ ---
# n = 400 curvebench steps, onset 250, length 10: the paper's rows are delta[1:] (399 rows),
# its assimilation ends at row (250 − 1) + 10 + 4 = 263 and its recovery at row 398.
PN, PONSET, PLEN = 400, 250, 10


def both(d: np.ndarray) -> tuple[dict, dict]:
    return region_means(d, PONSET, PLEN), region_means(d, PONSET, PLEN, rule="paper")


def test_paper_rule_on_a_curve_with_no_effect() -> None:
    ours, paper = both(np.zeros(PN))
    # curvebench's peak lasts until the onset ([245, 250), all 0); the paper's settles at once
    # (rows 245..249 all ≤ 0), so its peak is empty and counts 0
    assert region_bounds(np.zeros(PN), PONSET, PLEN, rule="paper").peak == (246, 246)
    assert ours == paper == {"peak": 0.0, "assimilation": 0.0, "recovery": 0.0}


def test_paper_recovery_starts_at_the_assimilation_end_even_inside_the_peak() -> None:
    d = np.zeros(PN)
    d[246:300] = 2.0  # a peak running well past (onset − 1) + length + 4
    ours, paper = both(d)
    # curvebench: peak [245, 300) = one 0 and 54 twos; no assimilation; recovery after the peak
    assert region_bounds(d, PONSET, PLEN).peak == (245, 300)
    assert ours["peak"] == pytest.approx(108 / 55)
    assert math.isnan(ours["assimilation"]) and ours["recovery"] == 0.0
    # paper: rows 245..298 are the twos; peak [245, 299); assimilation [299, 263) empty → 0;
    # recovery rows [263, 398): 36 twos of 135 rows, overlapping the peak
    assert paper["peak"] == 2.0
    assert paper["assimilation"] == 0.0
    assert paper["recovery"] == pytest.approx(72 / 135)
    b = region_bounds(d, PONSET, PLEN, rule="paper")  # as curvebench steps (row + 1)
    assert (b.peak, b.assimilation, b.recovery) == ((246, 300), (300, 264), (264, 399))


def test_paper_recovery_drops_the_last_step() -> None:
    d = np.zeros(PN)
    d[-1] = 10.0
    ours, paper = both(d)
    assert ours["recovery"] == pytest.approx(10 / 137)  # steps [263, 400)
    assert paper["recovery"] == 0.0  # rows [263, 398): the last step is row 398


def test_paper_indexes_a_loss_by_the_frame_it_is_conditioned_on() -> None:
    d = np.zeros(PN)
    d[245] = 3.0  # one step at curvebench's peak start, one row before the paper's
    ours, paper = both(d)
    assert ours["peak"] == 3.0 / 5  # peak [245, 250)
    assert paper["peak"] == 0.0  # row 244 is before the paper's peak: the peak is empty


def test_paper_baseline_and_fallback_read_the_rows() -> None:
    d = np.zeros(PN)
    d[200:] = 1.0  # never settles
    assert region_bounds(d, PONSET, PLEN).baseline == 0.0  # steps [0, 200)
    assert region_bounds(d, PONSET, PLEN, rule="paper").baseline == 1 / 200  # rows [0, 200)
    ours, paper = both(d)
    assert ours["peak"] == 1.0 and paper["peak"] == 1.0  # fallback: 50 steps
    assert math.isnan(ours["assimilation"]) and paper["assimilation"] == 0.0
    assert ours["recovery"] == 1.0 and paper["recovery"] == 1.0


def test_paper_settling_window_never_reaches_the_last_row() -> None:
    d = np.zeros(PN)
    d[246:395] = 2.0  # settles only in the last five steps
    ours, paper = both(d)
    assert region_bounds(d, PONSET, PLEN).peak == (245, 395)
    assert ours["peak"] == pytest.approx(298 / 150) and ours["recovery"] == 0.0
    # paper: rows 394..398 are the five zeros, but its window ends before row 398, so the
    # peak falls back to 50 rows; the recovery [263, 398) holds 131 twos
    assert paper["peak"] == 2.0
    assert paper["recovery"] == pytest.approx(262 / 135)


def paper_code(rows: np.ndarray, noise_len: int) -> tuple[float, float, float]:
    """The paper's analysis at its fixed onset (frame 250), restated from its description."""
    base = rows[:200].mean()
    assim_end = min(249 + noise_len + 4, len(rows) - 1)
    ends = [i - 5 for i in range(250, len(rows)) if all(rows[j] <= base for j in range(i - 5, i))]
    peak_end = ends[0] if ends else 295

    def avg(a: int, b: int) -> float:
        return float(np.mean(rows[a:b])) if b > a else 0.0

    return avg(245, peak_end), avg(peak_end, assim_end), avg(assim_end, len(rows) - 1)


def test_paper_rule_matches_the_paper_code_on_random_curves() -> None:
    rng = np.random.default_rng(2)
    for _ in range(200):
        n = int(rng.integers(300, 800))
        length = int(rng.choice([50, 100, 150, 200]))
        d = random_curve(rng, n, 250)
        m = region_means(d, 250, length, rule="paper")
        expected = paper_code(d[1:], length)
        assert (m["peak"], m["assimilation"], m["recovery"]) == pytest.approx(expected, abs=1e-12)


def test_unknown_region_rule_is_refused() -> None:
    with pytest.raises(ValueError, match="region rule"):
        region_means(np.zeros(10), 5, 2, rule="median")
