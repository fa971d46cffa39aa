"""SIGTERM and SIGINT end a run within seconds at every stage (sampling the generated role,
rendering, encoding, scoring), with exit status 143/130 and one line; what was scored stays in
the cache and the same command resumes from it."""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curvebench.data.sources import embedded_split

ROOT = Path(__file__).resolve().parents[2]
WITHIN_S = 10.0
"""The issue's bound on how long a run may take to stop."""


@pytest.fixture(scope="module")
def pieces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """16 real pieces of the embedded corpus as MIDI files (scoring them takes seconds)."""
    folder = tmp_path_factory.mktemp("pieces")
    rows = embedded_split("train").select(range(16))
    for i, row in enumerate(rows):
        (folder / f"p{i:02d}.mid").write_bytes(row["midi"])
    return folder


def start(args: list[str], cwd: Path) -> subprocess.Popen:
    """The run as a user starts it in a terminal: SIGINT at its default (the test suite may
    itself run where SIGINT is ignored, as a shell's background job is, and a child inherits
    that; curvebench leaves an ignored SIGINT ignored, as such a job expects)."""
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-m", "curvebench.cli", "-v", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=cwd,
        env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def stop_at(
    proc: subprocess.Popen, marker: str | re.Pattern, signum: int
) -> tuple[float | None, str]:
    """Wait until the run prints ``marker`` (a stage has begun; a string or a pattern), send
    ``signum``; the seconds it then took to end (None: it had ended before the signal could
    be sent), and all it printed on stderr."""
    seen = b""
    selector = selectors.DefaultSelector()
    selector.register(proc.stderr, selectors.EVENT_READ)
    clock = time.monotonic()

    def found() -> bool:
        text = seen.decode(errors="replace")
        return bool(marker.search(text)) if isinstance(marker, re.Pattern) else marker in text

    while not found():
        assert proc.poll() is None, f"ended before {marker!r}: {seen.decode()[-1500:]}"
        assert time.monotonic() - clock < 600, f"no {marker!r} within 10 minutes"
        if selector.select(1.0):
            seen += os.read(proc.stderr.fileno(), 1 << 16)
    if proc.poll() is not None:  # it ended while this reader was behind (a busy machine)
        _, rest = proc.communicate(timeout=60)
        return None, (seen + rest).decode(errors="replace")
    proc.send_signal(signum)
    sent = time.monotonic()
    _, rest = proc.communicate(timeout=60)
    return time.monotonic() - sent, (seen + rest).decode(errors="replace")


STAGES = {
    # stage: (marker in the -v output once it runs, extra arguments)
    "sampling": ("sampling", ["--model", "reference", "--limit", "2"]),
    "rendering": ("rendering", ["--model", "audio-reference", "--no-cache", "--limit", "4"]),
    "encoding": ("perturb+encode", ["--model", "reference"]),
    "scoring": ("scoring on", ["--model", "reference"]),
}


@pytest.mark.slow
@pytest.mark.parametrize("stage", list(STAGES))
def test_sigterm_ends_each_stage_within_seconds(stage, pieces, tmp_path) -> None:
    marker, extra = STAGES[stage]
    data = [] if stage == "sampling" else ["--data", str(pieces)]
    args = ["run", *extra, *data, "--no-wandb", "--out", str(tmp_path / "out")]
    args += ["--cache-dir", str(tmp_path / "cache")]
    proc = start(args, tmp_path)
    took, err = stop_at(proc, marker, signal.SIGTERM)
    assert took is not None, f"{stage}: the run ended before the signal: {err[-1500:]}"
    assert proc.returncode == 143, err[-2000:]
    assert took < WITHIN_S, f"{stage}: {took:.1f} s to stop"
    assert "Traceback" not in err
    # one line (it may follow a progress bar's last state on the same terminal line)
    message = "curvebench: stopped by SIGTERM; what was scored is kept in the cache, so the "
    assert err.count(message) == 1


TWO_BATCHES = re.compile(r"scoring on 1: .*\| ([2-9]|\d\d+)/")
"""The scoring bar once two batches or more are scored (it may skip a count)."""


@pytest.mark.slow
def test_a_stopped_run_resumes_from_the_cache_and_sigint_is_130(pieces, tmp_path) -> None:
    args = ["run", "--model", "reference", "--data", str(pieces), "--no-wandb"]
    args += ["--out", str(tmp_path / "out"), "--cache-dir", str(tmp_path / "cache")]
    for _ in range(3):  # the run takes seconds: if it ended before the reader saw the
        # second batch (a busy machine), the signal would test nothing; run it again
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)
        proc = start(args, tmp_path)
        took, err = stop_at(proc, TWO_BATCHES, signal.SIGINT)
        if took is not None:
            break
    assert took is not None, "the run ended before the signal could be sent, three times"
    assert proc.returncode == 130 and took < WITHIN_S, err[-2000:]
    kept = list((tmp_path / "cache" / "scores").rglob("*.npy"))
    again = subprocess.run(
        [sys.executable, "-m", "curvebench.cli", *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=600,
    )
    assert again.returncode == 0, again.stderr[-2000:]
    reused = int(re.search(r"cache:\s+(\d+) of the scored", again.stdout).group(1))
    assert reused == len(kept) > 0
