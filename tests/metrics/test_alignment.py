from __future__ import annotations

import numpy as np
import pytest

from curvebench.metrics.absolute import PairedLoss
from curvebench.metrics.alignment import (
    delta_by_index,
    frame_mean,
    grid_bins,
    grid_delta,
    to_grid,
    to_grid_sum,
)


def test_grid_bins_match_the_paper_frame_rate() -> None:
    assert grid_bins(15.0) == 750
    assert grid_bins(0.1) == 5


def test_to_grid_averages_tokens_in_a_bin_and_masks_empty_bins() -> None:
    loss = np.array([1.0, 3.0, 5.0, 7.0])
    seconds = np.array([0.0, 0.01, 0.05, 10.0])  # the last one is past a 4-bin grid
    grid = to_grid(loss, seconds, 4)
    assert grid[0] == 2.0 and grid[2] == 5.0
    assert np.isnan(grid[1]) and np.isnan(grid[3])


def test_mean_delta_is_perturbed_minus_original_where_both_exist() -> None:
    orig = (np.array([1.0, 1.0]), np.array([0.0, 0.03]))
    pert = (np.array([2.0, 4.0]), np.array([0.0, 0.05]))
    d = grid_delta(*orig, *pert, n_bins=3, mode="mean")
    assert d[0] == 1.0 and np.isnan(d[1]) and np.isnan(d[2])


def test_delta_by_index_needs_equal_lengths() -> None:
    assert delta_by_index(np.array([1.0, 2.0]), np.array([2.0, 2.0])).tolist() == [1.0, 0.0]
    with pytest.raises(ValueError):
        delta_by_index(np.array([1.0]), np.array([1.0, 2.0]))


def test_paired_loss_counts_each_original_once() -> None:
    m = PairedLoss()
    m.update(2.0, 1.5)  # lowered
    m.update(2.0, 2.5, new_original=False)  # second copy of the same original
    m.update(4.0, 5.0)
    out = m.compute()
    assert out["n_pairs"] == 3
    assert out["abs_loss_original"] == 3.0  # (2 + 4) / 2, not (2 + 2 + 4) / 3
    assert out["abs_loss_perturbed"] == 3.0
    assert out["abs_loss_delta"] == pytest.approx((-0.5 + 0.5 + 1.0) / 3)
    assert out["frac_loss_lowered"] == pytest.approx(1 / 3)


def test_sum_grid_totals_each_step_and_gives_empty_steps_zero() -> None:
    loss = np.array([1.0, 3.0, 5.0, 7.0, 2.0])
    seconds = np.array([0.0, 0.01, 0.05, 10.0, np.nan])  # past the grid; untimed
    assert to_grid_sum(loss, seconds, 4).tolist() == [4.0, 0.0, 5.0, 0.0]


def test_sum_delta_counts_inserted_and_removed_tokens() -> None:
    # original: tokens at steps 0, 1, 1, 3 (50 Hz); the perturbation removes the step-3 token,
    # inserts two tokens in step 2 and one untimed header, and re-scores step 1
    orig_loss = np.array([1.0, 2.0, 0.5, 4.0])
    orig_sec = np.array([0.0, 0.02, 0.03, 0.07])
    pert_loss = np.array([9.0, 1.0, 3.0, 1.5, 0.25, 6.0])
    pert_sec = np.array([np.nan, 0.0, 0.025, 0.04, 0.05, 0.21])  # last one past a 5-step grid
    d = grid_delta(orig_loss, orig_sec, pert_loss, pert_sec, n_bins=5)
    assert d.tolist() == [0.0, 0.5, 1.75, -4.0, 0.0]
    assert d.sum() == -1.75  # the change in total timed surprisal on the grid
    # the per-step mean sees neither the insertion nor the removal
    m = grid_delta(orig_loss, orig_sec, pert_loss, pert_sec, n_bins=5, mode="mean")
    assert m[0] == 0.0 and m[1] == 3.0 - 1.25
    assert np.isnan(m[2]) and np.isnan(m[3]) and np.isnan(m[4])


def test_sum_delta_at_another_grid_rate() -> None:
    d = grid_delta(
        np.array([1.0, 1.0]),
        np.array([0.0, 0.15]),
        np.array([2.0]),
        np.array([0.1]),
        n_bins=3,
        hz=10.0,
    )
    assert d.tolist() == [-1.0, 1.0, 0.0]


def test_token_by_token_delta_summed_per_step_equals_the_sum_mode() -> None:
    rng = np.random.default_rng(0)
    n = 400
    seconds = np.sort(rng.uniform(0, 3.0, n))
    seconds[rng.integers(0, n, 10)] = np.nan  # some untimed tokens
    # losses on a 1/64 grid, so every sum and difference is exact in float64
    orig = rng.integers(0, 640, n) / 64
    pert = orig.copy()
    pert[100:180] += rng.integers(-64, 640, 80) / 64
    bins = grid_bins(3.0)
    by_index = grid_delta(orig, seconds, pert, seconds, bins, by_index=True)
    by_sums = grid_delta(orig, seconds, pert, seconds, bins)
    assert np.array_equal(by_index, by_sums)
    assert not np.isnan(by_sums).any()
    # and on arbitrary floats they agree to rounding
    orig, pert = rng.exponential(2.0, n), rng.exponential(2.0, n)
    np.testing.assert_allclose(
        grid_delta(orig, seconds, pert, seconds, bins, by_index=True),
        grid_delta(orig, seconds, pert, seconds, bins),
        atol=1e-12,
    )


def test_audio_keeps_the_per_frame_mean_over_codebooks() -> None:
    loss = np.array([[1.0, 2.0, 3.0], [3.0, 4.0, 7.0]])  # 2 codebooks, 3 frames
    assert frame_mean(loss).tolist() == [2.0, 3.0, 5.0]
    frames = np.arange(3) / 50.0
    pert = loss + np.array([[0.0, 2.0, 0.0], [0.0, 0.0, -4.0]])
    for mode in ("sum", "mean"):
        d = grid_delta(loss, frames, pert, frames, n_bins=3, mode=mode)
        assert d.tolist() == [0.0, 1.0, -2.0]


def test_unknown_alignment_is_refused() -> None:
    with pytest.raises(ValueError, match="alignment"):
        grid_delta(np.ones(1), np.zeros(1), np.ones(1), np.zeros(1), 1, mode="median")
