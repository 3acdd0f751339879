"""Visits served after later clicks (docs/design.md section 10.3a): a batch holds distinct
users in time order, so a user who returns within a batch's span is served in a later
batch, after clicks later than the visit are known to the world. Prints, per batch size,
the share of such visits, how late they are, and the largest weight exp(late / 1 h) that
the 1-hour popularity window would give those clicks if a visit read them (the code before
the fix did; now they wait outside the counters and each visit reads the ones before it).

    python benchmarks/late_visits.py [--users 10000] [--steps 400] [--batches 64 256 1024]

Random rankings, seed 0, one episode (a year long, so no reset restarts the clock).
"""

from __future__ import annotations

import argparse

import numpy as np

from drnsim.envs import NewsFeedVectorEnv
from drnsim.world import World


def late_visits(batch: int, users: int, steps: int) -> np.ndarray:
    """Seconds by which each late visit precedes the latest click already served."""
    latest = {"time": -np.inf}
    late: list[np.ndarray] = []
    feedback, observe = World.feedback, World.observe

    def serving(world, visits, shown):
        clicks, dwell = feedback(world, visits, shown)
        if clicks.any():
            latest["time"] = max(latest["time"], float(visits.times[clicks.any(1)].max()))
        return clicks, dwell

    def observing(world, visits, popularity=None):
        behind = latest["time"] - visits.times
        late.append(behind[behind > 0])
        return observe(world, visits, popularity)

    World.feedback, World.observe = serving, observing
    try:
        env = NewsFeedVectorEnv(batch, n_users=users, episode_days=365.0)  # one episode
        env.reset(seed=0)
        rng = np.random.default_rng(1)
        for _ in range(steps):
            env.step(rng.uniform(-1, 1, env.action_space.shape).astype(np.float32))
    finally:
        World.feedback, World.observe = feedback, observe
    return np.concatenate(late)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=400)
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    args = parser.parse_args()
    for batch in args.batches:
        late = late_visits(batch, args.users, args.steps)
        visits = batch * (args.steps + 1)
        worst = float(late.max()) if len(late) else 0.0
        median = float(np.median(late)) if len(late) else 0.0
        print(f"B={batch:5d}, {args.users} users, {args.steps} steps: {len(late)} of {visits} "
              f"visits late ({len(late) / visits:.2%}); median {median:.0f} s, max "
              f"{worst:.0f} s (1-hour weight up to {np.exp(worst / 3600):.2f})", flush=True)


if __name__ == "__main__":
    main()
