"""Every table of measured numbers in README.md and docs/, written from committed run outputs.

A generated block lies between ``<!-- docs:NAME:begin -->`` and ``<!-- docs:NAME:end -->``;
``python scripts/docs.py`` rewrites every block from its source, ``--check`` only says which are
stale (exit 1). The sources (``make docs-runs`` makes them):

- ``make-run``: the default run's table, drawn by the CLI's own code from
  ``docs/runs/default/results.json``, and the run's timing line from its saved output;
- ``callback``: ``examples/train_with_callback.py``'s saved output;
- ``busy-run``: the default run made cold on a busy machine (``scripts/busy_run.py``);
- ``findings-*``: the board's committed entries (``leaderboard/submissions/*/results.json``,
  the protocol run of each embedded model): agreement with the truth, how often each
  corruption lowers the loss, the regions, the token types;
- ``codec-listening``: the audio reference's codec against yardsticks (``docs/audio/
  codec.json``, from ``scripts/codec_listening.py``).
- ``models-embedded``: the embedded models' training records (``curvebench/models/*/
  training.json``).
- ``audio-throughput``, ``devices`` (benchmarks/README.md): the last lines of
  ``benchmarks/results/audio-throughput.jsonl`` and ``devices.jsonl``, which
  ``benchmarks/audio_throughput.py --json`` and ``benchmarks/devices.py --json`` print.

The board's tables are spliced by ``curvebench leaderboard build --readme`` (``make docs`` runs
it too).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections.abc import Callable
from pathlib import Path

from curvebench.benchmark.results import Results
from curvebench.leaderboard.verify import MIN_COPIES, escape_bound
from curvebench.metrics.registry import label
from curvebench.report.text import results_text

ROOT = Path(__file__).resolve().parents[1]
RUNS = ROOT / "docs" / "runs"
CODEC = ROOT / "docs" / "audio" / "codec.json"
BENCH = ROOT / "benchmarks" / "results"
MAKE_RUN = "curvebench run --task noise-at-5s --model reference --limit 32 --out runs/default"


def _fenced(text: str) -> str:
    return "```text\n" + text.rstrip("\n") + "\n```"


def make_run() -> str:
    """The default run's output as ``make run`` prints it (table and timing)."""
    results = Results.model_validate_json((RUNS / "default" / "results.json").read_text())
    output = (RUNS / "default" / "output.txt").read_text().splitlines()
    tail = [line for line in output if line.startswith(("skipped items:", "time:"))]
    body = ["$ make run", "...", MAKE_RUN, results_text(results, width=200), "", *tail]
    return _fenced("\n".join(body))


def busy_run() -> str:
    """The default run's timing on a busy machine (``scripts/busy_run.py``'s saved output)."""
    output = (RUNS / "busy.txt").read_text().splitlines()
    kept = [line for line in output if line.startswith(("load average", "time:"))]
    return _fenced("\n".join(kept))


def callback() -> str:
    """``python examples/train_with_callback.py``'s output as it was run."""
    return _fenced((RUNS / "callback.txt").read_text())


def make_run_reading() -> str:
    """The paragraph that reads the default run's table, its numbers from the committed run."""
    results = Results.model_validate_json((RUNS / "default" / "results.json").read_text())
    per = results.results["noise-at-5s"]
    train = next(r for r in per.values() if r.role == "training")
    ood = next(r for r in per.values() if r.role == "ood")
    lowered = max(r.frac_loss_lowered for r in per.values() if r.frac_loss_lowered is not None)
    raised = (
        "*raise* the loss of every training, generated and ood pair (lowered: 0.00)"
        if lowered == 0
        else f"*raise* the loss of most pairs (lowered: at most {lowered:.2f} of a dataset's)"
    )
    uniform = math.log(sum((results.model.type_vocab or {}).values()) or 1)
    assimilation = "a smaller" if train.region_assimilation < train.region_peak else "a larger"
    return (
        f"Reading the table: for the reference model, noise notes {raised}, with a sharp peak "
        f"in the window ({train.region_peak:+.2f} nats per step on training music), "
        f"{assimilation} assimilation mean ({train.region_assimilation:+.2f}) and a return to "
        f"baseline after it ({train.region_recovery:+.2f}). The ood set is ood in music, not in "
        f"encoding: {ood.abs_loss_original:.2f} nats/token against "
        f"{train.abs_loss_original:.2f} on training pieces (a uniform guess: {uniform:.2f})."
    )


