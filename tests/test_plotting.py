"""Plots: one line per agent with a 95% band, a summary bar chart, both saved as PNG."""

from __future__ import annotations

import matplotlib.image as mpimg
import pytest

from drnsim.loop import compare
from drnsim.plotting import plot_curves, plot_summary

SMALL = dict(n_users=500, n_candidates=30, slate_size=5, news_per_hour=60.0)


@pytest.fixture(scope="module")
def frame():
    return compare(["oracle", "popular", "random"], seeds=(0, 1), days=0.25, world=SMALL,
                   batch_size=32, log_days=0.0, progress=False)


def test_curves_have_one_line_per_agent_with_bands_and_reload_as_png(frame, tmp_path):
    path = tmp_path / "curves" / "reward.png"
    fig = plot_curves(frame, "reward", path=path)
    ax = fig.axes[0]
    assert sorted(line.get_label() for line in ax.get_lines()) == ["oracle", "popular",
                                                                   "random"]
    assert len(ax.collections) == 3  # one 95% band per agent
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["oracle", "popular",
                                                                   "random"]
    image = mpimg.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    oracle = next(line for line in ax.get_lines() if line.get_label() == "oracle")
    assert len(oracle.get_xdata()) == 6  # hourly buckets over 0.25 days


def test_summary_bars_and_lift_chart(frame, tmp_path):
    fig = plot_summary(frame, "ctr", path=tmp_path / "ctr.png")
    bars = fig.axes[0].patches
    assert len(bars) == 3
    assert (tmp_path / "ctr.png").stat().st_size > 1000
    lift = plot_summary(frame, "ctr", baseline="random")
    ax = lift.axes[0]
    widths = {label.get_text(): bar.get_width()
              for label, bar in zip(ax.get_yticklabels(), ax.patches, strict=True)}
    assert widths["random"] == 0.0 and widths["oracle"] > widths["popular"] > 0


def test_unknown_metric_is_reported(frame):
    with pytest.raises(ValueError, match="no rows for metric 'nope'"):
        plot_curves(frame, "nope")
