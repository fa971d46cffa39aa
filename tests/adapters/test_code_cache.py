"""The audio codec's codes are cached by content: a second encode reads them back, a damaged
entry is encoded again with a warning, and a run honours its cache settings."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from curvebench.adapters import load_adapter
from curvebench.adapters.code_cache import CodeCache, audio_key
from curvebench.adapters.musicgen import MusicGenAdapter
from curvebench.api import RunOptions, run
from tests.helpers import tiny_musicgen_model

K, CARD = 4, 16


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_musicgen_model(tmp_path_factory.mktemp("musicgen"), K, CARD, positions=1024)


@pytest.fixture
def adapter(folder: Path, monkeypatch: pytest.MonkeyPatch) -> MusicGenAdapter:
    """The tiny MusicGen, counting its EnCodec passes in ``adapter.calls``."""
    adapter = load_adapter(f"musicgen:path={folder}")
    adapter.calls = 0
    encode = adapter._encode

    def counting(audio: np.ndarray, sr: int, like: np.ndarray | None = None) -> np.ndarray:
        adapter.calls += 1
        return encode(audio, sr, like)

    monkeypatch.setattr(adapter, "_encode", counting)
    return adapter


def noise(seconds: float = 1.0, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-0.3, 0.3, int(seconds * 44100)).astype(np.float32)


def test_a_second_encode_reads_the_codes_back(adapter: MusicGenAdapter, tmp_path: Path) -> None:
    cache = CodeCache(tmp_path)
    first = adapter.encode_audio(noise(), 44100, "a", codes=cache)
    again = adapter.encode_audio(noise(), 44100, "a", codes=cache)
    assert adapter.calls == 1 and (cache.hits, cache.misses) == (1, 1)
    np.testing.assert_array_equal(again.ids, first.ids)
    np.testing.assert_array_equal(again.seconds, first.seconds)
    assert again.duration_s == first.duration_s
    uncached = adapter.encode_audio(noise(), 44100, "a")
    np.testing.assert_array_equal(uncached.ids, first.ids)
    assert adapter.calls == 2
    # other audio, another rate or another codec is another entry
    adapter.encode_audio(noise(seed=1), 44100, "b", codes=cache)
    adapter.encode_audio(noise(), 48000, "c", codes=cache)
    assert adapter.calls == 4 and len(list(cache.folder.rglob("*.npy"))) == 3
    wave = np.asarray(noise(), np.float64)
    assert audio_key(wave, 44100, "x") != audio_key(wave, 44100, "y")


def test_the_codec_identity_covers_weights_and_dtype(folder: Path) -> None:
    a = load_adapter(f"musicgen:path={folder}")
    assert a.codec_id() == load_adapter(f"musicgen:path={folder},layout=paper").codec_id()
    assert a.codec_id() != load_adapter(f"musicgen:path={folder},dtype=bfloat16").codec_id()
    other = load_adapter(f"musicgen:path={folder}")
    other.model.audio_encoder.quantizer.layers[0].codebook.embed.data[0, 0] += 1.0
    assert other.codec_id() != a.codec_id()


@pytest.mark.parametrize(
    "damage", ["flip", "truncate", "floats"], ids=["byte-flip", "half", "wrong-dtype"]
)
def test_a_bad_entry_is_encoded_again_with_a_warning(
    adapter: MusicGenAdapter, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    cache = CodeCache(tmp_path)
    first = adapter.encode_audio(noise(), 44100, "a", codes=cache)
    (entry,) = cache.folder.rglob("*.npy")
    data = bytearray(entry.read_bytes())
    if damage == "flip":
        data[-3] ^= 0x10  # inside the codes
        entry.write_bytes(bytes(data))
    elif damage == "truncate":
        entry.write_bytes(bytes(data[: len(data) // 2]))
    else:  # a well-formed entry of the wrong kind (a checksummed float array)
        from curvebench.cache import write_entry

        write_entry(entry, first.ids.astype(np.float32))
    with caplog.at_level(logging.WARNING):
        again = adapter.encode_audio(noise(), 44100, "a", codes=cache)
    assert "encoding the audio again" in caplog.text and entry.name in caplog.text
    assert adapter.calls == 2
    np.testing.assert_array_equal(again.ids, first.ids)
    # stored afresh: the next encode reads it
    adapter.encode_audio(noise(), 44100, "a", codes=cache)
    assert adapter.calls == 2


def test_a_read_only_cache_goes_on_uncached(
    adapter: MusicGenAdapter, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "codes").write_text("not a folder")
    cache = CodeCache(tmp_path)
    with caplog.at_level(logging.WARNING):
        a = adapter.encode_audio(noise(), 44100, "a", codes=cache)
        b = adapter.encode_audio(noise(), 44100, "a", codes=cache)
    assert caplog.text.count("going on uncached") == 1 and adapter.calls == 2
    np.testing.assert_array_equal(a.ids, b.ids)


@pytest.mark.slow
def test_a_run_honours_cache_dir_no_cache_and_the_environment(
    adapter: MusicGenAdapter, midi_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Codes and renders: under --cache-dir, nowhere under --no-cache, else the environment's."""
    common = dict(model=adapter, data=(f"ood={midi_folder}",), limit=1, wandb=False)
    monkeypatch.setenv("CURVEBENCH_CACHE", str(tmp_path / "env"))

    def entries(root: Path, kind: str) -> int:
        return len(list((root / kind).rglob("*.npy")))

    mine = tmp_path / "mine"
    first = run(RunOptions(**common, out=tmp_path / "a", cache_dir=mine))
    assert adapter.calls == 2  # the original and its noisy copy
    assert entries(mine, "codes") == 2 and entries(mine, "render") == 1  # noise acts on audio
    second = run(RunOptions(**common, out=tmp_path / "b", cache_dir=mine))
    assert adapter.calls == 2 and second.results.results == first.results.results
    assert not (tmp_path / "env").exists()  # --cache-dir: nothing in the environment's cache
    run(RunOptions(**common, out=tmp_path / "c", use_cache=False))
    assert adapter.calls == 4 and entries(mine, "codes") == 2 and entries(mine, "render") == 1
    assert not (tmp_path / "env").exists() and not list((tmp_path / "c").rglob("*.npy"))
    run(RunOptions(**common, out=tmp_path / "d"))
    assert adapter.calls == 6
    assert entries(tmp_path / "env", "codes") == 2 and entries(tmp_path / "env", "render") == 1


