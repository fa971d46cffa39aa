"""Any Hugging Face causal LM over miditok tokens; the embedded reference models too."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch
from miditok import MusicTokenizer
from symusic import Score
from transformers import StoppingCriteria, StoppingCriteriaList

from curvebench.adapters.base import (
    Adapter,
    Encoded,
    GeneratedSample,
    accelerator_for,
    cache_of,
    with_cache,
)
from curvebench.adapters.causal_lm import CausalLMParts, load_causal_lm, model_fingerprint
from curvebench.adapters.midi_tokens import (
    TOKENIZER_FILE,
    detokenize,
    load_tokenizer,
    token_types,
    tokenize_score,
)
from curvebench.adapters.registry import AdapterInfo, register_adapter
from curvebench.data.timing import TempoMap, clip_seconds
from curvebench.errors import ConfigError

log = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent.parent / "models"


def _fetch_tokenizer(location: str, revision: str | None) -> Path:
    """tokenizer.json from a local folder or file, or downloaded from a hub repository."""
    path = Path(location)
    if path.exists():
        return path
    from huggingface_hub import hf_hub_download

    try:
        return Path(hf_hub_download(location, TOKENIZER_FILE, revision=revision))
    except Exception as exc:  # hub errors come in many kinds; all mean "not reachable/found"
        raise ConfigError(
            f"{location}: no local {TOKENIZER_FILE}, and fetching it from the hub failed ({exc})"
        ) from exc


class HFCausalAdapter(CausalLMParts, Adapter):
    """``AutoModelForCausalLM`` scoring miditok token sequences (BOS first)."""

    modality = "symbolic"
    supports_prefix = True
    can_generate = True

    def __init__(
        self,
        path: str,
        tokenizer: str | None = None,
        dtype: str = "float32",
        attn: str = "auto",
        revision: str | None = None,
        device: str | None = None,
        trust_remote_code: str | bool = False,
        name: str = "hf-causal",
    ) -> None:
        self.accelerator = accelerator_for(device)
        self.name = name
        self.path = path
        self.model = load_causal_lm(path, revision, dtype, trust_remote_code, attn)
        tokenizer_path = _fetch_tokenizer(tokenizer or path, revision)
        self._set_tokenizer(load_tokenizer(tokenizer_path))

    def _set_tokenizer(self, tokenizer: MusicTokenizer) -> None:
        """Keep the tokenizer, checking that the model has an embedding for every token."""
        self.tokenizer: MusicTokenizer = tokenizer
        self.drawn_tokens = 0
        """Tokens the last ``generate`` drew (padding after a row stopped left out)."""
        embeddings = getattr(self.model, "get_input_embeddings", lambda: None)()
        vocab = getattr(embeddings, "num_embeddings", None)
        if vocab is not None and len(tokenizer) > vocab:
            raise ConfigError(
                f"{self.path}: tokenizer has {len(tokenizer)} tokens, the model only {vocab}"
            )
        vocab_json = json.dumps(tokenizer.vocab, sort_keys=True)
        self._tokenizer_blob = f"{type(tokenizer).__name__}|{vocab_json}".encode()

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def encode_score(self, score: Score, name: str) -> Encoded:
        tokens = tokenize_score(self.tokenizer, score, name)
        return Encoded(ids=tokens.ids, seconds=tokens.seconds, duration_s=tokens.duration_s)

    def loss_from_prefix(
        self, prefix: torch.Tensor, continuations: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Score several sequences that share ``prefix`` [P] without recomputing it: one pass
        over the prefix fills the key-value cache (transformers' ``Cache``), then the
        continuations [n, S] (right-padded, ``mask`` [n, S]) are scored on top of it.

        Returns the prefix's losses [P-1] (targets 1..P-1, the same for every sequence) and
        the continuations' [n, S]: ``out[i, j] = -log p(cont[i, j] | prefix, cont[i, :j])``.
        """
        out = self.model(input_ids=prefix[None], use_cache=True)
        logp = torch.log_softmax(out.logits[0].float(), dim=-1)
        prefix_nll = -logp[:-1].gather(-1, prefix[1:, None]).squeeze(-1)
        n = continuations.shape[0]
        cache = cache_of(out)
        cache.batch_repeat_interleave(n)
        attention = torch.cat([torch.ones_like(mask[:, :1]).expand(n, len(prefix)), mask], dim=1)
        logits = self.model(
            input_ids=continuations,
            attention_mask=attention.long(),
            **with_cache(self.model, cache),
        ).logits.float()
        cont_logp = torch.log_softmax(logits, dim=-1)
        cont_nll = torch.empty(continuations.shape, dtype=torch.float32, device=logits.device)
        cont_nll[:, 0] = -logp[-1][continuations[:, 0]]
        cont_nll[:, 1:] = -cont_logp[:, :-1].gather(-1, continuations[:, 1:, None]).squeeze(-1)
        return prefix_nll, cont_nll.masked_fill(~mask, 0.0)

    @torch.no_grad()
    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[GeneratedSample]:
        bos = self.tokenizer.vocab["BOS_None"]
        eos = self.tokenizer.vocab.get("EOS_None")
        torch.manual_seed(seed)
        device = next(self.model.parameters()).device
        start = torch.full((n, 1), bos, dtype=torch.long, device=device)
        past = PastSeconds(self.tokenizer, seconds)
        out = self.model.generate(
            input_ids=start,
            attention_mask=torch.ones_like(start),
            do_sample=True,
            top_k=top_k,
            max_new_tokens=self.context_length - 1,
            pad_token_id=self.pad_id,
            eos_token_id=eos,
            stopping_criteria=StoppingCriteriaList([past]),
        )
        self.drawn_tokens = int((out[:, 1:] != self.pad_id).sum())
        scores = []
        for row in out.cpu().numpy():
            if eos is not None and eos in row[1:]:
                row = row[: 1 + int(np.argmax(row[1:] == eos))]
            score = clip_seconds(detokenize(self.tokenizer, row), seconds)
            scores.append(GeneratedSample(score=score))
        return scores

    def token_type_names(self) -> list[str]:
        return token_types(self.tokenizer)

    def compute_fingerprint(self) -> str:
        return model_fingerprint(self.model, self._tokenizer_blob)


