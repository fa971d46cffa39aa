"""The training commands of the ``curvebench`` CLI: ``train-audio-reference``.

Kept apart from the training code so that building the CLI's parser imports no torch.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from curvebench.errors import ConfigError


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``train-audio-reference`` to the CLI's subcommands."""
    p = sub.add_parser("train-audio-reference", help="build the embedded audio reference model")
    p.add_argument("--out", required=True, help="output folder (the model, or codes.npz)")
    p.add_argument("--pieces", type=int, default=400, help="training pieces rendered (400)")
    p.add_argument("--max-steps", type=int, default=None, help="decoder steps (default 600)")
    p.add_argument("--max-minutes", type=float, default=None, help="stop training after this")
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--codes-only", action="store_true", help="stage 1 only: write OUT/codes.npz")
    p.add_argument("--from-codes", metavar="FILE", help="stage 2 only, from a codes.npz")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_train_audio_reference)


def cmd_train_audio_reference(args: argparse.Namespace) -> int:
    """Run ``train-audio-reference``; prints the training facts as JSON."""
    from curvebench.training.audio_lm import AudioLMRecipe
    from curvebench.training.audio_reference import build_codes, train_lm

    if args.codes_only and args.from_codes:
        raise ConfigError("--codes-only and --from-codes are two halves; give one or neither")
    out = Path(args.out)
    codes = Path(args.from_codes) if args.from_codes else out / "codes.npz"
    if not args.from_codes:
        facts = build_codes(codes, pieces=args.pieces, seed=args.seed)
        if args.codes_only:
            print(json.dumps(facts, indent=2))  # noqa: T201
            return 0
    recipe = AudioLMRecipe()
    if args.max_steps is not None:
        recipe = replace(recipe, max_steps=args.max_steps)
    facts = train_lm(codes, out, recipe, args.device, args.max_minutes, args.seed)
    if not args.from_codes:
        codes.unlink()  # only the model is shipped
    print(json.dumps(facts, indent=2))  # noqa: T201
    return 0
