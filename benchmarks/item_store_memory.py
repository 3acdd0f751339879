"""Memory over a long run: the news store stays bounded (issue 16).

    python benchmarks/item_store_memory.py [--users 10000] [--days 60] [--batch 1024]

A vector env (random scores) runs the whole episode; at days 1, 30 and 60 (the last day
and its half for other ``--days``) it prints the process's resident memory (RSS, from
/proc), the item rows stored and allocated, and the items published so far. The named
baseline runs in the same invocation, in its own process: the same run with the store
never forgetting (`NewsStream.forget_before` off), which is the store before the speed work
(expired items kept because histories pointed at them; the issue measured ~0.5 MB per
simulated day). Each configuration runs in a fresh subprocess, so that its RSS is its own.
Expected: the bounded run's RSS flat after the first days (the store forgets items two
lifetimes old); the baseline's RSS growing with the days.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys

DAY = 86_400.0


def rss_mb() -> float:
    """Resident memory of this process now (peak where /proc is missing)."""
    try:
        with open("/proc/self/statm") as statm:
            import os

            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(users: int, days: float, batch: int, forget: bool) -> list[dict]:
    """One episode; a row per checkpoint day."""
    import numpy as np

    from drnsim.envs import NewsFeedVectorEnv
    from drnsim.world import NewsStream

    if not forget:
        NewsStream.forget_before = lambda self, time: None  # the unbounded store
    env = NewsFeedVectorEnv(batch, n_users=users, episode_days=days)
    env.reset(seed=0)
    actions = np.random.default_rng(0).uniform(-1, 1, (16, *env.action_space.shape))
    actions = actions.astype(np.float32)
    world, news = env.world, env.world.news
    checkpoints = sorted({1.0, float(int(days // 2)), days} - {0.0})
    rows, step = [], 0
    for day in checkpoints:
        while world.clock < day * DAY:
            *_, terminated, truncated, _ = env.step(actions[step % 16])
            step += 1
            if terminated.any() or truncated.any():
                break
        rows.append({"forget": forget, "day": day, "rss_mb": rss_mb(),
                     "rows_stored": len(news.table.pub_time), "rows_allocated": news.capacity,
                     "items_published": len(news), "first_stored_id": news.first,
                     "visits": step * batch})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--days", type=float, default=60.0)
    parser.add_argument("--batch", type=int, default=1024)
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run(args.users, args.days, args.batch, json.loads(args.one))))
        return
    results = {}
    for forget in (True, False):
        out = subprocess.run([sys.executable, __file__, "--users", str(args.users), "--days",
                              str(args.days), "--batch", str(args.batch), "--one",
                              json.dumps(forget)], capture_output=True, text=True, check=True)
        results[forget] = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"{args.users:,} users, {args.days:g} days, vector env B={args.batch}, random scores")
    print(f"{'store':<22} {'day':>5} {'RSS MB':>8} {'rows stored':>12} {'allocated':>10} "
          f"{'published':>10}")
    for forget, name in ((True, "bounded (this code)"), (False, "never forgets (baseline)")):
        for r in results[forget]:
            print(f"{name:<22} {r['day']:>5g} {r['rss_mb']:>8.1f} {r['rows_stored']:>12,d} "
                  f"{r['rows_allocated']:>10,d} {r['items_published']:>10,d}")
    for forget, name in ((True, "bounded"), (False, "baseline")):
        first, *_, last = results[forget]
        per_day = (last["rss_mb"] - first["rss_mb"]) / max(last["day"] - first["day"], 1)
        print(f"{name}: RSS grows {per_day:+.3f} MB per simulated day between day "
              f"{first['day']:g} and day {last['day']:g}")


if __name__ == "__main__":
    main()
