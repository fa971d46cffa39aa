"""The training commands of the ``curvebench`` CLI: ``train-audio-reference``.

Kept apart from the training code so that building the CLI's parser imports no torch.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

STAGES = ("codec", "codes", "lm", "own")
"""The audio reference's stages, in order; each reads what the one before wrote under --out."""


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``train-audio-reference`` to the CLI's subcommands."""
    p = sub.add_parser(
        "train-audio-reference",
        help="build the embedded audio reference model",
        description="Build the embedded audio reference in four stages, each resumable: "
        "codec (train the codec on renders of the training corpus, then its decoder alone so "
        "that decoded audio encodes back to its codes; needs FluidSynth), codes "
        "(encode the corpus with it; needs FluidSynth), lm (train the MusicGen decoder on the "
        "codes, then save OUT/model), own (tune the codec's decoder so that the model's own "
        "samples survive decode -> encode; needs FluidSynth). A stage whose output is in OUT "
        "is not run again; an "
        "interrupted training stage resumes from its last checkpoint.",
    )
    p.add_argument("--out", required=True, help="working folder; the model goes to OUT/model")
    p.add_argument(
        "--stage",
        choices=[*STAGES, "all"],
        default="all",
        help="run one stage (default: all of them, skipping those already done)",
    )
    p.add_argument("--pieces", type=int, default=400, help="training pieces rendered (400)")
    p.add_argument(
        "--val-pieces", type=int, default=60, help="validation and ood pieces rendered (60)"
    )
    p.add_argument("--codec-steps", type=int, default=None, help="codec steps (default 4000)")
    p.add_argument(
        "--filters", type=int, default=None, help="the codec's first channel count (default 8)"
    )
    p.add_argument(
        "--lstm-layers", type=int, default=None, help="the codec's LSTM layers (default 2)"
    )
    p.add_argument(
        "--tune-steps", type=int, default=None, help="codec decoder-only steps (default 1500)"
    )
    p.add_argument("--max-steps", type=int, default=None, help="decoder steps (default 600)")
    p.add_argument(
        "--own-steps", type=int, default=None, help="own-samples decoder steps (default 1500)"
    )
    p.add_argument(
        "--own-clips", type=int, default=None, help="clips the own stage samples (default 32)"
    )
    p.add_argument(
        "--max-minutes", type=float, default=None, help="stop a training stage after this"
    )
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train_audio_reference)


def cmd_train_audio_reference(args: argparse.Namespace) -> int:
    """Run ``train-audio-reference``; prints each stage's facts as JSON."""
    from curvebench.training.audio_lm import AudioLMRecipe
    from curvebench.training.audio_reference import (
        build_codes,
        train_codec,
        train_lm,
        tune_on_own_samples,
    )

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    done = {
        "codec": (out / "codec" / "facts.json").is_file(),
        "codes": (out / "codes.npz").is_file(),
        "lm": (out / "model" / "training.json").is_file(),
        "own": "own_steps_done" in _facts(out / "model" / "training.json"),
    }
    stages = STAGES if args.stage == "all" else (args.stage,)
    for stage in stages:
        if args.stage == "all" and done[stage]:
            print(f"{stage}: done already in {out}")  # noqa: T201
            continue
        common = {
            "pieces": args.pieces,
            "val_pieces": args.val_pieces,
            "device": args.device,
            "max_minutes": args.max_minutes,
            "seed": args.seed,
        }
        if stage == "codec":
            facts = train_codec(out, _codec_recipe(args), **common)
        elif stage == "codes":
            facts = build_codes(out, args.pieces, args.val_pieces, seed=args.seed)
        elif stage == "own":
            facts = tune_on_own_samples(out, _codec_recipe(args), **common, clips=args.own_clips)
        else:
            recipe = AudioLMRecipe()
            if args.max_steps is not None:
                recipe = replace(recipe, max_steps=args.max_steps)
            facts = train_lm(out, recipe, args.device, args.max_minutes, args.seed)
        print(json.dumps({"stage": stage, **facts}, indent=2))  # noqa: T201
    return 0


def _facts(path: Path) -> dict:
    """A stage's facts file, or nothing."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _codec_recipe(args: argparse.Namespace):
    """The codec recipe with the steps the command line sets."""
    from curvebench.training.codec_train import CodecRecipe

    recipe = CodecRecipe()
    for option, field in (
        ("codec_steps", "max_steps"),
        ("filters", "filters"),
        ("lstm_layers", "lstm_layers"),
        ("tune_steps", "tune_steps"),
        ("own_steps", "own_steps"),
    ):
        if getattr(args, option) is not None:
            recipe = replace(recipe, **{field: getattr(args, option)})
    return recipe
