"""Nothing a run writes holds a path of this machine: results, samples, examples, figures, the
run report and the offline W&B run (its config, the command line it would record, its own log
files), with data given as a folder and as ``hf:`` + a local dataset folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from curvebench.data.sources import embedded_split

ROOT = Path(__file__).resolve().parents[2]


def test_no_file_a_run_writes_holds_its_absolute_paths(tmp_path) -> None:
    private = tmp_path / "home-of-someone"
    songs, hub = private / "songs", private / "hub-set"
    songs.mkdir(parents=True)
    hub.mkdir()
    rows = embedded_split("train").select(range(4))
    for i, row in enumerate(rows.select(range(2))):
        (songs / f"s{i}.mid").write_bytes(row["midi"])
    local = rows.select(range(2, 4)).select_columns(["id", "midi"])
    local.to_parquet(str(hub / "train-00000.parquet"))
    out, cache = private / "out", private / "cache"
    args = ["run", "--model", "reference", "--data", f"training={songs}"]
    args += ["--data", f"ood=hf:{hub}", "--out", str(out), "--cache-dir", str(cache)]
    env = dict(os.environ, WANDB_MODE="offline", PYTHONPATH=str(ROOT))
    for argv in (args, ["report", str(out)]):  # the run (W&B offline), then its report
        done = subprocess.run(
            [sys.executable, "-m", "curvebench.cli", *argv],
            capture_output=True,
            text=True,
            cwd=private,
            env=env,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    locations = {d["name"]: d["location"] for d in results["datasets"]}
    assert locations == {"songs": "local:songs", "hub-set": "local:hub-set"}
    written = [p for p in out.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any("wandb" in p.parts for p in written)  # the W&B run is among them
    assert any(p.suffix == ".wandb" for p in written)
    assert (out / "report" / "index.html") in written
    needles = {str(private).encode(), str(private.resolve()).encode()}
    for path in written:
        data = path.read_bytes()
        for needle in needles:
            assert needle not in data, f"{path.relative_to(out)} holds {needle.decode()}"


def test_public_location_treats_hf_followed_by_a_folder_as_a_path(tmp_path) -> None:
    from curvebench.specs import public_location

    (tmp_path / "set").mkdir()
    assert public_location(f"hf:{tmp_path / 'set'}") == "local:set"
    assert public_location(f"hf:{tmp_path / 'set'}#test") == "local:set"
    assert public_location("hf:user/midi-set") == "hf:user/midi-set"  # a hub id stays
