"""The ``curvebench`` command."""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from curvebench.errors import ConfigError, CurvebenchError, DataError, one_line
from curvebench.run_arguments import (
    DEFAULT_TASK,
    add_limit_arguments,
    add_run_arguments,
    device_accelerator,
    limits_of,
    model_spec,
    read_run_config,
    task_names,
)
from curvebench.stopping import Stopped, stop_on_signals

T = TypeVar("T")

QUIET_LOGGERS = (
    "lightning.pytorch.utilities.rank_zero",
    "lightning.fabric.utilities.rank_zero",
    "lightning",
    "lightning.pytorch",
    "lightning.fabric",
    "pytorch_lightning",
    "datasets",
    "transformers",
    "miditok",
    "wandb",
)


def _setup_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO if verbose else logging.ERROR)
    if not verbose:
        warnings.filterwarnings("ignore")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        import datasets
        from transformers.utils import logging as hf_logging

        datasets.disable_progress_bars()
        hf_logging.disable_progress_bar()


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def print_table(results) -> None:
    """Every task's headline metrics with their intervals, a column per dataset
    (:mod:`curvebench.report.text`)."""
    from curvebench.report.text import results_text

    print(results_text(results))


def cmd_run(args: argparse.Namespace) -> int:
    from curvebench.api import RunOptions, run
    from curvebench.report.wandb_log import WandbSettings

    started = time.perf_counter()
    settings = WandbSettings.from_args(args.wandb_args or "")
    for key in ("project", "entity", "name", "group"):
        value = getattr(args, f"wandb_{key}")
        if value:
            setattr(settings, key, value)
    settings.tags += [t for t in (args.wandb_tags or "").split(",") if t]
    output = run(
        RunOptions(
            tasks=task_names(args.task) or (DEFAULT_TASK,),
            model=model_spec(args.model, args.model_args),
            data=tuple(args.data or ()),
            limit=args.limit,
            devices=args.devices,
            num_nodes=args.num_nodes,
            accelerator=device_accelerator(args.device) if args.device else args.accelerator,
            seed=args.seed,
            out=Path(args.out),
            wandb=not args.no_wandb,
            batch_size=args.batch_size,
            precision=args.precision,
            progress=not args.quiet and (args.verbose or sys.stderr.isatty()),
            cache_dir=Path(args.cache_dir) if args.cache_dir else None,
            use_cache=not args.no_cache,
            stride=args.stride,
            threads=args.threads,
            generator=args.generator,
            limits=limits_of(args),
        ),
        settings,
    )
    if output is None:  # an extra DDP process: rank 0 reports
        return 0
    print_table(output.results)
    if output.results.validity and len(output.results.results) > 1:
        from curvebench.report.validity import validity_text

        print(
            "\nvalidity: agreement with the truth (perturbed copy = worse music); "
            "+ above 0.5, ! below (prefers the corruption), ? undecided (95% clustered CI)"
        )
        for line in validity_text(output.results.validity):
            print(line)
    print(f"\nskipped items: {len(output.results.skipped)} (listed in results.json)")
    print(f"results:  {output.results_path}")
    print(f"samples:  {output.samples_path}")
    for fig in output.figures:
        print(f"figure:   {fig}")
    if output.wandb_url:
        print(f"wandb:    {output.wandb_url}")
    elif output.wandb_dir:
        print(
            f"wandb:    {output.wandb_dir}  (offline; upload with: wandb sync {output.wandb_dir})"
        )
    stages = ", ".join(f"{k} {v:.1f}s" for k, v in output.timings.items())
    print(f"cache:    {output.cached} of the scored sequences were reused")
    print(f"time:     {time.perf_counter() - started:.1f}s ({stages})")
    return 0


def _item(path: Path, what: Callable[..., T], *args: object) -> T:
    """``what(*args)`` for one input file, any failure that is the file's (not the machine's)
    a one-line DataError naming it."""
    from curvebench.benchmark.encode import item_failure
    from curvebench.data.files import printable

    try:
        return what(*args)
    except CurvebenchError:
        raise
    except Exception as exc:
        if not item_failure(exc):
            raise
        raise DataError(f"{printable(path)}: {one_line(exc)}") from exc


