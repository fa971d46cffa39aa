"""A complete curvebench adapter in one file: a unigram model of REMI tokens.

Every token is predicted from its corpus frequency alone (add-``alpha`` smoothing), ignoring
context: the weakest sensible baseline, and a template for wrapping your own model.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from symusic import Score

from curvebench.adapters.base import Adapter, Encoded, GeneratedSample
from curvebench.adapters.midi_tokens import detokenize, reference_tokenizer, tokenize_score
from curvebench.adapters.registry import AdapterInfo
from curvebench.data.timing import clip_seconds


class UnigramAdapter(Adapter):
    """Token frequencies of a corpus, smoothed with add-``alpha``."""

    name = "unigram"
    modality = "symbolic"
    can_generate = True

    def __init__(self, alpha: str | float = 1.0, corpus: list[np.ndarray] | None = None) -> None:
        self.tokenizer = reference_tokenizer()
        if corpus is None:  # the embedded training split (a few seconds to tokenize)
            from curvebench.adapters.corpus_tokens import tokenize_split

            corpus = tokenize_split("train")
        counts = np.bincount(np.concatenate(corpus), minlength=len(self.tokenizer))
        probs = (counts + float(alpha)) / (counts.sum() + float(alpha) * len(counts))
        self._module = torch.nn.Module()
        self._module.register_buffer("log_probs", torch.tensor(np.log(probs)))

    @property
    def module(self) -> torch.nn.Module:
        return self._module

    @property
    def context_length(self) -> int:
        return 1_000_000

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def encode_score(self, score: Score, name: str) -> Encoded:
        tokens = tokenize_score(self.tokenizer, score, name)
        return Encoded(tokens.ids, tokens.seconds, tokens.duration_s)

    def loss(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        nll = -self._module.log_probs[ids[:, 1:]]
        return nll.masked_fill(~mask[:, 1:], 0.0).float()

    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[GeneratedSample]:
        rng = np.random.default_rng(seed)
        probs = self._module.log_probs.exp().cpu().numpy()
        top = np.argsort(probs)[::-1][:top_k]
        p = probs[top] / probs[top].sum()
        rows = [rng.choice(top, size=400, p=p) for _ in range(n)]
        return [
            GeneratedSample(score=clip_seconds(detokenize(self.tokenizer, row), seconds))
            for row in rows
        ]

    def compute_fingerprint(self) -> str:
        return hashlib.sha256(self._module.log_probs.cpu().numpy().tobytes()).hexdigest()

    def num_parameters(self) -> int:
        return int(self._module.log_probs.numel())


ADAPTER = AdapterInfo(
    name="unigram",
    factory=UnigramAdapter,
    summary="example plug-in: token frequencies of the embedded training split",
    options={"alpha": "add-alpha smoothing (default 1.0)"},
)
