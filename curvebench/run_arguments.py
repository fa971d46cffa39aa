"""The ``run`` command's arguments: curvebench's own, lm-evaluation-harness's spellings of
them (``--tasks a,b``, ``--model hf --model_args pretrained=...``, ``--output_path``,
``--batch_size auto``, ``--log_samples``, ``--limit 0.1``, ``--device cuda:0``,
``--wandb_args``), and a run-config file (``--config run.yaml``)."""

from __future__ import annotations

import argparse
from pathlib import Path

from curvebench.data.files import DEFAULT_LIMITS, Limits
from curvebench.errors import ConfigError
from curvebench.yaml_mapping import read_mapping

DEFAULT_TASK = "noise-at-5s"

MODEL_ALIASES = {"hf": "hf-causal", "hf-auto": "hf-causal", "huggingface": "hf-causal"}
"""lm-evaluation-harness model names and the adapter each means."""
ARG_ALIASES = {"pretrained": "path"}
"""lm-evaluation-harness ``--model_args`` keys and the option each means."""


def task_names(given: list[str] | None) -> tuple[str, ...]:
    """Task names from repeated ``--task``/``--tasks``, each possibly comma-separated."""
    return tuple(t.strip() for item in given or () for t in item.split(",") if t.strip())


def model_spec(model: str, model_args: list[str] | None) -> str:
    """The model spec of ``--model NAME[:opts]`` plus lm-eval's ``--model_args k=v,...``
    (``hf`` is hf-causal, ``pretrained=`` is ``path=``)."""
    name, sep, options = model.partition(":")
    name = MODEL_ALIASES.get(name, name)
    items = [o for o in options.split(",") if o.strip()] if sep else []
    for args in model_args or ():
        items += [o.strip() for o in args.split(",") if o.strip()]
    renamed = []
    for item in items:
        key, eq, value = item.partition("=")
        renamed.append(f"{ARG_ALIASES.get(key.strip(), key.strip())}{eq}{value}")
    return f"{name}:{','.join(renamed)}" if renamed else name


def device_accelerator(device: str) -> str:
    """``--device`` (lm-eval's one device: cpu, cuda, cuda:N, mps) as the ``--accelerator`` it
    means (``cuda`` is ``gpu``); the run's options check it."""
    return {"cuda": "gpu"}.get(device, device)


def batch_size(text: str) -> int | str:
    """``--batch-size``: a number, or ``auto`` (lm-eval's ``auto:N`` is read as auto)."""
    if text == "auto" or text.startswith("auto:"):
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number or auto") from None


