"""Submissions: accepted, tampered, malformed, duplicate and hostile runs."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

import pytest

from curvebench.benchmark.results import ModelInfo, Results
from curvebench.errors import CurvebenchError
from curvebench.leaderboard.cli import add_commands
from curvebench.leaderboard.submission import (
    SubmissionError,
    safe_name,
    sha256_file,
    submit,
    validate_submission,
)
from tests.leaderboard.conftest import edit_results, edit_samples, make_hostile

TASK = "noise-at-5s"


def _dataset(folder: Path, role: str) -> str:
    results = json.loads((folder / "results.json").read_text())["results"][TASK]
    return next(name for name, r in results.items() if r["role"] == role)


def test_a_real_run_is_accepted_and_copied_under_a_safe_name(runs, tmp_path) -> None:
    results = validate_submission(runs["run0"])
    assert {r.role for r in results.results[TASK].values()} == {"training", "generated", "ood"}
    folder = submit(runs["run0"] / "results.json", tmp_path / "board")
    assert folder.parent == tmp_path / "board" / "submissions"
    # the model is named after its folder (path=), the entry after the model and its weights
    assert folder.name == f"{results.model.name}-{results.model.fingerprint[:12]}"
    assert results.model.name != "hf-causal"
    assert sorted(p.name for p in folder.iterdir()) == ["results.json", "samples.jsonl.gz"]
    assert sha256_file(folder / "samples.jsonl.gz") == results.samples_sha256
    validate_submission(folder)


@pytest.mark.parametrize(
    ("role", "field"),
    [
        ("training", "abs_loss_original"),
        ("generated", "abs_loss_delta"),
        ("ood", "frac_loss_lowered"),
        ("ood", "region_peak"),
        ("training", "auroc_shape"),
        ("generated", "agree_abs_loss_ci"),
    ],
)
def test_a_tampered_aggregate_is_refused_naming_task_dataset_and_field(
    copy_run, role: str, field: str
) -> None:
    folder = copy_run()
    dataset = _dataset(folder, role)

    def tamper(data: dict) -> None:
        result = data["results"][TASK][dataset]
        if isinstance(result[field], list):
            result[field] = [v + 0.01 for v in result[field]]
        else:
            result[field] = (result[field] or 0.0) + 0.01

    edit_results(folder, tamper)
    with pytest.raises(SubmissionError, match=rf"{TASK} / {dataset}: {field} is .* recomputed"):
        validate_submission(folder)


def test_a_tampered_count_or_curve_is_refused(copy_run) -> None:
    folder = copy_run()
    dataset = _dataset(folder, "ood")
    edit_results(folder, lambda d: d["results"][TASK][dataset].update(n_pairs=3))
    with pytest.raises(SubmissionError, match=rf"{dataset}: n_pairs is 3 but .* has 2"):
        validate_submission(folder)
    folder = copy_run("run1")

    def flatten_curve(data: dict) -> None:
        curve = data["curves"][TASK][dataset]
        data["curves"][TASK][dataset] = [None if v is None else 0.0 for v in curve]

    edit_results(folder, flatten_curve)
    with pytest.raises(SubmissionError, match=rf"{dataset}: curves differ"):
        validate_submission(folder)


def test_a_tampered_samples_file_is_refused_by_hash_and_by_recomputation(copy_run) -> None:
    folder = copy_run()

    def lower_a_loss(lines: list[dict]) -> None:
        line = next(x for x in lines if x["variant"] != "original")
        line["loss"][len(line["loss"]) // 2] -= 2.0

    edit_samples(folder, lower_a_loss)
    with pytest.raises(SubmissionError, match=r"sha256 .* differs from samples_sha256"):
        validate_submission(folder)
    # a forger who also updates the hash is caught by the recomputation
    digest = sha256_file(folder / "samples.jsonl.gz")
    edit_results(folder, lambda d: d.update(samples_sha256=digest))
    with pytest.raises(SubmissionError, match=r"abs_loss_perturbed is .* recomputed"):
        validate_submission(folder)


def test_a_samples_line_whose_numbers_do_not_follow_from_its_losses_is_refused(copy_run) -> None:
    folder = copy_run()
    edit_samples(folder, lambda lines: lines[0].update(abs_loss=lines[0]["abs_loss"] / 2))
    digest = sha256_file(folder / "samples.jsonl.gz")
    edit_results(folder, lambda d: d.update(samples_sha256=digest))
    with pytest.raises(SubmissionError, match=r"line 1 .*: abs_loss does not follow"):
        validate_submission(folder)


def _remove_role(role: str):
    def change(data: dict) -> None:
        results = data["results"][TASK]
        for name in [n for n, r in results.items() if r["role"] == role]:
            del results[name]

    return change


def _set(path: str, value: object):
    """Set a dotted path (``model.parameters``) in the results; ``...=DELETE`` removes it."""

    def change(data: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            data = data[int(key)] if isinstance(data, list) else data[key]
        if value == "DELETE":
            del data[last]
        else:
            data[last] = value

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("model.parameters", "DELETE"), r"model\.parameters: Field required"),
        (_set("extra", 1), r"extra: Extra inputs are not permitted"),
        (_set("model.private", "x"), r"model\.private: Extra inputs are not permitted"),
        (_set("model.parameters", "many"), r"model\.parameters: Input should be a valid integer"),
        (_set("model.parameters", "12"), r"model\.parameters: Input should be a valid integer"),
        (_set("created", 20260101), r"created: Input should be a valid string"),
        (
            _set("schema_version", 99),
            r"schema_version 99 is not one this curvebench reads",
        ),
        (_set("schema_version", "DELETE"), r"no schema_version"),
        (_set(f"config.task_versions.{TASK}", 99), rf"task {TASK} version 99 is not the known"),
        (_set("config.task_versions.made-up", 1), r"task 'made-up' is not a task shipped"),
        (_set(f"config.tasks.{TASK}.grid_hz", 25.0), r"grid_hz is 25.0, not the shipped 50.0"),
        (_set(f"config.tasks.{TASK}.bogus", 1), rf"config\.tasks\.{TASK}\.bogus: Extra inputs"),
        (_set("results", {}), rf"required task {TASK} is missing"),
        (_remove_role("ood"), rf"task {TASK} lacks dataset role\(s\) ood"),
        (
            _set("validity.rows.0.metrics.0.agreement.value", "0.99"),
            r"validity\.rows\.0\.metrics\.0\.agreement\.value: Input should be a valid number",
        ),
        (
            _set("validity.rows.0.metrics.0.metric", "<b onmouseover=alert(1)>abs_loss</b>"),
            r"validity differs from the table recomputed",
        ),
    ],
)
def test_a_malformed_results_file_is_refused(copy_run, change, message: str) -> None:
    folder = copy_run()
    edit_results(folder, change)
    with pytest.raises(SubmissionError, match=message):
        validate_submission(folder)


def test_unreadable_or_missing_files_are_refused(copy_run, tmp_path) -> None:
    with pytest.raises(SubmissionError, match=r"no results\.json there"):
        validate_submission(tmp_path / "nowhere")
    folder = copy_run()
    (folder / "results.json").write_text("{not json")
    with pytest.raises(SubmissionError, match="not JSON"):
        validate_submission(folder)
    folder = copy_run("run1")
    (folder / "samples.jsonl.gz").unlink()
    with pytest.raises(SubmissionError, match=r"no samples\.jsonl\.gz beside"):
        validate_submission(folder)
    folder = copy_run("run2")
    (folder / "samples.jsonl.gz").write_bytes(b"not gzip")
    digest = sha256_file(folder / "samples.jsonl.gz")
    edit_results(folder, lambda d: d.update(samples_sha256=digest))
    with pytest.raises(SubmissionError, match="not gzipped JSON lines"):
        validate_submission(folder)


def test_a_duplicate_is_refused(runs, copy_run, tmp_path) -> None:
    board = tmp_path / "board"
    first = submit(runs["run0"], board)
    renamed = copy_run()  # same model and task versions, only the name differs
    edit_results(renamed, _set("model.spec", "another name"))
    with pytest.raises(SubmissionError, match=f"already on the board as {first.name}"):
        submit(renamed, board)
    assert submit(runs["run1"], board) != first  # another model is welcome


def test_a_hostile_model_name_gets_a_safe_folder_inside_the_board(copy_run, tmp_path) -> None:
    board = tmp_path / "board"
    folder = submit(make_hostile(copy_run()), board)
    assert re.fullmatch(r"[a-z0-9-]+", folder.name)
    assert folder.name.startswith("etc-script-alert-1-script-")
    assert folder.resolve().parent == (board / "submissions").resolve()
    assert validate_submission(folder).model.name == "../../etc/<script>alert(1)</script>"


def test_safe_name_never_leaves_the_allowed_alphabet() -> None:
    for name, fingerprint in [("../..", "../../x"), ("", ""), ("A B/C\\D\x00", "ABCdef0123456789")]:
        model = ModelInfo.model_construct(name=name, fingerprint=fingerprint)
        assert re.fullmatch(
            r"[a-z0-9]+(-[a-z0-9]+)*", safe_name(Results.model_construct(model=model))
        )


def _cli(*argv: str) -> None:
    parser = argparse.ArgumentParser(prog="curvebench")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    args.func(args)


def test_the_commands_submit_and_build(runs, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    _cli("leaderboard", "submit", str(runs["run0"] / "results.json"))
    out = capsys.readouterr().out
    assert "accepted:" in out
    name = json.loads((runs["run0"] / "results.json").read_text())["model"]["name"]
    assert f"copied to: leaderboard/submissions/{name}-" in out
    _cli("leaderboard", "build")
    out = capsys.readouterr().out
    assert "wrote: leaderboard/README.md" in out
    assert "wrote: leaderboard/index.html" in out
    with pytest.raises(CurvebenchError, match="already on the board"):
        _cli("leaderboard", "submit", str(runs["run0"]), "--board", "leaderboard")
    with pytest.raises(CurvebenchError, match="no such board folder"):
        _cli("leaderboard", "build", "--board", "missing")
