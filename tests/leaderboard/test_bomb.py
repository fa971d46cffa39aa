"""A samples bomb (a small gzip file of lines of tens of MB of zeros, or thousands of lines that
hold more numbers than any run of the protocol) is refused by ``submit --check`` within bounded
memory (peak RSS measured)."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LIMIT_KB = 1024 * 1024  # 1 GB

CHECK = """
import sys
from curvebench.leaderboard import protocol
from curvebench.leaderboard.submission import SubmissionError, validate_submission
protocol.ENFORCED = None
try:
    validate_submission(sys.argv[1])
    print("ACCEPTED")
except SubmissionError as exc:
    print("REFUSED", exc)
status = open("/proc/self/status").read()
print("PEAK_KB", next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM")))
"""


def _bomb(run: Path, folder: Path, numbers: int, lines: int) -> None:
    """``folder``: the run with a samples file of ``lines`` copies of its first line, each
    holding ``numbers`` zeros as losses, and a results.json that counts that many lines."""
    shutil.copytree(run, folder)
    with gzip.open(run / "samples.jsonl.gz", "rt") as fh:
        first = json.loads(fh.readline())
    first["loss"] = [0] * 3  # the marker replaced by the zeros, written as text
    head, tail = json.dumps(first).split('"loss": [0, 0, 0]')
    zeros = ("0," * (numbers - 1) + "0").encode()
    with gzip.open(folder / "samples.jsonl.gz", "wb", compresslevel=1) as fh:
        for _ in range(lines):
            fh.write(head.encode() + b'"loss": [' + zeros + b"]" + tail.encode() + b"\n")
    data = json.loads((folder / "results.json").read_text())
    data["samples_sha256"] = hashlib.sha256((folder / "samples.jsonl.gz").read_bytes()).hexdigest()
    first_result = next(iter(next(iter(data["results"].values())).values()))
    first_result["n_pairs"] += lines  # the line count a forger would claim
    (folder / "results.json").write_text(json.dumps(data))


def _check(folder: Path) -> tuple[str, int]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", CHECK, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    verdict = next(line for line in done.stdout.splitlines() if line.startswith(("REF", "ACC")))
    peak = int(next(line for line in done.stdout.splitlines() if line.startswith("PEAK_KB"))[8:])
    return verdict, peak


@pytest.mark.slow
@pytest.mark.parametrize(
    ("numbers", "lines", "why"),
    [
        (15_000_000, 4, "is longer than"),  # 30 MB lines of zeros
        (10_000, 3_000, "more than 10,000,000 numbers"),  # thousands of 20 kB lines
    ],
)
def test_a_samples_bomb_is_refused_in_bounded_memory(runs, tmp_path, numbers, lines, why) -> None:
    folder = tmp_path / "bomb"
    _bomb(runs["run0"], folder, numbers, lines)
    assert (folder / "samples.jsonl.gz").stat().st_size < 20 << 20  # small on disk
    verdict, peak_kb = _check(folder)
    assert verdict.startswith("REFUSED") and why in verdict, verdict
    assert peak_kb < LIMIT_KB, f"peak RSS {peak_kb / 1024:.0f} MB"
