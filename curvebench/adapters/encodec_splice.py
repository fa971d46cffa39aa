"""EnCodec codes of a perturbed copy, computed only where the copy differs from its original.

A perturbed copy is its original's audio except on one stretch (the noise's window, or the
notes a perturbation changed, rendered again). EnCodec's encoder is a stack of convolutions,
each frame of which reads a bounded stretch of samples, then an LSTM and a last convolution
at the frame rate. So the convolution stack's output for the copy is the original's outside
the frames that read the changed stretch: :class:`StackSplice` computes the stack on a window
around that stretch only, puts those frames into the original's stack output, and runs the
LSTM, the last convolution and the quantiser on the whole clip as ``EncodecModel.encode``
does. On a 15 s clip with 2 s of noise the stack, nearly all of the encoder's work, runs on
about a fifth of the clip.

What makes the codes those of encoding the copy whole, bit for bit: a convolution gives each
output from the same inputs by the same sums wherever it sits in its input (shift
invariance), and the window keeps that true. It starts on a multiple of ``ALIGN`` frames (so
every stride and vector lane lines up with the whole clip's), its kept frames read no padding
of its edges, and frames near the clip's own edges (which read mirrored samples beyond their
nominal reach) are recomputed with the window reaching that edge. Where a library could still
sum otherwise (it picks other kernels for short inputs), the window's frames beside the kept
ones, which read neither the change nor an edge, must equal the original's exactly; if they
do not, the window is tried once at twice the length, then the copy is encoded whole. Tested
against whole encoding on the shipped codec and on causal and non-causal codecs of other
shapes (``tests/adapters/test_encodec_splice.py``).
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import torch

log = logging.getLogger(__name__)

STACK_MEMO = 4
"""Originals whose stack outputs an adapter keeps (a worker prepares one piece at a time)."""
MAX_WINDOW = 512
"""The longest a window's minimum grows (a library that disagrees on shorter inputs)."""
PADDINGS = ("reflect", "constant", "replicate", "zero")
"""Padding modes whose reach is local (circular padding makes a clip's start read its end)."""
ALIGN = 16
"""A copy's window starts and ends on multiples of this many frames, so that at every layer
its positions fall in the same vector lanes as the whole clip's."""
MIN_WINDOW = 64
"""Frames a window spans at first: on much shorter inputs convolution libraries choose other
kernels, whose sums differ in the last bits (we measured windows under 48 frames differing
with the shipped codec, under 128 with a narrower one); where a window comes out otherwise,
the splice doubles its minimum and tries again."""


@dataclass(frozen=True)
class Reach:
    """How far a frame of the convolution stack reads: frame f reads samples
    [f·hop − left, (f+1)·hop + right)."""

    hop: int
    left: int
    right: int


def stack_reach(encoder: torch.nn.Module) -> tuple[int, Reach] | None:
    """The index of the encoder's LSTM (the stack is every layer before it) and the stack's
    reach, or None for an encoder whose layers before the LSTM are not EnCodec's
    convolutions, residual blocks and activations."""
    from transformers.models.encodec.modeling_encodec import (
        EncodecConv1d,
        EncodecLSTM,
        EncodecResnetBlock,
    )

    layers = list(getattr(encoder, "layers", []))
    cut = next((i for i, layer in enumerate(layers) if isinstance(layer, EncodecLSTM)), None)
    if cut is None:
        return None
    hop, left, right = 1, 0, 0
    for layer in layers[:cut]:
        if isinstance(layer, torch.nn.ELU):
            continue
        if not isinstance(layer, EncodecConv1d | EncodecResnetBlock):
            return None
        stride = 1
        for conv in (m for m in layer.modules() if isinstance(m, EncodecConv1d)):
            if conv.norm_type != "weight_norm" or conv.pad_mode not in PADDINGS:
                return None  # a norm over the whole clip, or a padding that wraps around
            total = int(conv.padding_total)
            after = 0 if conv.causal else total // 2
            # every conv's reach counted at the layer's input rate (a residual block's
            # shortcut has kernel 1: no reach)
            left, right = left + (total - after) * hop, right + after * hop
            stride = max(stride, int(conv.conv.stride[0]))
        hop *= stride
    return cut, Reach(hop=hop, left=left, right=right)


def changed_stretch(copy: np.ndarray, original: np.ndarray) -> tuple[int, int] | None:
    """[first, last + 1) of the samples where two equally long waveforms differ; None when
    they differ in length; (0, 0) when they are equal."""
    if copy.shape != original.shape:
        return None
    differ = np.flatnonzero(copy != original)
    if differ.size == 0:
        return 0, 0
    return int(differ[0]), int(differ[-1]) + 1


