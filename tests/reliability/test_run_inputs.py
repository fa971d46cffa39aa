"""Regression tests of the second reliability pass: each finding, tried as a careless or
hostile user would, now gives correct results or a one-line error before any scoring."""

from __future__ import annotations

import fcntl
import gzip
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from curvebench.api import RunOptions, run
from curvebench.benchmark.score_cache import ScoreCache
from curvebench.cli import main
from curvebench.data.audio import write_wav
from curvebench.errors import ConfigError, DataError
from tests.helpers import write_midi_folder


def options(tiny_model: Path, tmp_path: Path, **kw) -> RunOptions:
    base = dict(
        model=f"hf-causal:path={tiny_model}",
        data=(f"ood={kw.pop('folder')}",) if "folder" in kw else (),
        out=tmp_path / "out",
        wandb=False,
        cache_dir=tmp_path / "cache",
    )
    return RunOptions(**{**base, **kw})


def one_line_error(capsys, args: list[str], *words: str) -> str:
    assert main(args) == 2, args
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("curvebench: error: "), err
    for word in words:
        assert word in err[0], (word, err[0])
    return err[0]


def test_two_folders_with_the_same_name_stay_two_datasets(tiny_model, tmp_path) -> None:
    a = write_midi_folder(tmp_path / "A" / "midi", 2)[0].parent
    b = write_midi_folder(tmp_path / "B" / "midi", 3)[0].parent
    output = run(options(tiny_model, tmp_path, data=(f"training={a}", f"ood={b}"), use_cache=False))
    rows = output.results.results["noise-at-5s"]
    assert {n: r.role for n, r in rows.items()} == {"midi-training": "training", "midi-ood": "ood"}
    assert rows["midi-training"].n_originals == 2 and rows["midi-ood"].n_originals == 3
    keys = [(s.dataset, s.piece_id, s.variant) for s in output.lines]
    assert len(keys) == len(set(keys))
    with pytest.raises(ConfigError, match="both be named"):
        run(options(tiny_model, tmp_path, data=(f"ood={a}", f"ood={tmp_path / 'A' / 'midi/'}")))


def test_a_busy_out_folder_is_refused(tiny_model, midi_folder, tmp_path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with open(out / ".curvebench.lock", "w") as held:  # another run holds it
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(ConfigError, match="another curvebench run"):
            run(options(tiny_model, tmp_path, folder=midi_folder, limit=1))
    assert not (out / "results.json").exists()
    assert run(options(tiny_model, tmp_path, folder=midi_folder, limit=1)) is not None


def test_report_refuses_results_beside_other_samples(tiny_model, midi_folder, tmp_path) -> None:
    from curvebench.report.html import write_report

    output = run(options(tiny_model, tmp_path, folder=midi_folder, limit=1))
    with gzip.open(output.samples_path, "ab") as fh:  # a later run's file, say
        fh.write(b"\n")
    with pytest.raises(DataError, match=r"not the file results\.json was written with"):
        write_report(output.results_path.parent)


def test_the_stride_is_part_of_the_cache_key_and_recorded(tiny_model, tmp_path) -> None:
    long = write_midi_folder(tmp_path / "long", 1, seconds=60.0)[0].parent
    first = run(options(tiny_model, tmp_path, folder=long, tasks=("noise-length-sweep",)))
    other = run(
        options(
            tiny_model,
            tmp_path,
            folder=long,
            tasks=("noise-length-sweep",),
            stride=16,
            out=tmp_path / "b",
        )
    )
    assert first.results.config.stride == 128 and other.results.config.stride == 16
    assert other.cached == 0  # not served the default stride's losses
    fresh = run(
        options(
            tiny_model,
            tmp_path,
            folder=long,
            tasks=("noise-length-sweep",),
            stride=16,
            out=tmp_path / "c",
            use_cache=False,
        )
    )
    assert other.results.results == fresh.results.results


@pytest.mark.parametrize("damage", ["flip", "zeros", "shape", "nan", "text"])
def test_a_damaged_cache_entry_is_scored_again(
    damage, tiny_model, midi_folder, tmp_path, caplog
) -> None:
    clean = run(
        options(
            tiny_model,
            tmp_path,
            folder=midi_folder,
            limit=1,
            use_cache=False,
            out=tmp_path / "clean",
        )
    )
    run(options(tiny_model, tmp_path, folder=midi_folder, limit=1))
    entries = sorted((tmp_path / "cache" / "scores").rglob("*.npy"))
    assert entries
    path = entries[0]
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-8:-4] = b"\xff\xff\xff\x7f"
    elif damage == "zeros":
        data = bytearray(len(data))
    elif damage == "text":
        data = bytearray(b"hello")
    else:  # a well-formed entry (checksum and all) with the wrong content
        cache = ScoreCache(tmp_path / "cache", "x")
        cache.folder = path.parent.parent
        bad = np.zeros(3, np.float32) if damage == "shape" else np.full(10**4, np.nan, np.float32)
        cache.put(path.stem, bad)
        data = bytearray(path.read_bytes())
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING):
        again = run(options(tiny_model, tmp_path, folder=midi_folder, limit=1, out=tmp_path / "b"))
    assert "scoring it again" in caplog.text
    assert again.results.results == clean.results.results