class PastSeconds(StoppingCriteria):
    """Stops each row of a sampled batch once nothing it could still draw starts before
    ``seconds`` (the piece is cut there anyway): for REMI without time signatures, once the
    bar it is in starts at or after ``seconds`` (its Bar tokens only move forward; a Position
    may step back, but never before its bar's start); for time-shift tokenizations (TSD,
    MIDI-like), once a note starts at or after it; otherwise never. Checked every ``every``
    steps by decoding each open row; a stopped row is padded while the others go on, so its
    tokens up to the stop are the ones an unstopped run draws."""

    def __init__(self, tokenizer: MusicTokenizer, seconds: float, every: int = 32) -> None:
        self.tokenizer, self.seconds, self.every = tokenizer, seconds, every
        self.bar = tokenizer.vocab.get("Bar_None")
        kind = type(tokenizer).__name__
        remi = kind == "REMI" and not tokenizer.config.use_time_signatures
        self.rule = "bar" if remi and self.bar is not None else None
        if kind in ("TSD", "MIDILike"):
            self.rule = "onset"
        self.done: torch.Tensor | None = None

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs) -> torch.Tensor:
        if self.done is None or self.done.shape[0] != input_ids.shape[0]:
            self.done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if self.rule is not None and input_ids.shape[1] % self.every == 0:
            for i, row in enumerate(input_ids.cpu().numpy()):
                if not self.done[i]:
                    self.done[i] = self._past(row)
        return self.done.clone()

    def _past(self, row: np.ndarray) -> bool:
        score = detokenize(self.tokenizer, row)
        if self.rule == "onset":
            starts = [tr.notes.numpy()["time"] for tr in score.tracks if len(tr.notes)]
            last = max(int(s.max()) for s in starts) if starts else -1
        else:
            bars = int((row == self.bar).sum())
            last = (bars - 1) * 4 * score.tpq if bars else -1
        return last >= 0 and last >= float(TempoMap(score).ticks(self.seconds))


def reference(variant: str = "reference", **options: str) -> HFCausalAdapter:
    """An embedded reference model (weights shipped with curvebench)."""
    folder = MODELS_DIR / variant
    if not (folder / "config.json").is_file():
        raise ConfigError(
            f"embedded model {variant!r} is missing from {folder}; "
            f"rebuild it with `curvebench train-reference --name {variant}`"
        )
    return HFCausalAdapter(path=str(folder), name=variant, **options)


register_adapter(
    AdapterInfo(
        name="hf-causal",
        factory=HFCausalAdapter,
        summary="any Hugging Face causal LM over miditok tokens (local folder or hub id)",
        options={
            "path": "model folder or hub id (required)",
            "tokenizer": "miditok tokenizer.json (default: the one in path)",
            "dtype": "float32 | bfloat16 | float16 (default float32)",
            "attn": "attention kernel: auto | sdpa | eager | flash_attention_2 (default auto)",
            "revision": "hub revision (branch, tag or commit)",
            "device": "cpu | cuda | cuda:N | mps | auto (default: the run's --accelerator)",
            "trust_remote_code": "true to run the model repository's own code (default false)",
        },
    )
)
EMBEDDED = {
    "reference": "embedded reference GPT-2 (3.4 M parameters) trained on the embedded corpus",
    "reference-tiny": "a smaller embedded reference GPT-2 (0.3 M parameters), same data",
}
for _variant, _summary in EMBEDDED.items():
    register_adapter(
        AdapterInfo(
            name=_variant,
            factory=lambda _v=_variant, **o: reference(_v, **o),
            summary=_summary,
            options={
                "dtype": "float32 | bfloat16 | float16 (default float32)",
                "attn": "attention kernel: auto | sdpa | eager | flash_attention_2 (default auto)",
                "device": "cpu | cuda | cuda:N | mps | auto (default: the run's --accelerator)",
            },
        )
    )