def limit(text: str) -> float:
    """``--limit``: a count (16) or a fraction of each dataset (0.1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give a count or a fraction") from None
    return int(value) if value >= 1 and value == int(value) else value


def add_limit_arguments(p: argparse.ArgumentParser) -> None:
    """The bounds on one item (``run``, ``score`` and ``perturb``)."""
    p.add_argument(
        "--max-notes",
        type=int,
        default=DEFAULT_LIMITS.max_notes,
        help=f"notes in one MIDI piece (default {DEFAULT_LIMITS.max_notes:,}); more: skipped",
    )
    p.add_argument(
        "--max-seconds",
        type=float,
        default=DEFAULT_LIMITS.max_seconds,
        help=f"seconds of one recording (default {DEFAULT_LIMITS.max_seconds:,.0f}); longer: "
        "skipped",
    )
    p.add_argument(
        "--max-file-mb",
        type=float,
        default=DEFAULT_LIMITS.max_file_mb,
        help=f"MB of one MIDI file (default {DEFAULT_LIMITS.max_file_mb:,.0f}); larger: skipped",
    )


def limits_of(args: argparse.Namespace) -> Limits:
    """The :class:`Limits` the command line gives."""
    return Limits(args.max_notes, args.max_seconds, args.max_file_mb)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """Every option of ``curvebench run`` (lm-eval spellings as aliases)."""
    p.add_argument("--config", metavar="RUN.yaml", help="options from a YAML file (long names)")
    p.add_argument(
        "--task",
        "--tasks",
        action="append",
        help=f"task name or YAML file; repeatable or comma-separated (default {DEFAULT_TASK})",
    )
    p.add_argument(
        "--model", default="reference", help="model spec NAME[:key=value,...] (default reference)"
    )
    p.add_argument(
        "--model-args",
        "--model_args",
        action="append",
        metavar="K=V,...",
        help="options added to the model spec (lm-eval; pretrained= is path=)",
    )
    p.add_argument(
        "--data",
        action="append",
        metavar="[ROLE=]PATH",
        help="MIDI folder or hf:ID[:config][@revision][#split], in place of the embedded corpus "
        "(repeatable)",
    )
    p.add_argument(
        "--limit", type=limit, default=None, help="at most N pieces, or a fraction, per dataset"
    )
    p.add_argument(
        "--devices", type=int, default=1, help="devices per node (GPUs or CPU processes)"
    )
    p.add_argument("--device", help="one device: cpu, cuda, cuda:N or mps (lm-eval)")
    p.add_argument("--num-nodes", type=int, default=1, help="nodes (multi-node DDP)")
    p.add_argument("--accelerator", default="auto", help="auto | cpu | gpu | mps (Lightning)")
    p.add_argument("--seed", type=int, default=None, help="task seed (default: the task's)")
    p.add_argument(
        "--out",
        "--output_path",
        "--output-path",
        default="runs/latest",
        help="output folder (default runs/latest)",
    )
    p.add_argument(
        "--precision",
        choices=("auto", "32", "bf16"),
        default="auto",
        help="forward passes in float32 or bfloat16 autocast (auto: bf16 on a CUDA GPU that has "
        "it, outside the board; else 32)",
    )
    p.add_argument(
        "--batch-size",
        "--batch_size",
        type=batch_size,
        default=16,
        help="sequences per model pass, or auto (CUDA: the largest that fits; else 16)",
    )
    p.add_argument(
        "--log-samples",
        "--log_samples",
        action="store_true",
        help="accepted for lm-eval; samples.jsonl.gz is always written",
    )
    p.add_argument("--no-wandb", action="store_true", help="do not log to Weights & Biases")
    p.add_argument("--wandb-project", help="W&B project (default $WANDB_PROJECT or curvebench)")
    p.add_argument("--wandb-entity", help="W&B team or user")
    p.add_argument("--wandb-name", help="W&B run name (default MODEL-TASKS)")
    p.add_argument("--wandb-tags", metavar="A,B", help="W&B run tags, comma-separated")
    p.add_argument("--wandb-group", help="W&B run group")
    p.add_argument(
        "--wandb-args",
        "--wandb_args",
        metavar="K=V,...",
        help="lm-eval's W&B settings: project=,entity=,name=,group=,tags=a|b",
    )
    p.add_argument("--stride", type=int, help="rolling-window stride (default: half the context)")
    p.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bars (the default off a terminal)"
    )
    p.add_argument(
        "--threads",
        type=int,
        metavar="N",
        help="CPU threads for torch (default: the cores the 1-minute load leaves free, at least "
        "1; written in results.json's env)",
    )
    p.add_argument(
        "--cache-dir",
        help="where scores, generated samples, renders and codes are kept "
        "(default $CURVEBENCH_CACHE)",
    )
    p.add_argument(
        "--no-cache", action="store_true", help="score, render and encode everything; store nothing"
    )
    add_limit_arguments(p)
    p.add_argument(
        "--generator",
        default="self",
        metavar="self|SPEC",
        help="who draws the generated role: the model under test (default) or a model spec",
    )


def read_run_config(path: Path) -> dict[str, object]:
    """``--config``'s YAML mapping as ``run`` defaults: keys are long option names (``task``,
    ``batch-size`` or ``batch_size``, ``model_args``, ...); lists for repeatable options."""
    data = read_mapping(path, f"--config {path}")
    parser = argparse.ArgumentParser(allow_abbrev=False)
    add_run_arguments(parser)
    actions = {
        o.lstrip("-").replace("-", "_"): a for a in parser._actions for o in a.option_strings
    }
    out: dict[str, object] = {}
    for key, value in data.items():
        action = actions.get(str(key).replace("-", "_"))
        if action is None or action.dest == "config":
            raise ConfigError(
                f"--config {path}: unknown option {key!r}; use the long names of "
                "`curvebench run --help`"
            )
        if isinstance(action, argparse._AppendAction):
            value = [str(v) for v in value] if isinstance(value, list) else [str(value)]
        elif isinstance(value, list):
            value = ",".join(str(v) for v in value)  # tags: a list or a comma-separated string
        elif action.type is not None and isinstance(value, str):
            value = action.type(value)
        out[action.dest] = value
    return out
