"""The small commands: tasks, models, perturb (MIDI and WAV)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from curvebench.cli import main
from curvebench.data.audio import read_wav, write_wav
from curvebench.data.piece import parse_midi
from curvebench.tasks import available_tasks


def test_tasks_lists_every_task_and_the_paper_group(capsys) -> None:
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in available_tasks():
        assert name in out
    assert "paper" in out and "group" in out


def test_models_lists_adapters_with_options(capsys) -> None:
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "reference" in out and "hf-causal" in out and "path: model folder" in out


def test_perturb_writes_midi_with_its_record(midi_folder, tmp_path, capsys) -> None:
    source = sorted(midi_folder.glob("*.mid"))[0]
    out = tmp_path / "noisy.mid"
    assert main(["perturb", "--perturbation", "noise:duration=1.0", str(source), str(out)]) == 0
    record = json.loads(capsys.readouterr().out)["record"]
    assert record["kind"] == "noise" and record["duration_s"] == 1.0
    assert parse_midi(out.read_bytes(), "x").note_num() > 0
    again = tmp_path / "again.mid"
    assert main(["perturb", "--perturbation", "noise:duration=1.0", str(source), str(again)]) == 0
    assert again.read_bytes() == out.read_bytes()


def test_perturb_renders_wav_and_perturbs_wav(midi_folder, tmp_path) -> None:
    source = sorted(midi_folder.glob("*.mid"))[0]
    rendered = tmp_path / "noisy.wav"
    assert main(["perturb", "--perturbation", "noise", str(source), str(rendered)]) == 0
    wave, sr = read_wav(rendered)
    assert sr == 32000 and wave.size > 10 * sr
    clean = tmp_path / "clean.wav"
    write_wav(clean, np.zeros(8 * sr, dtype=np.float32), sr)
    noisy = tmp_path / "noise.wav"
    spec = "noise:color=brown,onset=1.0,duration=2.0,level_db=-20"
    assert main(["perturb", "--perturbation", spec, str(clean), str(noisy)]) == 0
    out, _ = read_wav(noisy)
    window = out[sr : 3 * sr]
    assert np.all(out[:sr] == 0) and np.all(out[3 * sr :] == 0)
    assert 20 * np.log10(np.sqrt(np.mean(window.astype(np.float64) ** 2))) == pytest.approx(
        -20, abs=0.5
    )


def test_perturb_errors_are_one_line(midi_folder, tmp_path, capsys) -> None:
    clean = tmp_path / "clean.wav"
    write_wav(clean, np.zeros(32000, dtype=np.float32), 32000)
    assert main(["perturb", "--perturbation", "rhythm-deletion", str(clean), "x.wav"]) == 2
    assert main(["perturb", "--perturbation", "noise", str(tmp_path / "none.mid"), "x.mid"]) == 2
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"not midi")
    assert main(["perturb", "--perturbation", "noise", str(bad), str(tmp_path / "o.mid")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all(line.startswith("curvebench: error: ") for line in err)
