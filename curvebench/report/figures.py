"""The paper's figures, drawn from a run's results and its samples lines.

- Figure 1: mean Δℓ over time with the corruption window shaded, a panel per dataset role;
- Figure 2: absolute loss of originals and perturbed copies, by dataset;
- Figure 4: box plots of the three region means, by dataset.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from curvebench.benchmark.results import Results
from curvebench.benchmark.samples import SampleLine
from curvebench.data.piece import ROLES
from curvebench.metrics.regions import REGION_NAMES
from curvebench.metrics.smoothing import nan_moving_average
from curvebench.perturbations import parse_perturbation
from curvebench.report.validity import validity_figure
from curvebench.tasks import TaskConfig

SMOOTH_STEPS = 10


def _task(results: Results, name: str) -> TaskConfig:
    return results.config.tasks[name]


def _save(fig: Figure, path: Path) -> Path:
    """Write a figure (matplotlib's object API: no pyplot, no global backend change)."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def delta_curve_figure(results: Results, task: str, path: Path) -> Path:
    """Figure 1: mean Δℓ per grid step for each dataset of a task, one panel per role."""
    config = _task(results, task)
    hz = config.grid_hz
    curves = results.curves.get(task, {})
    role_of = {d.name: d.role for d in results.datasets}
    roles = [r for r in ROLES if any(role_of.get(n) == r for n in curves)] or ["custom"]
    fig = Figure(figsize=(4.2 * len(roles), 3.2))
    axes = fig.subplots(1, len(roles), sharey=True, squeeze=False)
    window = config.window()
    for ax, role in zip(axes[0], roles, strict=True):
        for name, curve in curves.items():
            if role_of.get(name) != role:
                continue
            values = np.array([np.nan if v is None else v for v in curve], dtype=float)
            t = np.arange(len(values)) / hz
            ax.plot(t, nan_moving_average(values, SMOOTH_STEPS), lw=1.2, label=name)
        if window:
            ax.axvspan(window[0], window[0] + window[1], color="tab:red", alpha=0.15, label="noise")
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_title(role)
        ax.set_xlabel("time (s)")
        ax.legend(fontsize=7, loc="upper right")
    axes[0][0].set_ylabel("Δℓ (nats), 0.2 s moving mean")
    fig.suptitle(f"{task}: perturbed − original loss ({results.model.name})", fontsize=10)
    return _save(fig, path)


def absolute_loss_figure(
    results: Results, task: str, samples: list[SampleLine], path: Path
) -> Path:
    """Figure 2: per-item absolute loss of originals and perturbed copies, by dataset."""
    per: dict[str, dict[str, list[float]]] = defaultdict(lambda: {"original": [], "perturbed": []})
    for s in samples:
        if s.task == task and s.abs_loss is not None:
            per[s.dataset]["original" if s.is_original else "perturbed"].append(s.abs_loss)
    names = list(results.results.get(task, {}))
    fig = Figure(figsize=(max(4.0, 1.3 * len(names) + 1.5), 3.4))
    ax = fig.subplots()
    for i, kind in enumerate(("original", "perturbed")):
        data = [per[n][kind] or [np.nan] for n in names]
        pos = np.arange(len(names)) + (i - 0.5) * 0.35
        box = ax.boxplot(data, positions=pos, widths=0.3, patch_artist=True, showfliers=False)
        for patch in box["boxes"]:
            patch.set_facecolor("tab:blue" if kind == "original" else "tab:orange")
            patch.set_alpha(0.6)
        ax.plot([], [], color="tab:blue" if kind == "original" else "tab:orange", lw=6, label=kind)
    ax.set_xticks(np.arange(len(names)), names, rotation=20, fontsize=8)
    ax.set_ylabel("absolute loss (nats/token)")
    ax.set_title(f"{task}: absolute loss by dataset ({results.model.name})", fontsize=10)
    ax.legend(fontsize=8)
    return _save(fig, path)


def region_box_figure(results: Results, task: str, samples: list[SampleLine], path: Path) -> Path:
    """Figure 4: box plots of the per-pair region means (peak, assimilation, recovery)."""
    names = list(results.results.get(task, {}))
    per: dict[str, dict[str, list[float]]] = {n: {r: [] for r in REGION_NAMES} for n in names}
    for s in samples:
        if s.task == task and s.regions and s.dataset in per:
            for r in REGION_NAMES:
                if s.regions.get(r) is not None:
                    per[s.dataset][r].append(s.regions[r])
    fig = Figure(figsize=(11, 3.4))
    axes = fig.subplots(1, len(REGION_NAMES), sharey=True)
    for ax, region in zip(axes, REGION_NAMES, strict=True):
        ax.boxplot([per[n][region] or [np.nan] for n in names], showfliers=False)
        ax.set_xticks(np.arange(1, len(names) + 1), names, rotation=25, fontsize=7)
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_title(region)
    axes[0].set_ylabel("mean Δℓ in region (nats)")
    fig.suptitle(f"{task}: the three regions ({results.model.name})", fontsize=10)
    return _save(fig, path)


def pairs_of(task: str, samples: list[SampleLine]) -> list[tuple[SampleLine, SampleLine]]:
    """(original line, perturbed line) of every pair of a task."""
    originals = {(s.dataset, s.piece_id): s for s in samples if s.task == task and s.is_original}
    return [
        (originals[(s.dataset, s.piece_id)], s)
        for s in samples
        if s.task == task and not s.is_original
    ]


def _delta(original: SampleLine, perturbed: SampleLine) -> float:
    return _nan(perturbed.abs_loss) - _nan(original.abs_loss)


def _nan(value: float | None) -> float:
    return float("nan") if value is None else value


def length_figure(results: Results, task: str, samples: list[SampleLine], path: Path) -> Path:
    """Noise length against the pair's absolute-loss difference, with a least-squares fit."""
    fig = Figure(figsize=(5.2, 3.6))
    ax = fig.subplots()
    xs, ys = [], []
    for name in results.results.get(task, {}):
        pts = [
            (p.record.duration_s, _delta(o, p))
            for o, p in pairs_of(task, samples)
            if p.dataset == name and p.record is not None and p.record.duration_s is not None
        ]
        if pts:
            x, y = np.array(pts).T
            jitter = np.random.default_rng(0).uniform(-0.04, 0.04, len(x))
            ax.scatter(x + jitter, y, s=8, alpha=0.5, label=name)
            xs.extend(x)
            ys.extend(y)
    if len(set(xs)) > 1:
        slope, intercept = np.polyfit(xs, ys, 1)
        grid = np.linspace(min(xs), max(xs), 20)
        r = np.corrcoef(xs, ys)[0, 1]
        ax.plot(
            grid,
            slope * grid + intercept,
            color="black",
            lw=1.2,
            label=f"fit: {slope:+.3f} nats/s, r = {r:+.2f}",
        )
    ax.axhline(0.0, color="gray", lw=0.6)
    ax.set_xlabel("noise length (s)")
    ax.set_ylabel("Δ absolute loss (nats/token)")
    ax.set_title(f"{task}: noise length vs. loss difference ({results.model.name})", fontsize=9)
    ax.legend(fontsize=7)
    return _save(fig, path)


def color_figure(results: Results, task: str, samples: list[SampleLine], path: Path) -> Path:
    """Mean Δ absolute loss and mean peak-region Δℓ by noise colour and level."""
    cells: dict[tuple[str, float], dict[str, list[float]]] = defaultdict(
        lambda: {"delta": [], "peak": []}
    )
    for o, p in pairs_of(task, samples):
        options = dataclasses.asdict(parse_perturbation(p.variant))  # a noise spec's options
        level = options["level_db"] if options["level_db"] is not None else options["snr_db"]
        cell = cells[(options["color"], level)]
        cell["delta"].append(_delta(o, p))
        if p.regions and p.regions.get("peak") is not None:
            cell["peak"].append(p.regions["peak"])
    order = ["white", "pink", "blue", "brown"]
    colors = sorted({c for c, _ in cells}, key=lambda c: (order.index(c) if c in order else 9, c))
    levels = sorted({lv for _, lv in cells})
    fig = Figure(figsize=(9, 3.4))
    axes = fig.subplots(1, 2)
    width = 0.8 / max(1, len(levels))
    for ax, key, label in zip(
        axes,
        ("delta", "peak"),
        ("Δ absolute loss (nats/token)", "peak-region Δℓ (nats)"),
        strict=True,
    ):
        for j, level in enumerate(levels):
            means = [
                np.mean(cells[(c, level)][key]) if cells[(c, level)][key] else np.nan
                for c in colors
            ]
            ax.bar(
                np.arange(len(colors)) + (j - (len(levels) - 1) / 2) * width,
                means,
                width,
                label=f"{level:g} dB",
            )
        ax.set_xticks(np.arange(len(colors)), colors)
        ax.axhline(0.0, color="black", lw=0.6)
        ax.set_ylabel(label)
    axes[0].legend(fontsize=7, loc="lower right", framealpha=0.9)
    fig.suptitle(f"{task}: noise colour and level ({results.model.name})", fontsize=10)
    return _save(fig, path)


def write_run_figures(results: Results, samples: list[SampleLine], out: Path) -> list[Path]:
    """Every figure of a run, written under ``out/figures``."""
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for task in results.results:
        config = _task(results, task)
        paths.append(delta_curve_figure(results, task, folder / f"{task}-delta.png"))
        paths.append(absolute_loss_figure(results, task, samples, folder / f"{task}-abs-loss.png"))
        if config.regions:
            paths.append(region_box_figure(results, task, samples, folder / f"{task}-regions.png"))
        swept = config.swept()
        if "duration" in swept:
            paths.append(length_figure(results, task, samples, folder / f"{task}-length.png"))
        if "color" in swept:
            paths.append(color_figure(results, task, samples, folder / f"{task}-colors.png"))
    if results.validity:
        paths.append(validity_figure(results.validity, folder / "validity.png"))
    return paths
