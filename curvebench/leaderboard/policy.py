"""Which model specs the board accepts and loads: a registered adapter with its declared
options, never a submission's own code, never a path of the submitter's machine; a submitted
spec names a model shipped with curvebench or a hub id at a pinned revision."""

from __future__ import annotations

import re
from pathlib import Path

from curvebench.adapters import registered_adapters
from curvebench.errors import ConfigError
from curvebench.leaderboard.errors import SubmissionError
from curvebench.specs import parse_spec

REFUSED_OPTIONS = ("trust_remote_code",)
"""Model options a verifier never honours: running a submitter's code is not verification."""


def safe_spec(spec: str, where: Path) -> str:
    """The model spec rebuilt from its validated parts under the board's policy: a registered
    adapter, only its declared options, never remote code, never a path of the submitter's
    machine (``local:``); SubmissionError otherwise, before anything is loaded."""
    try:
        name, options = parse_spec(spec, "model")
    except ConfigError as exc:
        raise SubmissionError(f"{where}: model.spec: {exc}") from exc
    info = registered_adapters().get(name)
    if info is None:
        raise SubmissionError(f"{where}: model.spec names no known adapter ({name!r})")
    for key, value in options.items():
        if key in REFUSED_OPTIONS:
            raise SubmissionError(
                f"{where}: model.spec asks for {key}={value}; the board never runs a "
                "submission's own code"
            )
        if key not in info.options and key != "name":
            raise SubmissionError(f"{where}: model.spec: {name} has no option {key!r}")
        if value.startswith("local:"):
            raise SubmissionError(
                f"{where}: the model was a local folder ({value}); give --model SPEC with the "
                "submitted weights to re-score it"
            )
    body = ",".join(f"{k}={v}" for k, v in options.items())
    return f"{name}:{body}" if body else name


LOCATION_OPTIONS = ("path", "tokenizer")
"""Options that name where weights or a tokenizer come from."""
HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$")
"""``owner/name`` on the Hugging Face hub."""
PINNED = re.compile(r"^[0-9a-f]{40}$")
"""A commit hash: the only revision that names fixed weights."""


def submitted_spec(spec: str, where: Path) -> str:
    """A submission's model spec under the board's policy (:func:`safe_spec`, and every
    location a hub id with ``revision=`` a 40-hex commit); SubmissionError otherwise."""
    checked = safe_spec(spec, where)
    _, options = parse_spec(checked, "model")
    locations = {k: v for k, v in options.items() if k in LOCATION_OPTIONS}
    for key, value in locations.items():
        if not HUB_ID.match(value) or ".." in value:
            raise SubmissionError(
                f"{where}: model.spec {key}={value} is a path, not a hub id; submit a model "
                "shipped with curvebench or one on the hub at a pinned revision"
            )
    if locations and not PINNED.match(options.get("revision", "")):
        raise SubmissionError(
            f"{where}: model.spec names hub weights without revision=<40-hex commit>; pin the "
            "revision so the board re-scores the weights that were run"
        )
    return checked
