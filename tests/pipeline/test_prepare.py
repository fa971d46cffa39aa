"""The prepare stage shared out: batched codecs give one-at-a-time codes, and a plan is the
same whether pieces are encoded where they are prepared (copies from their original's
stack), on worker processes, or in batches in the main process (the path of a codec on an
accelerator: every clip whole)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from curvebench.adapters import load_adapter, musicgen_codec
from curvebench.adapters.code_cache import CodeCache
from curvebench.api import RunOptions
from curvebench.pipeline.prepare import codec_device, prepare, prepare_workers
from curvebench.pipeline.run import load
from tests.helpers import tiny_musicgen_model


@pytest.fixture(scope="module")
def musicgen(tmp_path_factory):
    return load_adapter(
        f"musicgen:path={tiny_musicgen_model(tmp_path_factory.mktemp('mg'), positions=1024)}"
    )


def _waves(lengths: list[int], sr: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(max(lengths)) / sr
    out = []
    for n in lengths:
        tone = 0.3 * np.sin(2 * np.pi * rng.uniform(100, 900) * t[:n])
        out.append(tone + 0.05 * rng.standard_normal(n))
    return out


def test_encodec_batches_give_the_codes_of_one_at_a_time(musicgen, tmp_path) -> None:
    waves = _waves([32000, 48000, 32000, 32000, 48000, 16000], 32000)
    names = [f"w{i}" for i in range(len(waves))]
    alone = [musicgen.encode_audio(w, 32000, n).ids for w, n in zip(waves, names, strict=True)]
    batched = musicgen.encode_audio_many(waves, 32000, names)
    assert all(np.array_equal(a, b.ids) for a, b in zip(alone, batched, strict=True))
    # the batch moved a near-tie of this tiny codec: without the check, a code flips
    check = musicgen_codec.near_tie_margin
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(musicgen_codec, "near_tie_margin", lambda *a: check(*a) * 0 + 1)
        unchecked = musicgen.encode_audio_many(waves, 32000, names)
    assert not all(np.array_equal(a, b.ids) for a, b in zip(alone, unchecked, strict=True))
    # through the codes cache: the first two are read back, the rest encoded and stored
    cache = CodeCache(tmp_path)
    musicgen.encode_audio_many(waves[:2], 32000, names[:2], cache)
    again = musicgen.encode_audio_many(waves, 32000, names, cache)
    assert (cache.hits, cache.misses) == (2, 6)
    assert all(np.array_equal(a, b.ids) for a, b in zip(alone, again, strict=True))


def _summary(plan) -> tuple:
    return (
        list(plan.sequences),
        [(p.piece_id, p.variant, p.original, p.perturbed) for p in plan.pairs],
        sorted(plan.skipped),
        [(e.pair.piece_id, e.pair.variant) for e in plan.examples],
    )


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="needs FluidSynth")
def test_a_plan_is_the_same_encoded_in_place_on_workers_or_in_batches(
    musicgen, midi_folder, tmp_path
) -> None:
    options = RunOptions(
        model=musicgen, data=(f"ood={midi_folder}",), out=tmp_path / "out", use_cache=False
    )
    loaded = load(options)
    in_place = prepare(loaded)
    assert in_place.pairs and in_place.codec_device is None
    # the noisy copies were encoded from their original's stack and a window around the
    # noise (encodec_splice); the batched path below encodes every clip whole
    assert musicgen._stack_splice.spliced > 0
    workers = prepare(loaded, workers=2)
    batched = prepare(loaded, codec_device="cpu")  # deferred: encoded here, in batches
    assert _summary(workers) == _summary(in_place) == _summary(batched)
    for key, encoded in in_place.sequences.items():
        assert np.array_equal(batched.sequences[key].ids, encoded.ids)
    assert batched.codec_device == "cpu" and workers.workers == 2


@pytest.mark.skipif(shutil.which("fluidsynth") is None, reason="needs FluidSynth")
def test_batched_encoding_skips_what_one_at_a_time_skips(midi_folder, tmp_path) -> None:
    # a context of 300 frames: the 15 s clips (750 frames) of most pieces exceed it
    short = load_adapter(f"musicgen:path={tiny_musicgen_model(tmp_path / 'short', positions=300)}")
    options = RunOptions(
        model=short, data=(f"ood={midi_folder}",), out=tmp_path / "out", use_cache=False
    )
    loaded = load(options)
    in_place, batched = prepare(loaded), prepare(loaded, codec_device="cpu")
    assert in_place.skipped and all(s.stage == "encode" for s in in_place.skipped)
    assert _summary(batched) == _summary(in_place)


def test_workers_and_codec_device_follow_the_model_and_the_run(musicgen) -> None:
    reference = load_adapter("ngram")
    assert prepare_workers(reference, threads=4, units=10) == 0  # symbolic: in the process
    assert prepare_workers(musicgen, threads=4, units=10) == 4
    assert prepare_workers(musicgen, threads=4, units=3) == 3
    assert prepare_workers(musicgen, threads=1, units=10) == 0
    assert codec_device(musicgen, "cpu", None) is None
    assert codec_device(reference, "gpu", None) is None
    assert codec_device(musicgen, "gpu", ("board", object())) is None  # board runs: the CPU


def test_a_batch_too_large_for_the_device_is_encoded_clip_by_clip(musicgen, monkeypatch) -> None:
    from curvebench.benchmark.encode import PendingAudio
    from curvebench.pipeline.prepare import _encode_all

    class OutOfMemoryError(RuntimeError):  # torch.cuda's, by name
        pass

    def too_large(*_args, **_kwargs):
        raise OutOfMemoryError("CUDA out of memory")

    waves = _waves([32000, 32000], 32000)
    pending = [PendingAudio(w, f"w{i}", f"w{i}") for i, w in enumerate(waves)]
    monkeypatch.setattr(musicgen, "encode_audio_many", too_large)
    encoded = _encode_all(musicgen, pending, None)
    alone = [musicgen.encode_audio(w, 32000, "w").ids for w in waves]
    assert all(np.array_equal(a, e.ids) for a, e in zip(alone, encoded, strict=True))
