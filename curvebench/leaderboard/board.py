"""The board: README.md (Markdown tables) and index.html (a static page that needs no network)
built from a board's validated submissions (:mod:`~curvebench.leaderboard.entries`,
:mod:`~curvebench.leaderboard.markdown`, :mod:`~curvebench.leaderboard.page`)."""

from __future__ import annotations

import logging
from pathlib import Path

from curvebench.errors import ConfigError
from curvebench.leaderboard.entries import load_entries
from curvebench.leaderboard.markdown import splice_tables, write_readme
from curvebench.leaderboard.page import write_page

log = logging.getLogger(__name__)


def build_board(board_dir: Path, quote_in: Path | None = None) -> tuple[Path, Path]:
    """Write ``board_dir/README.md`` and ``board_dir/index.html`` from its submissions, and
    the tables between the board markers of ``quote_in`` when given."""
    board_dir = Path(board_dir)
    if not board_dir.is_dir():
        raise ConfigError(f"{board_dir}: no such board folder; submit a run to it first")
    entries, broken = load_entries(board_dir)
    log.info("%s: %d submissions, %d left out", board_dir, len(entries), len(broken))
    readme = write_readme(entries, board_dir / "README.md", broken)
    if quote_in is not None:
        splice_tables(entries, Path(quote_in))
    return readme, write_page(entries, board_dir / "index.html")
