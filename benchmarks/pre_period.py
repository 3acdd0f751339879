"""What it costs to give each agent of a comparison the world after the pre-period: a deep
copy of the pre-period's env (`PrePeriod.fork`, what `drnsim.loop.compare` does) against
re-running the pre-period (a reset and a replay of its rollout, what every agent paid before).

    python benchmarks/pre_period.py                      # default world (10,000 users), 1 day
    python benchmarks/pre_period.py --n-users 2000 --repeats 5

Prints the median seconds of each over ``--repeats`` rounds, measured in the same process,
and their ratio: the saving per agent after the first in a comparison.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("NUMBA_NUM_THREADS", "1")

from drnsim.loop import pre_period  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-users", type=int, default=10_000)
    parser.add_argument("--log-days", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    world = {"n_users": args.n_users, "episode_days": args.log_days + 1.0}
    pre_period(world, seed=0, days=0.05)  # compile the kernels once
    rollout, fork = [], []
    for seed in range(args.repeats):
        start = time.perf_counter()
        pre = pre_period(world, seed=seed, days=args.log_days, record=False)
        rollout.append(time.perf_counter() - start)
        start = time.perf_counter()
        pre.fork()
        fork.append(time.perf_counter() - start)
    roll, copy = statistics.median(rollout), statistics.median(fork)
    print(f"world {world}, {args.repeats} rounds (medians)")
    print(f"  re-run the pre-period (reset + rollout, no rows recorded): {roll:8.3f} s")
    print(f"  deep copy of its world (PrePeriod.fork):                   {copy:8.3f} s")
    print(f"  the copy is {roll / copy:,.0f}x cheaper")


if __name__ == "__main__":
    main()
