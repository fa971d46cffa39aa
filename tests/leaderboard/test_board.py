"""The board: README.md table, and index.html with escaped strings, safe JSON and figures."""

from __future__ import annotations

import html
import json
import re
import shutil
from pathlib import Path

import pytest

from curvebench.benchmark.results import Results
from curvebench.errors import ConfigError
from curvebench.leaderboard.board import build_board
from curvebench.leaderboard.entries import (
    TASK,
    board_columns,
    board_headers,
    board_metrics,
    role_results,
)
from curvebench.leaderboard.submission import read_samples
from curvebench.report.compare import compare
from tests.leaderboard.conftest import HOSTILE_NAME, HOSTILE_SPEC, edit_results


def _page_data(page: str) -> dict:
    match = re.search(r'<script type="application/json" id="board-data">(.*?)</script>', page, re.S)
    return json.loads(match.group(1))


def test_readme_has_a_row_per_submission_and_role(board: Path) -> None:
    lines = (board / "README.md").read_text().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("| model"))
    assert lines[header] == "| " + " | ".join(board_headers()) + " |"
    end = next(i for i in range(header, len(lines)) if not lines[i].startswith("|"))
    rows = lines[header + 2 : end]
    assert len(rows) == 3 * 3
    assert [row.split(" | ")[2] for row in rows[:3]] == ["training", "generated", "ood"]
    first = sorted(board.glob("submissions/*/results.json"))[0]  # rows follow folder names
    results = Results.model_validate_json(first.read_text())
    training = next(r for r in results.results[TASK].values() if r.role == "training")
    column = board_columns().index("abs_loss_original")
    assert rows[0].split(" | ")[column].startswith(f"{training.abs_loss_original:.3f} [")
    assert rows[0].split(" | ")[board_columns().index("n_pairs")] == str(training.n_pairs)


def test_hostile_strings_are_escaped_in_readme_and_page(board: Path) -> None:
    readme = (board / "README.md").read_text()
    assert "<script>" not in readme
    assert "| &lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; |" in readme
    page = (board / "index.html").read_text()
    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert page.count("<script") == 2  # the page's own data and code
    assert html.escape(HOSTILE_SPEC) in page
    assert html.escape(HOSTILE_NAME) in page
    data = _page_data(page)  # the JSON is safe inside <script> and still parses to the name
    assert "\\u003cscript\\u003e" in page
    assert HOSTILE_SPEC in {row["model"] for row in data["rows"]}


