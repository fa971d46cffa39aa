"""curvebench: a benchmark harness and metric suite for music language models.

It measures a model's per-token loss on original music and on perturbed copies of it, and
reports both the absolute loss and the shape of the loss-difference curve.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["AdapterInfo", "CurveBenchCallback", "Evaluation", "evaluate", "register_adapter"]

_LAZY = {
    "evaluate": "curvebench.api",
    "Evaluation": "curvebench.api",
    "CurveBenchCallback": "curvebench.callback",
    "register_adapter": "curvebench.adapters.registry",
    "AdapterInfo": "curvebench.adapters.registry",
}
"""Public names and their modules, imported on first use so ``import curvebench`` stays light."""


def __getattr__(name: str) -> object:
    """``curvebench.evaluate`` and the other public names, imported when first used."""
    if name not in _LAZY:
        raise AttributeError(f"module 'curvebench' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(_LAZY[name]), name)
