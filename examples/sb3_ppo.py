"""Stable-Baselines3 PPO on drnsim/UserJourney-v0, compared with random and popular.

    pip install -e ".[dev]"                        # drnsim with stable-baselines3
    python examples/sb3_ppo.py                     # MlpPolicy on the "box" observation
    python examples/sb3_ppo.py --obs flat_dict     # MultiInputPolicy on "flat_dict"

Trains PPO (SB3's defaults; actions: the 13 "weights" of the linear ranker) on 4 copies of
the journey env for --timesteps visits, then serves the same 256 fresh journeys (of worlds
no training run saw) with the trained policy, uniform random scores and the `popular` agent,
and prints clicks per visit, clicks per user (over the 7-day journeys) and churn. About 6
minutes on 2 cores at the defaults (403-451 s measured, 3 seeds, on a busy machine).
"""

from __future__ import annotations

import argparse
import time

import torch
from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env

import drnsim
from drnsim.rl import evaluate_journeys, journey_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--obs", choices=["box", "flat_dict"], default="box")
    parser.add_argument("--action", choices=["weights", "scores"], default="weights")
    parser.add_argument("--timesteps", type=int, default=100_000)
    parser.add_argument("--n-users", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--journeys", type=int, default=256, help="fresh journeys to evaluate")
    args = parser.parse_args()
    torch.set_num_threads(1)  # a small MLP: one thread is fastest next to the simulator

    env_kwargs = dict(n_users=args.n_users, obs_mode=args.obs, action_mode=args.action)
    # render_mode=None: make_vec_env asks for "rgb_array" first (drnsim renders text only)
    env = make_vec_env(drnsim.JOURNEY_ENV_ID, n_envs=4, seed=args.seed,
                       env_kwargs=dict(env_kwargs, render_mode=None))
    policy = "MlpPolicy" if args.obs == "box" else "MultiInputPolicy"
    start = time.perf_counter()
    model = PPO(policy, env, seed=args.seed, verbose=0).learn(args.timesteps)
    print(f"trained {policy} for {args.timesteps:,} visits in {time.perf_counter() - start:.0f} s")

    def trained(obs):
        return model.predict(obs, deterministic=True)[0]

    fresh = 1_000_000 + args.seed  # worlds no training env used
    print(f"{'policy':<10} {'clicks/visit':>12} {'clicks/user':>12} {'churn':>6}")
    for name, policy_fn in (("ppo", trained), ("random", "random"), ("popular", "popular")):
        kwargs = env_kwargs if name == "ppo" else {"n_users": args.n_users}
        figures = journey_summary(evaluate_journeys(policy_fn, args.journeys, seed=fresh,
                                                    **kwargs))
        print(f"{name:<10} {figures['clicks_per_visit']:>12.3f} "
              f"{figures['clicks_per_user']:>12.2f} {figures['churn']:>6.3f}")


if __name__ == "__main__":
    main()
