from __future__ import annotations

import numpy as np
import pytest

from curvebench.metrics.mean_ci import clustered_mean_ci


def test_copies_of_a_piece_do_not_narrow_the_interval() -> None:
    rng = np.random.default_rng(0)
    values = list(rng.normal(size=30))
    clusters = [f"p{i}" for i in range(30)]
    once = clustered_mean_ci(values, clusters)
    twelve = clustered_mean_ci(values * 12, clusters * 12)
    assert once == pytest.approx(twelve)
    naive = clustered_mean_ci(values * 12, [f"c{i}" for i in range(360)])
    assert naive[1] - naive[0] < 0.5 * (once[1] - once[0])
    assert once[0] < np.mean(values) < once[1]


def test_undefined_cases() -> None:
    assert clustered_mean_ci([1.0, 2.0], ["a", "a"]) is None
    assert clustered_mean_ci([float("nan")], ["a"]) is None
    assert clustered_mean_ci([1.0, 1.0, 1.0], ["a", "b", "c"]) == [1.0, 1.0]
