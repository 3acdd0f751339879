"""Every agent on identical worlds: oracle, reference agents, bandits, and every model of the
zoo as static:<model> and online:<model> (DESIGN.md sections 5-7).

    python benchmarks/agents_compare.py                          # default world, 3 days, 3 seeds
    python benchmarks/agents_compare.py --models lr fm --jobs 4 --out results/

Prints CTR (mean and 95% interval across seeds, paired lift over random), the paired lift of
every online:<model> over its static:<model>, and writes the tidy frame (CSV) and plots.
Runs are spread over ``--jobs`` processes (one agent per task, each collecting the same
seeded pre-period logs).
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

import pandas as pd

from drnsim.metrics import episode_values, mean_ci

REFERENCE = ["oracle", "popular", "random", "linucb", "hlinucb", "egreedy:popular"]


def run(agent: str, seeds: list[int], days: float, log_days: float,
        world: dict) -> pd.DataFrame:
    import torch

    from drnsim.loop import compare

    torch.set_num_threads(1)
    start = time.time()
    frame = compare([agent], seeds=seeds, days=days, log_days=log_days, world=world,
                    progress=False)
    print(f"  {agent:<24s} {time.time() - start:7.1f} s", flush=True)
    return frame


def interval(mean: float, low: float, high: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def report(frame: pd.DataFrame, models: list[str], metric: str = "ctr") -> str:
    """CTR table (mean, 95% CI, paired lift over random) and online-vs-static lifts."""
    from drnsim.loop import summarize

    table = summarize(frame, baseline="random").xs(metric, level="metric")
    table = table.sort_values("mean", ascending=False)
    lines = [f"{'agent':<24s} {metric + ' mean [95% CI]':<30s} lift over random [95% CI]"]
    for agent, row in table.iterrows():
        lines.append(f"{agent:<24s} {interval(row['mean'], row['low'], row['high']):<30s} "
                     f"{interval(row['lift'], row['lift_low'], row['lift_high'])}")
    values = episode_values(frame)
    values = values[values["metric"] == metric].pivot(index="seed", columns="agent",
                                                      values="value")
    lines += ["", f"online:<model> - static:<model> ({metric}, paired per seed)"]
    for model in models:
        online, static = f"online:{model}", f"static:{model}"
        if online in values and static in values:
            lift = mean_ci(values[online] - values[static])
            lines.append(f"{model:<24s} {interval(*lift)}")
    return "\n".join(lines)


def main() -> None:
    from drnsim.models import MODELS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=[m for m in MODELS if m != "drn"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[0, 1, 2])
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--log-days", type=float, default=1.0)
    parser.add_argument("--n-users", type=int, default=None, help="override the world size")
    parser.add_argument("--jobs", type=int, default=os.cpu_count())
    parser.add_argument("--out", type=Path, default=Path("results/agents_compare"))
    args = parser.parse_args()
    world = {} if args.n_users is None else {"n_users": args.n_users}
    agents = REFERENCE + [f"{mode}:{m}" for m in args.models for mode in ("static", "online")]
    print(f"{len(agents)} agents x seeds {args.seeds}, {args.days} days after a "
          f"{args.log_days}-day pre-period, world {world or 'default'}", flush=True)
    with ProcessPoolExecutor(max_workers=args.jobs) as pool:
        frames = list(pool.map(partial(run, seeds=args.seeds, days=args.days,
                                       log_days=args.log_days, world=world), agents))
    frame = pd.concat(frames, ignore_index=True)
    args.out.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out / "frame.csv", index=False)
    from drnsim.plotting import plot_curves, plot_summary

    plot_curves(frame, "ctr", path=args.out / "ctr_curves.png")
    plot_summary(frame, "ctr", baseline="random", path=args.out / "ctr_lift.png")
    print(report(frame, args.models))


if __name__ == "__main__":
    main()
