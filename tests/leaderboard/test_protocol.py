"""The board's protocol on submission: a protocol run is accepted; a run made another way, or
a self-consistent forgery of one, is refused by submit or by verify, naming what differs."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from curvebench.api import RunOptions, run
from curvebench.benchmark.aggregate import analyse
from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import read_samples, write_samples
from curvebench.cli import main
from curvebench.data.sources import embedded_specs, iter_pieces, load_split
from curvebench.leaderboard import protocol as rules
from curvebench.leaderboard.submission import SubmissionError, validate_submission
from curvebench.leaderboard.verify import verify
from curvebench.tasks import expand_tasks
from tests.helpers import tiny_gpt2

LIMIT = 2
HUB_SPEC = f"hf-causal:path=curvebench-tests/tiny-gpt2,revision={'0' * 40}"


@pytest.fixture(scope="module")
def protocol_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(the protocol group file, a run that follows it, the model folder)."""
    root = tmp_path_factory.mktemp("protocol")
    pinned = {}
    for spec in embedded_specs():
        pieces = list(iter_pieces(spec, load_split(spec), LIMIT, 0))
        joined = "\n".join(sorted(p.sha256 for p in pieces))
        pinned[spec.name] = hashlib.sha256(joined.encode()).hexdigest()
    group = {
        "name": "test-board",
        "description": "a small protocol for tests",
        "group": ["noise-at-5s"],
        "protocol": {"version": 1, "limit": LIMIT, "seed": 0, "datasets": pinned},
    }
    path = root / "test-board.yaml"
    path.write_text(yaml.safe_dump(group))
    model = tiny_gpt2(root / "model")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CURVEBENCH_CACHE", str(root / "cache"))
        options = RunOptions(
            tasks=(str(path),), model=f"hf-causal:path={model}", out=root / "run", wandb=False
        )
        run(options)
    # as submitted: the weights named by a hub id at a pinned revision (the board's policy),
    # the copy here given to verify with --model
    results = root / "run" / "results.json"
    spec = json.loads(results.read_text())["model"]["spec"]
    results.write_text(results.read_text().replace(json.dumps(spec), json.dumps(HUB_SPEC)))
    return path, root / "run", model


@pytest.fixture
def enforced(protocol_run, monkeypatch):
    monkeypatch.setattr(rules, "ENFORCED", str(protocol_run[0]))
    return protocol_run


def copy(run_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(run_dir, tmp_path / "copy"))


def forge(folder: Path, edit) -> None:
    """Edit the samples, then recompute every aggregate and hash to match (self-consistent)."""
    results = Results.model_validate_json((folder / "results.json").read_text())
    lines = edit(read_samples(folder / "samples.jsonl.gz"))
    analysis = analyse(lines, expand_tasks(list(results.config.tasks)))
    sha = write_samples(analysis.annotated(lines), folder / "samples.jsonl.gz")
    update = {"results": analysis.results, "curves": analysis.curves, "samples_sha256": sha}
    update["validity"] = analysis.validity
    (folder / "results.json").write_text(results.model_copy(update=update).model_dump_json())


def test_a_protocol_run_is_accepted(enforced) -> None:
    results = validate_submission(enforced[1])
    assert results.config.protocol == "test-board" and results.config.limit == LIMIT
    generated = [d for d in results.datasets if d.role == "generated"]
    assert generated and all(d.generated.generator == results.model.spec for d in generated)


def test_other_runs_are_refused_with_one_line(enforced, tmp_path, midi_folder) -> None:
    other = run(
        RunOptions(
            model=f"hf-causal:path={enforced[2]}",
            data=(f"ood={midi_folder}",),
            limit=1,
            out=tmp_path / "other",
            wandb=False,
        )
    )
    with pytest.raises(SubmissionError, match="not a run of the test-board protocol") as err:
        validate_submission(other.results_path.parent)
    assert "\n" not in str(err.value)
    folder = copy(enforced[1], tmp_path)
    data = json.loads((folder / "results.json").read_text())
    data["config"]["seed"] = 1
    (folder / "results.json").write_text(json.dumps(data))
    with pytest.raises(SubmissionError, match="seed 1"):
        validate_submission(folder)


