"""Tasks are data: YAML files parsed into a strict pydantic model (a misspelled key fails)."""

from __future__ import annotations

import dataclasses
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from curvebench.data.piece import ROLES
from curvebench.errors import ConfigError, first_error
from curvebench.perturbations import Perturbation, parse_perturbation
from curvebench.yaml_mapping import read_mapping

TASKS_DIR = Path(__file__).parent


class TaskConfig(BaseModel):
    """One benchmark task: which datasets, which perturbations, and the protocol's numbers."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$",
        description="Registry name, e.g. noise-at-5s (lower-case letters, digits, . _ -; it "
        "names files, so no path separators).",
    )
    version: int = Field(ge=1, description="Bumped whenever results would change.")
    description: str = Field(description="One line for `curvebench tasks`.")
    paper: str = Field(default="", description="Where the experiment is in the paper.")
    roles: tuple[str, ...] = Field(
        default=("training", "generated", "ood"), description="Dataset roles the task runs on."
    )
    perturbations: tuple[str, ...] = Field(min_length=1, description="Perturbation spec strings.")
    clip_seconds: float = Field(
        default=15.0, gt=0, le=3600, description="Pieces are cut to this length (at most 1 h)."
    )
    grid_hz: float = Field(
        default=50.0, gt=0, le=1000, description="Time grid of Δℓ (paper: 50 Hz; at most 1 kHz)."
    )
    smooth_steps: int = Field(
        default=1, ge=1, description="Moving average of Δℓ over this many grid steps (1: none)."
    )
    regions: bool = Field(default=True, description="Report the paper's three regions.")
    symbolic_smooth_s: float = Field(
        default=0.5,
        ge=0,
        le=5,
        description="Symbolic models, sum alignment: centred moving average of Δℓ over this "
        "many seconds before the regions and detectors read it (tokens are sparse on a 50 Hz "
        "grid, so most steps of a sum are 0 whatever happened); 0: none. Audio is never "
        "smoothed here (one loss per frame).",
    )
    alignment: Literal["sum", "mean"] = Field(
        default="sum",
        description="Δℓ per grid step: sum of the surprisal of the tokens in it (an empty step "
        "is 0, so inserted and removed tokens count), or the per-step mean with empty "
        "steps masked. Audio frames are the mean over codebooks either way.",
    )
    region_rule: Literal["curvebench", "paper"] = Field(
        default="curvebench",
        description="curvebench's region rule, or the paper's released analysis code exactly "
        "(empty region = 0, recovery from (onset-1)+len+4, last step dropped, conditioned-frame "
        "indexing).",
    )
    render_level: Literal["model", "paper"] = Field(
        default="model",
        description="Audio models hearing MIDI: the render the model states (its soundfont, "
        "gain 1), or the same soundfont at the paper's level (fluidsynth -g 0.9, then -3 dB "
        "as sox gain -3; about 3.9 dB quieter).",
    )
    generated_top_k: tuple[int, ...] = Field(
        default=(10, 50, 250), description="Top-k values of the generated role's samples."
    )
    seed: int = Field(default=0, description="Task seed; perturbation seeds derive from it.")

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, roles: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [r for r in roles if r not in ROLES]
        if unknown:
            raise ValueError(f"unknown role(s) {unknown}; use {ROLES}")
        return roles

    @field_validator("perturbations")
    @classmethod
    def _parse_specs(cls, specs: tuple[str, ...]) -> tuple[str, ...]:
        for spec in specs:
            parse_perturbation(spec)
        return specs

    def parsed_perturbations(self) -> list[Perturbation]:
        """The perturbation objects, in the file's order."""
        return [parse_perturbation(s) for s in self.perturbations]

    def swept(self) -> tuple[str, ...]:
        """The perturbation options this task sweeps: those that take more than one value
        across its perturbations (``duration`` for a length sweep, ``color`` and ``level_db``
        for the colour task), in field order."""
        values: dict[str, set] = {}
        for perturbation in self.parsed_perturbations():
            for f in dataclasses.fields(perturbation):
                values.setdefault(f.name, set()).add(getattr(perturbation, f.name))
        return tuple(name for name, seen in values.items() if len(seen) > 1)

    def window(self) -> tuple[float, float] | None:
        """The (onset, duration) in seconds of the first perturbation with a fixed window."""
        return next((w for p in self.parsed_perturbations() if (w := p.window()) is not None), None)


class Protocol(BaseModel):
    """A fixed way to run a group (the leaderboard's): sample size, seed and pinned data."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1, description="Bumped whenever the protocol changes.")
    limit: int = Field(ge=1, description="Pieces per dataset (seeded stratified sample).")
    seed: int = Field(ge=0, description="Seed of the sample, the perturbations and generation.")
    datasets: dict[str, str] = Field(
        description="Embedded dataset name → content sha256 of its sample (pinned)."
    )
    render: dict[str, str | float] | None = Field(
        default=None,
        description="The render an audio model must hear the MIDI through: soundfont, sha256, "
        "gain, level_db (as results.json records it).",
    )


class TaskGroup(BaseModel):
    """A named list of tasks run together (``paper`` runs every experiment of the paper)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="Registry name of the group.")
    description: str = Field(description="One line for `curvebench tasks`.")
    group: tuple[str, ...] = Field(min_length=1, description="Task names, in run order.")
    protocol: Protocol | None = Field(
        default=None, description="Set for a protocol group (the board): how it must be run."
    )


@cache
def available_tasks() -> dict[str, Path]:
    """Task name to YAML file, for every task shipped with curvebench."""
    return {p.stem: p for p in sorted(TASKS_DIR.glob("*.yaml"))}


def _task_file(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if path.suffix:
        return path
    tasks = available_tasks()
    if name_or_path not in tasks:
        raise ConfigError(
            f"unknown task {name_or_path!r}; `curvebench tasks` lists {', '.join(tasks)}"
        )
    return tasks[name_or_path]


def _read_yaml(path: Path) -> dict:
    return read_mapping(path, f"task file {path}")


def load_group(name_or_path: str) -> TaskGroup | None:
    """The task group a name or file holds, or None when it is a single task."""
    path = _task_file(name_or_path)
    data = _read_yaml(path)
    if "group" not in data:
        return None
    try:
        return TaskGroup.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"task group {path}: {first_error(exc)}") from exc


def protocol_of(names: list[str] | tuple[str, ...]) -> tuple[str, Protocol] | None:
    """The (group name, protocol) when the tasks asked for are exactly one protocol group;
    None when no protocol group is among them; ConfigError when one is mixed with others."""
    found = [(g.name, g.protocol) for n in names if (g := load_group(n)) and g.protocol]
    if not found:
        return None
    if len(names) > 1:
        raise ConfigError(
            f"--task {found[0][0]} is a protocol: run it alone (not with {', '.join(names)})"
        )
    return found[0]


def expand_tasks(names: list[str] | tuple[str, ...]) -> list[TaskConfig]:
    """Tasks named directly or through groups, each once, in the order given."""
    out: dict[str, TaskConfig] = {}
    for name in names:
        group = load_group(name)
        for member in group.group if group else (name,):
            task = load_task(member)
            out.setdefault(task.name, task)
    return list(out.values())


def load_task(name_or_path: str) -> TaskConfig:
    """Load a shipped task by name, or a YAML file by path."""
    path = _task_file(name_or_path)
    data = _read_yaml(path)
    if "group" in data:
        raise ConfigError(f"{name_or_path} is a task group; expand it with expand_tasks")
    try:
        return TaskConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"task file {path}: {first_error(exc)}") from exc
