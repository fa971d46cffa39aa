"""Every table of measured numbers in README.md and docs/, written from committed run outputs.

A generated block lies between ``<!-- docs:NAME:begin -->`` and ``<!-- docs:NAME:end -->``;
``python scripts/docs.py`` rewrites every block from its source, ``--check`` only says which are
stale (exit 1). The sources (``make docs-runs`` makes them):

- ``make-run``: the default run's table, drawn by the CLI's own code from
  ``docs/runs/default/results.json``, and the run's timing line from its saved output;
- ``callback``: ``examples/train_with_callback.py``'s saved output.

The board's tables are spliced by ``curvebench leaderboard build --readme`` (``make docs`` runs
it too).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from curvebench.benchmark.results import Results
from curvebench.report.text import results_text

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "runs"
MAKE_RUN = "curvebench run --task noise-at-5s --model reference --limit 32 --out runs/default"


def _fenced(text: str) -> str:
    return "```text\n" + text.rstrip("\n") + "\n```"


def make_run() -> str:
    """The default run's output as ``make run`` prints it (table and timing)."""
    results = Results.model_validate_json((RUNS / "default" / "results.json").read_text())
    output = (RUNS / "default" / "output.txt").read_text().splitlines()
    tail = [line for line in output if line.startswith(("skipped items:", "time:"))]
    body = ["$ make run", "...", MAKE_RUN, results_text(results, width=200), "", *tail]
    return _fenced("\n".join(body))


def callback() -> str:
    """``python examples/train_with_callback.py``'s output as it was run."""
    return _fenced((RUNS / "callback.txt").read_text())


BLOCKS: dict[str, Callable[[], str]] = {"make-run": make_run, "callback": callback}


def _pattern(name: str) -> re.Pattern[str]:
    begin, end = f"<!-- docs:{name}:begin -->", f"<!-- docs:{name}:end -->"
    return re.compile(re.escape(begin) + r"\n(.*?)\n?" + re.escape(end), re.S)


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def stale(write: bool) -> list[str]:
    """The blocks whose text differs from what their source gives (rewritten when ``write``)."""
    out = []
    rendered = {name: make() for name, make in BLOCKS.items()}
    for path in documents():
        text = path.read_text()
        new = text
        for name, body in rendered.items():
            block = f"<!-- docs:{name}:begin -->\n{body}\n<!-- docs:{name}:end -->"
            new = _pattern(name).sub(lambda _m, block=block: block, new)
        if new != text:
            out.append(path.relative_to(ROOT).as_posix())
            if write:
                path.write_text(new)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list stale documents")
    args = parser.parse_args()
    changed = stale(write=not args.check)
    for name in changed:
        sys.stdout.write(f"{'stale' if args.check else 'wrote'}: {name}\n")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
