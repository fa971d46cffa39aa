"""Task definitions (YAML shipped with the package) and their strict loader."""

from curvebench.tasks.loader import TaskConfig, available_tasks, load_task

__all__ = ["TaskConfig", "available_tasks", "load_task"]
