"""Re-scoring nobody can predict, sized to matter, recorded where only the verifier writes."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from curvebench.benchmark.samples import read_samples
from curvebench.cli import main
from curvebench.leaderboard.entries import verified_text
from curvebench.leaderboard.submission import verification_record
from curvebench.leaderboard.verify import (
    MIN_COPIES,
    default_copies,
    draw_items,
    escape_bound,
)

BOARD = Path(__file__).resolve().parents[2] / "leaderboard"


@pytest.fixture(scope="module")
def board_lines():
    """The lines of a real board entry (the n-gram baseline on the board's protocol)."""
    (folder,) = (BOARD / "submissions").glob("ngram-*")
    return read_samples(folder / "samples.jsonl.gz")


def test_a_draw_takes_copies_in_proportion_to_their_strata_with_their_originals(
    board_lines,
) -> None:
    chosen = draw_items(board_lines, 96, seed=7)
    copies = [x for x in chosen if not x.is_original]
    assert len(copies) == 96
    for copy in copies:  # each copy comes with its original
        assert any(
            x.is_original
            and (x.task, x.dataset, x.piece_id) == (copy.task, copy.dataset, copy.piece_id)
            for x in chosen
        )
    tasks = {x.task for x in board_lines}
    assert {x.task for x in copies} == tasks  # every task of the protocol is drawn from
    assert draw_items(board_lines, 96, seed=7) == chosen  # the seed repeats the draw
    assert draw_items(board_lines, 96, seed=8) != chosen
    assert draw_items(board_lines, None, seed=0) == list(board_lines)


def test_a_tenth_of_the_lines_forged_escapes_the_default_draw_below_one_in_a_thousand(
    board_lines,
) -> None:
    n_copies = sum(not x.is_original for x in board_lines)
    k = default_copies(n_copies)
    assert k == max(MIN_COPIES, -(-2 * n_copies // 100))
    assert escape_bound(0.1, k) < 1e-4
    rng = random.Random(0)
    escaped, trials = 0, 1500
    for trial in range(trials):
        forged = set(rng.sample(range(len(board_lines)), len(board_lines) // 10))
        drawn = {id(x) for x in draw_items(board_lines, k, seed=trial)}
        escaped += not any(id(board_lines[i]) in drawn for i in forged)
    assert escaped <= 2  # expected under 0.2 at the bound


def test_the_board_reads_verification_records_only_from_its_own_folder(tmp_path) -> None:
    entry = tmp_path / "board" / "submissions" / "model-abc"
    entry.mkdir(parents=True)
    forged = {"date": "2026-01-01", "items": 999, "agree": 999}
    (entry / "verified.json").write_text(json.dumps(forged))  # written by the submitter
    assert verified_text(entry) == "no"
    record = verification_record(entry)
    assert record == tmp_path / "board" / "verified" / "model-abc.json"
    record.parent.mkdir()
    record.write_text(json.dumps({"date": "2026-12-05", "seed": 3, "items": 194, "agree": 194}))
    assert verified_text(entry) == "2026-12-05: 194 of 194 items agree"
    record.write_text('{"date": "x", "items": "many", "agree": 1}')
    assert verified_text(entry) == "no"  # a malformed record breaks nothing


def test_verify_prints_its_seed_and_records_outside_the_submission(runs, tmp_path, capsys) -> None:
    import shutil

    root = runs["run0"].parent
    entry = tmp_path / "board" / "submissions" / "run0"
    shutil.copytree(runs["run0"], entry)
    data = [f"--data={role}={root / role}" for role in ("training", "generated", "ood")]
    args = ["leaderboard", "verify", str(entry), "--rescore", "1", "--record"]
    args += ["--model", f"hf-causal:path={root / 'model0'}", *data]
    assert main(args) == 0
    out = capsys.readouterr().out
    seed = int(out.split("draw: seed ")[1].split()[0])
    record = json.loads(verification_record(entry).read_text())
    assert record["seed"] == seed and record["agree"] == record["items"] >= 2
    assert not (entry / "verified.json").exists()
    assert main(["leaderboard", "verify", str(entry), "--rescore", "many"]) == 2
