"""``make run`` needs no root for the default run: system packages are installed only for the
models that use them (audio models: FluidSynth and a soundfont; hf-abc: abcmidi)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dry_run(*args: str) -> str:
    """What ``make -n run ARGS`` would execute (nothing is run)."""
    if shutil.which("make") is None:
        pytest.fail("make is not installed")
    done = subprocess.run(
        ["make", "-n", "-B", "run", *args], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return done.stdout


def test_the_default_run_never_calls_apt() -> None:
    assert "apt-get" not in dry_run() and "sudo" not in dry_run()


@pytest.mark.parametrize("model", ["audio-reference", "hf-abc:path=m", "musicgen:path=m"])
def test_runs_that_need_system_packages_install_them_or_say_what_to_install(model) -> None:
    commands = dry_run(f"RUN_ARGS=--model {model} --limit 1")
    assert "apt-get install" in commands and "fluidsynth" in commands
    assert "needs Debian packages" in commands  # the one line for a user without root
