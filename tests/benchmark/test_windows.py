from __future__ import annotations

import pytest

from curvebench.benchmark.windows import Window, plan_windows


def test_short_sequence_is_one_window() -> None:
    assert plan_windows(10, 16) == [Window(0, 10, 1)]


@pytest.mark.parametrize(("length", "context", "stride"), [(100, 16, 8), (33, 16, 5), (17, 16, 15)])
def test_every_target_is_scored_exactly_once(length: int, context: int, stride: int) -> None:
    windows = plan_windows(length, context, stride)
    targets = [j for w in windows for j in range(w.first_target, w.end)]
    assert targets == list(range(1, length))
    assert all(w.end - w.start <= context for w in windows)
    # after the first window each target sees at least context - stride tokens before it
    assert all(w.first_target - w.start >= context - stride for w in windows[1:])
