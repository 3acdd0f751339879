"""Same seeds, same numbers: digests of env rollouts from this tree, run twice, and from a
baseline tree in the same run (issue 16: the speed work must not change the simulation).

    python benchmarks/same_numbers.py [--baseline-tree DIR] [vec64 vec1024 single lambda0]

Each case resets an env with seed 0, steps it with seeded random scores and hashes every
step's (obs, reward, terminated, truncated, info) (info: the keys every version has, so
`churned`, added later, is left out). vec1024 runs about 7 simulated days, so the item store
has forgotten items by then (`NewsStream.forget_before`). Digests are compared within one
run on one machine: numpy picks its exp/log/tanh by CPU, so they differ between machines.

Named baseline: any checkout, e.g. the commit before the speed work
(``git worktree add --detach /tmp/base fda2198``) or the previous commit (``HEAD``), run in
a subprocess with ``PYTHONPATH`` set to it. Measured on 2026-12-01 against fda2198: every
case the same, the single env's included (it now commits each visit at its step, which
`_PrefetchedVisits` makes equivalent to committing the micro-batch at its end). Since
029eb28 (exact popularity of late-served visits, docs/design.md section 10.3a) every case
but single_p1 differs from the code before it, by design.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

CASES = ("vec64", "vec1024", "single", "lambda0")
INFO_KEYS = ("shown", "clicks", "dwell", "user_id", "visit_id", "sim_time", "gap")


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
        obs, reward, terminated, truncated, info = env.step(
            rng.uniform(-1, 1, shape).astype(np.float32))
        digest([obs, reward, terminated, truncated,
                {key: info[key] for key in INFO_KEYS}], h)
    return h.hexdigest()[:16]


def digests(which: list[str]) -> dict[str, str]:
    from drnsim.envs import NewsFeedEnv, NewsFeedVectorEnv

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
    return now


def digests_in(tree: str | None, which: list[str]) -> dict[str, str]:
    """`digests` in a fresh subprocess on the source tree ``tree`` (None: this one)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(Path(tree).resolve())
    out = subprocess.run([sys.executable, __file__, "--one", *which], capture_output=True,
                         text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(f"the rollout subprocess failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("cases", nargs="*", choices=[[], *CASES], default=[],
                        help=f"any of {list(CASES)} (default: all)")
    parser.add_argument("--baseline-tree", default=None,
                        help="a checkout of another commit to compare with in the same run")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    which = args.cases or list(CASES)
    if args.one:
        print(json.dumps(digests(which)))
        return
    first, second = digests_in(None, which), digests_in(None, which)
    base = digests_in(args.baseline_tree, which) if args.baseline_tree else {}
    for case, value in first.items():
        rerun = "same" if second[case] == value else "DIFFERENT"
        line = f"{case:<10} now {value}  re-run {rerun}"
        if base:
            verdict = "same" if base.get(case) == value else "DIFFERENT"
            line += f"  baseline {base.get(case)} {verdict}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
