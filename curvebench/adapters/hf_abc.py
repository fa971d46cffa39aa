"""Causal LMs over ABC notation (ChatMusician, MuPT and the like) with their own text tokenizer.

A score is written as ABC by midi2abc (see :mod:`curvebench.adapters.abc_convert`), so every
perturbation acts on the music before conversion. The sequence is ``[BOS] + tokens(prompt +
tune)``. A token's time is the time of the first character it covers that has one (see
:mod:`curvebench.adapters.abc_timing`): notes and bars are timed, header lines, the prompt and
whitespace are not (NaN). The tune's quarter-note positions are mapped to seconds through the
source score's tempo map, which is the tune's Q: for a constant tempo; midi2abc writes only the
first tempo, so this keeps later tempo changes (the tempo-change task) in place.
"""

from __future__ import annotations

import json

import numpy as np
import torch
from symusic import Score

from curvebench.adapters.abc_convert import abc_to_score, score_to_abc
from curvebench.adapters.abc_timing import abc_times
from curvebench.adapters.base import Adapter, Encoded, GeneratedSample, accelerator_for
from curvebench.adapters.causal_lm import (
    COMMON_OPTIONS,
    CausalLMParts,
    load_causal_lm,
    model_fingerprint,
    truthy,
)
from curvebench.adapters.registry import AdapterInfo, register_adapter
from curvebench.data.timing import TempoMap, clip_seconds
from curvebench.errors import ConfigError, SkipItem

TUNE_START = "X:1\n"
"""What generation starts from, after the prompt."""


def token_seconds(offsets: list[tuple[int, int]], char_seconds: np.ndarray) -> np.ndarray:
    """Each token's time: that of the first character in its span that has one, else NaN."""
    out = np.full(len(offsets), np.nan)
    for j, (lo, hi) in enumerate(offsets):
        timed = char_seconds[lo:hi][~np.isnan(char_seconds[lo:hi])]
        if timed.size:
            out[j] = timed[0]
    return out


class HFAbcAdapter(CausalLMParts, Adapter):
    """``AutoModelForCausalLM`` + its fast tokenizer, scoring ABC text made from the score."""

    modality = "symbolic"
    supports_prefix = False
    can_generate = True

    def __init__(
        self,
        path: str,
        tokenizer: str | None = None,
        prompt: str = "",
        revision: str | None = None,
        dtype: str = "float32",
        attn: str = "auto",
        device: str | None = None,
        trust_remote_code: str | bool = False,
        name: str = "hf-abc",
    ) -> None:
        from transformers import AutoTokenizer

        self.accelerator = accelerator_for(device)
        self.name, self.path = name, path
        self.prompt = prompt.replace("\\n", "\n")
        self.model = load_causal_lm(path, revision, dtype, trust_remote_code, attn)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                tokenizer or path, revision=revision, trust_remote_code=truthy(trust_remote_code)
            )
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{tokenizer or path}: no text tokenizer there ({exc})") from exc
        if not self.tokenizer.is_fast:
            raise ConfigError(
                f"{tokenizer or path}: a fast tokenizer is needed (its character offsets time "
                "the tokens); install `tokenizers` or convert the tokenizer"
            )
        start = self.tokenizer.bos_token_id
        start = self.tokenizer.eos_token_id if start is None else start
        if start is None:
            raise ConfigError(f"{tokenizer or path}: the tokenizer has no BOS or EOS token")
        self.start_id = int(start)

    @property
    def pad_id(self) -> int:
        pad = self.tokenizer.pad_token_id
        return self.start_id if pad is None else int(pad)

    def encode_text(self, tune: str, quarters_to_seconds=None) -> tuple[np.ndarray, np.ndarray]:
        """Ids ``[BOS] + tokens(prompt + tune)`` and each one's time (NaN: none)."""
        text = self.prompt + tune
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        times = abc_times(tune)
        chars = times.seconds
        if quarters_to_seconds is not None:
            chars = np.where(np.isnan(times.quarters), np.nan, 0.0)
            timed = ~np.isnan(times.quarters)
            chars[timed] = quarters_to_seconds(times.quarters[timed])
        chars = np.concatenate([np.full(len(self.prompt), np.nan), chars])
        seconds = token_seconds(enc["offset_mapping"], chars)
        ids = np.concatenate([[self.start_id], enc["input_ids"]]).astype(np.int64)
        return ids, np.concatenate([[np.nan], seconds])

    def encode_score(self, score: Score, name: str) -> Encoded:
        tune = score_to_abc(score, name)
        tempo = TempoMap(score)
        tpq = score.ticks_per_quarter
        ids, seconds = self.encode_text(tune, lambda q: tempo.seconds(q * tpq))
        if np.isnan(seconds).all():
            raise SkipItem(f"{name}: the ABC tune has no notes")
        end = float(tempo.seconds(score.end()))
        return Encoded(ids=ids, seconds=seconds, duration_s=end)

    @torch.no_grad()
    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[GeneratedSample]:
        """``n`` tunes sampled after the prompt and ``X:1``, made MIDI by abc2midi and cut at
        ``seconds`` (a tune abc2midi cannot read gives an empty score)."""
        torch.manual_seed(seed)
        head = self.tokenizer(self.prompt + TUNE_START, add_special_tokens=False)["input_ids"]
        device = next(self.model.parameters()).device
        start = torch.tensor([[self.start_id, *head]] * n, dtype=torch.long, device=device)
        out = self.model.generate(
            input_ids=start,
            attention_mask=torch.ones_like(start),
            do_sample=True,
            top_k=top_k,
            max_new_tokens=self.context_length - start.shape[1],
            pad_token_id=self.pad_id,
            eos_token_id=self.tokenizer.eos_token_id,
        )
        scores = []
        for row in out[:, start.shape[1] :].cpu().tolist():
            tune = TUNE_START + self.tokenizer.decode(row, skip_special_tokens=True)
            scores.append(GeneratedSample(score=clip_seconds(abc_to_score(tune), seconds)))
        return scores

    def compute_fingerprint(self) -> str:
        vocab = json.dumps(self.tokenizer.get_vocab(), sort_keys=True)
        return model_fingerprint(self.model, vocab.encode(), self.prompt.encode(), b"midi2abc")


register_adapter(
    AdapterInfo(
        name="hf-abc",
        factory=HFAbcAdapter,
        summary="a Hugging Face causal LM over ABC notation (MIDI → ABC by abcMIDI's midi2abc)",
        options={
            **COMMON_OPTIONS,
            "tokenizer": "text tokenizer folder or hub id (default: the one in path)",
            "prompt": "text before the tune, untimed (\\n for a newline; default none)",
            "trust_remote_code": "true to run the model repository's own code (default false)",
        },
    )
)
