"""Task definitions (YAML shipped with the package) and their strict loader."""

from curvebench.tasks.loader import (
    TaskConfig,
    TaskGroup,
    available_tasks,
    expand_tasks,
    load_group,
    load_task,
    protocol_of,
)

__all__ = [
    "TaskConfig",
    "TaskGroup",
    "available_tasks",
    "expand_tasks",
    "load_group",
    "load_task",
    "protocol_of",
]
