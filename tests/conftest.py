"""Shared fixtures: an isolated cache, offline W&B and hub, tiny music and a tiny model."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.helpers import synthetic_score, tiny_gpt2, write_midi_folder


@pytest.hookimpl(trylast=True)
def pytest_configure(config: pytest.Config) -> None:
    """Hub and datasets caches under the session's temporary folder, removed with it.

    Set before ``datasets`` is imported (it reads the variable once), so nothing a test loads
    accumulates in the user's home between runs.
    """
    if "datasets" not in sys.modules:
        os.environ["HF_HOME"] = str(config._tmp_path_factory.getbasetemp() / "hf")  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _isolated_env(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURVEBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


@pytest.fixture(scope="session")
def midi_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("midi")
    write_midi_folder(folder, 4)
    return folder


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_gpt2(tmp_path_factory.mktemp("model"))


@pytest.fixture
def score():
    return synthetic_score(0)
