from __future__ import annotations

import numpy as np
import pytest

from curvebench.metrics.absolute import PairedLoss
from curvebench.metrics.alignment import delta_by_index, delta_on_grid, grid_bins, to_grid


def test_grid_bins_match_the_paper_frame_rate() -> None:
    assert grid_bins(15.0) == 750
    assert grid_bins(0.1) == 5


def test_to_grid_averages_tokens_in_a_bin_and_masks_empty_bins() -> None:
    loss = np.array([1.0, 3.0, 5.0, 7.0])
    seconds = np.array([0.0, 0.01, 0.05, 10.0])  # the last one is past a 4-bin grid
    grid = to_grid(loss, seconds, 4)
    assert grid[0] == 2.0 and grid[2] == 5.0
    assert np.isnan(grid[1]) and np.isnan(grid[3])


def test_delta_on_grid_is_perturbed_minus_original_where_both_exist() -> None:
    orig = (np.array([1.0, 1.0]), np.array([0.0, 0.03]))
    pert = (np.array([2.0, 4.0]), np.array([0.0, 0.05]))
    d = delta_on_grid(orig, pert, 3)
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
