"""The n-gram baseline: a Kneser-Ney Markov model over the reference REMI tokens.

The classic music-cognition baseline: a Markov model that interpolates every order from
``order`` down to a uniform guess, fitted on the training split of the embedded corpus (the
smoothing is in ``kneser_ney``). Sequences begin with BOS, so the first real token is
predicted from BOS; a position whose context holds fewer than ``order - 1`` tokens (the start
of a piece) is scored by the orders its context allows, never with invented padding. Fitted
tables are cached under ``cache_root() / "ngram"``, keyed by the training tokens, the order,
the smoothing and ``VERSION``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from symusic import Score

from curvebench.adapters.base import Adapter, Encoded, GeneratedSample
from curvebench.adapters.kneser_ney import SMOOTHING, KneserNey, check_order
from curvebench.adapters.midi_tokens import (
    detokenize,
    reference_tokenizer,
    token_types,
    tokenize_score,
)
from curvebench.adapters.registry import AdapterInfo, register_adapter
from curvebench.cache import cache_root
from curvebench.data.timing import clip_seconds, duration_seconds
from curvebench.errors import ConfigError

log = logging.getLogger(__name__)

VERSION = 1
"""Bump when the tables' meaning changes, so old cache files are not reused."""
TRAIN_SPLIT = "train"
CHECK_EVERY = 64
"""Generation decodes the samples every this many tokens to see whether they are long enough."""


def _parse_order(order: int | str) -> int:
    try:
        return int(order)
    except (TypeError, ValueError):
        raise ConfigError(f"ngram order={order!r}: give an integer from 1 to 8") from None


def _data_key(sequences: list[np.ndarray]) -> bytes:
    """sha256 of the training token arrays (their lengths and ids)."""
    lengths = np.array([len(s) for s in sequences], np.int64)
    h = hashlib.sha256(lengths.tobytes())
    if len(sequences):
        h.update(np.concatenate(sequences).astype(np.int64).tobytes())
    return h.digest()


def _load(path: Path) -> KneserNey | None:
    try:
        with np.load(path) as arrays:
            return KneserNey.from_arrays(dict(arrays))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        log.warning("ignoring unreadable n-gram cache %s (%s); refitting", path, exc)
        return None


def _save(model: KneserNey, path: Path) -> None:
    """Write atomically: a temporary file in the same folder, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **model.to_arrays())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class NGramAdapter(Adapter):
    """A Kneser-Ney n-gram model over REMI tokens, as an adapter.

    By default it fits on the embedded training split; ``sequences`` (int arrays, BOS first)
    and ``vocab_size`` fit it on other data instead (tests, custom corpora).
    """

    name = "ngram"
    modality = "symbolic"
    can_generate = True

    def __init__(
        self,
        order: int | str = 5,
        sequences: list[np.ndarray] | None = None,
        vocab_size: int | None = None,
    ) -> None:
        self.tokenizer = reference_tokenizer()
        self.order = _parse_order(order)
        vocab = int(vocab_size or len(self.tokenizer))
        check_order(self.order, vocab)
        bos = self.tokenizer.vocab["BOS_None"]
        if sequences is None:
            from curvebench.adapters.corpus_tokens import tokenize_split

            sequences = tokenize_split(TRAIN_SPLIT)
        key = hashlib.sha256(
            _data_key(sequences) + f"|{self.order}|{vocab}|{bos}|{SMOOTHING}|v{VERSION}".encode()
        ).hexdigest()
        self.cache_file = cache_root() / "ngram" / f"{key}.npz"
        model = _load(self.cache_file)
        if model is None:
            started = time.perf_counter()
            model = KneserNey.fit(sequences, self.order, vocab, bos)
            log.info(
                "fitted a %d-gram model (%d n-grams) in %.1f s",
                self.order,
                model.num_entries,
                time.perf_counter() - started,
            )
            _save(model, self.cache_file)
        self.model = model
        self._module = torch.nn.Module()  # nothing to place: the tables stay in numpy

    @property
    def module(self) -> torch.nn.Module:
        return self._module

    @property
    def context_length(self) -> int:
        return 1_000_000  # a Markov model has no limit; only the last order-1 tokens matter

    @property
    def pad_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    def num_parameters(self) -> int:
        """Number of stored n-grams, over all orders."""
        return self.model.num_entries

    def encode_score(self, score: Score, name: str) -> Encoded:
        tokens = tokenize_score(self.tokenizer, score, name)
        return Encoded(ids=tokens.ids, seconds=tokens.seconds, duration_s=tokens.duration_s)

    def loss(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        array = ids.detach().cpu().numpy().astype(np.int64)
        if array.size and (array.min() < 0 or array.max() >= self.model.vocab_size):
            raise ConfigError(
                f"ngram: token ids must lie in [0, {self.model.vocab_size}); "
                "encode music with the reference tokenizer"
            )
        nll = torch.from_numpy(-self.model.log_prob(array)).to(ids.device)
        return nll.masked_fill(~mask[:, 1:].bool(), 0.0)

    def generate(self, n: int, top_k: int, seconds: float, seed: int) -> list[GeneratedSample]:
        """Token-by-token top-k sampling (PAD and BOS never drawn; EOS ends a sample), all
        samples in step; stops when every sample lasts ``seconds`` or after a token budget."""
        rng = np.random.default_rng(seed)
        vocab = self.tokenizer.vocab
        eos = vocab.get("EOS_None")
        banned = [self.pad_id, vocab["BOS_None"]]
        k = max(1, min(int(top_k), self.model.vocab_size - len(banned)))
        budget = max(1024, int(200 * seconds))
        rows = np.full((n, 1), vocab["BOS_None"], np.int64)
        done = np.zeros(n, bool)
        for step in range(1, budget + 1):
            p = self.model.next_distribution(rows)
            p[:, banned] = 0.0
            top = np.sort(np.argpartition(-p, k - 1, axis=1)[:, :k], axis=1)
            weights = np.take_along_axis(p, top, axis=1)
            cdf = np.cumsum(weights, axis=1)
            pick = (cdf < rng.random(n)[:, None] * cdf[:, -1:]).sum(axis=1)
            token = top[np.arange(n), np.minimum(pick, k - 1)]
            token[done] = self.pad_id
            done |= token == eos
            rows = np.concatenate([rows, token[:, None]], axis=1)
            if step % CHECK_EVERY == 0:
                for i in np.flatnonzero(~done):
                    done[i] = duration_seconds(detokenize(self.tokenizer, rows[i])) >= seconds
            if done.all():
                break
        return [
            GeneratedSample(score=clip_seconds(detokenize(self.tokenizer, row), seconds))
            for row in rows
        ]

    def token_type_names(self) -> list[str]:
        return token_types(self.tokenizer)

    def compute_fingerprint(self) -> str:
        h = hashlib.sha256(f"ngram|order={self.order}|{SMOOTHING}|".encode())
        h.update(json.dumps(self.tokenizer.vocab, sort_keys=True).encode())
        h.update(self.model.digest().encode())
        return h.hexdigest()


register_adapter(
    AdapterInfo(
        name="ngram",
        factory=NGramAdapter,
        summary="Kneser-Ney n-gram baseline over REMI tokens, fitted on the embedded train split",
        options={"order": "n-gram order, 1 to 7 (default 5: a context of one REMI note)"},
    )
)
