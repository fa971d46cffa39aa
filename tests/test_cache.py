"""A run's cache folders are decided once, by RunCaches, from --cache-dir, $CURVEBENCH_CACHE
and --no-cache; the scores, codes, renders and generated pieces each land where it says."""

from __future__ import annotations

from pathlib import Path

import pytest

from curvebench.adapters.code_cache import CodeCache
from curvebench.benchmark.score_cache import ScoreCache
from curvebench.cache import RunCaches
from curvebench.data.render import RenderCache
from curvebench.pipeline.options import RunOptions


def folders(caches: RunCaches) -> dict[str, Path | None]:
    """Where each of a run's four caches keeps its entries, as the pipeline builds them."""
    renders = RenderCache.of(caches)
    return {
        "scores": None if caches.scores is None else ScoreCache(caches.scores, "f" * 64).folder,
        "codes": None if caches.codes is None else CodeCache(caches.codes).folder,
        "renders": renders.folder if renders.keep else None,
        "generated": caches.generated / "generated",
    }


def test_cache_dir_holds_all_four(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CURVEBENCH_CACHE", str(tmp_path / "env"))
    mine = tmp_path / "mine"
    caches = RunOptions(cache_dir=mine, out=tmp_path / "run").caches()
    assert caches == RunCaches(mine, True, tmp_path / "run")
    assert folders(caches) == {
        "scores": mine / "scores" / ("f" * 32),
        "codes": mine / "codes",
        "renders": mine / "render",
        "generated": mine / "generated",
    }
    assert caches.shared_scores == mine


def test_the_environment_holds_all_four_without_cache_dir(tmp_path, monkeypatch) -> None:
    env = tmp_path / "env"
    monkeypatch.setenv("CURVEBENCH_CACHE", str(env))
    assert folders(RunOptions(out=tmp_path / "run").caches()) == {
        "scores": env / "scores" / ("f" * 32),
        "codes": env / "codes",
        "renders": env / "render",
        "generated": env / "generated",
    }
    monkeypatch.delenv("CURVEBENCH_CACHE")
    home = Path.home() / ".cache" / "curvebench"
    assert RunOptions(out=tmp_path / "run").caches().root == home


def test_no_cache_keeps_nothing_but_what_must_pass_through_disk(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CURVEBENCH_CACHE", str(tmp_path / "env"))
    for cache_dir in (None, tmp_path / "mine"):
        run = tmp_path / "run"
        caches = RunOptions(cache_dir=cache_dir, use_cache=False, out=run).caches()
        assert folders(caches) == {
            "scores": None,
            "codes": None,
            "renders": None,
            "generated": run / "generated" / "generated",
        }
        assert caches.shared_scores == run / ".scores"


def test_library_defaults_are_the_default_caches(tmp_path, monkeypatch) -> None:
    """Rendering or sampling outside a run keeps its files in the default cache folder."""
    monkeypatch.setenv("CURVEBENCH_CACHE", str(tmp_path / "env"))
    assert RenderCache().folder == tmp_path / "env" / "render"
    assert RunCaches.of().generated == tmp_path / "env"
    assert RenderCache(tmp_path / "mine").folder == tmp_path / "mine" / "render"


def test_not_keeping_needs_the_run_folder(tmp_path) -> None:
    with pytest.raises(ValueError, match="run folder"):
        RunCaches(tmp_path, keep=False)
