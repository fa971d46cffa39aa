"""The paper's Figure 1: mean Δℓ over time with the corruption window shaded, a panel per role."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from curvebench.benchmark.results import Results
from curvebench.perturbations import parse_perturbation

ROLE_ORDER = ("training", "generated", "ood", "custom")
SMOOTH_STEPS = 10


def nan_moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average that ignores NaN (a step with no valid neighbour stays NaN)."""
    ok = ~np.isnan(values)
    kernel = np.ones(width)
    sums = np.convolve(np.where(ok, values, 0.0), kernel, mode="same")
    counts = np.convolve(ok.astype(float), kernel, mode="same")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, sums / counts, np.nan)


def _window(results: Results, task: str) -> tuple[float, float] | None:
    for spec in results.config.tasks[task]["perturbations"]:
        p = parse_perturbation(spec)
        if hasattr(p, "onset") and hasattr(p, "duration"):
            return float(p.onset), float(p.duration)
    return None


def delta_curve_figure(results: Results, task: str, path: Path) -> Path:
    """Mean Δℓ per grid step for each dataset of a task, one panel per dataset role."""
    hz = results.config.tasks[task]["grid_hz"]
    curves = results.curves.get(task, {})
    role_of = {d.name: d.role for d in results.datasets}
    roles = [r for r in ROLE_ORDER if any(role_of.get(n) == r for n in curves)]
    fig, axes = plt.subplots(
        1, max(1, len(roles)), figsize=(4.2 * max(1, len(roles)), 3.2), sharey=True, squeeze=False
    )
    window = _window(results, task)
    for ax, role in zip(axes[0], roles, strict=False):
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
    fig.suptitle(
        f"{task}: loss difference, perturbed − original ({results.model.name})", fontsize=10
    )
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_run_figures(results: Results, out: Path) -> list[Path]:
    """Every figure of a run, written under ``out/figures``."""
    folder = out / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    return [
        delta_curve_figure(results, task, folder / f"{task}-delta.png") for task in results.curves
    ]
