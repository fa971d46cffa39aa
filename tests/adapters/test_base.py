"""The adapter protocol: audio adapters declare what audio callers use, ``generate`` returns
typed samples, and the weights are hashed once per adapter."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from symusic import Score

import curvebench.adapters.causal_lm as causal_lm
import curvebench.adapters.musicgen as musicgen
from curvebench.adapters import AudioAdapter, Encoded, GeneratedSample, load_adapter
from curvebench.adapters.base import DTYPES, torch_dtype
from curvebench.adapters.ngram import NGramAdapter
from curvebench.data.sources import GeneratedSpec
from curvebench.errors import ConfigError
from curvebench.pipeline.generated import generated_pieces
from tests.helpers import tiny_musicgen_model


class _Silent(AudioAdapter):
    """Every member but the audio ones: a subclass adds them."""

    module = torch.nn.Module()
    context_length = 16
    pad_id = 0

    def encode_score(self, score: Score, name: str) -> Encoded:
        raise NotImplementedError

    def loss(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def compute_fingerprint(self) -> str:
        return "0" * 64


@pytest.fixture(scope="module")
def tiny_musicgen(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_musicgen_model(tmp_path_factory.mktemp("musicgen"), 4, 16, 64)


def test_an_audio_adapter_without_encode_audio_or_its_rate_cannot_be_made() -> None:
    class NoEncode(_Silent):
        sampling_rate = 16000

    class NoRate(_Silent):
        def encode_audio(self, wave, sr, name, codes=None, like=None) -> Encoded:
            raise NotImplementedError

    class Both(NoRate):
        sampling_rate = 16000

    with pytest.raises(TypeError, match="encode_audio"):
        NoEncode()
    with pytest.raises(TypeError, match="sampling_rate"):
        NoRate()
    both = Both()
    assert both.modality == "audio" and isinstance(both, AudioAdapter)


def test_the_audio_adapters_are_audio_adapters(tiny_musicgen: Path) -> None:
    from curvebench.adapters.yue import YuEAdapter

    adapter = load_adapter(f"musicgen:path={tiny_musicgen}")
    assert isinstance(adapter, AudioAdapter) and adapter.sampling_rate == 32000
    assert issubclass(YuEAdapter, AudioAdapter)
    assert not isinstance(load_adapter("reference-tiny"), AudioAdapter)


def test_a_generated_sample_holds_a_score_or_a_mono_waveform() -> None:
    assert not GeneratedSample(score=Score()).is_audio
    assert GeneratedSample(wave=np.zeros(4, np.float32), sampling_rate=8000).is_audio
    with pytest.raises(ValueError, match="either"):
        GeneratedSample()
    with pytest.raises(ValueError, match="either"):
        GeneratedSample(score=Score(), wave=np.zeros(4), sampling_rate=8000)
    with pytest.raises(ValueError, match="mono"):
        GeneratedSample(wave=np.zeros((4, 2)), sampling_rate=8000)
    with pytest.raises(ValueError, match="sampling rate"):
        GeneratedSample(wave=np.zeros(4))


def test_generate_gives_typed_samples(tiny_model: Path, tiny_musicgen: Path) -> None:
    (symbolic,) = load_adapter(f"hf-causal:path={tiny_model}").generate(1, 10, 2.0, seed=0)
    assert isinstance(symbolic, GeneratedSample) and isinstance(symbolic.score, Score)
    assert symbolic.wave is None and symbolic.sampling_rate is None
    (audio,) = load_adapter(f"musicgen:path={tiny_musicgen}").generate(1, 5, 0.1, seed=0)
    assert isinstance(audio, GeneratedSample) and audio.score is None
    assert audio.sampling_rate == 32000 and audio.wave.shape == (3200,)


def test_a_generate_that_returns_bare_scores_is_refused(tmp_path: Path) -> None:
    class Bare(NGramAdapter):
        def generate(self, n, top_k, seconds, seed):
            return [Score()] * n

    pieces = [np.array([1, 5, 6, 7, 5, 6, 7], dtype=np.int64)]
    spec = GeneratedSpec(generator="bare", top_k=2, seed=0, seconds=1.0, n=1)
    with pytest.raises(ConfigError, match="GeneratedSample scores"):
        generated_pieces(Bare(order=2, sequences=pieces), spec, "g", cache_dir=tmp_path)


def test_the_weights_are_hashed_once_per_adapter(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    hash_state = causal_lm.hash_state
    monkeypatch.setattr(causal_lm, "hash_state", lambda *a: calls.append(1) or hash_state(*a))
    adapter = load_adapter(f"hf-causal:path={tiny_model}")
    first = adapter.fingerprint()
    spec = GeneratedSpec(generator="hf-causal", top_k=5, seed=0, seconds=1.0, n=1)
    generated_pieces(adapter, spec, "g", cache_dir=tmp_path)  # keys its folder by fingerprint
    assert adapter.fingerprint() == first and len(first) == 64
    assert len(calls) == 1
    load_adapter(f"hf-causal:path={tiny_model}").fingerprint()  # a new adapter hashes again
    assert len(calls) == 2


def test_an_audio_adapter_hashes_its_weights_once(
    tiny_musicgen: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    hash_state = musicgen.hash_state
    monkeypatch.setattr(musicgen, "hash_state", lambda *a: calls.append(1) or hash_state(*a))
    adapter = load_adapter(f"musicgen:path={tiny_musicgen}")
    assert adapter.fingerprint() == adapter.fingerprint() == adapter.fingerprint()
    assert len(calls) == 1


def test_one_dtype_table_for_every_adapter() -> None:
    assert not hasattr(causal_lm, "DTYPES")
    assert torch_dtype("bfloat16") is DTYPES["bfloat16"] is torch.bfloat16
    with pytest.raises(ConfigError, match="dtype='float8': use one of float32"):
        causal_lm.load_causal_lm("unused", dtype="float8")


def test_a_folder_that_is_not_a_model_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "remote").mkdir()
    (tmp_path / "remote" / "config.json").write_text(
        '{"model_type": "custom-x", "auto_map": {"AutoModelForCausalLM": "m.M"}}'
    )
    for folder in (tmp_path / "missing", tmp_path / "remote"):
        for spec in (f"hf-causal:path={folder}", f"anticipation:path={folder}"):
            with pytest.raises(
                ConfigError, match="cannot load it as a Hugging Face causal LM"
            ) as e:
                load_adapter(spec)
            assert "\n" not in str(e.value)


def test_a_model_has_one_fingerprint_wherever_it_lies_and_whichever_release_loads_it(
    tmp_path, monkeypatch
) -> None:
    """The fingerprint leaves out the config's load path and transformers' release."""
    import shutil

    import transformers

    from curvebench.adapters.registry import load_adapter

    here = load_adapter("reference-tiny").fingerprint()
    folder = Path(load_adapter("reference-tiny").path)
    moved = tmp_path / "elsewhere" / "tiny"
    shutil.copytree(folder, moved)
    there = load_adapter(f"hf-causal:path={moved}").fingerprint()
    monkeypatch.setattr(transformers, "__version__", "99.0.0")
    monkeypatch.setattr(transformers.configuration_utils, "__version__", "99.0.0", raising=False)
    later = load_adapter(f"hf-causal:path={moved}").fingerprint()
    assert here == there == later
