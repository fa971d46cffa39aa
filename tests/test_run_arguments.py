"""lm-evaluation-harness habits and a run-config file give the same run as the native flags."""

from __future__ import annotations

import json

import pytest

from curvebench.cli import build_parser, main, split_verbose
from curvebench.errors import ConfigError
from curvebench.run_arguments import device_accelerator, model_spec, read_run_config, task_names


def test_lm_eval_spellings_parse() -> None:
    argv, verbose = split_verbose(
        ["run", "--tasks", "a,b", "--task", "c", "-v", "--device", "cuda:0", "--batch_size", "auto"]
    )
    args = build_parser().parse_args(argv)
    assert verbose and task_names(args.task) == ("a", "b", "c")
    assert args.device == "cuda:0" and args.devices == 1  # no prefix match onto --devices
    assert device_accelerator(args.device) == "cuda:0" and device_accelerator("cuda") == "gpu"
    assert args.batch_size == "auto"
    assert build_parser().parse_args(["run", "--limit", "0.1"]).limit == 0.1
    assert build_parser().parse_args(["run", "--limit", "16"]).limit == 16
    assert model_spec("hf", ["pretrained=/m,dtype=bfloat16", "device=cuda:1"]) == (
        "hf-causal:path=/m,dtype=bfloat16,device=cuda:1"
    )
    assert model_spec("hf-causal:path=/m", None) == "hf-causal:path=/m"


def test_verbose_anywhere_and_bad_config(tmp_path, capsys) -> None:
    assert main(["tasks", "-v"]) == 0 and main(["-v", "tasks"]) == 0
    bad = tmp_path / "run.yaml"
    bad.write_text("task: [noise-at-5s]\nno_such_option: 1\n")
    with pytest.raises(ConfigError, match="unknown option 'no_such_option'"):
        read_run_config(bad)
    assert main(["run", "--config", str(bad)]) == 2
    assert "no_such_option" in capsys.readouterr().err


@pytest.mark.slow
def test_lm_eval_flags_and_config_file_match_the_native_run(tiny_model, midi_folder, tmp_path):
    native, lm_eval, config = tmp_path / "native", tmp_path / "lm-eval", tmp_path / "config"
    common = ["--data", f"ood={midi_folder}", "--no-wandb", "--no-cache"]
    assert (
        main(
            [
                *("run", "--task", "noise-at-5s", "--model", f"hf-causal:path={tiny_model}"),
                *("--limit", "2", "--batch-size", "4", "--out", str(native), *common),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                *("run", "--tasks", "noise-at-5s", "--model", "hf", "--model_args"),
                *(f"pretrained={tiny_model}", "--limit", "0.5", "--batch_size", "4"),
                *("--log_samples", "--device", "cpu", "--output_path", str(lm_eval), "-v"),
                *common,
            ]
        )
        == 0
    )
    run_yaml = tmp_path / "run.yaml"
    run_yaml.write_text(
        f"tasks: noise-at-5s\nmodel: hf\nmodel_args: pretrained={tiny_model}\n"
        f"data: [ood={midi_folder}]\nlimit: 2\nbatch-size: 4\nno_wandb: true\n"
        f"no-cache: true\nout: {config}\n"
    )
    assert main(["run", "--config", str(run_yaml)]) == 0
    runs = [json.loads((d / "results.json").read_text()) for d in (native, lm_eval, config)]
    assert runs[0]["results"] == runs[1]["results"] == runs[2]["results"]
    assert runs[0]["results"]["noise-at-5s"][f"{midi_folder.name}"]["n_pairs"] == 2
    assert runs[1]["config"]["limit"] == 0.5 and runs[2]["config"]["limit"] == 2


def test_a_yaml_alias_bomb_in_config_is_refused_in_bounded_memory(tmp_path, capsys) -> None:
    """700 bytes of nested aliases would expand to gigabytes: refused before being built."""
    import resource

    from curvebench.cli import main

    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines += ["wandb-tags: *a8"]
    bomb = tmp_path / "run.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert main(["run", "--config", str(bomb)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "alias" in err[0] and str(bomb) in err[0]
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100_000  # KB


def test_an_accelerator_that_is_not_there_is_one_line(monkeypatch, capsys) -> None:
    import torch

    from curvebench.cli import main

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    assert main(["run", "--device", "cuda:0", "--no-wandb"]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "no CUDA GPU on this machine" in line
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert main(["run", "--device", "cuda:3", "--no-wandb"]) == 2
    assert "this machine has 1 GPU" in capsys.readouterr().err


@pytest.mark.parametrize("given", ["foo", "cpu:0", "cuda:x", "tpu9"])
def test_an_unknown_accelerator_is_the_same_line_from_the_cli_and_the_api(
    given, tmp_path, capsys
) -> None:
    from curvebench.adapters import load_adapter
    from curvebench.api import RunOptions, evaluate

    expected = (
        f"--accelerator {given}: use one of auto, cpu, gpu, cuda, mps, tpu (cuda:N for GPU "
        "number N)"
    )
    for flag in ("--accelerator", "--device"):
        assert main(["run", flag, given, "--no-wandb", "--out", str(tmp_path / "o")]) == 2
        assert capsys.readouterr().err.splitlines() == [f"curvebench: error: {expected}"]
    for build in (
        lambda: RunOptions(accelerator=given, out=tmp_path / "o"),
        lambda: evaluate("reference", accelerator=given, out=tmp_path / "o"),
    ):
        with pytest.raises(ConfigError) as caught:
            build()
        assert str(caught.value) == expected
    with pytest.raises(ConfigError) as caught:  # a model's device= option: the same set
        load_adapter(f"hf-causal:path={tmp_path},device={given}")
    assert str(caught.value) == expected.replace(f"--accelerator {given}", f"device={given}")
    assert not (tmp_path / "o").exists()


def test_deeply_nested_yaml_is_one_line(tmp_path, capsys) -> None:
    from curvebench.cli import main

    deep = tmp_path / "run.yaml"
    deep.write_text("wandb-tags: " + "[" * 5000 + "]" * 5000 + "\n")
    assert main(["run", "--config", str(deep)]) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert "nested too deeply" in line
