"""Ending a run when asked: SIGTERM (``timeout``, a container stop, a scheduler's preemption)
and SIGINT (Ctrl+C) stop curvebench within seconds at any stage.

Lightning catches SIGTERM inside ``Trainer.predict`` and carries on, and turns a
``KeyboardInterrupt`` into exit status 1; :func:`stop_on_signals` instead raises
:class:`Stopped`, which nothing in between swallows (it is not an ``Exception``), so every
``finally`` runs: a child process (FluidSynth, a DDP rank) is killed, a half-written cache
entry is removed, and what was already stored stays for the next run to resume from.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Stopped(BaseException):
    """A run ended by a signal; ``exit_status`` is the shell's 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum

    @property
    def exit_status(self) -> int:
        """143 for SIGTERM, 130 for SIGINT."""
        return 128 + self.signum


def _raise(signum: int, frame: FrameType | None) -> None:
    raise Stopped(signum)


@contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within the block, SIGTERM and SIGINT raise :class:`Stopped` in the main thread (the
    handlers before are put back after it; elsewhere than the main thread, nothing changes)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in SIGNALS}
    for s in SIGNALS:
        if previous[s] is not signal.SIG_IGN:  # a background job's ignored SIGINT stays so
            signal.signal(s, _raise)
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def held() -> Iterator[None]:
    """Within :func:`stop_on_signals`, a signal that arrives inside the block stops the run
    only once the block is done (the outputs of a run are written as one whole); elsewhere,
    nothing changes."""
    if threading.current_thread() is not threading.main_thread() or not all(
        signal.getsignal(s) is _raise for s in SIGNALS
    ):
        yield
        return
    pending: list[int] = []
    for s in SIGNALS:
        signal.signal(s, lambda signum, frame: pending.append(signum))
    try:
        yield
    finally:
        for s in SIGNALS:
            signal.signal(s, _raise)
    if pending:
        raise Stopped(pending[0])
