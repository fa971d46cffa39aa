"""A record of the work each process of a run does, to check how a run shares it out.

With ``CURVEBENCH_TRACE=FILE`` in the environment, every process appends one JSON line to
FILE for each item it samples, renders, perturbs or encodes: ``{"rank", "pid", "stage",
"item"}``. Off (and free) otherwise; a FILE that cannot be written is warned about once and the
run goes on. Lines are short and appended whole, so processes writing
side by side do not mix them.
"""

from __future__ import annotations

import json
import logging
import os

log = logging.getLogger(__name__)

VARIABLE = "CURVEBENCH_TRACE"
_WARNED = False


def trace(stage: str, item: str) -> None:
    """Record that this process did ``stage`` for ``item`` (when tracing is on)."""
    path = os.environ.get(VARIABLE)
    if not path:
        return
    rank = int(os.environ.get("NODE_RANK", 0)) * 1000 + int(os.environ.get("LOCAL_RANK", 0))
    line = json.dumps({"rank": rank, "pid": os.getpid(), "stage": stage, "item": item})
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)
    except OSError as exc:  # a record of the work is never worth failing the work over
        global _WARNED
        if not _WARNED:
            log.warning("%s=%s: cannot write there (%s); not tracing", VARIABLE, path, exc)
            _WARNED = True
