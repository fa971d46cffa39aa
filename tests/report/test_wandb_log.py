"""The W&B run as its files hold it: per-item tables, native curve plots, the artifact."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest
from wandb.proto import wandb_internal_pb2 as pb

from curvebench.api import RunOptions, WandbSettings, run
from curvebench.cli import main

BLOCK = 32768
"""The .wandb file is a LevelDB-style log: 32 KiB blocks of (crc, length, type) chunks."""


def wandb_records(path: Path) -> list[pb.Record]:
    """Every record of an offline run's .wandb file, decoded with wandb's protobuf schema."""
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    pos, pending, out = 7, b"", []
    while pos + 7 <= len(data):
        left = BLOCK - pos % BLOCK
        if left < 7:  # a block's tail too short for a chunk header is padding
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 2):  # full, first
            pending = chunk
        elif kind in (3, 4):  # middle, last
            pending += chunk
        if kind in (1, 4):
            record = pb.Record()
            record.ParseFromString(pending)
            out.append(record)
    return out


@pytest.fixture(scope="module")
def logged(tmp_path_factory, tiny_model, midi_folder):
    out = tmp_path_factory.mktemp("wandb-run")
    output = run(
        RunOptions(
            model=f"hf-causal:path={tiny_model}",
            data=(f"ood={midi_folder}",),
            limit=2,
            out=out,
            use_cache=False,
        ),
        WandbSettings(name="tiny-noise", tags=["ci", "tiny"], group="tests", mode="offline"),
    )
    (folder,) = out.glob("wandb/offline-run-*")
    # wandb's service process may still be flushing the log when run() returns, when earlier
    # tests left it busy: read until the run's own record and its artifact are there
    deadline = time.time() + 60
    while True:
        records = wandb_records(next(folder.glob("*.wandb")))
        kinds = {r.WhichOneof("record_type") for r in records}
        if {"run", "artifact"} <= kinds or time.time() > deadline:
            return output, folder, records
        time.sleep(0.5)


def test_run_named_and_tagged(logged) -> None:
    output, folder, records = logged
    (run_record,) = [r.run for r in records if r.WhichOneof("record_type") == "run"]
    assert run_record.display_name == "tiny-noise" and run_record.run_group == "tests"
    assert list(run_record.tags) == ["ci", "tiny"]
    assert output.wandb_dir == folder and output.wandb_url is None


def test_per_item_table_and_curve_plot(logged, midi_folder) -> None:
    output, folder, records = logged
    history = {i.key or "/".join(i.nested_key) for r in records for i in r.history.item}
    assert "items/noise-at-5s/path" in history
    (table_file,) = folder.glob("files/media/table/items/noise-at-5s_*.table.json")
    table = json.loads(table_file.read_text())
    assert {"piece_id", "dataset", "variant", "abs_loss", "nats_per_second", "region_peak"} <= set(
        table["columns"]
    )
    rows = [dict(zip(table["columns"], row, strict=True)) for row in table["data"]]
    assert len(rows) == len(output.lines) == 4
    assert {r["dataset"] for r in rows} == {midi_folder.name}
    line = output.lines[1]
    match = next(r for r in rows if r["piece_id"] == line.piece_id and r["variant"] == line.variant)
    assert match["abs_loss"] == line.abs_loss
    config = {
        i.key or "/".join(i.nested_key): json.loads(i.value_json)
        for r in records
        if r.WhichOneof("record_type") == "config"
        for i in r.config.update
    }
    plot = config["_wandb/visualize/curves/noise-at-5s"]  # a native line plot
    assert plot["panel_config"]["panelDefId"] == "wandb/lineseries/v0"
    (curve_file,) = folder.glob("files/media/table/curves/noise-at-5s_table_*.table.json")
    curve = json.loads(curve_file.read_text())
    assert {row[1] for row in curve["data"]} == {midi_folder.name}


def test_artifact_holds_results_samples_figures_and_examples(logged) -> None:
    output, _, records = logged
    (artifact,) = [
        r.artifact
        for r in records
        if r.WhichOneof("record_type") == "artifact" and r.artifact.type == "results"
    ]
    paths = {e.path for e in artifact.manifest.contents}
    assert {"results.json", "samples.jsonl.gz", "examples/index.json"} <= paths
    assert {f"figures/{p.name}" for p in output.figures} <= paths and output.figures


def _mode_in_a_fresh_process(env: dict[str, str]) -> str:
    """wandb_mode() in a new interpreter (wandb caches its settings per process). The child
    leaves with os._exit once it has printed the mode: wandb's exit hooks may try to reach the
    (unreachable) server of the credentials, which is not what is tested here."""
    code = (
        "import os; from curvebench.report.wandb_log import wandb_mode; "
        "print(wandb_mode(), flush=True); os._exit(0)"
    )
    root = str(Path(__file__).resolve().parents[2])
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, "PYTHONPATH": root}, capture_output=True,
        text=True, check=True, timeout=120,
    )  # fmt: skip
    return out.stdout.strip().splitlines()[-1]


@pytest.mark.slow
def test_mode_from_wandb_credentials_not_from_netrc_text(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB_")}
    env |= {"HOME": str(tmp_path), "NETRC": str(tmp_path / ".netrc")}
    env["WANDB_CONFIG_DIR"] = str(tmp_path / "config")
    assert _mode_in_a_fresh_process(env) == "offline"
    assert _mode_in_a_fresh_process({**env, "WANDB_API_KEY": "k" * 40}) == "online"
    # a self-hosted server's credentials: wandb itself finds them, and asks no network
    netrc = tmp_path / ".netrc"
    netrc.write_text(f"machine wandb.example.org\n  login user\n  password {'k' * 40}\n")
    netrc.chmod(0o600)
    assert _mode_in_a_fresh_process({**env, "WANDB_BASE_URL": "https://wandb.example.org"}) == (
        "online"
    )
    assert _mode_in_a_fresh_process(env) == "offline"  # that key is not api.wandb.ai's
    assert _mode_in_a_fresh_process({**env, "WANDB_MODE": "disabled"}) == "disabled"


def test_cli_prints_sync_hint_only_offline(tiny_model, midi_folder, tmp_path, capsys) -> None:
    args = ["run", "--model", f"hf-causal:path={tiny_model}", "--data", f"ood={midi_folder}"]
    args += [
        "--limit",
        "1",
        "--out",
        str(tmp_path),
        "--no-cache",
        "--wandb_args",
        "name=x,tags=a|b",
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "(offline; upload with: wandb sync" in out


def test_the_summary_and_results_table_carry_intervals(logged, midi_folder) -> None:
    _, folder, records = logged
    summary = {
        i.key or "/".join(i.nested_key): json.loads(i.value_json)
        for r in records
        if r.WhichOneof("record_type") == "summary"
        for i in r.summary.update
    }
    key = f"noise-at-5s/{midi_folder.name}/abs_loss_original"
    low, value, high = (summary[f"{key}{s}"] for s in ("_ci_low", "", "_ci_high"))
    assert low <= value <= high and low < high
    assert any(k.startswith("validity/") and k.endswith("/agree_ci_low") for k in summary)
    (table_file,) = folder.glob("files/media/table/results_*.table.json")
    columns = json.loads(table_file.read_text())["columns"]
    assert {"abs_loss_original_ci_low", "auroc_abs_loss_ci_high"} <= set(columns)
