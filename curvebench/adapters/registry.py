"""Model specs (``NAME[:key=value,...]``) and the registry of adapter factories."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from curvebench.adapters.base import Adapter
from curvebench.errors import ConfigError


@dataclass(frozen=True)
class AdapterInfo:
    """A registered adapter family."""

    name: str
    """Name used in model specs."""
    factory: Callable[..., Adapter]
    """Builds the adapter from the spec's options (all strings)."""
    summary: str
    """One line for ``curvebench models``."""
    options: dict[str, str] = field(default_factory=dict)
    """Option name to one-line description."""


_REGISTRY: dict[str, AdapterInfo] = {}


def register_adapter(info: AdapterInfo) -> None:
    """Add an adapter family; a duplicate name is an error."""
    if info.name in _REGISTRY:
        raise ValueError(f"adapter {info.name!r} registered twice")
    _REGISTRY[info.name] = info


def registered_adapters() -> dict[str, AdapterInfo]:
    """Every registered adapter, built-ins first."""
    _load_builtins()
    return dict(_REGISTRY)


def parse_model_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``NAME[:key=value,...]`` into the name and its options."""
    name, _, body = spec.strip().partition(":")
    options: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in body.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"model spec {spec!r}: expected key=value, got {item!r}")
        options[key] = value
    return name, options


def load_adapter(spec: str) -> Adapter:
    """Build the adapter a model spec names, checking its options."""
    name, options = parse_model_spec(spec)
    adapters = registered_adapters()
    info = adapters.get(name)
    if info is None:
        raise ConfigError(
            f"model {spec!r}: unknown adapter {name!r}; `curvebench models` lists "
            f"{', '.join(sorted(adapters))}"
        )
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        raise ConfigError(
            f"model {spec!r}: unknown option(s) {', '.join(unknown)}; {name} takes "
            f"{', '.join(info.options) or 'no options'}"
        )
    return info.factory(**options)


def _load_builtins() -> None:
    from curvebench.adapters import hf_causal  # noqa: F401  (registers on import)
