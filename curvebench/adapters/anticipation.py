"""The Anticipatory Music Transformer (GPT-2 checkpoints such as
``stanford-crfm/music-small-800k``) scoring its own arrival-time event tokens.

Scoring uses the autoregressive mode: ``[AUTOREGRESS]`` then every note as a (time, duration,
note) event, REST events filling silences longer than a second (see
:mod:`curvebench.adapters.anticipation_tokens`). Every token carries its event's onset, so the
three tokens of an event share one time; :func:`event_losses` sums them per event.
"""

from __future__ import annotations

import torch
from symusic import Score
from transformers import LogitsProcessor, LogitsProcessorList

from curvebench.adapters.anticipation_tokens import (
    AUTOREGRESS,
    CONTROL_OFFSET,
    DUR_OFFSET,
    MAX_TIME,
    NOTE_OFFSET,
    RESOLUTION,
    TIME_OFFSET,
    VOCAB_SIZE,
    decode_events,
    encode_events,
    event_losses,
    slot_of,
)
from curvebench.adapters.base import Adapter, Encoded, GeneratedSample, accelerator_for
from curvebench.adapters.causal_lm import (
    COMMON_OPTIONS,
    CausalLMParts,
    load_causal_lm,
    model_fingerprint,
)
from curvebench.adapters.registry import AdapterInfo, register_adapter
from curvebench.data.timing import clip_seconds
from curvebench.errors import ConfigError

__all__ = ["AnticipationAdapter", "event_losses"]

_RANGES = ((TIME_OFFSET, DUR_OFFSET), (DUR_OFFSET, NOTE_OFFSET), (NOTE_OFFSET, CONTROL_OFFSET))
"""Token range of each slot of an event: time, duration, note (REST included)."""


class EventGrammar(LogitsProcessor):
    """Sampling keeps to the event grammar: each slot draws only its own kind of token, and a
    time token never goes back before the previous event's time (no controls, no specials)."""

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.Tensor:
        position = input_ids.shape[1]
        slot = slot_of(position)
        low, high = _RANGES[slot]
        allowed = torch.zeros(scores.shape[-1], dtype=torch.bool, device=scores.device)
        allowed[low:high] = True
        scores = scores.masked_fill(~allowed, -float("inf"))
        if slot == 0 and position > 3:
            last = input_ids[:, position - 3]  # the previous event's time token
            steps = torch.arange(scores.shape[-1], device=scores.device)
            scores = scores.masked_fill(steps[None, :] < last[:, None], -float("inf"))
        return scores


class AnticipationAdapter(CausalLMParts, Adapter):
    """A GPT-2 Anticipatory Music Transformer over arrival-time events."""

    modality = "symbolic"
    supports_prefix = False
    can_generate = True

    def __init__(
        self,
        path: str,
        revision: str | None = None,
        dtype: str = "float32",
        attn: str = "auto",
        device: str | None = None,
        name: str = "anticipation",
    ) -> None:
        self.accelerator = accelerator_for(device)
        self.name, self.path = name, path
        self.model = load_causal_lm(path, revision, dtype, attn=attn)
        vocab = self.model.get_input_embeddings().num_embeddings
        if vocab < VOCAB_SIZE:
            raise ConfigError(
                f"{path}: the model has {vocab} token embeddings; the anticipation vocabulary "
                f"needs {VOCAB_SIZE}"
            )

    @property
    def pad_id(self) -> int:
        return AUTOREGRESS  # never a target: padded targets are masked

    def encode_score(self, score: Score, name: str) -> Encoded:
        events = encode_events(score, name)
        return Encoded(ids=events.ids, seconds=events.seconds, duration_s=events.duration_s)

    @torch.no_grad()
    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[GeneratedSample]:
        """``n`` pieces sampled from ``[AUTOREGRESS]`` under the event grammar, cut at
        ``seconds``."""
        torch.manual_seed(seed)
        device = next(self.model.parameters()).device
        start = torch.full((n, 1), AUTOREGRESS, dtype=torch.long, device=device)
        steps = self.context_length - 1
        steps -= steps % 3  # whole events only
        out = self.model.generate(
            input_ids=start,
            attention_mask=torch.ones_like(start),
            do_sample=True,
            top_k=top_k,
            max_new_tokens=steps,
            min_new_tokens=steps,
            logits_processor=LogitsProcessorList([EventGrammar()]),
            pad_token_id=AUTOREGRESS,
        )
        limit = min(seconds, MAX_TIME / RESOLUTION)
        rows = out.cpu().numpy()
        return [GeneratedSample(score=clip_seconds(decode_events(r), limit)) for r in rows]

    def compute_fingerprint(self) -> str:
        return model_fingerprint(self.model, b"anticipation-arrival-v1")


register_adapter(
    AdapterInfo(
        name="anticipation",
        factory=AnticipationAdapter,
        summary="Anticipatory Music Transformer (GPT-2) over arrival-time (time, duration, note) "
        "events at 10 ms",
        options=dict(COMMON_OPTIONS),
    )
)
