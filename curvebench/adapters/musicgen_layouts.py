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


def _nll(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """−log softmax(logits)[target], in float32: logits [..., V], targets [...]."""
    logp = torch.log_softmax(logits.float(), dim=-1)
    return -logp.gather(-1, targets[..., None]).squeeze(-1)


def code_losses(
    layout: str, decoder: Decoder, codes: torch.Tensor, mask: torch.Tensor, special: int
) -> torch.Tensor:
    """Per-code losses [B, K, T] (nats) of codes [B, K, T] fed in ``layout``.

    ``mask`` [B, T] is True on real frames (padding is at the end); losses of padding frames
    are 0, and so is frame 0 in the paper layout (never predicted there). ``special`` is the
    decoder's start / pad id.
    """
    batch, k_count, frames = codes.shape
    targets = codes.masked_fill(~mask[:, None, :], 0)  # padding may hold the pad id
    if layout == "delay":
        inputs = delay_codes(codes, mask, special)
        logits = decoder(inputs.reshape(batch * k_count, -1))
        logits = logits.reshape(batch, k_count, inputs.shape[-1], -1)
        steps = undelay_steps(k_count, frames, codes.device)  # [K, T]
        index = steps[None, :, :, None].expand(batch, -1, -1, logits.shape[-1])
        nll = _nll(logits.gather(2, index), targets)
    elif layout == "paper":
        nll = torch.zeros(codes.shape, dtype=torch.float32, device=codes.device)
        if frames > 1:
            inputs = codes[..., :-1].masked_fill(~mask[:, None, :-1], special)
            logits = decoder(inputs.reshape(batch * k_count, -1))
            logits = logits.reshape(batch, k_count, frames - 1, -1)
            nll[..., 1:] = _nll(logits, targets[..., 1:])
    else:
        raise ValueError(f"layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    return nll.masked_fill(~mask[:, None, :], 0.0)