def escape() -> str:
    """The probability that a forgery escapes verify's default draw, from its own bound."""
    copies = MIN_COPIES
    rows = [[f"{f:g}", f"{escape_bound(f, copies):.2g}"] for f in (0.01, 0.05, 0.1, 0.2)]
    return _table(["forged fraction f", f"escapes k = {copies} copies (at most)"], rows)


BOARD = ROOT / "leaderboard" / "submissions"
MODELS = ROOT / "curvebench" / "models"
SYMBOLIC = ("reference", "reference-tiny", "ngram")
"""The embedded symbolic models, in the order their numbers are joined in a findings cell."""
ROLE_ORDER = ("training", "generated", "ood")


def board_runs() -> dict[str, Results]:
    """The board's entries by model spec."""
    out = {}
    for path in sorted(BOARD.glob("*/results.json")):
        results = Results.model_validate_json(path.read_text())
        out[results.model.spec] = results
    return out


def _symbolic() -> tuple[list[str], list[Results]]:
    runs = board_runs()
    names = [m for m in SYMBOLIC if m in runs]
    return names, [runs[m] for m in names]


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _joined(values: list[float | None], form: str, flag_below: float | None = None) -> str:
    cells = []
    for v in values:
        text = "–" if v is None or v != v else format(v, form)
        if flag_below is not None and v is not None and v < flag_below:
            text = f"**{text}**"
        cells.append(text)
    return " / ".join(cells)


def _pooled(results: Results, task: str, role: str, field: str) -> float | None:
    """A mean over pairs of one task and role, its datasets pooled (weighted by their pairs;
    exact for a mean over pairs)."""
    parts = [
        (getattr(r, field, None), r.n_pairs)
        for r in results.results.get(task, {}).values()
        if r.role == role
    ]
    parts = [(v, n) for v, n in parts if v is not None and n]
    total = sum(n for _, n in parts)
    return sum(v * n for v, n in parts) / total if total else None


def findings_agreement() -> str:
    """Agreement of each metric with the truth per family (roles pooled), per model."""
    names, runs = _symbolic()
    tables = [r.validity for r in runs]
    metrics = [m.name for m in tables[0].metrics]
    families = [row.family for row in tables[0].rows if row.role == "all"]
    rows = []
    for family in [*families, "all"]:
        cells = [family]
        for metric in metrics:
            values = []
            for table in tables:
                found = [
                    m.agreement.value
                    for x in [*table.rows, *table.pooled]
                    if (x.family, x.role) == (family, "all")
                    for m in x.metrics
                    if m.metric == metric
                ]
                values.append(found[0] if found else None)
            cells.append(_joined(values, ".2f", flag_below=0.5))
        rows.append(cells)
    header = ["family", *(label(m) for m in metrics)]
    return f"Each cell: {' / '.join(names)}; bold: below 0.5.\n\n" + _table(header, rows)


def findings_lowered() -> str:
    """Share of pairs whose per-token loss the corruption lowers, per task and role."""
    names, runs = _symbolic()
    tasks = list(runs[0].results)
    rows = [
        [task]
        + [
            _joined([_pooled(r, task, role, "frac_loss_lowered") for r in runs], ".0%")
            for role in ROLE_ORDER
        ]
        + [_joined([_pooled(r, task, "training", "abs_loss_delta") for r in runs], "+.2f")]
        for task in tasks
    ]
    header = ["task", *(f"lowered: {role}" for role in ROLE_ORDER), "Δ loss/token, training"]
    return f"Each cell: {' / '.join(names)}.\n\n" + _table(header, rows)