def test_yue_shares_one_entry_per_audio_between_stages(tmp_path: Path) -> None:
    from tests.adapters.test_yue import noise as yue_noise
    from tests.adapters.test_yue import tiny_yue

    folder = tiny_yue(tmp_path / "yue")
    stage1 = load_adapter(f"yue:path={folder},codec={folder / 'codec'}")
    stage2 = load_adapter(f"yue:path={folder},codec={folder / 'codec'},stage=2")
    cache = CodeCache(tmp_path / "cache")
    wave = yue_noise(0.5)
    one = stage1.encode_audio(wave, 32000, "x", codes=cache)
    assert (cache.hits, cache.misses) == (0, 2)  # the mix, and the silence on the vocal track
    two = stage2.encode_audio(wave, 32000, "x", codes=cache)
    assert (cache.hits, cache.misses) == (1, 2)
    np.testing.assert_array_equal(one.ids, stage1.encode_audio(wave, 32000, "x").ids)
    np.testing.assert_array_equal(two.ids, stage2.encode_audio(wave, 32000, "x").ids)
    assert stage1.encode_audio(wave, 32000, "x", codes=cache).ids.tolist() == one.ids.tolist()
    assert (cache.hits, cache.misses) == (3, 2)


def test_codes_do_not_depend_on_the_runs_thread_count(tmp_path) -> None:
    """The codec encodes on a fixed number of threads: a run on 1 or 2 threads gets the same
    codes (without that, near-ties of the quantizer flip with the order of float sums)."""
    import torch

    from curvebench.adapters import load_adapter
    from curvebench.data.render import render_midi
    from tests.helpers import synthetic_score

    adapter = load_adapter("audio-reference")
    wave = render_midi(synthetic_score(0, seconds=15.0).dumps_midi(), 32000, tmp_path)
    wave = wave[: 15 * 32000]
    before = torch.get_num_threads()
    codes = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            codes[n] = adapter.encode_audio(wave, 32000, "clip").ids
    finally:
        torch.set_num_threads(before)
    np.testing.assert_array_equal(codes[1], codes[2])
