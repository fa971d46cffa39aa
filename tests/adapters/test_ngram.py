from __future__ import annotations

import math
import time
from collections import Counter, defaultdict

import numpy as np
import pytest
import torch

from curvebench.adapters import load_adapter
from curvebench.adapters.corpus_tokens import tokenize_split
from curvebench.adapters.kneser_ney import KneserNey
from curvebench.adapters.midi_tokens import reference_tokenizer, tokenize_score
from curvebench.adapters.ngram import NGramAdapter
from curvebench.benchmark.scoring import score_sequences
from curvebench.errors import ConfigError
from tests.helpers import synthetic_score

BOS = 1  # the reference tokenizer's BOS; 0 is PAD
V = 6
CORPUS = [
    np.array(s)
    for s in (
        [1, 2, 3, 4, 2, 3, 4, 2, 3, 5],
        [1, 2, 3, 4, 5, 5, 2, 3, 4],
        [1, 3, 4, 2, 3, 4, 2, 2, 3],
        [1, 2, 3, 5, 4, 3, 2, 3, 4, 2, 3, 4, 5],
        [1, 4, 2, 3, 4, 4, 5],
        [1, 2, 3, 4, 2],
    )
]
UNSEEN = np.array([1, 5, 2, 4, 4, 3, 2, 5, 5, 0, 3])  # contexts and n-grams never seen


def loop_kneser_ney(seqs: list[np.ndarray], order: int):
    """Interpolated modified Kneser-Ney, written plainly: returns p(w | h) for a tuple h."""
    raw = {m: Counter() for m in range(1, order + 1)}
    for s in seqs:
        s = [int(x) for x in s]
        for m in range(1, order + 1):
            for i in range(len(s) - m + 1):
                raw[m][tuple(s[i : i + m])] += 1
    adjusted = {order: dict(raw[order])}
    for m in range(1, order):
        left = defaultdict(set)
        for g in raw[m + 1]:
            left[g[1:]].add(g[0])
        adjusted[m] = {g: c if g[0] == BOS else len(left[g]) for g, c in raw[m].items()}
    discounts = {}
    for m, counts in adjusted.items():
        n = {k: sum(1 for a in counts.values() if a == k) for k in (1, 2, 3, 4)}
        y = n[1] / (n[1] + 2 * n[2]) if n[1] else 0.5
        ds = []
        for k in (1, 2, 3):
            d = k - (k + 1) * y * n[k + 1] / n[k] if n[k] else -1.0
            ds.append(d if 0 < d <= k else y)
        discounts[m] = ds

    def prob(h: tuple, w: int) -> float:
        m = len(h) + 1
        lower = prob(h[1:], w) if m > 1 else 1.0 / V
        followers = {g[-1]: a for g, a in adjusted[m].items() if g[:-1] == h}
        if not followers:
            return lower
        total = sum(followers.values())
        d = discounts[m]
        gamma = sum(d[min(a, 3) - 1] for a in followers.values()) / total
        a = followers.get(w, 0)
        own = (a - d[min(a, 3) - 1]) / total if a else 0.0
        return own + gamma * lower

    return prob


def fit(order: int, corpus: list[np.ndarray] = CORPUS) -> NGramAdapter:
    return NGramAdapter(order=order, sequences=corpus, vocab_size=V)


def losses(adapter: NGramAdapter, seq: np.ndarray) -> np.ndarray:
    ids = torch.from_numpy(seq)[None]
    return adapter.loss(ids, torch.ones_like(ids, dtype=torch.bool))[0].numpy()


@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_losses_equal_a_plain_loop_implementation(order: int) -> None:
    adapter = fit(order)
    prob = loop_kneser_ney(CORPUS, order)
    for seq in [CORPUS[0], CORPUS[3], UNSEEN]:
        s = [int(x) for x in seq]
        expected = [
            -math.log(prob(tuple(s[max(0, i + 2 - order) : i + 1]), s[i + 1]))
            for i in range(len(s) - 1)
        ]
        np.testing.assert_allclose(losses(adapter, seq), expected, rtol=0, atol=1e-9)


@pytest.mark.parametrize("order", [1, 2, 3, 5])
def test_every_context_gives_a_proper_distribution(order: int) -> None:
    model = fit(order).model
    rng = np.random.default_rng(order)
    for length in (0, 1, 2, 6):
        p = model.next_distribution(rng.integers(0, V, size=(50, length)))
        assert p.shape == (50, V)
        assert (p > 0).all()
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=0, atol=1e-12)


def test_next_distribution_agrees_with_the_losses() -> None:
    adapter = fit(3)
    seq = CORPUS[3]
    p = adapter.model.next_distribution(np.stack([seq[i - 2 : i] for i in range(2, len(seq))]))
    picked = p[np.arange(len(p)), seq[2:]]
    np.testing.assert_allclose(-np.log(picked), losses(adapter, seq)[1:], atol=1e-12)