def test_moved_onsets_are_refused(enforced, tmp_path) -> None:
    folder = copy(enforced[1], tmp_path)

    def move(lines):
        victim = next(line for line in lines if not line.is_original)
        record = dataclasses.replace(victim.record, onset_s=7.5)
        return [
            line.model_copy(update={"record": record}) if line is victim else line for line in lines
        ]

    forge(folder, move)
    with pytest.raises(SubmissionError, match=r"record .* is not what noise"):
        validate_submission(folder)


def test_a_dropped_piece_is_refused(enforced, tmp_path) -> None:
    folder = copy(enforced[1], tmp_path)
    lines = read_samples(folder / "samples.jsonl.gz")
    ood = next(line for line in lines if line.role == "ood")

    def drop(lines):
        return [x for x in lines if (x.dataset, x.piece_id) != (ood.dataset, ood.piece_id)]

    forge(folder, drop)
    with pytest.raises(SubmissionError, match=f"piece {ood.piece_id} is missing"):
        validate_submission(folder)


def test_edited_parameters_or_fingerprint_are_refused_by_verify(enforced, tmp_path) -> None:
    model = f"hf-causal:path={enforced[2]}"
    for field, value in (("parameters", 1000), ("fingerprint", None)):
        folder = copy(enforced[1], tmp_path / field)
        data = json.loads((folder / "results.json").read_text())
        fp = data["model"]["fingerprint"]
        data["model"][field] = (
            value if value is not None else ("0" if fp[0] != "0" else "1") + fp[1:]
        )
        (folder / "results.json").write_text(json.dumps(data))
        with pytest.raises(SubmissionError, match=field):
            verify(folder, rescore=1, model=model)


