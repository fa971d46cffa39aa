"""How many CPU threads torch uses in a run: ``--threads N``, or a default that suits the
machine as it is when the run starts.

On an idle machine every core helps; on a busy one each parallel step of a small model waits
for a thread that is not running, and the run slows many-fold (we measured sampling 4.7–5.8×
slower with 2 threads than with 1 on a 2-core machine under load 4: ``benchmarks/README.md``).
The default is therefore the cores the 1-minute load leaves free, at least 1
(:func:`default_threads`).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from curvebench.errors import ConfigError


def available_cores() -> int:
    """Cores this process may run on (its affinity mask, else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads(cores: int | None = None, load: float | None = None) -> int:
    """The cores not busy: ``cores`` minus the 1-minute load average (rounded), at least 1."""
    cores = available_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except OSError:  # no load average here
            load = 0.0
    return max(1, min(cores, cores - round(load)))


def run_threads(threads: int | None, accelerator: str, devices: int) -> int | None:
    """A run's threads per process: ``threads`` when given; for several CPU processes on one
    machine, each its share of the free cores (they would otherwise all take every core);
    None (:func:`default_threads`) otherwise."""
    if threads is not None or devices <= 1 or accelerator != "cpu":
        return threads
    return max(1, default_threads() // devices)


def check_threads(threads: int | None) -> None:
    """ConfigError for a thread count below 1."""
    if threads is not None and threads < 1:
        raise ConfigError(f"--threads {threads}: give 1 or more")


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the block with torch on ``threads`` CPU threads (None: :func:`default_threads`),
    restoring the previous count after it; yields the count used."""
    import torch

    check_threads(threads)
    used = default_threads() if threads is None else threads
    before = torch.get_num_threads()
    torch.set_num_threads(used)
    try:
        yield used
    finally:
        torch.set_num_threads(before)