def cmd_score(args: argparse.Namespace) -> int:
    from curvebench.adapters import AudioAdapter, load_adapter
    from curvebench.benchmark.scoring import score_sequences
    from curvebench.data.audio import read_audio
    from curvebench.data.files import checked_file, printable
    from curvebench.data.piece import parse_midi
    from curvebench.data.timing import duration_seconds

    limits = limits_of(args)
    adapter = load_adapter(args.model)
    encoded = []
    for file in args.files:
        path = Path(file)
        kind = checked_file(path, limits)
        if kind == "audio":
            if not isinstance(adapter, AudioAdapter):
                raise CurvebenchError(f"{printable(path)}: {args.model} scores MIDI, not audio")
            wave, sr = read_audio(path, limits=limits)
            encoded.append(_item(path, adapter.encode_audio, wave, sr, printable(path)))
        else:
            score = parse_midi(path.read_bytes(), printable(path), limits)
            limits.check_seconds(duration_seconds(score), printable(path), "a piece")
            encoded.append(_item(path, adapter.encode_score, score, printable(path)))
    losses = score_sequences(adapter, [e.ids for e in encoded])
    out = open(args.out, "w") if args.out else sys.stdout  # noqa: SIM115
    try:
        for file, enc, loss in zip(args.files, encoded, losses, strict=True):
            line = {
                "source": printable(file),
                "tokens": enc.ids.tolist(),
                "loss": np.round(loss.astype(np.float64), 6).tolist(),
                "seconds": [round(float(s), 6) for s in enc.target_seconds],
            }
            if loss.ndim == 2:  # audio: loss[k][t] per codebook, and the frame mean
                line["loss_mean"] = np.round(loss.mean(axis=0).astype(np.float64), 6).tolist()
            out.write(json.dumps(line) + "\n")
    finally:
        if args.out:
            out.close()
    return 0


def cmd_perturb(args: argparse.Namespace) -> int:
    from curvebench.data.audio import read_audio, sha256_file, write_wav
    from curvebench.data.files import checked_file, printable
    from curvebench.data.piece import parse_midi
    from curvebench.data.render import DEFAULT_SR, render_midi
    from curvebench.data.timing import duration_seconds
    from curvebench.perturbations import derive_seed, parse_perturbation

    limits = limits_of(args)
    perturbation = parse_perturbation(args.perturbation)
    source, target = Path(args.input), Path(args.output)
    shown = printable(source)
    kind = checked_file(source, limits)
    if target.is_dir() or not target.parent.is_dir():
        raise CurvebenchError(
            f"{printable(target)}: give a file name inside an existing folder for the perturbed "
            "copy"
        )
    if kind == "audio":
        if not perturbation.acts_on_audio:
            raise CurvebenchError(
                f"{shown}: {perturbation.kind} acts on notes; give a MIDI file (only noise has "
                "an audio recipe)"
            )
        if target.suffix.lower() != ".wav":
            raise CurvebenchError(
                f"{printable(target)}: audio input is written as WAV; name it .wav"
            )
        wave, sr = read_audio(source, limits=limits)
        seed = derive_seed(args.seed, sha256_file(source), perturbation.seed_id)
        try:
            perturbed_wave, record = _item(source, perturbation.apply_audio, wave, sr, seed)
        except CurvebenchError as exc:
            raise type(exc)(f"{shown}: {exc}") from exc
        write_wav(target, perturbed_wave, sr)
    else:
        data = source.read_bytes()
        seed = derive_seed(args.seed, hashlib.sha256(data).hexdigest(), perturbation.seed_id)
        score = parse_midi(data, shown, limits)
        limits.check_seconds(duration_seconds(score), shown, "a piece")
        try:
            perturbed, record = _item(source, perturbation.apply, score, seed)
        except CurvebenchError as exc:  # name the file, as every other message does
            raise type(exc)(f"{shown}: {exc}") from exc
        midi = perturbed.dumps_midi()
        if target.suffix.lower() == ".wav":
            write_wav(target, render_midi(midi, DEFAULT_SR, name=shown), DEFAULT_SR)
        else:
            target.write_bytes(midi)
    print(json.dumps({"output": printable(target), "record": record.__dict__}))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from curvebench.benchmark.results import Results
    from curvebench.metrics.catalog import METRICS
    from curvebench.metrics.registry import validity_metrics
    from curvebench.report.compare import compare, model_label, rank_directions
    from curvebench.report.paired import (
        MIN_MODELS_FOR_TAU,
        PER_STEP_UNITS,
        Run,
        comparison_text,
    )
    from curvebench.report.text import estimate, n_text

    runs, folders = [], []
    for file in args.results:
        path = Path(file)
        path = path / "results.json" if path.is_dir() else path
        try:
            runs.append(Results.model_validate_json(path.read_text()))
        except (OSError, ValidationError) as exc:
            raise CurvebenchError(f"{path}: not a curvebench results.json ({exc})") from exc
        folders.append(path.parent)
    comparisons = compare(runs)
    if not comparisons:
        raise CurvebenchError("no task and dataset is shared by two or more of these runs")
    if all((f / "samples.jsonl.gz").is_file() for f in folders):
        print(comparison_text([Run.read(f, r) for f, r in zip(folders, runs, strict=True)]))
    else:
        print("no paired comparison: a run folder lacks its samples.jsonl.gz")
    units = {r.model.loss_unit for r in runs}
    aurocs = {m.auroc_field for m in validity_metrics()}
    shown = [
        m
        for m in rank_directions()
        if (m in aurocs or m in ("abs_loss_original", "nats_per_second_original"))
        and (len(units) == 1 or METRICS[m].unit not in PER_STEP_UNITS)
    ]
    print(
        "\neach model's own estimates [95% interval]"
        + (
            f"; per-step losses left out: {', '.join(sorted(units))} differ"
            if len(units) > 1
            else ""
        )
    )
    for c in comparisons:
        results = {
            model_label(r): r.results[c.task][c.dataset]
            for r in runs
            if c.dataset in r.results.get(c.task, {})
        }
        print(f"\n{c.task} / {c.dataset}")
        width = max(len(m) for m in results)
        print(
            " " * width + "         n  " + "  ".join(f"{METRICS[m].header[:20]:>20}" for m in shown)
        )
        for model, r in sorted(results.items()):
            cells = [estimate(METRICS[m], r) for m in shown]
            n = f"{n_text(r):>8}"
            print(model.ljust(width) + f"  {n}  " + "  ".join(f"{v:>20}" for v in cells))
        if len(results) < MIN_MODELS_FOR_TAU:
            print(f"Kendall tau between rankings: too few models ({len(results)} < 4)")
            continue
        print("Kendall tau between the models' rankings by absolute loss and by each metric:")
        for (a, b), tau in c.taus.items():
            if a == "abs_loss_original" and tau == tau:  # NaN: fewer than two models have it
                lo, hi = c.tau_intervals.get((a, b), (None, None))
                ci = "" if lo is None else f" [{lo:+.2f}, {hi:+.2f}]"
                print(f"  {METRICS[b].header}: {tau:+.2f}{ci}")
        print(
            "  (95% intervals: τ over draws of each model's value within its own interval, "
            "models drawn independently)"
        )
    _print_validity_by_model(runs)
    return 0


