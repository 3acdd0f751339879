"""RLlib PPO (new API stack) on drnsim/UserJourney-v0, compared with random and popular.

    pip install -e . "ray[rllib]"                  # RLlib is optional (not a drnsim extra)
    python examples/rllib_ppo.py

The env is named by its module-qualified id, "drnsim:drnsim/UserJourney-v0": Gymnasium
imports `drnsim` (which registers the id) in every worker process that builds it, so no
`tune.register_env` is needed. One env-runner process steps 4 journeys at a time with the
"box" observation and the 13 "weights" of the linear ranker (PPO with SB3's sizes: a
64x64 MLP, 10 epochs, learning rate 3e-4) for --iterations x 4,000 visits; the trained
policy's mean action then serves the same 256 fresh journeys as uniform random scores and
`popular`.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from ray.rllib.algorithms.ppo import PPOConfig
from ray.rllib.core.columns import Columns
from ray.rllib.core.rl_module.default_model_config import DefaultModelConfig
from ray.rllib.utils.metrics import ENV_RUNNER_RESULTS, EPISODE_RETURN_MEAN

from drnsim.rl import evaluate_journeys, journey_summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=20, help="4,000 visits each")
    parser.add_argument("--n-users", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--journeys", type=int, default=256, help="fresh journeys to evaluate")
    args = parser.parse_args()

    env_config = dict(n_users=args.n_users, obs_mode="box", action_mode="weights")
    config = (PPOConfig()
              .environment("drnsim:drnsim/UserJourney-v0", env_config=env_config)
              .env_runners(num_env_runners=1, num_envs_per_env_runner=4)
              .training(train_batch_size_per_learner=4000, minibatch_size=128, num_epochs=10,
                        lr=3e-4)
              .rl_module(model_config=DefaultModelConfig(fcnet_hiddens=[64, 64]))
              .debugging(seed=args.seed))
    algo = config.build_algo()
    start = time.perf_counter()
    for iteration in range(args.iterations):
        result = algo.train()
        episode_return = result.get(ENV_RUNNER_RESULTS, {}).get(EPISODE_RETURN_MEAN, np.nan)
        print(f"iteration {iteration + 1}: mean journey return {episode_return:.1f} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    module = algo.get_module()
    algo.stop()

    def trained(obs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = module.forward_inference({Columns.OBS: torch.as_tensor(obs)})
        mean = out[Columns.ACTION_DIST_INPUTS][:, :out[Columns.ACTION_DIST_INPUTS].shape[1] // 2]
        return np.clip(mean.numpy(), -1.0, 1.0).astype(np.float32)

    fresh = 1_000_000 + args.seed  # worlds no training env used
    print(f"{'policy':<10} {'clicks/visit':>12} {'clicks/user':>12} {'churn':>6}")
    for name, policy in (("ppo", trained), ("random", "random"), ("popular", "popular")):
        kwargs = env_config if name == "ppo" else {"n_users": args.n_users}
        figures = journey_summary(evaluate_journeys(policy, args.journeys, seed=fresh, **kwargs))
        print(f"{name:<10} {figures['clicks_per_visit']:>12.3f} "
              f"{figures['clicks_per_user']:>12.2f} {figures['churn']:>6.3f}")


if __name__ == "__main__":
    main()
