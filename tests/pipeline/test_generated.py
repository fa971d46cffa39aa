from __future__ import annotations

import pytest

from curvebench.adapters import load_adapter
from curvebench.data.sources import GeneratedSpec
from curvebench.pipeline.generated import CHUNK, RECIPE_VERSION, generated_pieces


def spec(top_k: int, n: int, seed: int) -> GeneratedSpec:
    return GeneratedSpec(generator="hf-causal", top_k=top_k, seed=seed, seconds=8.0, n=n)


def test_samples_are_cached_by_fingerprint_k_and_seed(tiny_model, tmp_path, monkeypatch) -> None:
    adapter = load_adapter(f"hf-causal:path={tiny_model}")
    first = generated_pieces(adapter, spec(10, 3, 0), "g", cache_dir=tmp_path)
    assert [p.id for p in first] == ["k10/0000", "k10/0001", "k10/0002"]
    assert all(p.role == "generated" and dict(p.meta)["top_k"] == "10" for p in first)
    folder = tmp_path / "generated" / adapter.fingerprint()[:16] / f"v{RECIPE_VERSION}-k10-seed0"
    assert len(list(folder.glob("*.mid"))) == CHUNK

    def refuse(*args, **kwargs):
        raise AssertionError("should have been served from the cache")

    monkeypatch.setattr(adapter, "generate", refuse)
    again = generated_pieces(adapter, spec(10, 3, 0), "g", cache_dir=tmp_path)
    assert [p.midi for p in again] == [p.midi for p in first]
    with pytest.raises(AssertionError, match="cache"):
        generated_pieces(adapter, spec(50, 1, 0), "g", cache_dir=tmp_path)


def test_sample_i_does_not_depend_on_how_many_are_asked(tiny_model, tmp_path) -> None:
    adapter = load_adapter(f"hf-causal:path={tiny_model}")
    few = generated_pieces(adapter, spec(10, 2, 1), "g", cache_dir=tmp_path / "a")
    many = generated_pieces(adapter, spec(10, 5, 1), "g", cache_dir=tmp_path / "b")
    assert [p.midi for p in many[:2]] == [p.midi for p in few]


def test_sampling_shows_its_progress(tiny_model, tmp_path, capsys) -> None:
    adapter = load_adapter(f"hf-causal:path={tiny_model}")
    generated_pieces(adapter, spec(10, 2, 0), "g", cache_dir=tmp_path, progress=True)
    err = capsys.readouterr().err
    assert f"sampling {adapter.name} top-k=10" in err and "8/8" in err
    generated_pieces(adapter, spec(10, 2, 0), "g", cache_dir=tmp_path, progress=True)
    assert "sampling" not in capsys.readouterr().err  # nothing to draw: no bar
