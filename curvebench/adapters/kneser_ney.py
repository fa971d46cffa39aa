"""An interpolated modified Kneser-Ney n-gram model over integer token sequences, in numpy.

Smoothing (Chen & Goodman 1998, "modified" Kneser-Ney, interpolated), for order m, a context
h of m-1 tokens and a next token w:

    p_m(w | h) = (a(hw) - D_m(a(hw))) / S(h) + γ(h) · p_{m-1}(w | h')      if h was seen,
    p_m(w | h) = p_{m-1}(w | h')                                           otherwise,

    S(h) = Σ_v a(hv),   γ(h) = (D_m1 N1(h) + D_m2 N2(h) + D_m3+ N3+(h)) / S(h),   p_0(w) = 1 / V,

where h' is h without its oldest token, D_m(a) is D_m1, D_m2 or D_m3+ for a = 1, 2 or ≥ 3,
and N_k(h) counts the tokens v with a(hv) = k (≥ 3 for N3+). The count a is the raw count at
the highest order and for n-grams that begin with BOS (nothing can precede a BOS, as KenLM
does for <s>); elsewhere it is the continuation count: the number of distinct tokens seen
right before the n-gram. Discounts come from the count-of-counts n_k of a at each order:
Y = n1 / (n1 + 2 n2), D_k = k − (k + 1) Y n_{k+1} / n_k; an estimate that is undefined or
outside (0, k] falls back to Y (0.5 when Y is undefined), so every γ(h) > 0 and every token
has a probability > 0. Each order sums to one over the vocabulary, hence so does the model.

Every n-gram is an int64 key (its tokens as a base-V number), so fitting is a few
``np.unique`` calls per order and scoring a few ``np.searchsorted`` calls per order.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

from curvebench.errors import ConfigError

SMOOTHING = "interpolated-modified-kneser-ney"
KEY_BITS = 62
"""Largest number of bits an n-gram key may need (keys are int64, products stay below 2^63)."""


def check_order(order: int, vocab_size: int) -> None:
    """Raise ConfigError if n-grams of this order cannot be int64 keys."""
    if not 1 <= order <= 8:
        raise ConfigError(f"ngram order={order}: choose an order from 1 to 8")
    bits = order * math.log2(vocab_size)
    if bits > KEY_BITS:
        longest = int(KEY_BITS // math.log2(vocab_size))
        raise ConfigError(
            f"ngram order={order}: {order} tokens of a {vocab_size}-token vocabulary need "
            f"{bits:.1f} bits, more than the {KEY_BITS} of an n-gram key; use order <= {longest}"
        )


@dataclass(frozen=True)
class OrderTable:
    """The smoothed statistics of one order m."""

    keys: np.ndarray
    """int64, sorted: keys of the m-grams seen in training."""
    prob: np.ndarray
    """float64: (a - D(a)) / S(context) of each m-gram, the part not taken from order m-1."""
    contexts: np.ndarray
    """int64, sorted: keys of the (m-1)-token contexts seen (one key, 0, at order 1)."""
    backoff: np.ndarray
    """float64: γ(context), the weight of order m-1 after each context."""
    discounts: np.ndarray
    """float64 [3]: D1, D2, D3+ of this order."""


def estimate_discounts(counts: np.ndarray) -> np.ndarray:
    """D1, D2, D3+ from the count-of-counts of adjusted counts (see the module docstring)."""
    n = [int(np.count_nonzero(counts == k)) for k in range(1, 5)]
    y = n[0] / (n[0] + 2 * n[1]) if n[0] > 0 else 0.5
    out = np.empty(3)
    for k in (1, 2, 3):
        d = k - (k + 1) * y * n[k] / n[k - 1] if n[k - 1] > 0 else math.nan
        out[k - 1] = d if 0 < d <= k else y
    return out


def _lookup(keys: np.ndarray, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(found, index) of each query in sorted keys; index is only meaningful where found."""
    if keys.size == 0:
        return np.zeros(query.shape, bool), np.zeros(query.shape, np.int64)
    index = np.minimum(np.searchsorted(keys, query), keys.size - 1)
    return keys[index] == query, index


