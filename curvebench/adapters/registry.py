"""Model specs (``NAME[:key=value,...]``) and the registry of adapter factories."""

from __future__ import annotations

import importlib
import inspect
import logging
import pkgutil
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from curvebench.adapters.base import Adapter
from curvebench.errors import ConfigError
from curvebench.specs import parse_spec

log = logging.getLogger(__name__)


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


def register_adapter(info: AdapterInfo, replace: bool = False) -> AdapterInfo:
    """Add an adapter family, so that model specs can name it (``NAME:key=value``).

    Registering the same family again is fine: the same object, or the same factory defined
    again (a notebook cell run twice) replaces the entry. Another family under a taken name is
    an error unless ``replace``. Returns ``info``.
    """
    old = _REGISTRY.get(info.name)
    if old is not None and not replace and old != info and not _same_definition(old, info):
        raise ConfigError(
            f"adapter {info.name!r} is already registered ({_where(old.factory)}); pick "
            "another name, or pass replace=True"
        )
    _REGISTRY[info.name] = info
    return info


def _where(factory: Callable[..., Adapter]) -> str:
    code = getattr(factory, "__code__", None)
    line = f":{code.co_firstlineno}" if code is not None else ""
    return f"{getattr(factory, '__module__', '?')}.{getattr(factory, '__qualname__', '?')}{line}"


def _same_definition(a: AdapterInfo, b: AdapterInfo) -> bool:
    """The same factory, defined again (same module, qualified name and line)."""
    return _where(a.factory) == _where(b.factory)


def registered_adapters() -> dict[str, AdapterInfo]:
    """Every registered adapter: built-ins first, then plug-ins from installed packages."""
    _load_builtins()
    _load_plugins()
    return dict(_REGISTRY)


PLUGIN_GROUP = "curvebench.adapters"
_PLUGINS_SEEN: set[str] = set()


def _load_plugins() -> None:
    """Register the ``AdapterInfo`` objects installed packages expose in the entry-point group
    ``curvebench.adapters`` (entry-point name = adapter name). A plug-in that fails to load
    is logged and left out, so one broken package does not break curvebench."""
    for ep in entry_points(group=PLUGIN_GROUP):
        if ep.name in _PLUGINS_SEEN:
            continue
        _PLUGINS_SEEN.add(ep.name)
        try:
            info = ep.load()
        except Exception as exc:  # any error inside a third-party package
            log.warning("adapter plug-in %s (%s) failed to load: %s", ep.name, ep.value, exc)
            continue
        if not isinstance(info, AdapterInfo) or info.name != ep.name:
            log.warning(
                "adapter plug-in %s (%s) must be an AdapterInfo named %r; left out",
                ep.name,
                ep.value,
                ep.name,
            )
            continue
        if info.name in _REGISTRY:
            log.warning("adapter plug-in %s clashes with a registered adapter; left out", ep.name)
            continue
        register_adapter(info)


def parse_model_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``NAME[:key=value,...]`` into the name and its options."""
    return parse_spec(spec, "model")


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
    display = options.pop("name", None)
    if display is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", display):
        raise ConfigError(
            f"model {spec!r}: name={display!r}: use letters, digits, '.', '_' or '-' (1 to 64)"
        )
    unknown = sorted(set(options) - set(info.options))
    if unknown:
        raise ConfigError(
            f"model {spec!r}: unknown option(s) {', '.join(unknown)}; {name} takes "
            f"{', '.join([*info.options, 'name']) or 'no options'}"
        )
    try:
        inspect.signature(info.factory).bind(**options)
    except TypeError:
        required = [
            p.name
            for p in inspect.signature(info.factory).parameters.values()
            if p.default is inspect.Parameter.empty
            and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
            and p.name not in options
        ]
        raise ConfigError(
            f"model {spec!r}: {name} needs {', '.join(f'{r}=...' for r in required)}; e.g. "
            f"{name}:{','.join(f'{r}=VALUE' for r in required)}"
        ) from None
    adapter = info.factory(**options)
    display = display or path_name(options.get("path"))
    if display is not None:  # every adapter takes name=: how it is shown in results and boards
        adapter.name = display
    return adapter


def path_name(path: str | None) -> str | None:
    """A model's display name from its ``path=``: the folder's or hub id's last part, in the
    characters a name may hold (None without a path), so that two models of one adapter
    (``hf-causal``, ``musicgen``) do not share a name in ``compare`` and on the board."""
    if not path:
        return None
    last = re.sub(r"[^A-Za-z0-9._-]", "-", path.rstrip("/").rsplit("/", 1)[-1]).strip("-.")
    return last[:64] or None


def _load_builtins() -> None:
    import curvebench.adapters as package

    for module in pkgutil.iter_modules(
        package.__path__
    ):  # importing a module registers its adapters
        importlib.import_module(f"{package.__name__}.{module.name}")
