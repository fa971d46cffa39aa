"""``curvebench report RUN_DIR``: one run's HTML page: its numbers, its figures, and a few
original / perturbed examples to listen to beside their Δℓ curves (like the paper's demo page).

The page needs no network: audio and images are files next to it, and every string that comes
from the run is escaped.
"""

from __future__ import annotations

import json
import shutil
from html import escape
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from curvebench.benchmark.aggregate import pair_delta
from curvebench.benchmark.derived import frame_loss, line_loss
from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine, read_samples
from curvebench.data.audio import sha256_file, write_wav
from curvebench.data.render import DEFAULT_SR, render_midi
from curvebench.errors import DataError
from curvebench.metrics.catalog import headline_metrics
from curvebench.metrics.smoothing import nan_moving_average
from curvebench.metrics.token_types import delta_shares, loss_by_type, uniform_level
from curvebench.report.text import estimate, footnotes, n_text
from curvebench.report.validity import validity_html
from curvebench.tasks import TaskConfig

STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:72em}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em;
text-align:right}td:first-child,th:first-child{text-align:left}img{max-width:100%}
.example{display:flex;flex-wrap:wrap;gap:1.5em;align-items:center;border-top:1px solid #ddd;
padding:1em 0}
.example img{width:28em}"""


def _load(run_dir: Path) -> tuple[Results, list[SampleLine]]:
    try:
        results = Results.model_validate_json((run_dir / "results.json").read_text())
    except (OSError, ValueError) as exc:
        raise DataError(f"{run_dir}: not a curvebench run folder ({exc})") from exc
    samples = run_dir / "samples.jsonl.gz"
    if not samples.is_file() or sha256_file(samples) != results.samples_sha256:
        raise DataError(
            f"{run_dir}: samples.jsonl.gz is missing or is not the file results.json was "
            "written with (its sha256 differs); run the task again"
        )
    return results, read_samples(samples)


def results_table(results: Results) -> str:
    """The headline columns of every task as HTML tables: each estimate with its 95%
    interval, n marked when few, and why a dataset has no pairs."""
    metrics = headline_metrics()
    parts = []
    for task, per_dataset in results.results.items():
        head = "".join(
            f'<th title="{escape(m.description)}">{escape(m.header)}</th>' for m in metrics
        )
        rows = []
        for name, r in per_dataset.items():
            cells = [n_text(r) if m.name == "n_pairs" else estimate(m, r) for m in metrics]
            rows.append(
                f"<tr><td>{escape(name)}</td><td>{escape(r.role)}</td>"
                + "".join(f"<td>{escape(c)}</td>" for c in cells)
                + "</tr>"
            )
        head = "<th>dataset</th><th>role</th>" + head
        notes = "".join(f"<li>{escape(line)}</li>" for line in footnotes(results, task))
        parts.append(
            f"<h3>{escape(task)}</h3><p>Losses in {escape(results.model.loss_unit)}; "
            f"[95% interval] resampling pieces.</p><table><tr>{head}</tr>{''.join(rows)}</table>"
            + (f"<ul>{notes}</ul>" if notes else "")
        )
    return "\n".join(parts)


def _audio(example_dir: Path, name: str, out: Path) -> str:
    """A WAV for an example file (MIDI rendered with FluidSynth); returns its name."""
    source = example_dir / name
    target = out / (Path(name).stem + ".wav")
    if source.suffix == ".wav":
        shutil.copyfile(source, target)
    else:
        write_wav(
            target, render_midi(source.read_bytes(), DEFAULT_SR, name=str(source)), DEFAULT_SR
        )
    return target.name


def _curve(task: TaskConfig, original: SampleLine, perturbed: SampleLine, path: Path) -> None:
    delta = pair_delta(original, perturbed, task)
    t = np.arange(len(delta)) / task.grid_hz
    fig = Figure(figsize=(5.5, 2.2))
    ax = fig.subplots()
    ax.plot(t, nan_moving_average(delta, 10), lw=1.0)
    record = perturbed.record
    if record is not None and record.onset_s is not None:
        start = record.onset_s
        ax.axvspan(start, start + (record.duration_s or 0.0), color="tab:red", alpha=0.15)
    ax.axhline(0.0, color="black", lw=0.6)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("Δℓ (nats)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def types_table(results: Results, samples: list[SampleLine]) -> str:
    """Typed tokenizers: per task and dataset, each token type's loss on originals and on
    perturbed copies beside its within-type uniform level (log of the ids of the type: the loss
    of a model that knows the type and nothing else), and its share of the change in total
    nats from originals to copies."""
    vocab = results.model.type_vocab
    if not vocab:
        return "<p>The model's tokens have no types.</p>"
    parts = []
    for task, per_dataset in results.results.items():
        for dataset, r in per_dataset.items():
            if not r.abs_loss_by_type_original:
                continue
            shares = delta_shares(*_pair_type_totals(samples, task, dataset))
            rows = []
            for name in sorted(vocab, key=lambda t: -vocab[t]):
                orig = (r.abs_loss_by_type_original or {}).get(name)
                pert = (r.abs_loss_by_type_perturbed or {}).get(name)
                share = shares.get(name)
                cells = [
                    name,
                    str(vocab[name]),
                    f"{uniform_level(vocab[name]):.2f}",
                    "-" if orig is None else f"{orig:.3f}",
                    "-" if pert is None else f"{pert:.3f}",
                    "-" if share is None else f"{share:+.0%}",
                ]
                rows.append("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in cells) + "</tr>")
            parts.append(
                f"<h3>{escape(task)} / {escape(dataset)}</h3><table><tr><th>type</th>"
                "<th>ids</th><th>uniform (nats)</th><th>loss orig</th><th>loss pert</th>"
                f"<th>share of Δ</th></tr>{''.join(rows)}</table>"
            )
    return "\n".join(parts) or "<p>-</p>"


def _pair_type_totals(samples: list[SampleLine], task: str, dataset: str):
    """(originals' totals, copies' totals) by type, one entry each per pair."""
    lines = [s for s in samples if s.task == task and s.dataset == dataset and s.types]
    originals = {s.piece_id: s for s in lines if s.is_original}
    pairs = [
        (originals[s.piece_id], s) for s in lines if not s.is_original and s.piece_id in originals
    ]
    return (
        [loss_by_type(frame_loss(line_loss(o)), o.types) for o, _ in pairs],
        [loss_by_type(frame_loss(line_loss(p)), p.types) for _, p in pairs],
    )


def write_report(run_dir: Path) -> Path:
    """Write ``RUN_DIR/report/index.html`` (with its audio and curves) and return its path."""
    results, samples = _load(run_dir)
    out = run_dir / "report"
    (out / "media").mkdir(parents=True, exist_ok=True)
    lines = {(s.task, s.dataset, s.piece_id, s.variant): s for s in samples}
    index_file = run_dir / "examples" / "index.json"
    examples = json.loads(index_file.read_text()) if index_file.is_file() else []
    blocks = []
    for i, ex in enumerate(examples):
        key = (ex["task"], ex["dataset"], ex["piece_id"])
        original, perturbed = lines.get((*key, "original")), lines.get((*key, ex["variant"]))
        if original is None or perturbed is None:
            continue
        task = results.config.tasks[ex["task"]]
        curve = out / "media" / f"{i:03d}-curve.png"
        _curve(task, original, perturbed, curve)
        players = "".join(
            f"<div>{kind}<br><audio controls preload=none "
            f'src="media/{escape(_audio(index_file.parent, ex[kind], out / "media"))}">'
            "</audio></div>"
            for kind in ("original", "perturbed")
        )
        title = f"{ex['task']} / {ex['dataset']} / {ex['piece_id']}"
        before, after = original.abs_loss or float("nan"), perturbed.abs_loss or float("nan")
        blocks.append(
            f'<div class="example"><div><b>{escape(title)}</b><br><code>'
            f"{escape(ex['variant'])}</code><br>absolute loss {before:.3f} → "
            f"{after:.3f} ({after - before:+.3f})</div>{players}"
            f'<img src="media/{curve.name}" alt="delta curve"></div>'
        )
    figures = "".join(
        f'<img src="../figures/{escape(p.name)}" alt="{escape(p.stem)}">'
        for p in sorted((run_dir / "figures").glob("*.png"))
    )
    model = results.model
    validity_section = validity_html(results.validity) if results.validity else "<p>-</p>"
    html = f"""<!doctype html><html><head><meta charset="utf-8">
<title>curvebench report: {escape(model.spec)}</title><style>{STYLE}</style></head><body>
<h1>curvebench report: {escape(model.spec)}</h1>
<p>{escape(model.name)}, {model.parameters:,} parameters, fingerprint
<code>{escape(model.fingerprint[:16])}</code>; curvebench {escape(results.curvebench_version)},
{escape(results.created)}; {len(results.skipped)} items skipped.</p>
<h2>Results</h2>{results_table(results)}
<h2>Validity: which metric agrees with the truth</h2>{validity_section}
<h2>Loss by token type</h2>{types_table(results, samples)}
<h2>Figures</h2>{figures}
<h2>Listen: original and perturbed</h2>{"".join(blocks) or "<p>No examples.</p>"}
</body></html>
"""
    path = out / "index.html"
    path.write_text(html)
    return path
