"""Rolling windows for sequences longer than a model's context.

A sequence of T tokens has T − 1 targets (token j is predicted from tokens before it). The first
window covers [0, C); each next one starts ``stride`` later and scores only the targets not yet
scored, so every target is scored once, with at least C − stride tokens of context after the
first window.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Window:
    """One model pass over ids[start:end], scoring targets [first_target, end)."""

    start: int
    """First token of the window."""
    end: int
    """One past the last token of the window."""
    first_target: int
    """First token whose loss this window reports (earlier ones are context only)."""


def effective_stride(context: int, stride: int | None = None) -> int:
    """The stride rolling windows use: the one given, or half the context."""
    return stride or max(1, context // 2)


def plan_windows(
    length: int, context: int, stride: int | None = None, first_target: int = 1
) -> list[Window]:
    """Windows covering every target of a ``length``-token sequence.

    ``first_target`` 0 (audio: every step is predicted, from the decoder's own start token)
    allows one window only: such a sequence must fit the context.
    """
    if first_target == 0:
        if length > context:
            raise ValueError(f"a sequence of {length} steps is longer than the context {context}")
        return [Window(0, length, 0)]
    if context < 2:
        raise ValueError("context must hold at least two tokens")
    stride = effective_stride(context, stride)
    if not 0 < stride <= context - 1:
        raise ValueError(f"stride must be in [1, context - 1], got {stride}")
    windows = [Window(0, min(length, context), 1)]
    while windows[-1].end < length:
        start = windows[-1].start + stride
        end = min(length, start + context)
        windows.append(Window(start, end, windows[-1].end))
    return windows
