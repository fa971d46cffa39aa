"""Audio copies scored from their original's key-value cache equal scoring them from scratch,
in both layouts and under every condition, on a tiny random MusicGen and on the embedded
audio reference."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from curvebench.adapters import load_adapter
from curvebench.adapters.musicgen import MusicGenAdapter
from curvebench.adapters.musicgen_layouts import shared_steps
from curvebench.benchmark import scoring
from curvebench.benchmark.derived import CODE_DECIMALS
from curvebench.benchmark.scoring import _prefix_groups, score_sequences
from tests.adapters.test_musicgen_layouts import folder  # noqa: F401 (a fixture)
from tests.helpers import length_sweep_with_sharing_on_and_off, tiny_musicgen_model

K, CARD = 4, 16
SCORINGS = [
    ("delay", "null"),
    ("delay", "none"),
    ("delay", "calm piano"),
    ("paper", "none"),
    ("paper", "null"),
]
"""(layout, condition) pairs: the defaults of both layouts, and a text prompt."""


def copies_of(original: torch.Tensor, starts: list[int], card: int, seed: int = 0) -> list:
    """One copy of codes [K, T] per start frame: equal before it, and from it on changed in
    one codebook at the start frame (another each copy) and at random after it."""
    g = torch.Generator().manual_seed(seed)
    k_count, frames = original.shape
    out = []
    for i, start in enumerate(starts):
        copy = original.clone()
        copy[:, start + 1 :] = torch.randint(0, card, (k_count, frames - start - 1), generator=g)
        k = i % k_count
        copy[k, start] = (original[k, start] + 1) % card
        out.append(copy)
    return out


def from_prefix(adapter: MusicGenAdapter, prefix: torch.Tensor, members: list[torch.Tensor]):
    """Each member's losses [K, T] through ``loss_from_prefix``."""
    p = prefix.shape[-1]
    tails = [m[:, p:] for m in members]
    width = max(t.shape[-1] for t in tails)
    cont = torch.full((len(members), K, width), adapter.pad_id)
    mask = torch.zeros(len(members), width, dtype=torch.bool)
    for i, t in enumerate(tails):
        cont[i, :, : t.shape[-1]], mask[i, : t.shape[-1]] = t, True
    with torch.no_grad():
        head, rest = adapter.loss_from_prefix(prefix, cont, mask)
    assert head.shape == (len(members), K, p)
    for i, t in enumerate(tails):
        assert (rest[i, :, t.shape[-1] :] == 0).all()  # padding
    return [torch.cat([head[i], rest[i, :, : t.shape[-1]]], -1) for i, t in enumerate(tails)]


def from_scratch(adapter: MusicGenAdapter, codes: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return adapter.loss(codes[None], torch.ones(1, codes.shape[-1], dtype=torch.bool))[0]


def test_shared_steps_of_each_layout() -> None:
    # delay: step s holds code s - 1 - k of codebook k; steps 0..P read frames < P only
    assert [shared_steps("delay", p) for p in (0, 1, 10)] == [1, 2, 11]
    # paper: step i holds frame i
    assert [shared_steps("paper", p) for p in (0, 1, 10)] == [0, 1, 10]


@pytest.mark.parametrize(("layout", "condition"), SCORINGS)
def test_copies_from_a_prefix_equal_scoring_from_scratch(
    folder: Path,  # noqa: F811 (the imported fixture)
    layout: str,
    condition: str,
) -> None:
    adapter = load_adapter(f"musicgen:path={folder},layout={layout},condition={condition}")
    frames = 40
    original = torch.randint(0, CARD, (K, frames), generator=torch.Generator().manual_seed(1))
    for start in (0, 17, frames - 1):  # from frame 0, from the middle, at the last frame
        copies = copies_of(original, [start] * 3, CARD, seed=start)
        copies[1] = copies[1][:, : max(start + 1, frames - 5)]  # a shorter one: padding
        got = from_prefix(adapter, original[:, :start], copies)
        for copy, losses in zip(copies, got, strict=True):
            torch.testing.assert_close(losses, from_scratch(adapter, copy), rtol=5e-6, atol=1e-5)


def test_only_steps_before_the_first_different_one_are_shared(folder: Path) -> None:  # noqa: F811
    """The decoder sees the shared steps once, then only the rest of each copy."""
    adapter = load_adapter(f"musicgen:path={folder}")
    original = torch.randint(0, CARD, (K, 30), generator=torch.Generator().manual_seed(2))
    copies = copies_of(original, [12, 20], CARD)
    seen = []
    forward = adapter._forward

    def recording(inputs, batch, cache=None, keep=False):
        seen.append((tuple(inputs.shape), cache is not None))
        return forward(inputs, batch, cache, keep)

    adapter._forward = recording
    from_prefix(adapter, original[:, :12], copies)
    steps = 30 + K - 1
    assert seen == [((K, 13), False), ((2 * K, steps - 13), True)]


def test_score_sequences_shares_audio_prefixes_of_at_least_min_shared_frames(
    folder: Path,  # noqa: F811
) -> None:
    adapter = load_adapter(f"musicgen:path={folder}")
    frames = 80
    original = torch.randint(0, CARD, (K, frames), generator=torch.Generator().manual_seed(3))
    copies = copies_of(original, [0, 45, 60, frames - 1], CARD, seed=4)
    sequences = [s.numpy() for s in (original, *copies)]
    (group,) = _prefix_groups(adapter, sequences, [[0, 1, 2, 3, 4]])
    # the copy that differs from frame 0 is scored from scratch; the others from 45 frames
    assert group.members == (2, 3, 4) and group.prefix.shape == (K, 45)
    np.testing.assert_array_equal(group.prefix, sequences[0][:, :45])
    assert scoring.MIN_SHARED <= 45
    shared = score_sequences(adapter, sequences, batch_size=2, share_prefixes=[[0, 1, 2, 3, 4]])
    scratch = score_sequences(adapter, sequences, batch_size=2)
    for a, b in zip(shared, scratch, strict=True):
        assert a.shape == (K, frames)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["delay", "paper"])
