from __future__ import annotations

import numpy as np
import pytest

from curvebench.metrics.detectors import peak_area, peak_evidence
from curvebench.metrics.registry import PairView, pair_metrics
from curvebench.metrics.spread import MAD_TO_STD

HZ, ONSET_S, N_S = 50, 5.0, 15.0


def bump_curve(hz: int = HZ) -> np.ndarray:
    """Δℓ on a ``hz`` grid: baseline alternating −0.2/−0.4 (mean −0.3, robust spread
    0.1·MAD_TO_STD), −0.1 in the 0.1 s before the onset, +2 for 0.3 s from the onset, −0.4
    after (at or below the baseline, so the peak ends there)."""
    d = np.full(round(N_S * HZ), -0.4)
    onset = round(ONSET_S * HZ)
    d[:onset] = np.where(np.arange(onset) % 2 == 0, -0.2, -0.4)
    d[onset - 5 : onset] = -0.1
    d[onset : onset + 15] = 2.0
    return np.repeat(d, hz // HZ)


def test_peak_evidence_known_answer() -> None:
    d = bump_curve()
    # peak region [onset − 5, onset + 15): five steps of −0.1, fifteen of +2
    expected = ((5 * -0.1 + 15 * 2.0) / 20) / (MAD_TO_STD * 0.1)
    assert peak_evidence(d, ONSET_S, 1.0, HZ, scale=1.0) == pytest.approx(expected)
    # a large model spread floors the baseline spread: 0.1 · scale
    assert peak_evidence(d, ONSET_S, 1.0, HZ, scale=10.0) == pytest.approx(1.475 / 1.0)


def test_peak_evidence_floor_keeps_a_flat_baseline_finite() -> None:
    d = np.zeros(750)
    d[250:265] = 2.0  # exactly 0 before the onset, as a causal model leaves it
    d[245:250] = 0.5
    value = peak_evidence(d, ONSET_S, 1.0, HZ, scale=2.0)
    assert np.isfinite(value) and value > 0
    assert peak_evidence(np.zeros(750), ONSET_S, 1.0, HZ) == 0.0
    assert peak_evidence(np.full(750, np.nan), ONSET_S, 1.0, HZ) == 0.0


def test_peak_area_in_seconds_is_the_same_at_two_grid_rates() -> None:
    assert peak_area(bump_curve(), ONSET_S, 1.0, HZ) == pytest.approx(15 * 2.0 / HZ)
    assert peak_area(bump_curve(100), ONSET_S, 1.0, 100) == pytest.approx(0.6)
    assert peak_area(np.zeros(750), ONSET_S, 1.0, HZ) == 0.0


def test_pair_scores_put_the_perturbed_copy_above_the_swapped_pair() -> None:
    pair = PairView(bump_curve(), ONSET_S, 1.0, HZ, scale=1.0)
    scores = {m.name: m.compute(pair) for m in pair_metrics()}
    assert {"peak_evidence", "peak_area"} <= set(scores)
    for original, perturbed in scores.values():
        assert perturbed > original
    assert scores["peak_area"][1] == pytest.approx(0.6)
    evidence = [peak_evidence(d, ONSET_S, 1.0, HZ, 1.0) for d in (-bump_curve(), bump_curve())]
    assert scores["peak_evidence"] == pytest.approx(tuple(evidence))
