"""Figures of loop results: curves over simulated time with 95% bands across seeds, and a
summary bar chart. Built with the object-oriented matplotlib API on an Agg canvas (no pyplot
state, no display needed); pass ``path`` to save a PNG.

Bands and error bars are t-intervals across seeds (`drnsim.metrics.mean_ci`), clipped to the
metric's valid range (`metric_range`: a CTR stays in [0, 1], a count at or above 0), and
every figure says over how many seeds they were computed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from drnsim._validate import InvalidTypeError
from drnsim.loop import summarize
from drnsim.metrics import mean_ci

#: Valid range of each metric (a name ending in ``@`` covers ``ndcg@10``, ``retention@7d``
#: ...); metrics not listed are not clipped.
METRIC_RANGES: dict[str, tuple[float, float]] = {
    "ctr": (0.0, 1.0), "precision@": (0.0, 1.0), "ndcg@": (0.0, 1.0), "ils": (-1.0, 1.0),
    "activeness": (0.0, 1.0), "churn": (0.0, 1.0), "retention@": (0.0, 1.0),
    "reward": (0.0, np.inf), "cumulative_reward": (0.0, np.inf), "regret": (0.0, np.inf),
    "cumulative_regret": (0.0, np.inf), "return_rate": (0.0, np.inf),
    "return_gap_h": (0.0, np.inf), "visits": (0.0, np.inf), "clicks_per_user": (0.0, np.inf),
    "visits_per_user_day": (0.0, np.inf), "dwell": (0.0, np.inf),
}


def metric_range(metric: str) -> tuple[float, float]:
    """(low, high) that ``metric``'s values can take; (-inf, inf) when unknown."""
    if metric in METRIC_RANGES:
        return METRIC_RANGES[metric]
    prefix = metric.split("@")[0] + "@"
    return METRIC_RANGES.get(prefix, (-np.inf, np.inf)) if "@" in metric else (-np.inf, np.inf)


def _short(label: str, width: int = 40) -> str:
    """A label cut to ``width`` characters (agent names of nested wrappers grow long)."""
    return label if len(label) <= width else label[:width - 3] + "..."


def _seed_note(rows: pd.DataFrame) -> str:
    """'n seeds' (or 'n-m seeds' when the agents have different numbers)."""
    counts = rows.groupby("agent", sort=False)["seed"].nunique()
    low, high = int(counts.min()), int(counts.max())
    text = f"{low}" if low == high else f"{low}-{high}"
    return f"{text} seed{'s' if high > 1 else ''}"


def _check_frame(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame) or not {"agent", "seed", "metric", "value"} <= set(
            frame.columns):
        raise InvalidTypeError(f"frame must be a tidy DataFrame (agent, seed, time, metric, value) "
                        f"as run_episode and compare return, got {type(frame).__name__}")
    if frame.empty:
        raise ValueError("frame has no rows: no visit was served (too few days or users?)")
    data = frame[frame["metric"] == metric]
    if data.empty:
        raise ValueError(f"no rows for metric {metric!r}; metrics in the frame: "
                         f"{sorted(frame['metric'].unique())}")
    return data


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
    shaded 95% t-interval (mean +- t sd / sqrt(n), `drnsim.metrics.mean_ci`) clipped to the
    metric's range; the title says how many seeds."""
    data = _check_frame(frame, metric)
    low, high = metric_range(metric)
    fig = _figure((7.0, 4.0))
    ax = fig.add_subplot()
    for agent, rows in data.groupby("agent", sort=False):
        stats = rows.groupby("time")["value"].apply(lambda v: pd.Series(mean_ci(v))).unstack()
        line, = ax.plot(stats.index, stats[0], label=_short(agent))
        ax.fill_between(stats.index, stats[1].clip(low, high), stats[2].clip(low, high),
                        color=line.get_color(), alpha=0.2, linewidth=0)
    note = f"mean and 95% interval over {_seed_note(data)}"
    ax.set(xlabel="simulated time (h)", ylabel=metric,
           title=f"{title or f'{metric} over time'} ({note})")
    ax.legend(fontsize="small", ncols=2)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def plot_summary(frame: pd.DataFrame, metric: str = "ctr", baseline: str | None = None,
                 path: str | Path | None = None, title: str | None = None) -> Figure:
    """Bar per agent: the episode value of ``metric`` (mean across seeds, 95% error bar
    clipped to the metric's range), or with ``baseline`` the paired lift over it
    (`drnsim.loop.summarize`); the title says how many seeds."""
    data = _check_frame(frame, metric)
    table = summarize(frame, baseline=baseline).xs(metric, level="metric")
    cols = ("lift", "lift_low", "lift_high") if baseline else ("mean", "low", "high")
    table = table.sort_values(cols[0])
    mean, low, high = (table[c].to_numpy() for c in cols)
    if not baseline:
        low, high = np.clip(low, *metric_range(metric)), np.clip(high, *metric_range(metric))
    fig = _figure((7.0, 0.35 * len(table) + 1.5))
    ax = fig.add_subplot()
    error = np.nan_to_num(np.vstack([mean - low, high - mean]))
    ax.barh(range(len(table)), mean, xerr=error, capsize=3, color="tab:blue", alpha=0.8)
    ax.set_yticks(range(len(table)), [_short(agent) for agent in table.index])
    label = f"{metric} lift over {baseline}" if baseline else metric
    ax.set(xlabel=f"{label} (95% interval)",
           title=f"{title or label} ({_seed_note(data)})")
    ax.grid(axis="x", alpha=0.3)
    return _save(fig, path)


__all__ = ["METRIC_RANGES", "metric_range", "plot_curves", "plot_summary"]
