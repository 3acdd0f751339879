"""Visits per second of the single and the vector env, and peak memory.

    python benchmarks/env_throughput.py [--users 10000 1000000] [--seconds 5] [--quick]

Each configuration runs in a fresh subprocess so that its peak RSS is its own. Baselines
named in the issue (measured on this 2-core machine kind; see ../shared/peers/README.md):
RecSim interest_evolution about 2,000 slates/s at 100 candidates x slate 10, SARDINE about
10,000. Targets: vector env at B = 1024 >= 200,000 visits/s, single env >= 5,000 visits/s;
the long-term world (tradeoff_strength = 1) at B = 1024 at least 0.9x the same env with the
trade-off off (tradeoff_strength = 0), in the same run.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

TARGETS = {"single": 5_000, 1024: 200_000}
PEERS = {"RecSim interest_evolution": 1_950, "SARDINE SlateTopK-Bored": 10_700}


def measure(n_users: int, batch: int | None, seconds: float, tradeoff: float = 1.0) -> dict:
    """Run one configuration for about `seconds` (after one warm-up second)."""
    import numpy as np

    from drnsim.envs import NewsFeedEnv, NewsFeedVectorEnv

    t_build = time.perf_counter()
    world = dict(n_users=n_users, episode_days=365.0, tradeoff_strength=tradeoff)
    env = NewsFeedEnv(**world) if batch is None else NewsFeedVectorEnv(batch, **world)
    shape = env.action_space.shape
    env.reset(seed=0)
    build = time.perf_counter() - t_build
    actions = np.random.default_rng(0).uniform(-1, 1, (64, *shape)).astype(np.float32)
    visits_per_step = 1 if batch is None else batch
    warm_end = time.perf_counter() + 1.0
    steps = 0
    while time.perf_counter() < warm_end:
        env.step(actions[steps % 64])
        steps += 1
    steps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        env.step(actions[steps % 64])
        steps += 1
    elapsed = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    name = "single" if batch is None else f"vector B={batch}"
    return {"users": n_users, "env": name if tradeoff == 1.0 else f"{name} lambda={tradeoff:g}",
            "visits_per_s": steps * visits_per_step / elapsed, "build_s": build,
            "peak_rss_mb": peak_mb}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--quick", action="store_true", help="10,000 users, 2 s per config")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(*json.loads(args.one), seconds=args.seconds)))
        return
    if args.quick:
        args.users, args.seconds = [10_000], 2.0
    rows = []
    configurations = [(users, batch, 1.0) for users in args.users
                      for batch in (None, 1, 64, 1024)]
    # the long-term world's cost: the same B = 1024 with the trade-off off (lambda = 0)
    configurations.insert(4, (args.users[0], 1024, 0.0))
    for users, batch, tradeoff in configurations:
        out = subprocess.run([sys.executable, __file__, "--seconds", str(args.seconds),
                              "--one", json.dumps([users, batch, tradeoff])],
                             capture_output=True, text=True, check=True)
        rows.append(r := json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"{r['users']:>9,d} users  {r['env']:<23} {r['visits_per_s']:>11,.0f} visits/s"
              f"   build {r['build_s']:5.1f} s   peak RSS {r['peak_rss_mb']:7,.0f} MB",
              flush=True)
    with_tradeoff, without = (next(r["visits_per_s"] for r in rows
                                   if r["users"] == args.users[0] and r["env"] == name)
                              for name in ("vector B=1024", "vector B=1024 lambda=0"))
    print(f"\nthe long-term world at B = 1024, {args.users[0]:,} users: "
          f"{with_tradeoff / without:.3f}x the visits/s of tradeoff_strength = 0 "
          f"(target: >= 0.90x)")
    print("\nBaselines (same machine kind, 100 candidates x slate 10): "
          + ", ".join(f"{k} ~{v:,} slates/s" for k, v in PEERS.items()))
    for r in rows:
        target = TARGETS.get("single" if r["env"] == "single" else
                             int(r["env"].split("=")[1]) if "lambda" not in r["env"] else None)
        if target:
            verdict = "meets" if r["visits_per_s"] >= target else "BELOW"
            print(f"{r['users']:>9,d} users {r['env']:<14} {verdict} target {target:,}/s "
                  f"({r['visits_per_s'] / target:.2f}x); "
                  f"{r['visits_per_s'] / PEERS['RecSim interest_evolution']:.0f}x RecSim")


if __name__ == "__main__":
    main()