class StackSplice:
    """The convolution stack of an EnCodec encoder, run whole on originals (kept) and on a
    window around the changed stretch of their copies."""

    def __init__(self, encoder: torch.nn.Module) -> None:
        self.encoder = encoder
        found = stack_reach(encoder)
        self.cut, self.reach = found if found is not None else (None, None)
        self.memo: OrderedDict[bytes, torch.Tensor] = OrderedDict()
        self.spliced = 0
        """Copies encoded from a window (counted for the benchmark and the tests)."""
        self.min_window = MIN_WINDOW
        """Frames a window spans at least (doubled where a shorter one came out otherwise)."""
        self.whole = 0
        """Copies that went back to whole encoding because a window disagreed."""

    @property
    def usable(self) -> bool:
        return self.cut is not None

    def stack(self, values: torch.Tensor) -> torch.Tensor:
        """The stack's output [1, C, T] of [1, 1, samples]."""
        for layer in self.encoder.layers[: self.cut]:
            values = layer(values)
        return values

    def head(self, hidden: torch.Tensor) -> torch.Tensor:
        """The encoder's output (embeddings) from the stack's output: LSTM and what follows."""
        for layer in self.encoder.layers[self.cut :]:
            hidden = layer(hidden)
        return hidden

    def remember(self, key: bytes, hidden: torch.Tensor) -> None:
        self.memo[key] = hidden
        self.memo.move_to_end(key)
        while len(self.memo) > STACK_MEMO:
            self.memo.popitem(last=False)

    def copy_stack(
        self, copy: torch.Tensor, original: torch.Tensor, key: bytes, stretch: tuple[int, int]
    ) -> torch.Tensor | None:
        """The stack's output for ``copy`` [1, 1, samples], equal to running it whole, from
        the original's (computed and kept under ``key`` if not kept yet) and a window around
        ``stretch``; None when the window's frames that should equal the original's do not."""
        whole = self.memo.get(key)
        if whole is None:
            whole = self.stack(original)
        self.remember(key, whole)
        if stretch == (0, 0):
            return whole.clone()
        for attempt in range(2):
            window = self._window(copy.shape[-1], whole.shape[-1], stretch)
            if window is None:
                return None  # no saving: the caller encodes it whole
            lo, hi, start, stop = window
            part = self.stack(copy[..., start:stop])
            if self._agrees(part, whole, window, copy.shape[-1]):
                break
            # the library computed this window otherwise than the whole clip (on short inputs
            # it picks other kernels): windows from now on are twice as long, up to a limit
            self.min_window = min(2 * self.min_window, MAX_WINDOW)
            if attempt == 1:
                self.whole += 1
                log.debug("copy encoded whole: its window came out otherwise, twice")
                return None
        offset = start // self.reach.hop
        out = whole.clone()
        out[..., lo:hi] = part[..., lo - offset : hi - offset]
        self.spliced += 1
        return out

    def _window(
        self, samples: int, frames: int, stretch: tuple[int, int]
    ) -> tuple[int, int, int, int] | None:
        """(lo, hi, start, stop): the frames [lo, hi) that read the changed stretch (and one
        more each side), and the samples [start, stop) they read with a clean frame each side,
        its ends on multiples of ALIGN frames, at least ``min_window`` frames long; None when
        that is the whole clip."""
        hop, left, right = self.reach.hop, self.reach.left, self.reach.right
        block = ALIGN * hop
        lo = max(0, (stretch[0] - right) // hop - 1)
        hi = min(frames, -(-(stretch[1] + left) // hop) + 1)
        # frames near the clip's edges read mirrored samples beyond their nominal reach (up
        # to ``left`` at the start, ``right`` and a frame of end padding at the end): there,
        # recompute every frame up to the edge
        if lo * hop <= 2 * left + hop:
            lo = 0
        if hi * hop + 2 * (right + hop) >= samples:
            hi = frames
        start = max(0, (lo * hop - left - hop) // block * block)
        stop = min(samples, -(-(hi * hop + right + hop) // block) * block)
        while stop - start < self.min_window * hop and (start > 0 or stop < samples):
            stop = min(samples, stop + block)
            if stop - start < self.min_window * hop:
                start = max(0, start - block)
        return None if stop - start >= samples else (lo, hi, start, stop)

    def _agrees(
        self,
        part: torch.Tensor,
        whole: torch.Tensor,
        window: tuple[int, int, int, int],
        samples: int,
    ) -> bool:
        """Whether the window's frames that read neither its edges' padding nor the changed
        stretch came out as the original's (there is at least one such frame each side
        that is not an end of the clip)."""
        lo, hi, start, stop = window
        hop, left, right = self.reach.hop, self.reach.left, self.reach.right
        frames, offset = whole.shape[-1], start // hop
        clean_lo = 0 if start == 0 else -(-(start + left) // hop)
        clean_hi = frames if stop == samples else min(frames, (stop - right) // hop)
        if hi - offset > part.shape[-1] or (start > 0 and lo <= clean_lo):
            return False
        if stop < samples and clean_hi <= hi:
            return False
        return all(
            torch.equal(part[..., a - offset : b - offset], whole[..., a:b])
            for a, b in ((clean_lo, lo), (hi, clean_hi))
            if b > a
        )
