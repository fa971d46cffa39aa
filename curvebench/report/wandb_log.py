"""Log a run to Weights & Biases: online when wandb finds credentials, offline otherwise.

What a run logs: its config and summary (every scalar metric as ``task/dataset/metric``),
the results table, one table of per-item results per task (``items/TASK``), audio examples
(``examples``, audio models), the Δℓ curves as native line plots (``curves/TASK``, one series
per dataset, so runs overlay in the W&B UI), the figures, and an artifact holding
results.json, samples.jsonl.gz, the figures and the examples.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curvebench.errors import ConfigError
from curvebench.metrics.catalog import METRICS
from curvebench.report.tables import interval_names, item_rows, result_rows
from curvebench.specs import scrub

if TYPE_CHECKING:
    from curvebench.pipeline import RunOutput

log = logging.getLogger(__name__)

PROJECT = "curvebench"


@dataclass
class WandbSettings:
    """Where and under what name a run is logged (``--wandb-*``, lm-eval's ``--wandb_args``)."""

    project: str | None = None
    """Project (default ``$WANDB_PROJECT``, else curvebench)."""
    entity: str | None = None
    """Team or user (default: wandb's own default)."""
    name: str | None = None
    """Run name (default MODEL-TASKS, MODEL the model's directory or hub name)."""
    tags: list[str] = field(default_factory=list)
    """Run tags."""
    group: str | None = None
    """Run group."""
    mode: str | None = None
    """online, offline or disabled (default :func:`wandb_mode`)."""

    @classmethod
    def from_args(cls, text: str) -> WandbSettings:
        """Parse lm-eval's ``--wandb_args project=P,name=N,tags=a|b,...``."""
        settings = cls()
        for item in filter(None, (p.strip() for p in text.split(","))):
            key, sep, value = item.partition("=")
            if not sep or key not in ("project", "entity", "name", "tags", "group", "mode"):
                raise ConfigError(
                    f"--wandb_args {text!r}: {item!r}; give project=, entity=, name=, tags=, "
                    "group= or mode= (key=value, comma-separated)"
                )
            value = value.strip()
            if key == "tags":
                settings.tags += [t for t in value.replace("|", ";").split(";") if t]
            else:
                setattr(settings, key, value)
        return settings


@dataclass(frozen=True)
class LoggedRun:
    """Where the logged run is."""

    folder: Path
    """The local run folder (what ``wandb sync`` uploads when offline)."""
    url: str | None
    """The run's page when online."""
    mode: str
    """online or offline."""


def wandb_mode() -> str:
    """``WANDB_MODE`` if set; online when wandb finds credentials for its configured host
    (``WANDB_API_KEY``, wandb's settings or netrc, self-hosted servers included), asked of
    wandb itself without network or prompt; offline otherwise."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    import wandb

    try:
        found = wandb.login(prompt=False, verify=False)
    except TypeError:  # older wandb without ``prompt``: its API reads the same sources
        found = bool(getattr(wandb.api, "api_key", None))
    except Exception as exc:  # a malformed key or settings file: log offline
        log.warning("wandb credentials unusable (%s); logging offline", exc)
        found = False
    return "online" if found else "offline"


def default_name(output: RunOutput) -> str:
    """MODEL-TASKS, MODEL the last part of the model's path or hub id when it has one."""
    results = output.results
    model = results.model.name
    spec = results.model.spec
    if "path=" in spec:
        path = spec.split("path=", 1)[1].split(",", 1)[0].rstrip("/")
        model = path.rsplit("/", 1)[-1] or model
    return f"{model}-{'-'.join(results.results)}"


def log_run(
    output: RunOutput,
    out: Path,
    settings: WandbSettings | None = None,
    private: list[str] | None = None,
) -> LoggedRun:
    """Log a written run (see the module docstring); returns where it went. Nothing of this
    machine is recorded: no command line, program path, git state, code or system metrics,
    and the paths in ``private`` are scrubbed from wandb's own log files afterwards."""
    import wandb

    settings = settings or WandbSettings()
    results = output.results
    mode = settings.mode or wandb_mode()
    run = wandb.init(
        project=settings.project or os.environ.get("WANDB_PROJECT", PROJECT),
        entity=settings.entity,
        name=settings.name or default_name(output),
        tags=settings.tags or None,
        group=settings.group,
        dir=str(out),
        mode=mode,
        config={"model": results.model.model_dump(), **results.config.model_dump()},
        settings=wandb.Settings(
            silent=True,
            console="off",
            x_disable_meta=True,  # the command line, program path, host and user
            x_disable_stats=True,
            disable_code=True,
            disable_git=True,
            save_code=False,
        ),
    )
    scalar = [m for m in METRICS.values() if m.kind in ("float", "int")]
    columns = [m.name for m in scalar]
    columns += [c for m in scalar if m.interval for c in interval_names(m)]
    table = wandb.Table(columns=["task", "dataset", "role", *columns])
    for row in result_rows(results):
        values = [row.get(c) for c in columns]
        table.add_data(row["task"], row["dataset"], row["role"], *values)
        prefix = f"{row['task']}/{row['dataset']}"
        run.summary.update({f"{prefix}/{c}": v for c, v in zip(columns, values, strict=True)})
    logged: dict[str, Any] = {"results": table}
    if results.validity:  # which metric agrees with the truth, per family and role
        rows = results.validity.flat_rows()
        validity = wandb.Table(columns=list(rows[0]) if rows else ["family"])
        for row in rows:
            validity.add_data(*row.values())
        logged["validity"] = validity
        for row in results.validity.pooled:
            for m in row.metrics:
                key = f"validity/{row.family}/{row.role}/{m.metric}"
                for name, estimate in (("agree", m.agreement), ("auroc", m.auroc)):
                    run.summary[f"{key}/{name}"] = estimate.value
                    run.summary[f"{key}/{name}_ci_low"] = estimate.ci_low
                    run.summary[f"{key}/{name}_ci_high"] = estimate.ci_high
    logged |= item_tables(output)
    logged |= curve_plots(output)
    logged |= audio_examples(out / "examples")
    logged |= {f"figures/{p.stem}": wandb.Image(str(p)) for p in output.figures}
    run.log(logged)
    artifact = wandb.Artifact(f"results-{results.model.fingerprint[:12]}", type="results")
    artifact.add_file(str(output.results_path))
    artifact.add_file(str(output.samples_path))
    for path in output.figures:
        artifact.add_file(str(path), name=f"figures/{path.name}")
    if (out / "examples").is_dir():
        artifact.add_dir(str(out / "examples"), name="examples")
    run.log_artifact(artifact)
    url = run.url if mode == "online" else None
    folder = Path(run.dir).parent
    run.finish()
    scrub_logs(folder, private or [])
    return LoggedRun(folder, url, mode)


def scrub_logs(folder: Path, private: list[str]) -> None:
    """wandb's text logs in a run folder with every private path replaced (they name the run
    folder, which may sit under a private path)."""
    for path in folder.rglob("*.log"):
        if path.is_file() and not path.is_symlink():
            text = path.read_text(errors="replace")
            cleaned = scrub(text, private)
            if cleaned != text:
                path.write_text(cleaned)


def item_tables(output: RunOutput) -> dict[str, Any]:
    """``items/TASK``: one row per scored item of the task."""
    import wandb

    rows_of: dict[str, list[dict[str, Any]]] = {}
    for row in item_rows(output.lines):
        rows_of.setdefault(row["task"], []).append(row)
    tables = {}
    for task, rows in rows_of.items():
        columns = list(rows[0])
        tables[f"items/{task}"] = wandb.Table(
            columns=columns, data=[[r[c] for c in columns] for r in rows]
        )
    return tables


def curve_plots(output: RunOutput) -> dict[str, Any]:
    """``curves/TASK``: mean Δℓ against seconds, one line per dataset."""
    import wandb

    plots = {}
    for task, curves in output.results.curves.items():
        config = output.results.config.tasks.get(task)
        hz = config.grid_hz if config is not None else 1.0
        xs, ys, keys = [], [], []
        for dataset, curve in curves.items():
            points = [(i / hz, v) for i, v in enumerate(curve) if v is not None]
            if points:
                xs.append([x for x, _ in points])
                ys.append([y for _, y in points])
                keys.append(dataset)
        if keys:
            plots[f"curves/{task}"] = wandb.plot.line_series(
                xs=xs, ys=ys, keys=keys, title=f"{task}: mean Δℓ (nats)", xname="seconds"
            )
    return plots


def audio_examples(folder: Path) -> dict[str, Any]:
    """``examples``: the run's WAV examples (audio models), original beside perturbed."""
    import wandb

    index = folder / "index.json"
    if not index.is_file():
        return {}
    entries = [e for e in json.loads(index.read_text()) if e["original"].endswith(".wav")]
    if not entries:
        return {}
    table = wandb.Table(columns=["task", "dataset", "piece", "variant", "original", "perturbed"])
    for e in entries:
        table.add_data(
            e["task"],
            e["dataset"],
            e["piece_id"],
            e["variant"],
            wandb.Audio(str(folder / e["original"]), caption=f"{e['piece_id']} original"),
            wandb.Audio(str(folder / e["perturbed"]), caption=f"{e['piece_id']} {e['variant']}"),
        )
    return {"examples": table}
