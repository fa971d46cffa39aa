"""Token ids of the embedded corpus with the reference tokenizer, cached on disk: what the
reference models are trained on and what the n-gram baseline is fitted to."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging

import numpy as np

from curvebench.adapters.midi_tokens import reference_tokenizer, tokenize_score
from curvebench.cache import cache_root
from curvebench.data.piece import parse_midi
from curvebench.data.sources import EMBEDDED_DIR, embedded_split
from curvebench.errors import CurvebenchError

log = logging.getLogger(__name__)


def tokenize_split(split: str) -> list[np.ndarray]:
    """Token ids (BOS first) of every piece of an embedded split with the reference tokenizer,
    cached on disk (keyed by the split's file and the tokenizer's vocabulary)."""
    tokenizer = reference_tokenizer()
    digest = hashlib.sha256((EMBEDDED_DIR / f"{split}.parquet").read_bytes())
    digest.update(json.dumps(tokenizer.vocab, sort_keys=True).encode())
    digest.update(importlib.metadata.version("miditok").encode())
    cache = cache_root() / "tokens" / f"{split}-{digest.hexdigest()[:16]}.npz"
    if cache.is_file():
        with np.load(cache) as data:
            return np.split(data["ids"], data["ends"][:-1])
    out = []
    for row in embedded_split(split):
        try:
            out.append(tokenize_score(tokenizer, parse_midi(row["midi"], row["id"]), row["id"]).ids)
        except CurvebenchError as exc:
            log.warning("skipping %s: %s", row["id"], exc)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, ids=np.concatenate(out), ends=np.cumsum([len(x) for x in out]))
    tmp.replace(cache)
    return out