def test_the_audio_reference_scores_copies_from_a_prefix_as_from_scratch(layout: str) -> None:
    from curvebench.data.render import render_midi
    from tests.helpers import synthetic_score

    adapter = load_adapter(f"audio-reference:layout={layout}")
    clip = render_midi(synthetic_score(5, seconds=6.0).dumps_midi(), sr=32000)[: 4 * 32000]
    original = torch.as_tensor(adapter.encode_audio(clip, 32000, "clip").ids)
    frames = original.shape[-1]
    assert frames == 200
    for start in (0, 100, frames - 1):
        copies = copies_of(original, [start] * 2, 2048, seed=start)
        got = from_prefix(adapter, original[:, :start], copies)
        for copy, losses in zip(copies, got, strict=True):
            torch.testing.assert_close(losses, from_scratch(adapter, copy), rtol=5e-6, atol=1e-5)


@pytest.mark.slow
def test_the_length_sweep_gives_the_same_results_with_sharing_on_and_off(
    midi_folder: Path, tmp_path: Path
) -> None:
    model = tiny_musicgen_model(tmp_path / "model", K, CARD, positions=1024)
    shared, scratch, calls = length_sweep_with_sharing_on_and_off(
        MusicGenAdapter, f"musicgen:path={model}", midi_folder, tmp_path
    )
    # two originals, six noisy copies each, sharing the frames before the noise (frame 250 is
    # 5 s; a codec that looks ahead changes a few frames before it)
    assert len(calls) == 2 and all(200 <= p <= 250 and n == 6 for p, n in calls)
    for task, per in shared.results.results.items():
        for name, r in per.items():
            other = scratch.results.results[task][name]
            for key in ("abs_loss_original", "abs_loss_perturbed", "abs_loss_delta"):
                assert getattr(r, key) == pytest.approx(getattr(other, key), abs=1e-4)
            for key in ("region_peak", "region_assimilation", "region_recovery"):
                assert getattr(r, key) == pytest.approx(getattr(other, key), abs=1e-4)
            assert r.length_delta_spearman == pytest.approx(other.length_delta_spearman, abs=1e-6)
    with gzip.open(shared.samples_path, "rt") as a, gzip.open(scratch.samples_path, "rt") as b:
        for x, y in zip(a, b, strict=True):
            la, lb = np.array(json.loads(x)["loss"]), np.array(json.loads(y)["loss"])
            assert la.shape == lb.shape == (K, 750)
            # equal to 1e-5 before writing; written to CODE_DECIMALS, one grid step at most
            assert np.abs(la - lb).max() <= 10.0**-CODE_DECIMALS + 1e-9
