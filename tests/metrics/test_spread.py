from __future__ import annotations

import math

import numpy as np
import pytest

from curvebench.metrics.spread import (
    MAD_TO_STD,
    MEAN_ABS_TO_STD,
    corpus_spread,
    robust_spread,
    row_medians,
    row_robust_spreads,
)


def test_robust_spread_known_answers() -> None:
    assert robust_spread(np.array([-0.1, 0.1] * 10)) == pytest.approx(MAD_TO_STD * 0.1)
    # one huge outlier does not move it
    x = np.array([1.0, 2.0, 3.0, 4.0, 5.0, np.nan, 1e6])
    assert robust_spread(x) == pytest.approx(MAD_TO_STD * 1.5)
    # mostly flat: the median absolute deviation is 0, the mean one is used
    flat = np.array([0.0] * 8 + [2.0, 2.0])
    assert robust_spread(flat) == pytest.approx(MEAN_ABS_TO_STD * 0.4)
    assert robust_spread(np.zeros(5)) == 0.0
    assert math.isnan(robust_spread(np.full(4, np.nan)))


def test_robust_spread_is_exact_under_repetition() -> None:
    x = np.random.default_rng(0).gamma(2.0, 1.0, 301)
    assert robust_spread(np.repeat(x, 2)) == robust_spread(x)
    assert robust_spread(np.repeat(x, 3)) == robust_spread(x)


def test_corpus_spread_is_the_median_over_curves() -> None:
    curves = [np.array([-1.0, 1.0]), np.array([-2.0, 2.0]), np.array([-3.0, 3.0]), [np.nan]]
    assert corpus_spread(curves) == pytest.approx(2.0 * MAD_TO_STD)
    assert math.isnan(corpus_spread([]))


def test_row_functions_equal_the_scalar_ones() -> None:
    rng = np.random.default_rng(1)
    rows = rng.normal(size=(40, 9))
    rows[rng.random(rows.shape) < 0.3] = np.nan
    rows[3] = np.nan
    rows[5, :] = [0.0] * 6 + [1.0, 2.0, np.nan]  # MAD 0: the mean-deviation fallback
    medians, spreads = row_medians(rows), row_robust_spreads(rows)
    for row, med, spread in zip(rows, medians, spreads, strict=True):
        ok = row[~np.isnan(row)]
        if ok.size == 0:
            assert math.isnan(med) and math.isnan(spread)
            continue
        assert med == np.median(ok)
        assert spread == robust_spread(row)
