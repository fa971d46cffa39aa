"""Every file of a fuzz corpus through ``curvebench score`` and ``curvebench perturb``, in one
process: prints one JSON line per call (command, file, exit status, what it printed on
stderr) and a last line with the process's peak resident memory in MB.

Run as ``python -m tests.fuzz.drive CORPUS OUT``; the tests read its output.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import resource
import sys
from pathlib import Path

from curvebench.cli import main


def peak_mb() -> float:
    """This process's peak resident memory in MB: the kernel's high-water mark of its own
    address space (``VmHWM``). ``ru_maxrss`` is not used: on Linux it carries over the
    parent's peak across ``exec``, and a parent that is a long test session holds gigabytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def call(argv: list[str]) -> tuple[int, str]:
    """``curvebench ARGV`` in this process: exit status and standard error."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        try:
            status = main(argv)
        except SystemExit as exc:  # argparse
            status = exc.code if isinstance(exc.code, int) else 1
        except Exception as exc:  # a traceback: what the tests look for
            import traceback

            traceback.print_exc(file=err)
            status = -1
            del exc
    return status, err.getvalue()


def calls(corpus: Path, out: Path) -> list[tuple[str, str, list[str]]]:
    """(command, file name, argv) for every file of the corpus."""
    out.mkdir(parents=True, exist_ok=True)
    todo = []
    for name in sorted(os.listdir(os.fsencode(corpus))):
        path = os.fsdecode(os.path.join(os.fsencode(corpus), name))
        shown = os.fsdecode(name)
        audio = shown.endswith(".wav")
        todo.append(("score", shown, ["score", "--model", "reference", path]))
        if audio:
            todo.append(("score-audio", shown, ["score", "--model", "audio-reference", path]))
        target = str(out / ("copy.wav" if audio else "copy.mid"))
        todo.append(("perturb", shown, ["perturb", "--perturbation", "noise", path, target]))
        if not audio:
            argv = ["perturb", "--perturbation", "tempo-change", path, target]
            todo.append(("perturb-notes", shown, argv))
    return todo


if __name__ == "__main__":
    corpus, out = Path(sys.argv[1]), Path(sys.argv[2])
    for command, name, argv in calls(corpus, out):
        status, err = call(argv)
        peak = peak_mb()
        line = {"command": command, "file": name, "status": status, "stderr": err, "peak_mb": peak}
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()
    sys.stdout.write(json.dumps({"peak_mb": peak_mb()}) + "\n")