def findings_regions() -> str:
    """The mean Δℓ in the paper's three regions, per task with a window, per role, for the
    first embedded model."""
    names, runs = _symbolic()
    run = runs[0]
    rows = []
    for task, config in run.config.tasks.items():
        if not config.regions:
            continue
        for role in ROLE_ORDER:
            regions = ("peak", "assimilation", "recovery")
            values = [_pooled(run, task, role, f"region_{r}") for r in regions]
            rows.append([task, role, *(_joined([v], "+.2f") for v in values)])
    header = ["task", "role", "peak", "assimilation", "recovery"]
    return f"`{names[0]}`, mean Δℓ (nats per 50 Hz step):\n\n" + _table(header, rows)


def findings_types() -> str:
    """Per token type, perturbed − original mean loss on the training role, for the first
    embedded model."""
    names, runs = _symbolic()
    run = runs[0]
    tasks = [t for t in run.results if _pooled(run, t, "training", "n_pairs") is not None]
    by_task = {}
    for task in tasks:
        r = next(x for x in run.results[task].values() if x.role == "training")
        before, after = r.abs_loss_by_type_original or {}, r.abs_loss_by_type_perturbed or {}
        by_task[task] = {k: after[k] - before[k] for k in before if k in after}
    types = list(dict.fromkeys(k for d in by_task.values() for k in d))
    rows = [[task, *(_joined([d.get(k)], "+.2f") for k in types)] for task, d in by_task.items()]
    return f"`{names[0]}`, training role, nats/token:\n\n" + _table(["task", *types], rows)


def models_embedded() -> str:
    """The embedded models' training records."""
    rows = []
    for name in ("reference", "reference-tiny", "audio-reference"):
        record = json.loads((MODELS / name / "training.json").read_text())
        audio = "validation_loss_nats_per_code" in record
        steps = record.get("steps_done") or record["recipe"]["max_steps"]
        validation = record["validation_loss_nats_per_code" if audio else "validation_loss_nats"]
        ood = record.get("ood_loss_nats_per_code" if audio else "ood_loss_nats")
        uniform = record["uniform_loss_nats" if audio else "log_vocab_nats"]
        rows.append(
            [
                f"`{name}`",
                f"{record['parameters'] / 1e6:.2f} M",
                f"{steps:,}",
                f"{validation:.2f}",
                "–" if ood is None else f"{ood:.2f}",
                f"{uniform:.2f}",
                "nats/code" if audio else "nats/token",
            ]
        )
    header = ["model", "parameters", "steps", "validation", "ood", "uniform", "unit"]
    return _table(header, rows)


def _overall(results: Results) -> dict[str, float]:
    """Each metric's agreement with the truth over every task and role of a run."""
    row = results.validity.pooled[-1]
    return {m.metric: m.agreement.value for m in row.metrics}


def codec_listening() -> str:
    """The audio reference's codec against yardsticks (``scripts/codec_listening.py``)."""
    record = json.loads(CODEC.read_text())
    rows = [
        [name, f"{v['mel_distance']:.3f}", f"{v['snr_db']:+.1f} dB"]
        for name, v in record["versions"].items()
    ]
    return _table(["against the render", "log-mel distance (nats)", "SNR"], rows)