def test_page_needs_no_network_and_embeds_one_figure_per_submission(board: Path) -> None:
    page = (board / "index.html").read_text()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "default-src 'none'" in page
    figures = re.findall(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(figures) == 3
    assert all(f.startswith("iVBORw0KGgo") for f in figures)  # PNG signature
    assert page.count("<details>") == 9  # a model's details in each of its rows


def test_agreement_panel_ranks_the_models_and_gives_tau_only_from_four(board: Path) -> None:
    page = (board / "index.html").read_text()
    runs = [
        Results.model_validate_json(p.read_text())
        for p in sorted(board.glob("submissions/*/results.json"))
    ]
    panel = page[page.index('<section id="agreement">') : page.index('<section id="figures">')]
    comparisons = compare(runs)  # one dataset per role here, named for it (--data ROLE=DIR)
    assert len(comparisons) == 3
    for c in comparisons:
        rows = re.findall(rf'<tr data-role="{c.dataset}">(.*?)</tr>', panel)
        cells = [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in rows]
        assert cells[0][0] == c.dataset and cells[0][1].startswith("loss orig")
        by_loss = sorted(c.values["abs_loss_original"], key=c.values["abs_loss_original"].get)
        assert cells[0][3] == " › ".join(html.escape(m) for m in by_loss)
        shapes = [m for m in board_metrics() if m.shape and m.rank]
        assert [row[1].removesuffix(" (highest first)") for row in cells[1:]] == [
            html.escape(m.header) for m in shapes
        ]
        assert all(row[2] == "too few models" for row in cells[1:])  # 3 models < 4
    assert "shape_metrics" not in page


def test_a_role_with_several_datasets_is_pooled(runs) -> None:
    results = Results.model_validate_json((runs["run0"] / "results.json").read_text())
    lines = read_samples(runs["run0"] / "samples.jsonl.gz")
    single = role_results(results, lines)
    assert list(single) == ["training", "generated", "ood"]
    training = next(n for n, r in results.results[TASK].items() if r.role == "training")
    assert single["training"] == results.results[TASK][training]
    # the same training set twice under another name: twice the pairs, the same means
    twin = results.model_copy(deep=True)
    twin.results[TASK]["training-twin"] = results.results[TASK][training]
    extra = [
        x.model_copy(update={"dataset": "training-twin"}) for x in lines if x.dataset == training
    ]
    pooled = role_results(twin, lines + extra)["training"]
    assert pooled.n_pairs == 2 * single["training"].n_pairs
    assert pooled.abs_loss_original == pytest.approx(single["training"].abs_loss_original)
    assert pooled.auroc_shape == pytest.approx(single["training"].auroc_shape)


def _string_agreement(data: dict) -> None:
    data["validity"]["rows"][0]["metrics"][0]["agreement"]["value"] = "0.99"


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda d: next(iter(d["results"][TASK].values())).update(n_pairs=99), "n\\_pairs is 99"),
        (_string_agreement, "Input should be a valid number"),
    ],
)
def test_build_refuses_a_missing_board_and_leaves_out_a_tampered_entry(
    board: Path, tmp_path, tamper, reason: str
) -> None:
    with pytest.raises(ConfigError, match="no such board folder"):
        build_board(tmp_path / "missing")
    copy = Path(shutil.copytree(board, tmp_path / "board"))
    folder = sorted((copy / "submissions").iterdir())[0]
    edit_results(folder, tamper)
    readme, _page = build_board(copy)  # the others still build
    text = readme.read_text()
    assert "Left out" in text and folder.name in text and reason in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "training" in line]
    assert len(rows) == 2  # two submissions of three remain


def test_a_half_copied_entry_breaks_neither_submit_nor_build(board: Path, runs, tmp_path) -> None:
    from curvebench.leaderboard.submission import submit

    copy = Path(shutil.copytree(board, tmp_path / "board"))
    first = sorted((copy / "submissions").iterdir())[0]
    (first / "samples.jsonl.gz").unlink()  # what a kill during a plain copy left behind
    build_board(copy)
    assert "Left out" in (copy / "README.md").read_text()
    source = next(
        r
        for r in runs.values()
        if first.name.endswith(
            __import__("json").loads((r / "results.json").read_text())["model"]["fingerprint"][:12]
        )
    )
    again = submit(source, copy)  # re-submission is not refused as "already on the board"
    assert (again / "samples.jsonl.gz").is_file()
    assert not list((copy / "submissions").glob(".incoming-*"))


def test_an_empty_board_builds(tmp_path) -> None:
    readme, page = build_board(tmp_path)
    assert "(no submissions yet)" in readme.read_text()
    assert _page_data(page.read_text())["rows"] == []


def test_build_writes_the_tables_between_a_documents_markers(board: Path, tmp_path) -> None:
    doc = tmp_path / "DOC.md"
    doc.write_text(
        "# Doc\n\nbefore\n<!-- board:begin -->\nstale table\n<!-- board:end -->\nafter\n"
    )
    build_board(board, quote_in=doc)
    text = doc.read_text()
    assert "stale table" not in text
    assert text.startswith("# Doc\n\nbefore\n<!-- board:begin -->\nModels scored in nats/token")
    assert text.endswith("<!-- board:end -->\nafter\n")
    board_lines = (board / "README.md").read_text().splitlines()
    table = [line for line in board_lines if line.startswith("|")]
    assert [line for line in text.splitlines() if line.startswith("|")] == table
    assert "#### Which metric agrees with the truth" in text
    doc.write_text("no markers\n")
    with pytest.raises(ConfigError, match="board:begin"):
        build_board(board, quote_in=doc)
