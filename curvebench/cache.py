"""Where curvebench keeps what it computed once: generated samples, renders, scores."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "CURVEBENCH_CACHE"


def cache_root() -> Path:
    """``$CURVEBENCH_CACHE``, or ``~/.cache/curvebench``."""
    return Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "curvebench")
