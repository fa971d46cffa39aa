"""The suite keeps what it caches under pytest's temporary folder, removed with it."""

from __future__ import annotations

import os


def test_hub_and_datasets_caches_lie_in_the_sessions_temporary_folder(tmp_path_factory) -> None:
    import datasets.config

    base = str(tmp_path_factory.getbasetemp())
    assert os.environ["HF_HOME"].startswith(base)
    assert str(datasets.config.HF_DATASETS_CACHE).startswith(base)
    assert os.environ["CURVEBENCH_CACHE"].startswith(base)