def test_verify_refuses_remote_code_before_loading_anything(
    enforced, tmp_path, monkeypatch
) -> None:
    monkeypatch.setattr(rules, "ENFORCED", None)  # the spec alone is edited: verify must refuse
    folder = copy(enforced[1], tmp_path)
    evil = tmp_path / "evil"
    evil.mkdir()
    marker = tmp_path / "marker"
    (evil / "config.json").write_text(
        json.dumps({"model_type": "evil", "auto_map": {"AutoModelForCausalLM": "evil.Model"}})
    )
    (evil / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    data = json.loads((folder / "results.json").read_text())
    data["model"]["spec"] = f"hf-causal:path={evil},trust_remote_code=true"
    (folder / "results.json").write_text(json.dumps(data))
    with pytest.raises(SubmissionError, match="never runs a submission's own code"):
        verify(folder, rescore=1)
    assert not marker.exists()


def test_a_gzip_bomb_is_refused_in_bounded_memory(enforced, tmp_path) -> None:
    folder = copy(enforced[1], tmp_path)
    with gzip.GzipFile(folder / "samples.jsonl.gz", "wb", mtime=0) as fh:
        for _ in range(20):
            fh.write(b"{}\n" * (1 << 20))  # 60 MiB of "{}" lines, ~60 KB gzipped
    data = json.loads((folder / "results.json").read_text())
    data["samples_sha256"] = hashlib.sha256((folder / "samples.jsonl.gz").read_bytes()).hexdigest()
    (folder / "results.json").write_text(json.dumps(data))
    code = (
        "import resource, sys\n"
        "from curvebench.leaderboard import protocol\n"
        "protocol.ENFORCED = None\n"
        "from curvebench.leaderboard.submission import SubmissionError, validate_submission\n"
        "try:\n"
        f"    validate_submission({str(folder)!r})\n"
        "except SubmissionError as exc:\n"
        "    print('refused:', exc)\n"
        "status = open('/proc/self/status').read().split('VmHWM:')[1]\n"
        "print(int(status.split()[0]))\n"  # peak RSS of this process image, in KiB
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    text = out.stdout.strip().splitlines()
    assert text[0].startswith("refused:") and "line 1" in text[0]
    assert int(text[-1]) < 1 << 20  # peak RSS in KiB: under 1 GiB


def test_a_piece_claimed_as_skipped_is_rebuilt_by_verify(enforced, tmp_path) -> None:
    from curvebench.benchmark.results import SkippedItem

    folder = copy(enforced[1], tmp_path)
    lines = read_samples(folder / "samples.jsonl.gz")
    ood = next(line for line in lines if line.role == "ood")

    def drop(lines):
        return [x for x in lines if (x.dataset, x.piece_id) != (ood.dataset, ood.piece_id)]

    forge(folder, drop)
    data = json.loads((folder / "results.json").read_text())
    item = f"noise-at-5s/{ood.dataset}/{ood.piece_id}"
    skip = SkippedItem(
        dataset=ood.dataset, piece=ood.piece_id, task="noise-at-5s", reason="too short"
    )
    data["skipped"].append(skip.model_dump())
    (folder / "results.json").write_text(json.dumps(data))
    validate_submission(folder)  # the protocol allows a recorded skip
    outcomes = verify(folder, rescore=1, model=f"hf-causal:path={enforced[2]}")
    bad = [o for o in outcomes if not o.ok]
    assert [o.item for o in bad] == [item] and "left out on purpose" in bad[0].reason


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("hf-causal:path=/models/mine", "is a path, not a hub id"),
        ("hf-causal:path=../elsewhere/mine", "is a path, not a hub id"),
        ("hf-causal:path=org/model", "without revision=<40-hex commit>"),
        ("hf-causal:path=org/model,revision=main", "without revision=<40-hex commit>"),
        ("hf-causal:path=org/model,trust_remote_code=true", "never runs a submission's own code"),
    ],
)
def test_a_model_spec_outside_the_policy_is_refused_at_submit(
    enforced, tmp_path, spec, message
) -> None:
    folder = copy(enforced[1], tmp_path)
    results = folder / "results.json"
    results.write_text(results.read_text().replace(json.dumps(HUB_SPEC), json.dumps(spec)))
    with pytest.raises(SubmissionError, match=re.escape(message)):
        validate_submission(folder)


def test_shipped_models_and_pinned_hub_ids_follow_the_policy() -> None:
    from curvebench.leaderboard.policy import submitted_spec

    assert submitted_spec("reference", Path("x")) == "reference"
    assert submitted_spec(HUB_SPEC, Path("x")) == HUB_SPEC


def test_a_model_that_cannot_be_loaded_is_one_line_and_exit_2(enforced, tmp_path, capsys) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(enforced[2], broken)
    (broken / "config.json").write_text("{not json")
    argv = ["leaderboard", "verify", str(enforced[1]), "--model", f"hf-causal:path={broken}"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "cannot" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _edit_results(folder: Path, change) -> None:
    data = json.loads((folder / "results.json").read_text())
    change(data)
    (folder / "results.json").write_text(json.dumps(data))


def test_a_forged_validity_table_is_refused(enforced, tmp_path) -> None:
    folder = copy(enforced[1], tmp_path)

    def flatter(data: dict) -> None:
        for row in [*data["validity"]["rows"], *data["validity"]["pooled"]]:
            for m in row["metrics"]:
                m["agreement"]["value"] = 0.99

    _edit_results(folder, flatter)
    with pytest.raises(SubmissionError, match="validity differs from the table recomputed"):
        validate_submission(folder)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["config"]["tasks"]["noise-at-5s"].update(seed=7), "has seed 7, not the"),
        (lambda d: d["config"].update(stride=3), "scored with stride 3"),
    ],
)
def test_a_task_seed_or_stride_other_than_the_protocols_is_refused(
    enforced, tmp_path, change, message
) -> None:
    folder = copy(enforced[1], tmp_path)
    _edit_results(folder, change)
    with pytest.raises(SubmissionError, match=message):
        validate_submission(folder)


