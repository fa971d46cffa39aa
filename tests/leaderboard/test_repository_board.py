"""The repository's own board: built from protocol runs, and free of any machine's paths."""

from __future__ import annotations

import re
from pathlib import Path

BOARD = Path(__file__).resolve().parents[2] / "leaderboard"
PRIVATE = re.compile(r"(/home/|/root/|/tmp/|/work/|/Users/|[A-Z]:\\\\)")


def test_no_absolute_path_appears_in_any_file_of_the_board() -> None:
    import gzip

    files = [p for p in BOARD.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        found = PRIVATE.search(data.decode("utf-8", "replace"))
        assert found is None, f"{path.relative_to(BOARD)}: {found.group(0)!r}"


def test_every_entry_follows_the_board_protocol() -> None:
    from curvebench.leaderboard.submission import submissions, validate_submission

    entries = submissions(BOARD)
    results = [validate_submission(folder) for folder in entries]
    assert all(r.config.protocol == "board" for r in results)
    names = {r.model.name: r.model.modality for r in results}
    assert names == {
        "reference": "symbolic",
        "reference-tiny": "symbolic",
        "ngram": "symbolic",
        "audio-reference": "audio",
    }


def test_every_file_of_the_board_fits_a_repository() -> None:
    """No file over 25 MB (an audio entry's per-code losses are the largest)."""
    sizes = {p.relative_to(BOARD): p.stat().st_size for p in BOARD.rglob("*") if p.is_file()}
    assert sizes and max(sizes.values()) < 25_000_000, max(sizes.items(), key=lambda x: x[1])


def test_the_repository_readme_quotes_the_board_as_built() -> None:
    """The README's board tables are `leaderboard build --readme README.md`'s, not hand-edited."""
    readme = (BOARD.parent / "README.md").read_text()
    quoted = readme.split("<!-- board:begin -->\n", 1)[1].split("<!-- board:end -->", 1)[0]
    board = (BOARD / "README.md").read_text()
    table = [line for line in board.splitlines() if line.startswith("|")]
    assert [line for line in quoted.splitlines() if line.startswith("|")] == table