def _print_validity_by_model(runs) -> None:
    """Beside the rankings, each model's validity: pooled agreement of every metric with the
    truth (perturbed copy = worse music) over all families and roles of its run."""
    from curvebench.metrics.registry import label
    from curvebench.report.compare import model_label

    pooled = {}
    for run in runs:
        if run.validity and run.validity.pooled:
            row = run.validity.pooled[-1]
            pooled[model_label(run)] = {m.metric: m.agreement.value for m in row.metrics}
    if not pooled:
        return
    names = list(next(iter(pooled.values())))
    width = max(len(m) for m in pooled)
    print("\nvalidity: pooled agreement with the truth (all families and roles of each run)")
    print(" " * width + "  " + "  ".join(f"{label(n):>10}" for n in names))
    for model, values in sorted(pooled.items()):
        cells = [_fmt(values.get(n), 2) for n in names]
        print(model.ljust(width) + "  " + "  ".join(f"{v:>10}" for v in cells))


def cmd_report(args: argparse.Namespace) -> int:
    from curvebench.report.html import write_report

    print(f"report: {write_report(Path(args.run_dir))}")
    return 0


def cmd_tasks(args: argparse.Namespace) -> int:
    from curvebench.tasks import available_tasks, load_group, load_task

    for name in available_tasks():
        group = load_group(name)
        if group:
            print(f"{name:<20} group  {group.description} ({', '.join(group.group)})")
        else:
            task = load_task(name)
            print(f"{name:<20} v{task.version}     {task.description}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from curvebench.adapters import registered_adapters

    adapters = registered_adapters()
    first = [n for n in ("reference", "reference-tiny", "ngram", "hf-causal") if n in adapters]
    for name in first + [n for n in adapters if n not in first]:
        info = adapters[name]
        print(f"{name:<14} {info.summary}")
        for option, text in info.options.items():
            print(f"{'':<16}{option}: {text}")
    return 0


def cmd_train_reference(args: argparse.Namespace) -> int:
    if args.evaluate_only:
        from curvebench.training.evaluate import evaluate_reference

        print(json.dumps(evaluate_reference(Path(args.evaluate_only)), indent=2))
        return 0
    if not args.out:
        raise ConfigError("train-reference: give --out DIR (or --evaluate-only DIR)")
    if args.tokens_only:
        from curvebench.training.tokenize_corpus import make_token_file

        print(make_token_file(args.name, Path(args.out), seed=args.seed))
        return 0
    from curvebench.training.reference import train_from_tokens, train_reference

    if args.from_tokens:
        facts = train_from_tokens(
            args.name,
            Path(args.out),
            Path(args.from_tokens),
            args.device,
            args.max_steps,
            args.seed,
        )
    else:
        facts = train_reference(args.name, Path(args.out), args.max_steps, args.seed, args.device)
    print(json.dumps(facts, indent=2))
    return 0


def build_parser(run_defaults: dict[str, object] | None = None) -> argparse.ArgumentParser:
    """The command line; ``run_defaults`` (from ``--config``) replace ``run``'s defaults."""
    parser = argparse.ArgumentParser(
        prog="curvebench",
        allow_abbrev=False,
        description="Benchmark music language models: absolute loss vs. loss-curve shape.",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="log progress and library output (anywhere)"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run tasks on a model and write results", allow_abbrev=False)
    add_run_arguments(p)
    p.set_defaults(func=cmd_run, **(run_defaults or {}))

    p = sub.add_parser("score", help="per-token losses of MIDI files, one JSON line each")
    p.add_argument("--model", required=True, help="model spec")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--out", help="write JSON lines here instead of standard output")
    add_limit_arguments(p)
    p.set_defaults(func=cmd_score)

    p = sub.add_parser("perturb", help="write a perturbed copy of a MIDI file")
    p.add_argument("--perturbation", required=True, help="spec KIND:key=value,...")
    p.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    p.add_argument("input", metavar="IN_FILE")
    p.add_argument("output", metavar="OUT_FILE")
    add_limit_arguments(p)
    p.set_defaults(func=cmd_perturb)

    p = sub.add_parser("compare", help="rank models by each metric; Kendall tau between rankings")
    p.add_argument(
        "results", nargs="+", metavar="RESULTS", help="results.json files or run folders"
    )
    p.set_defaults(func=cmd_compare)

    from curvebench.leaderboard.cli import add_commands

    add_commands(sub)

    p = sub.add_parser("report", help="write a run's HTML report with examples to listen to")
    p.add_argument("run_dir", metavar="RUN_DIR", help="the --out folder of a run")
    p.set_defaults(func=cmd_report)

    sub.add_parser("tasks", help="list the tasks").set_defaults(func=cmd_tasks)
    sub.add_parser("models", help="list the model adapters and their options").set_defaults(
        func=cmd_models
    )

    p = sub.add_parser("train-reference", help="train an embedded reference model")
    p.add_argument("--name", default="reference", choices=["reference", "reference-tiny"])
    p.add_argument("--out", help="output folder (the model, or the token file)")
    p.add_argument("--max-steps", type=int, default=None, help="override the recipe's steps")
    p.add_argument("--seed", type=int, default=0)
    stage = p.add_mutually_exclusive_group()
    stage.add_argument(
        "--tokens-only", action="store_true", help="stage 1: write OUT/NAME-tokens.npz only"
    )
    stage.add_argument("--from-tokens", metavar="FILE", help="stage 2: train from a token file")
    stage.add_argument("--evaluate-only", metavar="DIR", help="stage 3: score a trained model")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "gpu", "mps"])
    p.set_defaults(func=cmd_train_reference)

    from curvebench.training.cli import add_commands as add_training_commands

    add_training_commands(sub)
    return parser


