"""A run's settings are built once: benchmark code takes a ScoringConfig (never the run's
options), RunCaches alone decides where a run's caches are, and the accelerator is checked in
one place against one set."""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import curvebench
from curvebench.benchmark import batch_probe
from curvebench.benchmark.scoring_config import ScoringConfig

PACKAGE = Path(curvebench.__file__).parent


def _modules(under: Path = PACKAGE) -> dict[str, ast.Module]:
    return {
        str(p.relative_to(PACKAGE)): ast.parse(p.read_text()) for p in sorted(under.rglob("*.py"))
    }


def test_benchmark_code_never_names_the_run_options() -> None:
    named = [
        str(p.relative_to(PACKAGE))
        for p in sorted((PACKAGE / "benchmark").rglob("*.py"))
        if "RunOptions" in p.read_text()
    ]
    assert named == []
    hints = typing.get_type_hints(batch_probe.probe_batch_size)
    assert hints["config"] is ScoringConfig
    assert list(inspect.signature(batch_probe.probe_batch_size).parameters) == [
        "adapter",
        "sequences",
        "config",
    ]


def test_only_the_run_options_read_the_cache_options() -> None:
    """``cache_dir`` and ``use_cache`` become a RunCaches in pipeline/options.py; no other code
    reads them (the CLI's parsed ``args`` aside)."""
    readers = sorted(
        {
            path
            for path, tree in _modules().items()
            for node in ast.walk(tree)
            if isinstance(node, ast.Attribute)
            and node.attr in ("cache_dir", "use_cache")
            and ast.unparse(node.value) != "args"
        }
    )
    assert readers == ["pipeline/options.py"]


MODEL_TABLES = {"adapters/ngram.py", "adapters/corpus_tokens.py"}
"""Modules keeping a model's own tables (not a run's caches) in the default cache folder."""


def test_only_run_caches_resolve_the_cache_folder() -> None:
    callers = sorted(
        {
            path
            for path, tree in _modules().items()
            for node in ast.walk(tree)
            if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("cache_root")
        }
    )
    assert sorted(set(callers) - MODEL_TABLES) == ["cache.py"]


NOT_THE_RUNS = {
    "callback.py": "the type of the device a module is on",
    "cli.py": "train-reference --device, the training command's own",
    "training/reference.py": "train-reference --device, the training command's own",
}
"""Modules that name accelerators for something other than a run's option."""


def test_one_set_of_accelerators_in_one_place() -> None:
    """Only adapters/base.py holds a collection naming accelerators (cpu and mps together)
    that a run's ``--accelerator``, ``--device`` or a model's ``device=`` is checked against."""
    holders = {
        path
        for path, tree in _modules().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Tuple | ast.List | ast.Set | ast.Dict)
        and {"cpu", "mps"}
        <= {
            e.value
            for e in (node.keys if isinstance(node, ast.Dict) else node.elts)
            if isinstance(e, ast.Constant)
        }
    }
    assert sorted(holders - set(NOT_THE_RUNS)) == ["adapters/base.py"]
