"""RecSim's interest_evolution slates per second with its own RandomAgent (run by
`env_throughput.py` inside a throwaway venv that has ``recsim-no-tf``; not importable from
drnsim's own environment).

    python _recsim_speed.py [--steps 20000] [--runs 3] [--candidates 100] [--slate 10]

Counts ``env.step`` calls (one slate each); resets are inside the timing, construction is
not. Prints one JSON line with the median slates/s over the runs.
"""

import argparse
import json
import statistics
import time

import numpy as np
from recsim.agents.random_agent import RandomAgent
from recsim.environments import interest_evolution


def one_run(config: dict, steps: int, seed: int) -> float:
    np.random.seed(seed)  # RecSim's user model draws from numpy's global generator
    env = interest_evolution.create_environment(config)
    agent = RandomAgent(env.action_space, random_seed=seed)
    started = time.perf_counter()
    obs, reward = env.reset(), 0.0
    for _ in range(steps):
        obs, reward, done, _ = env.step(agent.step(reward, obs))
        if done:
            agent.end_episode(reward, obs)
            obs, reward = env.reset(), 0.0
    return steps / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--candidates", type=int, default=100)
    parser.add_argument("--slate", type=int, default=10)
    args = parser.parse_args()
    config = {"num_candidates": args.candidates, "slate_size": args.slate,
              "resample_documents": True, "seed": 0}
    rates = [one_run(config, args.steps, seed) for seed in range(args.runs)]
    print(json.dumps({"slates_per_s": statistics.median(rates), "runs": rates}))


if __name__ == "__main__":
    main()
