"""The complete run from Python: the pipeline's stages, then its consumers (figures, W&B).

``curvebench run`` is this function behind argument parsing.
"""

from __future__ import annotations

import time

from curvebench.pipeline import RunOptions, RunOutput
from curvebench.pipeline import run as run_pipeline
from curvebench.report.figures import write_run_figures

__all__ = ["RunOptions", "RunOutput", "run"]


def run(options: RunOptions) -> RunOutput | None:
    """Run tasks on one model: results.json, samples.jsonl.gz and the examples (the pipeline),
    then the figures and, unless ``options.wandb`` is False, the W&B run. None in the extra
    processes of a multi-device run."""
    output = run_pipeline(options)
    if output is None:
        return None
    out = output.results_path.parent
    clock = time.perf_counter()
    output.figures = write_run_figures(output.results, output.lines, out)
    output.timings["figures"] = time.perf_counter() - clock
    if options.wandb:
        from curvebench.report.wandb_log import log_run

        clock = time.perf_counter()
        output.wandb_dir = log_run(output, out)
        output.timings["wandb"] = time.perf_counter() - clock
    return output
