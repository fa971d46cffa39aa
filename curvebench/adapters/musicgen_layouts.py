"""How MusicGen's K codebooks are laid out for its decoder, and the per-code losses of a layout.

Two layouts of codes [B, K, T] (K codebooks, T frames):

``delay`` (MusicGen's own, the default): codebook k is shifted right by k steps after one start
step, so the code of codebook k at frame t is predicted at step t + k, after the coarser codes
of its frame. This is the layout MusicGen was trained and generates with; its losses are the
model's likelihood of the audio. ``loss[k, t]`` is −log p(code t of codebook k | every code
the delay pattern puts before it).

``paper`` (the feeding of the paper's released scripts, YoEv/noiseloss
``losscal/loss_cal_small.py``): the codes go to the decoder *as they are*, without the delay
pattern and without a start token; the input is frames 0 … T−2 (``codes[:, :, :-1]``) and the
target frames 1 … T−1 (``codes[:, :, 1:]``), so the output at step i predicts all K codes of
frame i + 1 from the codes of frames 0 … i. That script calls the decoder alone (no text
encoder states, so no cross-attention), in float32, per file (no padding), and takes the
cross-entropy of each codebook over the decoder's 2048 outputs; its per-frame loss is the mean
over codebooks. Here ``loss[k, t]`` for t ≥ 1 is exactly that script's loss of codebook k at its
position t − 1 (the script indexes a loss by the frame it is conditioned on, curvebench by the
frame it predicts). Frame 0 is never predicted in that feeding; its loss is reported as 0 nats
(as padding is), so Δℓ at frame 0 is exactly 0 and a clip's mean over T frames is the script's
mean over T − 1 frames times (T − 1)/T. Not reproduced: the script masks targets past position
1,500 (30 s), which no 15 s clip reaches.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

LAYOUTS = ("delay", "paper")

Decoder = Callable[[torch.Tensor], torch.Tensor]
"""Runs the decoder: input ids [B·K, S] → logits [B·K, S, V]."""


def delay_codes(codes: torch.Tensor, mask: torch.Tensor, special: int) -> torch.Tensor:
    """The decoder input of codes [B, K, T]: [B, K, T + K − 1].

    Step s of codebook k holds code ``s − 1 − k`` of that codebook, or ``special`` (the start
    token) where there is none: at s ≤ k (the start), after the last code, and on frames that
    ``mask`` [B, T] marks as padding. The last code of the last codebook is predicted at step
    T + K − 2, the final input step.
    """
    batch, k_count, frames = codes.shape
    steps = frames + k_count - 1
    s = torch.arange(steps, device=codes.device)
    source = s[None, :] - 1 - torch.arange(k_count, device=codes.device)[:, None]  # [K, S]
    inside = (source >= 0) & (source < frames)
    index = source.clamp(0, max(frames - 1, 0))
    picked = codes.gather(2, index[None].expand(batch, -1, -1))
    real = inside[None] & mask.gather(1, index.reshape(1, -1).expand(batch, -1)).view(
        batch, k_count, steps
    )
    return torch.where(real, picked, torch.full_like(picked, special))


def undelay_steps(k_count: int, frames: int, device: torch.device | None = None) -> torch.Tensor:
    """[K, T]: the decoder step whose output predicts code t of codebook k, ``t + k``."""
    t = torch.arange(frames, device=device)
    return t[None, :] + torch.arange(k_count, device=device)[:, None]


def decoder_inputs(
    layout: str, codes: torch.Tensor, mask: torch.Tensor, special: int
) -> torch.Tensor:
    """The decoder input [B, K, S] of codes [B, K, T] in ``layout``: S = T + K − 1 steps with
    the delay pattern, T − 1 in the paper's feeding (frames 0 … T − 2); padding is ``special``."""
    if layout == "delay":
        return delay_codes(codes, mask, special)
    if layout == "paper":
        return codes[..., :-1].masked_fill(~mask[:, None, :-1], special)
    raise ValueError(f"layout {layout!r}: use one of {', '.join(LAYOUTS)}")


def target_steps(
    layout: str, k_count: int, frames: int, device: torch.device | None = None
) -> torch.Tensor:
    """[K, T]: the decoder step whose output predicts code t of codebook k: t + k with the
    delay pattern, t − 1 in the paper's feeding (−1: frame 0, never predicted)."""
    if layout == "delay":
        return undelay_steps(k_count, frames, device)
    t = torch.arange(frames, device=device) - 1
    return t[None, :].expand(k_count, -1)