def board_reading() -> str:
    """What the board shows, read from its entries."""
    runs = board_runs()
    symbolic = [runs[m] for m in SYMBOLIC if m in runs]
    losses = [_overall(r)["abs_loss"] for r in symbolic]
    best = {max(_overall(r), key=_overall(r).get) for r in symbolic}
    text = (
        f"For the three symbolic models, per-token loss agrees with the truth on "
        f"{min(losses):.2f}–{max(losses):.2f} of pairs"
        + (", the best of every metric." if best == {"abs_loss"} else ".")
    )
    audio = runs.get("audio-reference")
    if audio is None:
        return text
    overall = _overall(audio)
    top = max(overall, key=overall.get)
    per = audio.results["noise-at-5s"]
    auroc = {role: _pooled_auroc(per, role) for role in ("training", "ood", "generated")}
    lowered = _pooled(audio, "noise-at-5s", "generated", "frac_loss_lowered")
    own = _pooled(audio, "noise-at-5s", "generated", "abs_loss_original")
    card = json.loads((MODELS / "audio-reference" / "training.json").read_text())
    uniform, trained = card["uniform_loss_nats"], card["train_loss_nats_per_code"]
    kept = card["own_samples_by_top_k"]["250"]["codes_surviving_round_trip"][0]
    return text + (
        f" For `audio-reference`, per-code loss agrees on {overall['abs_loss']:.2f} of pairs and "
        f"{label(top)} is best ({overall[top]:.2f}). On `noise-at-5s` its loss separates "
        f"originals from noisy copies with AUROC {auroc['training']:.2f} on training audio, "
        f"{auroc['ood']:.2f} on ood and {auroc['generated']:.2f} on its own generated role. "
        f"That role is its samples decoded by its codec and heard again ({own:.2f} nats/code, "
        f"against {trained:.2f} on training rows and a uniform {uniform:.2f}; the round trip "
        f"keeps {kept:.0%} of codebook 1's codes sampled at top-k 250); noise lowers the "
        f"loss of {lowered:.0%} of its pairs."
    )


def _pooled_auroc(per: dict, role: str) -> float:
    """The AUROC of absolute loss on a role, its datasets' values weighted by their pairs."""
    parts = [(r.auroc_abs_loss, r.n_pairs) for r in per.values() if r.role == role and r.n_pairs]
    parts = [(v, n) for v, n in parts if v is not None]
    return sum(v * n for v, n in parts) / sum(n for _, n in parts)


def _bench_lines(name: str) -> list[dict]:
    return [json.loads(x) for x in (BENCH / name).read_text().splitlines() if x.strip()]


AUDIO_STAGES = {
    "render_cold": "render, cold (FluidSynth)",
    "render_warm": "render, warm (render cache)",
    "perturb": "perturb (noise into the waveform)",
    "codec_cold_whole": "codec, cold (EnCodec + store), every clip whole, one process",
    "codec_cold": "codec, cold, copies from their original's stack, one process",
    "codec_cached": "codec, cached (codes cache)",
    "prepare_cold_serial": "prepare stage, cold, one process (render + perturb + codec)",
    "prepare_cold_workers": "prepare stage, cold, on {workers} worker processes",
    "lm_shared": "LM, copies from the original's key-value cache",
    "lm_scratch": "LM, every clip from scratch",
    "first_run_serial": "**first run**, one process (prepare + LM shared)",
    "first_run_workers": "**first run**, prepare on {workers} workers (prepare + LM shared)",
    "warm_run": "**cached run** (render warm + perturb + codec cached + LM shared)",
}


def audio_throughput() -> str:
    """The audio path benchmark's last run, stage by stage."""
    r = _bench_lines("audio-throughput.jsonl")[-1]
    rows = []
    for key, name in AUDIO_STAGES.items():
        if key not in r:  # a stage an earlier benchmark did not have
            continue
        st = r[key]
        lo, hi = st["s_range"]
        rows.append(
            [
                name.format(workers=r["workers"]),
                f"{st['s']:.3f} [{lo:.3f}–{hi:.3f}]",
                f"{st['music_s_per_s']:,.0f}",
            ]
        )
    head = (
        f"{r['pieces']} pieces, {r['clips']} clips, {r['music_s']:,} s of music, "
        f"{r['frames']:,} frames; {r['threads']} threads, batch {r['batch_size']}, "
        f"{r['repeats']} interleaved repeats; load average {r['loadavg_before_after'][0]} "
        f"before, {r['loadavg_before_after'][1]} after; sharing speedup "
        f"{r['sharing_speedup']} [{r['sharing_speedup_range'][0]}–"
        f"{r['sharing_speedup_range'][1]}], arithmetic limit {r['sharing_arithmetic_limit']}."
    )
    first = r["first_run_workers"]
    tail = ""
    if "codec_cold_whole" in r:
        tail = (
            f"\n\nFirst run on {r['workers']} workers: {first['music_s_per_s']:.0f} s of music "
            f"per second, {first['music_s_per_s'] / RECORDED_FIRST_RUN:.2f}× the "
            f"{RECORDED_FIRST_RUN} recorded before batching; copies encoded where they differ "
            f"make the cold codec {r['codec_cold_whole']['s'] / r['codec_cold']['s']:.1f}× "
            "faster than encoding every clip whole."
        )
    return head + "\n\n" + _table(["stage", "median s [range]", "music s / s"], rows) + tail