def test_higher_orders_fit_the_training_data_better() -> None:
    means = [np.concatenate([losses(fit(o), s) for s in CORPUS]).mean() for o in (1, 2, 3, 4)]
    assert means[0] > means[1] > means[2] > means[3]


def test_orders_beyond_the_key_width_or_range_are_refused() -> None:
    with pytest.raises(ConfigError, match="use order <= 7"):
        NGramAdapter(order=8, sequences=CORPUS)  # 283**8 does not fit an int64 key
    with pytest.raises(ConfigError, match="from 1 to 8"):
        fit(0)
    with pytest.raises(ConfigError, match="integer"):
        NGramAdapter(order="four", sequences=CORPUS, vocab_size=V)
    with pytest.raises(ConfigError, match="begin with BOS"):
        NGramAdapter(order=2, sequences=[np.array([2, 3])], vocab_size=V)
    fit(8)  # 8 tokens of a 6-token vocabulary fit easily


def test_second_construction_loads_the_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    corpus = [*CORPUS, np.array([BOS, 5, 4, 3, 2])]  # a corpus no other test has fitted
    first = fit(3, corpus)
    assert first.cache_file.is_file()

    def refuse(*args, **kwargs):
        raise AssertionError("fitted again instead of loading the cache")

    monkeypatch.setattr(KneserNey, "fit", refuse)
    second = fit(3, corpus)
    assert second.fingerprint() == first.fingerprint()
    np.testing.assert_array_equal(losses(second, UNSEEN), losses(first, UNSEEN))
    with pytest.raises(AssertionError, match="fitted again"):
        fit(2, corpus)  # another order is another cache entry


def test_fingerprint_and_size_follow_the_tables() -> None:
    two, three = fit(2), fit(3)
    assert two.fingerprint() != three.fingerprint()
    assert fit(3, CORPUS[:3]).fingerprint() != three.fingerprint()
    assert three.num_parameters() == sum(t.keys.size for t in three.model.tables) > 0
    assert sum(p.numel() for p in three.module.parameters()) == 0


def test_padding_is_masked_in_batches_and_through_lightning() -> None:
    adapter = fit(3)
    long, short = CORPUS[3], CORPUS[5]
    ids = torch.full((2, len(long)), adapter.pad_id, dtype=torch.long)
    ids[0], ids[1, : len(short)] = torch.from_numpy(long), torch.from_numpy(short)
    mask = ids != adapter.pad_id
    batch = adapter.loss(ids, mask).numpy()
    np.testing.assert_array_equal(batch[1, : len(short) - 1], losses(adapter, short))
    assert (batch[1, len(short) - 1 :] == 0).all()
    scored = score_sequences(adapter, [long, short, UNSEEN], batch_size=2, accelerator="cpu")
    for seq, got in zip([long, short, UNSEEN], scored, strict=True):
        np.testing.assert_allclose(got, losses(adapter, seq), rtol=1e-6)


@pytest.fixture(scope="module")
def music_model() -> NGramAdapter:
    """A 4-gram model over the reference tokens of a few synthetic pieces."""
    tok = reference_tokenizer()
    pieces = [tokenize_score(tok, synthetic_score(i, seconds=20.0)).ids for i in range(6)]
    return NGramAdapter(order=4, sequences=pieces)


def test_generate_returns_n_seeded_pieces(music_model: NGramAdapter) -> None:
    first = [s.score for s in music_model.generate(3, top_k=5, seconds=4.0, seed=7)]
    again = [s.score for s in music_model.generate(3, top_k=5, seconds=4.0, seed=7)]
    other = [s.score for s in music_model.generate(3, top_k=5, seconds=4.0, seed=8)]
    assert len(first) == 3
    dumps = [s.dumps_midi() for s in first]
    assert dumps == [s.dumps_midi() for s in again]
    assert dumps != [s.dumps_midi() for s in other]
    for score in first:
        assert score.note_num() > 0
        encoded = music_model.encode_score(score, "sample")
        assert encoded.duration_s <= 4.0 + 1e-6


@pytest.mark.slow
def test_load_adapter_fits_on_the_embedded_split_then_caches(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started = time.perf_counter()
    adapter = load_adapter("ngram:order=3")
    first_seconds = time.perf_counter() - started  # tokenizing the split (once) + fitting
    assert isinstance(adapter, NGramAdapter) and adapter.order == 3
    assert adapter.context_length == 1_000_000 and adapter.pad_id == 0
    assert adapter.num_parameters() > 10_000
    monkeypatch.setattr(KneserNey, "fit", lambda *a, **k: pytest.fail("cache not used"))
    started = time.perf_counter()
    again = load_adapter("ngram:order=3")
    assert time.perf_counter() - started < 5.0
    assert again.fingerprint() == adapter.fingerprint()
    assert first_seconds < 60.0
    piece = tokenize_split("validation")[0]
    # music it never saw, yet far better than a uniform guess over the vocabulary
    assert losses(adapter, piece).mean() < 0.5 * math.log(283)
