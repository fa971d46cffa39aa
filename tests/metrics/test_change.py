from __future__ import annotations

import numpy as np
import pytest

from curvebench.metrics.change import change_score
from curvebench.metrics.shape import spike_score


def music(seconds: float = 10.0, hz: int = 50, seed: int = 0) -> np.ndarray:
    """A surprisal curve: gamma noise around 2 nats a step, a few empty steps."""
    rng = np.random.default_rng(seed)
    x = rng.gamma(4.0, 0.5, round(seconds * hz))
    x[rng.random(x.size) < 0.2] = np.nan
    return x


def with_jump(x: np.ndarray, start_s: float, length_s: float, rise: float, hz: int = 50):
    y = x.copy()
    y[round(start_s * hz) : round((start_s + length_s) * hz)] += rise
    return y


def test_same_curve_at_two_token_rates_gives_the_identical_score() -> None:
    x = with_jump(music(), 6.0, 1.0, 3.0)
    score = change_score(x, hz=50)
    assert change_score(np.repeat(x, 2), hz=100) == score
    assert change_score(np.repeat(x, 3), hz=150) == score
    plain = music(seed=3)
    assert change_score(np.repeat(plain, 2), hz=100) == change_score(plain, hz=50)


def test_a_sustained_jump_scores_higher_than_the_same_music_without_it() -> None:
    x = music()
    assert change_score(with_jump(x, 6.0, 1.0, 3.0)) > change_score(x) + 2.0


def test_silence_and_constant_input_are_finite_and_zero() -> None:
    assert change_score(np.full(500, np.nan)) == 0.0
    assert change_score(np.zeros(500)) == 0.0
    assert change_score(np.full(500, 3.7)) == 0.0
    assert change_score(np.array([])) == 0.0
    assert change_score(np.array([1.0, 2.0])) == 0.0  # too short to have a baseline


def test_a_jump_after_silence_stays_moderate_unlike_the_spike_score() -> None:
    x = music(5.0)
    silence = np.full(150, 0.01)  # 3 s of a near-certain silent token
    after = np.full(50, 4.0)
    curve = np.concatenate([x, silence, after])
    score = change_score(curve)
    assert np.isfinite(score) and 0 < score < 50
    assert spike_score(curve) > 1e5  # the old floor: a flat window divides by 1e-6


def test_corpus_spread_floors_the_scale() -> None:
    curve = np.concatenate([np.full(250, 0.01), np.full(50, 0.5)])  # mostly flat piece
    alone = change_score(curve)
    floored = change_score(curve, corpus_spread=2.0)
    assert floored == pytest.approx(0.49 / (0.25 * 2.0))
    assert floored < alone
    with pytest.raises(ValueError):
        change_score(curve, hz=0)