def test_protocol_datasets_are_read_from_the_package_whatever_the_location(
    enforced, tmp_path
) -> None:
    folder = copy(enforced[1], tmp_path)
    elsewhere = tmp_path / "forger"
    elsewhere.mkdir()  # an empty folder: were it read, no piece would be found

    def move(data: dict) -> None:
        for d in data["datasets"]:
            if d["name"].startswith("embedded-"):
                d["location"] = f"hf:{elsewhere}"

    _edit_results(folder, move)
    outcomes = verify(folder, rescore=None, model=f"hf-causal:path={enforced[2]}")  # all
    assert [o for o in outcomes if "/embedded-" in o.item]
    assert all(o.ok for o in outcomes), [o for o in outcomes if not o.ok]


@pytest.mark.parametrize(
    ("field", "value"), [("notes_added", 0), ("preserves_tokens", True), ("notes_removed", 99)]
)
def test_a_forged_record_of_a_protocol_piece_is_refused_at_submit(
    enforced, tmp_path, field, value
) -> None:
    """The window is right but another field of the record is not the one the perturbation,
    rebuilt from the task's seed and the package's piece, gives."""
    folder = copy(enforced[1], tmp_path)
    lines = read_samples(folder / "samples.jsonl.gz")
    victim = next(x for x in lines if not x.is_original and x.dataset.startswith("embedded-"))
    assert getattr(victim.record, field) != value

    def lie(lines):
        return [
            x.model_copy(update={"record": dataclasses.replace(x.record, **{field: value})})
            if (x.dataset, x.piece_id, x.variant)
            == (victim.dataset, victim.piece_id, victim.variant)
            else x
            for x in lines
        ]

    forge(folder, lie)
    with pytest.raises(SubmissionError, match=rf"{victim.piece_id}/.*record's {field} is"):
        validate_submission(folder)


def test_a_forged_record_of_a_generated_piece_is_caught_by_verify(enforced, tmp_path) -> None:
    """A generated piece cannot be rebuilt without the model: verify compares the record of
    every copy it re-scores with the rebuilt one."""
    folder = copy(enforced[1], tmp_path)
    lines = read_samples(folder / "samples.jsonl.gz")
    victim = next(x for x in lines if not x.is_original and x.role == "generated")

    def lie(lines):
        return [
            x.model_copy(update={"record": dataclasses.replace(x.record, notes_added=10**6)})
            if x is victim or (x.key, x.variant) == (victim.key, victim.variant)
            else x
            for x in lines
        ]

    forge(folder, lie)
    validate_submission(folder)  # self-consistent: submit cannot tell
    outcomes = verify(folder, rescore=None, model=f"hf-causal:path={enforced[2]}")
    bad = [o for o in outcomes if not o.ok]
    assert len(bad) == 1 and victim.piece_id in bad[0].item
    assert "record's notes_added is 1000000" in bad[0].reason


def test_forged_originals_are_caught_through_any_copy_drawn(enforced, tmp_path) -> None:
    """The forgery that beat a fixed draw: every original's losses 40% lower, every number
    recomputed with the package's own analysis. Submit cannot tell; verify re-scores each
    drawn copy with its original, so a draw of a single copy catches it, whatever its seed."""
    folder = copy(enforced[1], tmp_path)

    def lower(lines):
        return [
            x.model_copy(update={"loss": [v * 0.6 for v in x.loss]}) if x.is_original else x
            for x in lines
        ]

    forge(folder, lower)
    validate_submission(folder)
    model = f"hf-causal:path={enforced[2]}"
    for seed in (1, 2, 3):
        outcomes = verify(folder, rescore=1, seed=seed, model=model)
        originals = [o for o in outcomes if o.item.endswith("/original")]
        assert originals and not any(o.ok for o in originals)
        assert "losses differ" in originals[0].reason
