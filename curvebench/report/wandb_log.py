"""Log a run to Weights & Biases: offline unless the user is logged in."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from curvebench.metrics.catalog import METRICS

if TYPE_CHECKING:
    from curvebench.pipeline import RunOutput

log = logging.getLogger(__name__)

PROJECT = "curvebench"


def wandb_mode() -> str:
    """``WANDB_MODE`` if set; online when an API key is configured; offline otherwise."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    if os.environ.get("WANDB_API_KEY"):
        return "online"
    netrc = Path.home() / ".netrc"
    if netrc.is_file() and "api.wandb.ai" in netrc.read_text(errors="ignore"):
        return "online"
    return "offline"


def log_run(output: RunOutput, out: Path) -> Path:
    """Log config, the results table, summary numbers and figures; returns the run folder."""
    import wandb

    results = output.results
    run = wandb.init(
        project=os.environ.get("WANDB_PROJECT", PROJECT),
        dir=str(out),
        mode=wandb_mode(),
        name=f"{results.model.name}-{'-'.join(results.results)}",
        config={"model": results.model.model_dump(), **results.config.model_dump()},
        settings=wandb.Settings(silent=True, console="off"),
    )
    metrics = [m.name for m in METRICS.values() if m.kind != "list"]
    table = wandb.Table(columns=["task", "dataset", "role", *metrics])
    for task, per_dataset in results.results.items():
        for dataset, r in per_dataset.items():
            values = [getattr(r, m, None) for m in metrics]
            table.add_data(task, dataset, r.role, *values)
            run.summary.update(
                {f"{task}/{dataset}/{m}": v for m, v in zip(metrics, values, strict=True)}
            )
    run.log({"results": table})
    for path in output.figures:
        run.log({path.stem: wandb.Image(str(path))})
    artifact = wandb.Artifact(f"results-{results.model.fingerprint[:12]}", type="results")
    artifact.add_file(str(output.results_path))
    run.log_artifact(artifact)
    folder = Path(run.dir).parent
    run.finish()
    return folder
