"""Every agent on identical worlds: oracle, reference agents, bandits, and every model of the
zoo as static:<model> and online:<model> (docs/design.md sections 5-7).

    python benchmarks/agents_compare.py                          # default world, 3 days, 3 seeds
    python benchmarks/agents_compare.py --models lr fm --jobs 4 --out results/

Prints CTR (mean and 95% interval across seeds, paired lift over random), the paired lift of
every online:<model> over its static:<model>, and writes the tidy frame (CSV) and plots.
Runs are spread over ``--jobs`` processes, one (agent, seed) per task, the slowest
(online sequence models) first; each seed's pre-period (world and logs) is built once, in
the pool, and every task of that seed starts from a copy of it (`_runs.shared_pre_period`:
the same frames as `compare` per task, tested on popular and static:lr). Every finished
run is written to ``OUT/runs/`` at once, so a killed benchmark re-run with the same
arguments resumes where it stopped.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
from _runs import run_all

from drnsim.config import DAY
from drnsim.metrics import episode_values, mean_ci
from drnsim.results import write_csv

REFERENCE = ["oracle", "popular", "random", "linucb", "hlinucb", "egreedy:popular"]


SLOW = ("mimn", "dien", "din", "afm", "pnn", "autorec")  # per-run cost, highest first


class ColdStartProbe:
    """Serves random rankings and counts what an id-only model (AutoRec, NeuralCF) faces: per
    simulated day after the pre-period, the share of candidates and of clicked items whose
    item id occurs in the pre-period logs (every other item's embedding row never trained)."""

    name = "cold_start_probe"

    def __init__(self, log_days: float) -> None:
        self.offset, self.logged, self.rows = log_days * DAY, np.empty(0, np.int64), []
        self.rng = np.random.default_rng(0)

    def warm_start(self, logs: pd.DataFrame) -> None:
        self.logged = np.unique(logs["item_id"].to_numpy(np.int64))

    def act(self, obs: dict) -> np.ndarray:
        return self.rng.random(obs["candidates"]["mask"].shape)

    def observe(self, obs: dict, action: np.ndarray, reward: np.ndarray, info: dict) -> None:
        cand = obs["candidates"]
        known, mask = np.isin(cand["item_id"], self.logged), cand["mask"].astype(bool)
        clicked = np.take_along_axis(known, info["shown"], 1)[info["clicks"].astype(bool)]
        day = max(0, int((info["sim_time"].min() - self.offset) // DAY))
        self.rows.append((day, int(known[mask].sum()), int(mask.sum()), int(clicked.sum()),
                          clicked.size))

    def update(self, sim_time: float) -> None:
        pass

    def table(self) -> pd.DataFrame:
        sums = pd.DataFrame(self.rows, columns=["day", "known", "candidates", "known_clicks",
                                                "clicks"]).groupby("day").sum()
        shares = pd.DataFrame({"candidates in logs": sums["known"] / sums["candidates"],
                               "clicks in logs": sums["known_clicks"] / sums["clicks"]})
        return shares.rename(index=lambda day: day + 1)  # day 1 = the first after the logs


def cold_start(seed: int, days: float, log_days: float, world: dict) -> pd.DataFrame:
    """`ColdStartProbe`'s table on one seed's world, after the same pre-period and logs as
    `compare` gives the agents (popular logging policy, epsilon 0.1, 256 visits a step)."""
    from drnsim.agents import make_agent
    from drnsim.config import WorldConfig
    from drnsim.envs import NewsFeedVectorEnv, visits_per_step
    from drnsim.logs import collect_logs
    from drnsim.loop import play

    cfg = WorldConfig.coerce(world).replace(episode_days=log_days + days)
    logs = collect_logs(cfg, make_agent("popular"), days=log_days, seed=seed, epsilon=0.1)
    env = NewsFeedVectorEnv(num_envs=visits_per_step(256, cfg.n_users), config=cfg)
    obs, _ = env.reset(seed=seed)
    obs = play(env, make_agent("popular"), obs, days=log_days, whole_batches=True)
    probe = ColdStartProbe(log_days)
    play(env, probe, obs, days=days, logs=logs)
    env.close()
    return probe.table()


def cost(agent: str) -> int:
    """Sort key: online before static, the slow models first."""
    mode, _, model = agent.partition(":")
    rank = SLOW.index(model) if model in SLOW else len(SLOW)
    return (mode != "online") * 100 + rank


def interval(mean: float, low: float, high: float, digits: int = 4) -> str:
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def report(frame: pd.DataFrame, models: list[str], metric: str = "ctr") -> str:
    """CTR table (mean, 95% CI, paired lift over random) and online-vs-static lifts."""
    from drnsim.metrics import summarize

    table = summarize(frame, baseline="random").xs(metric, level="metric")
    table = table.sort_values("mean", ascending=False)
    lines = [f"{'agent':<24s} {metric + ' mean [95% CI]':<30s} lift over random [95% CI]"]
    for agent, row in table.iterrows():
        lines.append(f"{agent:<24s} {interval(row['mean'], row['low'], row['high']):<30s} "
                     f"{interval(row['lift'], row['lift_low'], row['lift_high'])}")
    values = episode_values(frame)
    values = values[values["metric"] == metric].pivot(index="seed", columns="agent",
                                                      values="value")
    days = daily(frame, metric)  # (agent, seed) x day
    day_names = [f"day {d + 1}" for d in days.columns]
    lines += ["", f"online:<model> - static:<model> ({metric}, paired per seed; then the mean "
              "paired lift per simulated day)",
              f"{'model':<24s} {'episode [95% CI]':<30s} "
              + " ".join(f"{d:>8s}" for d in day_names)]
    for model in models:
        online, static = f"online:{model}", f"static:{model}"
        if online in values and static in values:
            lift = mean_ci(values[online] - values[static])
            per_day = (days.loc[online] - days.loc[static]).mean()
            lines.append(f"{model:<24s} {interval(*lift):<30s} "
                         + " ".join(f"{v:+8.4f}" for v in per_day))
    per_agent = days.groupby(level="agent").mean().loc[table.index]
    lines += ["", f"{metric} per simulated day (mean over seeds)",
              f"{'agent':<24s} " + " ".join(f"{d:>8s}" for d in day_names)]
    lines += [f"{agent:<24s} " + " ".join(f"{v:8.4f}" for v in row)
              for agent, row in per_agent.iterrows()]
    return "\n".join(lines)


def daily(frame: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Visit-weighted mean of ``metric`` per (agent, seed) and simulated day (columns 0, 1, ...),
    from the frame's time buckets (``time`` = the bucket's end, hours after the pre-period)."""
    wide = frame[frame["metric"].isin([metric, "visits"])].pivot_table(
        index=["agent", "seed", "time"], columns="metric", values="value").reset_index()
    wide["day"] = (np.ceil(wide["time"] / 24.0) - 1).clip(lower=0).astype(int)
    wide["weighted"] = wide[metric] * wide["visits"]
    sums = wide.groupby(["agent", "seed", "day"])[["weighted", "visits"]].sum()
    return (sums["weighted"] / sums["visits"]).unstack("day")


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
    tag = f"days{args.days}_log{args.log_days}_" + "_".join(f"{k}{v}" for k, v in world.items())
    runs = args.out / "runs"
    settings = dict(days=args.days, log_days=args.log_days, world=world)
    tasks = sorted(((runs / f"{quote(agent, safe='')}_seed{seed}_{tag}.csv", agent, seed,
                     settings) for agent in agents for seed in args.seeds),
                   key=lambda task: cost(task[1]))
    frame = run_all(tasks, args.jobs)
    write_csv(args.out / "frame.csv", frame)
    from drnsim.plotting import plot_curves, plot_summary

    plot_curves(frame, "ctr", path=args.out / "ctr_curves.png")
    plot_summary(frame, "ctr", baseline="random", path=args.out / "ctr_lift.png")
    print(report(frame, args.models))
    shares = pd.concat({seed: cold_start(seed, args.days, args.log_days, world)
                        for seed in args.seeds}, names=["seed"])
    print("\nWhat id-only models meet (random rankings; mean over seeds): share of items whose "
          "id occurs in the pre-period logs, per day after it")
    print(shares.groupby("day").mean().round(3).to_string())


if __name__ == "__main__":
    main()
