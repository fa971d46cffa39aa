"""Model adapters: the protocol, a registry, one module per model family."""

from curvebench.adapters.base import Adapter, Encoded
from curvebench.adapters.registry import load_adapter, parse_model_spec, registered_adapters

__all__ = ["Adapter", "Encoded", "load_adapter", "parse_model_spec", "registered_adapters"]
