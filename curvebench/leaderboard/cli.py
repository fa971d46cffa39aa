"""``curvebench leaderboard submit`` and ``curvebench leaderboard build``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from curvebench.errors import ConfigError

DEFAULT_BOARD = "leaderboard"


def _say(text: str) -> None:
    print(text)  # noqa: T201 (a command's output)


def cmd_submit(args: argparse.Namespace) -> int:
    from curvebench.leaderboard.submission import submit, validate_submission

    if args.check:
        results = validate_submission(Path(args.submission))
        _say(f"valid: {args.submission} ({results.model.spec}); nothing copied")
        return 0
    folder = submit(Path(args.submission), Path(args.board))
    _say(f"accepted: {args.submission}")
    _say(f"copied to: {folder}")
    _say(f"next: curvebench leaderboard build --board {args.board}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from curvebench.leaderboard.board import build_board

    readme, page = build_board(Path(args.board), Path(args.readme) if args.readme else None)
    _say(f"wrote: {readme}")
    if args.readme:
        _say(f"wrote the board's tables into: {args.readme}")
    _say(f"wrote: {page}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    import secrets

    from curvebench.leaderboard.verify import AUTO, verify

    data = dict(item.split("=", 1) for item in args.data or [] if "=" in item)
    rescore: int | str | None = {"all": None, AUTO: AUTO}.get(args.rescore, args.rescore)
    if rescore not in (None, AUTO):
        try:
            rescore = int(args.rescore)
        except ValueError:
            raise ConfigError(f"--rescore {args.rescore!r}: give a number, auto or all") from None
    seed = secrets.randbelow(2**32) if args.seed is None else args.seed
    _say(f"draw: seed {seed} (the same items again: --seed {seed})")
    outcomes = verify(
        Path(args.submission),
        rescore,
        seed=seed,
        model=args.model,
        data=data,
        progress=sys.stderr.isatty(),
    )
    for o in outcomes:
        diff = "-" if o.max_diff is None else f"{o.max_diff:.2e}"
        _say(f"{'ok ' if o.ok else 'BAD'}  max |diff| {diff}  {o.item}  {o.reason}".rstrip())
    good = sum(o.ok for o in outcomes)
    _say(f"{good} of {len(outcomes)} re-scored items agree with the submission")
    if args.record:
        from datetime import date

        from curvebench.leaderboard.submission import verification_record

        record = {
            "date": date.today().isoformat(),
            "seed": seed,
            "rescore": args.rescore,
            "items": len(outcomes),
            "agree": good,
        }
        path = verification_record(Path(args.submission).resolve())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record) + "\n")
        _say(f"recorded in {path}")
    if good < len(outcomes):  # exit 1: a verdict; 2 (any error) means it could not verify
        _say(f"{args.submission}: re-scored losses disagree; do not accept it")
        return 1
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    """Add ``leaderboard submit`` and ``leaderboard build`` to the ``curvebench`` parser."""
    board = sub.add_parser("leaderboard", help="submit runs to a leaderboard and build it")
    commands = board.add_subparsers(dest="leaderboard_command", required=True)
    p = commands.add_parser("submit", help="validate a run and copy it onto the board")
    p.add_argument("submission", metavar="RESULTS.json|RUN_DIR", help="a run's results or folder")
    p.add_argument("--board", default=DEFAULT_BOARD, help=f"board folder (default {DEFAULT_BOARD})")
    p.add_argument("--check", action="store_true", help="validate only; copy nothing")
    p.set_defaults(func=cmd_submit)
    p = commands.add_parser("verify", help="validate a submission and re-score items with it")
    p.add_argument("submission", metavar="SUBMISSION", help="a submission or run folder")
    p.add_argument(
        "--rescore",
        default="auto",
        metavar="K|auto|all",
        help="perturbed copies to re-score, each with its original (auto: 96 or 2%% of the "
        "copies, whichever is more; all: every line)",
    )
    p.add_argument(
        "--seed", type=int, default=None, help="which items (default: drawn now, and printed)"
    )
    p.add_argument("--model", help="model spec to re-score with (default: the submission's)")
    p.add_argument(
        "--record",
        action="store_true",
        help="write the outcome into the board's verified/ folder (maintainers)",
    )
    p.add_argument(
        "--data",
        action="append",
        metavar="NAME=PATH",
        help="where a dataset of the submission is here (for local folders; repeatable)",
    )
    p.set_defaults(func=cmd_verify)
    p = commands.add_parser("build", help="write the board's README.md and index.html")
    p.add_argument("--board", default=DEFAULT_BOARD, help=f"board folder (default {DEFAULT_BOARD})")
    p.add_argument(
        "--readme",
        metavar="FILE",
        help="also write the board's tables between FILE's <!-- board:begin/end --> lines",
    )
    p.set_defaults(func=cmd_build)
