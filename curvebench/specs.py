"""Spec strings: ``NAME[:key=value,key=value]``, the one syntax of model and perturbation specs."""

from __future__ import annotations

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