RECORDED_FIRST_RUN = 77
"""The audio path's first run, in seconds of music per second, as recorded before the prepare
stage was batched (one process, one clip at a time)."""


def devices() -> str:
    """The devices benchmark: before (the commit named) and after, per device count."""
    rows = []
    for r in _bench_lines("devices.jsonl"):
        for n, run in r["runs"].items():
            stages = run["stages_last_run"]
            lo, hi = run["s_range"]
            rows.append(
                [
                    r["commit"],
                    n,
                    f"{run['s']:.1f} [{lo:.1f}–{hi:.1f}]",
                    f"{stages.get('prepare', float('nan')):.1f}",
                    f"{stages.get('score', float('nan')):.1f}",
                    "yes" if r["same_results"] else "**no**",
                ]
            )
    r = _bench_lines("devices.jsonl")[-1]
    head = (
        f"`{r['model']}` on `{r['task']}`, {r['pieces']} pieces of the embedded training split "
        f"(`--data training=...`, so no generated role), empty caches, {r['accelerator']} "
        f"processes sharing {r['cores']} threads, {r['repeats']} interleaved repeats."
    )
    return (
        head
        + "\n\n"
        + _table(
            ["code", "devices", "wall s, median [range]", "prepare s", "score s", "same results"],
            rows,
        )
    )


BLOCKS: dict[str, Callable[[], str]] = {
    "audio-throughput": audio_throughput,
    "devices": devices,
    "codec-listening": codec_listening,
    "make-run": make_run,
    "callback": callback,
    "busy-run": busy_run,
    "findings-agreement": findings_agreement,
    "findings-lowered": findings_lowered,
    "findings-regions": findings_regions,
    "findings-types": findings_types,
    "models-embedded": models_embedded,
    "make-run-reading": make_run_reading,
    "escape": escape,
    "board-reading": board_reading,
}


def _pattern(name: str) -> re.Pattern[str]:
    begin, end = f"<!-- docs:{name}:begin -->", f"<!-- docs:{name}:end -->"
    return re.compile(re.escape(begin) + r"\n(.*?)\n?" + re.escape(end), re.S)


def documents() -> list[Path]:
    return [
        ROOT / "README.md",
        ROOT / "benchmarks" / "README.md",
        *sorted((ROOT / "docs").glob("*.md")),
    ]


def stale(write: bool) -> list[str]:
    """The blocks whose text differs from what their source gives (rewritten when ``write``)."""
    out = []
    rendered = {name: make() for name, make in BLOCKS.items()}
    for path in documents():
        text = path.read_text()
        new = text
        for name, body in rendered.items():
            block = f"<!-- docs:{name}:begin -->\n{body}\n<!-- docs:{name}:end -->"
            new = _pattern(name).sub(lambda _m, block=block: block, new)
        if new != text:
            out.append(path.relative_to(ROOT).as_posix())
            if write:
                path.write_text(new)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only list stale documents")
    args = parser.parse_args()
    changed = stale(write=not args.check)
    for name in changed:
        sys.stdout.write(f"{'stale' if args.check else 'wrote'}: {name}\n")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
