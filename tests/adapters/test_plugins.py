"""A separate package registers an adapter through the ``curvebench.adapters`` entry points."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from curvebench.adapters import load_adapter, registry
from curvebench.api import RunOptions, run
from curvebench.cli import main

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "curvebench-unigram"


@pytest.fixture
def installed_example(tmp_path, monkeypatch):
    target, source = tmp_path / "site", tmp_path / "src"
    shutil.copytree(EXAMPLE, source)  # pip builds in the source tree: keep the repo clean
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
    )
    monkeypatch.syspath_prepend(str(target))
    importlib.invalidate_caches()
    registry.registered_adapters()  # built-ins registered before the registry is swapped
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_PLUGINS_SEEN", set())
    return target


@pytest.mark.slow
def test_installed_plugin_is_listed_loaded_and_run(
    installed_example, midi_folder, tmp_path, capsys
):
    assert main(["models"]) == 0
    assert "unigram" in capsys.readouterr().out
    adapter = load_adapter("unigram:alpha=0.5")
    ids = adapter.encode_score(__import__("tests.helpers").helpers.synthetic_score(0, 6.0), "x").ids
    nll = adapter.loss(torch.from_numpy(ids)[None], torch.ones(1, len(ids), dtype=torch.bool))[0]
    log_probs = adapter.module.log_probs.numpy()
    np.testing.assert_allclose(nll.numpy(), -log_probs[ids[1:]], rtol=1e-6)
    assert np.exp(log_probs).sum() == pytest.approx(1.0)
    output = run(
        RunOptions(
            model="unigram", data=(f"ood={midi_folder}",), limit=2, out=tmp_path / "o", wandb=False
        )
    )
    (r,) = output.results.results["noise-at-5s"].values()
    assert r.n_pairs == 2 and output.results.model.name == "unigram"


def test_broken_plugin_is_left_out_with_a_warning(tmp_path, monkeypatch, caplog):
    site = tmp_path / "site"
    dist = site / "broken_plugin-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[curvebench.adapters]\nbroken = no_such_module_xyz:ADAPTER\n"
    )
    monkeypatch.syspath_prepend(str(site))
    importlib.invalidate_caches()
    registry.registered_adapters()  # built-ins registered before the registry is swapped
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(registry, "_PLUGINS_SEEN", set())
    adapters = registry.registered_adapters()
    assert "broken" not in adapters and "reference" in adapters
    assert "failed to load" in caplog.text