def split_verbose(argv: list[str]) -> tuple[list[str], bool]:
    """``-v``/``--verbose`` taken from anywhere on the command line (before a ``--``)."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in ("-v", "--verbose")]
    rest = [a for a in argv[:end] if a not in ("-v", "--verbose")] + argv[end:]
    return rest, bool(flags)


def main(argv: list[str] | None = None) -> int:
    argv, verbose = split_verbose(list(sys.argv[1:] if argv is None else argv))
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "config", None):  # the file's values are defaults; the line wins
            args = build_parser(read_run_config(Path(args.config))).parse_args(argv)
    except CurvebenchError as exc:
        print(f"curvebench: error: {exc}", file=sys.stderr)
        return 2
    args.verbose = args.verbose or verbose
    _setup_logging(args.verbose)
    try:
        with stop_on_signals():
            return args.func(args)
    except CurvebenchError as exc:
        print(f"curvebench: error: {exc}", file=sys.stderr)
        return 2
    except (Stopped, KeyboardInterrupt) as exc:
        status = exc.exit_status if isinstance(exc, Stopped) else 130
        by = str(exc) if isinstance(exc, Stopped) else "SIGINT"
        print(
            f"curvebench: stopped by {by}; what was scored is kept in the cache, so the same "
            "command resumes it",
            file=sys.stderr,
        )
        return status


if __name__ == "__main__":
    sys.exit(main())