def test_a_read_only_cache_is_used_uncached(tiny_model, midi_folder, tmp_path, caplog) -> None:
    if os.geteuid() == 0:  # root writes anywhere: make the cache root a file instead
        (tmp_path / "cache").write_text("not a folder")
    else:
        (tmp_path / "cache").mkdir()
        (tmp_path / "cache").chmod(0o500)
    with caplog.at_level(logging.WARNING):
        output = run(options(tiny_model, tmp_path, folder=midi_folder, limit=1))
    assert output.results.results["noise-at-5s"]
    assert "going on uncached" in caplog.text


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--limit", "0"], ["--limit 0", "1 or more"]),
        (["--limit", "-1"], ["--limit -1"]),
        (["--num-nodes", "0"], ["--num-nodes 0"]),
        (["--batch-size", "-3"], ["--batch-size -3"]),
        (["--batch-size", "0"], ["--batch-size 0"]),
        (["--stride", "-5"], ["--stride -5"]),
        (["--stride", "100000"], ["--stride 100000", "context"]),
        (["--accelerator", "foo"], ["--accelerator foo"]),
    ],
)
def test_nonsense_options_are_refused_in_one_line(
    flags, words, tiny_model, midi_folder, tmp_path, capsys
) -> None:
    args = ["run", "--model", f"hf-causal:path={tiny_model}", "--data", f"ood={midi_folder}"]
    one_line_error(capsys, [*args, *flags, "--no-wandb", "--out", str(tmp_path / "o")], *words)
    assert not (tmp_path / "o" / "results.json").exists()


def test_model_specs_that_cannot_load_are_one_line_errors(tmp_path, capsys) -> None:
    base = ["run", "--no-wandb", "--out", str(tmp_path / "o"), "--model"]
    one_line_error(capsys, [*base, "hf-causal"], "needs path=")
    (tmp_path / "empty").mkdir()
    one_line_error(capsys, [*base, f"hf-causal:path={tmp_path / 'empty'}"], "cannot load")
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "config.json").write_text(
        json.dumps({"model_type": "custom-x", "auto_map": {"AutoModelForCausalLM": "m.M"}})
    )
    one_line_error(capsys, [*base, f"hf-causal:path={remote}"], "cannot load")


def test_perturb_refuses_bad_numbers_and_bad_outputs(midi_folder, tmp_path, capsys) -> None:
    source = str(sorted(midi_folder.glob("*.mid"))[0])
    out = str(tmp_path / "x.mid")
    for spec in ("noise:onset=nan", "noise:level_db=nan", "noise:duration=inf", "noise:seed=-1"):
        key = spec.split(":")[1].split("=")[0]
        one_line_error(capsys, ["perturb", "--perturbation", spec, source, out], key)
    perturb = ["perturb", "--perturbation", "noise", source]
    one_line_error(capsys, [*perturb, str(tmp_path)], "file name")
    one_line_error(capsys, [*perturb, str(tmp_path / "no" / "such" / "x.mid")], "existing folder")


def test_task_files_cannot_escape_or_explode(tmp_path, capsys) -> None:
    task = {
        "name": "../../../escape",
        "version": 1,
        "description": "x",
        "perturbations": ["noise"],
    }
    (tmp_path / "bad.yaml").write_text(json.dumps(task))
    one_line_error(capsys, ["run", "--task", str(tmp_path / "bad.yaml"), "--no-wandb"], "name")
    (tmp_path / "huge.yaml").write_text(json.dumps({**task, "name": "huge", "grid_hz": 1e9}))
    one_line_error(capsys, ["run", "--task", str(tmp_path / "huge.yaml"), "--no-wandb"], "grid_hz")
    assert not list(tmp_path.parent.glob("escape*"))


def test_out_that_is_a_file_or_read_only_is_refused_before_scoring(
    tiny_model, midi_folder, tmp_path, capsys
) -> None:
    args = [
        "run",
        "--model",
        f"hf-causal:path={tiny_model}",
        "--data",
        f"ood={midi_folder}",
        "--no-wandb",
        "--out",
    ]
    (tmp_path / "file").write_text("x")
    one_line_error(capsys, [*args, str(tmp_path / "file")], "is a file")
    (tmp_path / "under-file").write_text("x")
    one_line_error(capsys, [*args, str(tmp_path / "under-file" / "out")], "cannot write")


def test_generated_pieces_follow_cache_dir_and_no_cache(tmp_path) -> None:
    assert RunOptions(cache_dir=tmp_path / "c").caches().generated == tmp_path / "c"
    no_cache = RunOptions(use_cache=False, out=tmp_path / "o")
    assert no_cache.caches().generated == tmp_path / "o" / "generated"


def test_every_file_passed_over_is_listed_without_private_paths(tiny_model, tmp_path) -> None:
    folder = write_midi_folder(tmp_path / "mixed", 2)[0].parent
    shutil.copy(Path(__file__), folder / "notes.txt")
    write_wav(folder / "take.wav", np.zeros(3200, np.float32), 32000)
    (folder / "broken.mid").write_bytes(b"MThd garbage")
    output = run(options(tiny_model, tmp_path, folder=folder, use_cache=False))
    skipped = {s.item: s.reason for s in output.results.skipped}
    assert any("take.wav" in i and "reads notes" in r for i, r in skipped.items())  # a recording
    assert any(
        i.endswith("mixed/notes.txt") and "not a MIDI or audio" in r for i, r in skipped.items()
    )
    assert any("broken.mid" in i for i in skipped)
    with gzip.open(output.samples_path, "rt") as fh:
        text = output.results_path.read_text() + fh.read()
    assert str(tmp_path) not in "".join(skipped.values())
    assert str(folder) not in text.replace(f'"location": "{folder}"', "")
