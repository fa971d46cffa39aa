"""Model adapters: the protocol, a registry, one module per model family."""

from curvebench.adapters.base import Adapter, AudioAdapter, Encoded, GeneratedSample
from curvebench.adapters.registry import load_adapter, parse_model_spec, registered_adapters

__all__ = [
    "Adapter",
    "AudioAdapter",
    "Encoded",
    "GeneratedSample",
    "load_adapter",
    "parse_model_spec",
    "registered_adapters",
]
