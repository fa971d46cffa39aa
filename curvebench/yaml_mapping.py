"""Reading a YAML mapping a user wrote (a task file, a run config), safely and bounded.

YAML anchors and aliases let a few hundred bytes expand into gigabytes (the "billion laughs"
alias bomb); no curvebench file needs them, so a document holding one is refused before it
is built, as is a file over ``MAX_BYTES``.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from curvebench.errors import ConfigError

MAX_BYTES = 1 << 20
"""The largest YAML file read (1 MiB; the shipped task files are under 2 KB)."""


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing every alias (``*name``) before it is expanded."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(
                f"line {event.start_mark.line + 1}: an alias (*{event.anchor}); aliases are not "
                "read, write the value out"
            )
        return super().compose_node(parent, index)


def read_mapping(path: Path, what: str) -> dict:
    """The mapping a YAML file holds; ConfigError naming ``what`` (``task file X``,
    ``--config X``) for a file that cannot be read, is too large, is not YAML, uses aliases or
    is not a mapping."""
    try:
        with open(path, "rb") as fh:  # at most MAX_BYTES + 1: a pipe or device has no size
            raw = fh.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise ConfigError(f"{what}: over {MAX_BYTES:,} bytes; a YAML file is read up to that")
        data = yaml.load(raw.decode(), Loader=_NoAliasLoader)
    except RecursionError:
        raise ConfigError(f"{what}: nested too deeply to read as YAML") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{what}: cannot read it as YAML ({' '.join(str(exc).split())})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{what}: give a mapping of names to values")
    return data
