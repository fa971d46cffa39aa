"""Audio Δℓ as the paper computes it: the per-frame difference of the per-frame means over
codebooks, never smoothed unless the task asks; a clip shorter than the task's has regions over
its real frames only, under both region rules."""

from __future__ import annotations

import numpy as np
import pytest

from curvebench.benchmark.derived import (
    DECIMALS,
    frame_loss,
    pair_delta,
    pair_shape,
    real_steps,
)
from curvebench.benchmark.samples import SampleLine
from curvebench.metrics.regions import region_means
from curvebench.metrics.smoothing import nan_moving_average
from curvebench.perturbations import PerturbationRecord
from curvebench.tasks import load_task

HZ = 50


def _line(loss: np.ndarray, variant: str = "original", record=None) -> SampleLine:
    frames = loss.shape[-1]
    return SampleLine(
        task="noise-at-5s",
        dataset="ood",
        role="ood",
        piece_id="a",
        variant=variant,
        key="0" * 64,
        n_tokens=frames,
        duration_s=frames / HZ,
        loss=np.round(loss, 4).tolist(),
        seconds=[t / HZ for t in range(frames)],
        record=record,
    )


NOISE = PerturbationRecord("noise", 5.0, 2.0, True, 0, 0)


def _pair(frames: int, seed: int = 0, step: float = 1.0):
    """Codes' losses [4, frames]; the copy's frames 250–349 (5–7 s) raised by ``step``."""
    rng = np.random.default_rng(seed)
    original = rng.uniform(1.0, 6.0, (4, frames))
    perturbed = original.copy()
    perturbed[:, 250:350] += step
    perturbed[:, 350:] += rng.uniform(-0.3, 0.6, (4, frames - 350))
    return _line(original), _line(perturbed, "noise:x", NOISE)


def test_audio_delta_is_the_difference_of_frame_means_exactly() -> None:
    task = load_task("noise-at-5s")
    original, perturbed = _pair(750)
    delta = pair_delta(original, perturbed, task)
    expected = frame_loss(np.asarray(perturbed.loss)) - frame_loss(np.asarray(original.loss))
    np.testing.assert_array_equal(delta, expected)
    # where the frames are equal, Δℓ is exactly 0 (no smoothing carries the window into them)
    assert (delta[:250] == 0).all()
    # a task that asks for smoothing gets it
    smoothed = pair_delta(original, perturbed, task.model_copy(update={"smooth_steps": 5}))
    assert not np.array_equal(smoothed, delta)


def test_a_symbolic_delta_is_still_read_as_a_rate() -> None:
    task = load_task("noise-at-5s")
    rng = np.random.default_rng(1)
    loss = rng.uniform(0, 3, 300)
    seconds = np.sort(rng.uniform(0, 15, 300))
    line = SampleLine(
        task="noise-at-5s", dataset="ood", role="ood", piece_id="a", variant="original",
        key="0" * 64, n_tokens=300, duration_s=15.0, loss=np.round(loss, DECIMALS).tolist(),
        seconds=seconds.tolist(),
    )  # fmt: skip
    bumped = line.model_copy(
        update={"variant": "noise:x", "record": NOISE, "loss": (np.round(loss, 5) + 1).tolist()}
    )
    delta = pair_delta(line, bumped, task)
    raw = pair_delta(line, bumped, task.model_copy(update={"symbolic_smooth_s": 0.0}))
    np.testing.assert_allclose(delta, nan_moving_average(raw, 25))  # 0.5 s at 50 Hz
    assert not np.allclose(delta, raw)


@pytest.mark.parametrize("rule", ["curvebench", "paper"])
def test_a_short_clip_has_regions_over_its_real_frames_only(rule: str) -> None:
    task = load_task("noise-at-5s").model_copy(update={"region_rule": rule})
    original, perturbed = _pair(591, seed=2)
    assert real_steps(original, perturbed, task) == 591
    delta = pair_delta(original, perturbed, task)
    assert len(delta) == 750 and np.isnan(delta[591:]).all() and np.isfinite(delta[:591]).all()
    shape = pair_shape(delta, original, perturbed, task)
    real = region_means(delta[:591], 250, 100, HZ, rule)
    for name, value in real.items():
        assert shape.regions[name] == pytest.approx(value, abs=1e-5), name
    padded = np.concatenate([delta[:591], np.zeros(159)])  # the old reading: zeros to 15 s
    diluted = region_means(padded, 250, 100, HZ, rule)
    assert diluted["recovery"] != pytest.approx(real["recovery"], abs=1e-3)