def shared_steps(layout: str, frames: int) -> int:
    """How many first decoder steps have the same input in every sequence whose first
    ``frames`` frames are the same (whatever follows): their key-value cache can be shared.

    Delay pattern: step s holds code s − 1 − k of codebook k, so steps 0 … ``frames`` read
    frames below ``frames`` only (step 0 is the start token): ``frames + 1``. The first step
    that may differ, ``frames + 1``, holds codebook 0 of frame ``frames``; the outputs of the
    shared steps still predict codes of later frames (step s predicts code s − k), which then
    differ only by their target. Paper feeding: step i holds frame i: ``frames``.
    """
    if layout == "delay":
        return frames + 1
    if layout == "paper":
        return frames
    raise ValueError(f"layout {layout!r}: use one of {', '.join(LAYOUTS)}")


def _picked_nll(logp: torch.Tensor, steps: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """−logp[b, k, steps[k, t], targets[b, k, t]]: logp [B, K, S, V] (S ≥ 1), steps [K, T]
    (clamped into the S steps), targets [B, K, T] → [B, K, T]."""
    batch, k_count, s_count, vocab = logp.shape
    index = steps.clamp(0, s_count - 1)[None] * vocab + targets
    return -logp.reshape(batch, k_count, s_count * vocab).gather(2, index)


def _logp(logits: torch.Tensor, batch: int, k_count: int) -> torch.Tensor:
    """log softmax in float32 of decoder logits [B·K, S, V], as [B, K, S, V]."""
    return torch.log_softmax(logits.float(), dim=-1).reshape(batch, k_count, logits.shape[1], -1)


def code_losses(
    layout: str, decoder: Decoder, codes: torch.Tensor, mask: torch.Tensor, special: int
) -> torch.Tensor:
    """Per-code losses [B, K, T] (nats) of codes [B, K, T] fed in ``layout``.

    ``mask`` [B, T] is True on real frames (padding is at the end); losses of padding frames
    are 0, and so is frame 0 in the paper layout (never predicted there). ``special`` is the
    decoder's start / pad id.
    """
    batch, k_count, frames = codes.shape
    inputs = decoder_inputs(layout, codes, mask, special)
    steps = target_steps(layout, k_count, frames, codes.device)
    nll = torch.zeros(codes.shape, dtype=torch.float32, device=codes.device)
    if inputs.shape[-1]:
        logp = _logp(decoder(inputs.reshape(batch * k_count, -1)), batch, k_count)
        targets = codes.masked_fill(~mask[:, None, :], 0)  # padding may hold the pad id
        nll = _picked_nll(logp, steps, targets)
    return nll.masked_fill((steps < 0)[None] | ~mask[:, None, :], 0.0)


SharedDecoder = Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""Runs the decoder over shared input steps [K, C] once, then over each sequence's further
steps [n·K, R] on top of their key-value cache: (logits [K, C, V], logits [n·K, R, V]).
C = 0: nothing is shared (the second pass starts from scratch); R = 0: no second pass."""


def code_losses_from_prefix(
    layout: str,
    decoder: SharedDecoder,
    prefix: torch.Tensor,
    continuations: torch.Tensor,
    mask: torch.Tensor,
    special: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-code losses of n sequences that share their first frames ``prefix`` [K, P] and go
    on with ``continuations`` [n, K, S] (right-padded; ``mask`` [n, S]), from one decoder pass
    over the :func:`shared_steps` of the prefix and one over the rest: (losses of the prefix
    frames [n, K, P], of the continuations [n, K, S]), each sequence's equal to its
    :func:`code_losses`. Both parts are per sequence: under the delay pattern the last codes
    of the prefix in codebooks k ≥ 1 are predicted after the shared steps.
    """
    n, k_count = continuations.shape[:2]
    frames = prefix.shape[-1]
    codes = torch.cat([prefix[None].expand(n, -1, -1), continuations], dim=2)
    full = torch.cat([torch.ones_like(mask[:, :1]).expand(n, frames), mask], dim=1)
    inputs = decoder_inputs(layout, codes, full, special)  # [n, K, S_all]
    shared = min(shared_steps(layout, frames), inputs.shape[-1])
    steps = target_steps(layout, k_count, codes.shape[-1], codes.device)
    targets = codes.masked_fill(~full[:, None, :], 0)  # padding may hold the pad id
    head, tail = decoder(inputs[0, :, :shared], inputs[:, :, shared:].reshape(n * k_count, -1))
    nll = torch.zeros(codes.shape, dtype=torch.float32, device=codes.device)
    if shared:
        nll = _picked_nll(_logp(head, 1, k_count).expand(n, -1, -1, -1), steps, targets)
    if tail.shape[1]:
        tail_nll = _picked_nll(_logp(tail, n, k_count), steps - shared, targets)
        nll = torch.where((steps >= shared)[None], tail_nll, nll)
    nll = nll.masked_fill((steps < 0)[None] | ~full[:, None, :], 0.0)
    return nll[..., :frames], nll[..., frames:]