class KneserNey:
    """A fitted model: one OrderTable per order, 1 to N."""

    def __init__(self, tables: list[OrderTable], vocab_size: int, bos_id: int) -> None:
        self.tables = tables
        self.vocab_size = vocab_size
        self.bos_id = bos_id

    @property
    def order(self) -> int:
        """Highest order N (contexts of N-1 tokens)."""
        return len(self.tables)

    @property
    def num_entries(self) -> int:
        """Number of stored n-grams over all orders."""
        return sum(t.keys.size for t in self.tables)

    @classmethod
    def fit(
        cls, sequences: list[np.ndarray], order: int, vocab_size: int, bos_id: int
    ) -> KneserNey:
        """Count every n-gram of every sequence (each must begin with BOS) and smooth."""
        check_order(order, vocab_size)
        seqs = [np.asarray(s, dtype=np.int64) for s in sequences if len(s)]
        if not seqs:
            raise ConfigError("ngram: no training sequences to fit on")
        if any(s[0] != bos_id for s in seqs):
            raise ConfigError(f"ngram: every training sequence must begin with BOS ({bos_id})")
        tokens = np.concatenate(seqs)
        if tokens.min() < 0 or tokens.max() >= vocab_size:
            raise ConfigError(f"ngram: training token ids must lie in [0, {vocab_size})")
        lengths = np.array([s.size for s in seqs])
        ends = np.repeat(np.cumsum(lengths), lengths)
        start = np.arange(tokens.size)
        v = vocab_size
        key = np.zeros(tokens.size, np.int64)
        seen: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted keys, raw counts) per order
        for m in range(1, order + 1):
            shifted = np.zeros_like(tokens)
            shifted[: tokens.size - m + 1] = tokens[m - 1 :]
            key = key * v + shifted
            seen.append(np.unique(key[start + m <= ends], return_counts=True))
        tables = []
        for m in range(1, order + 1):
            keys, raw = seen[m - 1]
            counts = raw
            if m < order:
                suffix, left = np.unique(seen[m][0] % v ** (m), return_counts=True)
                cont = np.zeros_like(raw)
                cont[np.searchsorted(keys, suffix)] = left
                counts = np.where(keys // v ** (m - 1) == bos_id, raw, cont)
            tables.append(_smooth(keys, counts, v))
        return cls(tables, vocab_size, bos_id)

    def prob(self, windows: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """p(target | window) for rows of windows [M, N-1] (oldest first, -1 = before the start,
        only at the left) and targets [M]. Orders whose context reaches before the start are
        skipped, so a position near the start is scored by the orders its context allows."""
        n, v = self.order, self.vocab_size
        p = np.full(targets.shape, 1.0 / v)
        context = np.zeros(targets.shape, np.int64)
        usable = np.ones(targets.shape, bool)
        for m, table in enumerate(self.tables, start=1):
            if m >= 2:
                token = windows[:, n - m]
                usable &= token >= 0
                context = context + np.where(usable, token, 0) * v ** (m - 2)
            seen, ci = _lookup(table.contexts, context)
            seen &= usable
            hit, gi = _lookup(table.keys, context * v + targets)
            own = np.where(hit & seen, table.prob[gi], 0.0)
            p = np.where(seen, own + table.backoff[ci] * p, p)
        return p

    def log_prob(self, ids: np.ndarray) -> np.ndarray:
        """ids [B, T] → [B, T-1]: log p(ids[b, i+1] | ids[b, :i+1]) under the model."""
        b, t = ids.shape
        if t < 2:
            return np.zeros((b, 0))
        width = self.order - 1
        padded = np.concatenate([np.full((b, width), -1, np.int64), ids], axis=1)
        windows = np.lib.stride_tricks.sliding_window_view(padded, width, axis=1)[:, 1:t]
        p = self.prob(windows.reshape(b * (t - 1), width), ids[:, 1:].reshape(-1))
        return np.log(p).reshape(b, t - 1)

    def next_distribution(self, contexts: np.ndarray) -> np.ndarray:
        """contexts [n, L] → [n, V]: p(v | context) for every token v of the vocabulary."""
        width, v = self.order - 1, self.vocab_size
        rows = contexts.shape[0]
        windows = np.full((rows, width), -1, np.int64)
        keep = min(width, contexts.shape[1])
        if keep:
            windows[:, width - keep :] = contexts[:, contexts.shape[1] - keep :]
        p = self.prob(np.repeat(windows, v, axis=0), np.tile(np.arange(v), rows))
        return p.reshape(rows, v)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Every table as named arrays (for np.savez)."""
        out = {"meta": np.array([self.order, self.vocab_size, self.bos_id], np.int64)}
        for m, table in enumerate(self.tables, start=1):
            for field in ("keys", "prob", "contexts", "backoff", "discounts"):
                out[f"{field}_{m}"] = getattr(table, field)
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> KneserNey:
        """The inverse of to_arrays."""
        order, vocab_size, bos_id = (int(x) for x in arrays["meta"])
        fields = ("keys", "prob", "contexts", "backoff", "discounts")
        tables = [
            OrderTable(**{f: np.asarray(arrays[f"{f}_{m}"]) for f in fields})
            for m in range(1, order + 1)
        ]
        return cls(tables, vocab_size, bos_id)

    def digest(self) -> str:
        """sha256 over every table."""
        h = hashlib.sha256()
        for name, array in sorted(self.to_arrays().items()):
            h.update(f"{name}|{array.dtype}|{array.shape}".encode())
            h.update(np.ascontiguousarray(array).tobytes())
        return h.hexdigest()


def _smooth(keys: np.ndarray, counts: np.ndarray, vocab_size: int) -> OrderTable:
    """One order's table from its sorted m-gram keys and adjusted counts."""
    discounts = estimate_discounts(counts)
    if keys.size == 0:  # no sequence is this long
        empty = np.zeros(0)
        return OrderTable(keys, empty, keys.copy(), empty, discounts)
    context = keys // vocab_size  # sorted, since keys are
    contexts, first, size = np.unique(context, return_index=True, return_counts=True)
    total = np.add.reduceat(counts, first).astype(np.float64)
    d = discounts[np.minimum(counts, 3) - 1]  # the discount of each m-gram
    backoff = np.add.reduceat(d, first) / total  # = (D1 N1 + D2 N2 + D3+ N3+) / S
    prob = (counts - d) / np.repeat(total, size)
    return OrderTable(keys, prob, contexts, backoff, discounts)
