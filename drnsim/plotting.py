"""Figures of loop results: curves over simulated time with 95% bands across seeds, and a
summary bar chart. Built with the object-oriented matplotlib API on an Agg canvas (no pyplot
state, no display needed); pass ``path`` to save a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from drnsim.loop import summarize
from drnsim.metrics import mean_ci


def _figure(size: tuple[float, float]) -> Figure:
    fig = Figure(figsize=size, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120, format="png")
    return fig


def plot_curves(frame: pd.DataFrame, metric: str = "reward", path: str | Path | None = None,
                title: str | None = None) -> Figure:
    """``metric`` over simulated time, one line per agent: the mean across seeds with a
    shaded 95% interval (mean +- t sd / sqrt(n), `drnsim.metrics.mean_ci`)."""
    data = frame[frame["metric"] == metric]
    if data.empty:
        raise ValueError(f"no rows for metric {metric!r}; metrics in the frame: "
                         f"{sorted(frame['metric'].unique())}")
    fig = _figure((7.0, 4.0))
    ax = fig.add_subplot()
    for agent, rows in data.groupby("agent", sort=False):
        stats = rows.groupby("time")["value"].apply(lambda v: pd.Series(mean_ci(v))).unstack()
        line, = ax.plot(stats.index, stats[0], label=agent)
        ax.fill_between(stats.index, stats[1], stats[2], color=line.get_color(), alpha=0.2,
                        linewidth=0)
    ax.set(xlabel="simulated time (h)", ylabel=metric, title=title or f"{metric} over time")
    ax.legend(fontsize="small", ncols=2)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_summary(frame: pd.DataFrame, metric: str = "ctr", baseline: str | None = None,
                 path: str | Path | None = None, title: str | None = None) -> Figure:
    """Bar per agent: the episode value of ``metric`` (mean across seeds, 95% error bar), or
    with ``baseline`` the paired lift over it (`drnsim.loop.summarize`)."""
    table = summarize(frame, baseline=baseline).xs(metric, level="metric")
    cols = ("lift", "lift_low", "lift_high") if baseline else ("mean", "low", "high")
    table = table.sort_values(cols[0])
    mean, low, high = (table[c].to_numpy() for c in cols)
    fig = _figure((7.0, 0.35 * len(table) + 1.5))
    ax = fig.add_subplot()
    error = np.nan_to_num(np.vstack([mean - low, high - mean]))
    ax.barh(table.index, mean, xerr=error, capsize=3, color="tab:blue", alpha=0.8)
    label = f"{metric} lift over {baseline}" if baseline else metric
    ax.set(xlabel=f"{label} (95% interval)", title=title or label)
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


__all__ = ["plot_curves", "plot_summary"]
