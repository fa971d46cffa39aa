"""The run as named stages (load → prepare → score → aggregate → write) over the benchmark's
parts; what the CLI and the Python API call."""

from curvebench.pipeline.run import RunOptions, RunOutput, run

__all__ = ["RunOptions", "RunOutput", "run"]
