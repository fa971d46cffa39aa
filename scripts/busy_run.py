"""The default run, cold, on a busy machine: ``N`` processes spin on the CPU (load ≥ N once the
1-minute average has seen them) while ``curvebench run ARGS...`` runs with empty caches; its
output, and the load average when it started, are printed.

    python scripts/busy_run.py 4 --task noise-at-5s --model reference --limit 32 --out DIR
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import tempfile
import time


def _spin() -> None:
    while True:
        pass


def main() -> int:
    busy, args = int(sys.argv[1]), sys.argv[2:]
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(busy)]
    for p in spinners:
        p.start()
    try:
        while os.getloadavg()[0] < busy:  # until the 1-minute average sees them
            time.sleep(5)
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, CURVEBENCH_CACHE=cache)
            cli = os.path.join(os.path.dirname(sys.executable), "curvebench")
            done = subprocess.run([cli, "run", *args], env=env, capture_output=True, text=True)
        sys.stdout.write(f"load average at start: {load:.1f} ({busy} processes spinning)\n")
        sys.stdout.write(done.stdout)
        return done.returncode
    finally:
        for p in spinners:
            p.kill()


if __name__ == "__main__":
    sys.exit(main())
