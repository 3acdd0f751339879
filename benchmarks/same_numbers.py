"""Same seeds, same numbers before and after the speed work (issue 16): digests of env
rollouts compared with those of the code before it (commit fda2198, the long-term world),
printed side by side.

    python benchmarks/same_numbers.py [vec64 vec1024 single lambda0]

Each case resets an env with seed 0, steps it with seeded random scores and hashes every
step's (obs, reward, terminated, truncated, info). vec1024 runs about 7 simulated days, so
the item store has forgotten items by then (`NewsStream.forget_before`).
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np

BEFORE = {  # digests of the code at fda2198 (before the speed work)
    "vec64": "976b87f44eae9910", "vec1024": "81aca31714fe6b30", "single": "5e2fe32be0927034",
    "single_p1": "7bba6cdb1ea9e341", "lambda0": "63c4cbe989205c60",
    "cascade": "6788bcb83d56f1ac",
}


def digest(tree, h):
    """Feed a nested tree of arrays (dtype, shape, bytes) into the hash ``h``."""
    if isinstance(tree, dict):
        for key in sorted(tree):
            h.update(key.encode())
            digest(tree[key], h)
    elif isinstance(tree, (list, tuple)):
        for leaf in tree:
            digest(leaf, h)
    else:
        array = np.ascontiguousarray(np.asarray(tree))
        h.update(str(array.dtype).encode())
        h.update(str(array.shape).encode())
        h.update(array.tobytes())


def rollout(env, steps: int, warm: int = 0) -> str:
    env.reset(seed=0)
    rng = np.random.default_rng(1)
    shape = env.action_space.shape
    for _ in range(warm):
        env.step(rng.uniform(-1, 1, shape).astype(np.float32))
    h = hashlib.sha256()
    for _ in range(steps):
        digest(list(env.step(rng.uniform(-1, 1, shape).astype(np.float32))), h)
    return h.hexdigest()[:16]


def main() -> None:
    from drnsim.envs import NewsFeedEnv, NewsFeedVectorEnv

    which = sys.argv[1:] or ["vec64", "vec1024", "single", "lambda0"]
    now = {}
    if "vec64" in which:
        now["vec64"] = rollout(NewsFeedVectorEnv(64, n_users=2000, episode_days=30.0), 400)
    if "vec1024" in which:
        now["vec1024"] = rollout(NewsFeedVectorEnv(1024, n_users=10_000, episode_days=30.0),
                                 40, warm=200)
    if "single" in which:
        now["single"] = rollout(NewsFeedEnv(n_users=1000, episode_days=30.0), 3000)
        now["single_p1"] = rollout(NewsFeedEnv(n_users=300, prefetch=1, episode_days=30.0),
                                   1000)
    if "lambda0" in which:
        now["lambda0"] = rollout(NewsFeedVectorEnv(64, n_users=2000, episode_days=30.0,
                                                   tradeoff_strength=0.0), 300)
        now["cascade"] = rollout(NewsFeedVectorEnv(32, n_users=1000, episode_days=30.0,
                                                   click_model="cascade",
                                                   candidate_mode="sampled"), 300)
    for case, value in now.items():
        verdict = "same" if value == BEFORE[case] else "DIFFERENT"
        print(f"{case:<10} now {value}  before {BEFORE[case]}  {verdict}")


if __name__ == "__main__":
    main()
