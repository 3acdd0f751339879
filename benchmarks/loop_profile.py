"""Where the time of a `compare` run goes (issue 16): per agent, one (agent, seed) run as
`drnsim.loop.compare` and `benchmarks/agents_compare.py` do it, split into

* pre-period logs: `collect_logs` (the logging policy's period, logged for warm starts);
* pre-period replay: the same period served again in the agent's own env (`run_one`);
* warm start: the agent's ``warm_start(logs)`` (offline fits);
* env: ``env.step`` (the simulator); true appeal: the oracle attractiveness for regret;
* act: the agent's scoring; observe + update: its online updates and refits;
* records: per-visit metric rows, activeness snapshots, the final metric frame.

    python benchmarks/loop_profile.py [--agents random popular linucb online:lr drn]
                                      [--days 3] [--log-days 1] [--seed 0] [--top 0]

Single-threaded (torch and the kernels), as each worker of agents_compare.py is. Seconds
move with the machine's load; the shares within one run are what to read. ``--top N``
also prints the N functions of the episode with the most own time.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import time

os.environ.setdefault("DRNSIM_THREADS", "1")

import torch  # noqa: E402

from drnsim.agents import make_agent  # noqa: E402
from drnsim.config import WorldConfig  # noqa: E402
from drnsim.envs import NewsFeedVectorEnv, visits_per_step  # noqa: E402
from drnsim.logs import collect_logs  # noqa: E402
from drnsim.loop import drive, play  # noqa: E402

PARTS = {  # part -> (file suffix, function name, caller name or None)
    "warm start": ("", "warm_start", "play"),
    "env": ("news_feed.py", "step", "play"),
    "true appeal": ("world.py", "attractiveness", "play"),
    "act": ("loop.py", "_checked_scores", "play"),
    "observe + update": ("", "observe", "play"),
    "observe + update ": ("", "update", "play"),
    "records": ("loop.py", "record", "play"),
}


def cumulative(stats: pstats.Stats, suffix: str, name: str, caller: str | None) -> float:
    """Seconds spent in calls of ``name`` (defined in a file ending in ``suffix``) made
    from a function named ``caller`` (any caller when None)."""
    total = 0.0
    for (path, _, function), (_, _, _, ct, callers) in stats.stats.items():
        if function != name or not path.endswith(suffix):
            continue
        if caller is None:
            total += ct
        else:
            total += sum(c[3] for (_, _, f), c in callers.items() if f == caller)
    return total


def profile_agent(agent: str, days: float, log_days: float, seed: int, top: int) -> dict:
    config = WorldConfig().replace(episode_days=log_days + days)
    batch = visits_per_step(256, config.n_users)
    started = time.perf_counter()
    logs = collect_logs(config, make_agent("popular"), days=log_days, seed=seed,
                        batch_size=256, epsilon=0.1)
    parts = {"pre-period logs": time.perf_counter() - started}
    env = NewsFeedVectorEnv(num_envs=batch, config=config)
    obs, _ = env.reset(seed=seed)
    started = time.perf_counter()
    obs = play(env, make_agent("popular"), obs, days=log_days, whole_batches=True)
    parts["pre-period replay"] = time.perf_counter() - started
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    drive(env, make_agent(agent), obs, days=days, progress=False, logs=logs)
    profiler.disable()
    episode = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    for part, (suffix, name, caller) in PARTS.items():
        parts[part.strip()] = parts.get(part.strip(), 0.0) + cumulative(stats, suffix, name,
                                                                         caller)
    play_total = cumulative(stats, "loop.py", "play", None)
    parts["records"] += episode - play_total  # the frame built after the loop
    parts["other"] = episode - sum(v for k, v in parts.items() if not k.startswith("pre"))
    if top:
        stats.sort_stats("tottime").print_stats(top)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+",
                        default=["random", "popular", "linucb", "online:lr", "drn"])
    parser.add_argument("--days", type=float, default=3.0)
    parser.add_argument("--log-days", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--top", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"default world, {args.days:g} days after a {args.log_days:g}-day pre-period, "
          f"seed {args.seed}; seconds (share of the run)", flush=True)
    for agent in args.agents:
        parts = profile_agent(agent, args.days, args.log_days, args.seed, args.top)
        total = sum(parts.values())
        print(f"{agent:<14} total {total:7.1f} s: " + ", ".join(
            f"{k} {v:.1f} ({v / total:.0%})" for k, v in parts.items()), flush=True)


if __name__ == "__main__":
    main()
