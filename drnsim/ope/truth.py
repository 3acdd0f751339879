"""The ground truth off-policy estimates are scored against: the target policy served online
in the same world, with the same seed and the same coins.

`ground_truth(policy, world, seed, days)` resets the world with ``seed`` (the same users,
news, click coins and return draws as a `collect_logs` run with that seed: common random
numbers) and serves it with the frozen target for ``days`` from the start, as the logging
policy served the logs. Each visit's slate is sampled from the target's
`drnsim.policies.SlateDistribution`; nothing updates the target (off-policy evaluation
estimates a fixed policy). Reported per run: the realised clicks per visit and CTR, and
their expectations under the hidden attractiveness (the clicks the shown slates earn on
average over the click coins: the same truth with less noise), and the long-run metrics of
the long-term world from the same run (`LONG_RUN_METRICS`: clicks per user, visits per user
per day, dwell, churn, day-N retention), which no estimator of `drnsim.ope` estimates from
per-visit logs: a policy that wins clicks per visit may lose users.

Two truths differ, and the benchmark reports both: this online value is what shipping the
policy would give, on the visits it would itself cause (returns, histories and popularity
follow its clicks); the estimators target the value on the logged visits
(`drnsim.ope.Diagnostics.logged_truth`). The gap between the two is the error no
estimator can remove by reweighting.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from drnsim.agents.base import unwrap_env
from drnsim.config import DAY, WorldConfig
from drnsim.envs import NewsFeedVectorEnv, visits_per_step
from drnsim.metrics import RETENTION_DAYS, episode_values, expected_clicks
from drnsim.ope.data import TRUTH_COLUMN
from drnsim.ope.targets import make_target
from drnsim.policies import SlatePolicy, slate_scores

#: Long-run metrics of `drnsim.loop.drive`'s tidy frame that `ground_truth` reports from the
#: same run (`drnsim.metrics.bucket_metrics`; docs/design.md section 6): clicks per user over
#: the horizon, visits per user per day, seconds read per click, the share of users who
#: churned, and day-N retention for the N whose whole day the run covers.
LONG_RUN_METRICS: tuple[str, ...] = (("clicks_per_user", "visits_per_user_day", "dwell",
                                      "churn")
                                     + tuple(f"retention@{n}d" for n in RETENTION_DAYS))


class FrozenServing:
    """An agent of the loop that serves a `SlatePolicy` frozen: ``act`` samples its slates
    (giving the oracle the hidden attractiveness it ranks by), ``observe`` records each
    visit's clicks, impressions and expected clicks and teaches the policy nothing."""

    def __init__(self, policy: SlatePolicy, seed: int = 0):
        self.policy = policy
        self.name = getattr(policy, "name", "target")
        self.rng = np.random.default_rng(np.random.SeedSequence([seed, 0x7A6]))
        self.records: list[pd.DataFrame] = []

    def bind(self, env: Any) -> None:
        self.env = unwrap_env(env)

    def act(self, obs: dict) -> np.ndarray:
        world, batch = self.env.world, self.env.current_batch
        self._truth = world.attractiveness(batch)
        if getattr(self.policy, "reads_truth", False):
            obs = {**obs, "candidates": {**obs["candidates"], TRUTH_COLUMN: self._truth}}
        slates, _, _ = self.policy.sample(obs, self.env.config.slate_size, self.rng)
        return slate_scores(slates, obs["candidates"]["mask"].shape[1])

    def observe(self, obs: dict, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray]) -> None:
        world, shown = self.env.world, info["shown"]
        truth = np.where(shown >= 0, np.take_along_axis(self._truth, np.maximum(shown, 0), 1),
                         0.0)
        self.records.append(pd.DataFrame({
            "time": info["sim_time"], "clicks": info["clicks"].sum(axis=1),
            "impressions": (shown >= 0).sum(axis=1),
            "expected_clicks": expected_clicks(truth, world.position_bias,
                                               world.config.click_model)}))

    def update(self, sim_time: float) -> None:
        return None


def serve_online(policy: Any, world: WorldConfig | dict | None = None, seed: int = 0,
                 days: float = 1.0, batch_size: int = 256, train_logs: pd.DataFrame | None = None,
                 progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Serve the frozen target (`make_target`) from the start of world ``seed`` for ``days``:
    (per-visit records: time [s], clicks, impressions, expected_clicks; the loop's tidy
    metrics frame)."""
    from drnsim.loop import drive

    cfg = WorldConfig.coerce(world)
    cfg = cfg.replace(episode_days=max(cfg.episode_days, float(days)))
    target = make_target(policy, cfg, train_logs, seed)
    serving = FrozenServing(target, seed)
    env = NewsFeedVectorEnv(num_envs=visits_per_step(batch_size, cfg.n_users), config=cfg)
    obs, _ = env.reset(seed=seed)
    frame = drive(env, serving, obs, days=days, progress=progress, with_regret=False)
    env.close()
    visits = pd.concat(serving.records, ignore_index=True)
    return visits[visits["time"] < days * DAY].reset_index(drop=True), frame


def summarize_visits(visits: pd.DataFrame) -> dict[str, float]:
    """clicks_per_visit, ctr, expected_clicks_per_visit, expected_ctr and visits of
    per-visit records (`serve_online`)."""
    n, impressions = len(visits), visits["impressions"].sum()
    clicks, expected = visits["clicks"].sum(), visits["expected_clicks"].sum()
    return {"visits": float(n), "clicks_per_visit": clicks / n, "ctr": clicks / impressions,
            "expected_clicks_per_visit": expected / n, "expected_ctr": expected / impressions}


def ground_truth(policy: Any, world: WorldConfig | dict | None = None, seed: int = 0,
                 days: float = 1.0, batch_size: int = 256,
                 train_logs: pd.DataFrame | None = None, progress: bool = False) -> pd.DataFrame:
    """The on-policy value of ``policy`` (an agent name, an agent or a SlatePolicy; a
    learning agent is trained on ``train_logs`` first, `make_target`) served frozen in
    world ``seed`` for ``days`` from the start, as `collect_logs` with the same seed logs
    it: a frame of (metric, value) rows: visits, clicks_per_visit, ctr and their
    expectations over the click coins (expected_clicks_per_visit, expected_ctr), and the
    `LONG_RUN_METRICS` of the long-term world (retention@Nd only where ``days`` >= N + 1)."""
    visits, frame = serve_online(policy, world, seed, days, batch_size, train_logs, progress)
    values = summarize_visits(visits)
    episode = episode_values(frame).set_index("metric")["value"]
    values.update({name: float(episode[name]) for name in LONG_RUN_METRICS if name in episode})
    return pd.DataFrame({"metric": list(values), "value": list(values.values())})


__all__ = ["FrozenServing", "LONG_RUN_METRICS", "ground_truth", "serve_online",
           "summarize_visits"]
