"""Spec strings: ``NAME[:key=value,key=value]``, the one syntax of model and perturbation specs."""

from __future__ import annotations

from pathlib import Path

from curvebench.errors import ConfigError


def parse_spec(spec: str, what: str) -> tuple[str, dict[str, str]]:
    """Split ``NAME[:key=value,...]`` into the name and its options (values as strings).

    ``what`` names the kind of spec in error messages (``model``, ``perturbation``).
    """
    name, _, body = spec.strip().partition(":")
    options: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in body.split(","))):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"{what} spec {spec!r}: expected key=value, got {item!r}")
        if key in options:
            raise ConfigError(f"{what} spec {spec!r}: option {key!r} given twice")
        options[key] = value.strip()
    return name.strip(), options


def is_local_path(value: str) -> bool:
    """True when an option's value names a file or folder of this machine."""
    return value.startswith(("/", "~", "./", "../")) or Path(value).expanduser().exists()


LOCAL_PREFIXES = ("hf:",)
"""Prefixes whose value may be a path of this machine (``hf:/data/set`` loads a local dataset
folder the way it loads a hub id)."""


def public_location(value: str) -> str:
    """A location safe to publish: ``local:NAME`` for a path of this machine (its last
    component), ``hf:`` followed by a path included; the value itself otherwise (a hub id,
    ``embedded:...``)."""
    for prefix in LOCAL_PREFIXES:
        rest = value.removeprefix(prefix)
        if rest != value and is_local_path(rest.split("#")[0].split("@")[0]):
            return f"local:{Path(rest.split('#')[0].split('@')[0].rstrip('/')).name or 'folder'}"
    if ":" in value.split("/", 1)[0] or not is_local_path(value):
        return value
    return f"local:{Path(value.rstrip('/')).name or 'folder'}"


def public_spec(spec: str, what: str = "model") -> str:
    """A spec with every local path among its options replaced by ``local:NAME``."""
    name, options = parse_spec(spec, what)
    if not options:
        return name
    body = ",".join(f"{k}={public_location(v)}" for k, v in options.items())
    return f"{name}:{body}"


def scrub(text: str, paths: list[str]) -> str:
    """``text`` with the absolute forms of each of ``paths`` replaced by its public location
    (a relative name is left alone: replaced as a substring it would garble words)."""
    absolute = {str(Path(p).expanduser().absolute()) for p in paths if p}
    absolute |= {str(Path(p).expanduser().resolve()) for p in paths if p}
    for path in sorted(absolute, key=len, reverse=True):
        if len(path) > 1 and is_local_path(path):
            text = text.replace(path, public_location(path))
    return text
