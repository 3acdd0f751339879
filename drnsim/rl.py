"""Evaluate reinforcement-learning policies on user journeys (docs/design.md section 9).

    from drnsim.rl import evaluate_journeys
    table = evaluate_journeys(lambda obs: model.predict(obs, deterministic=True)[0],
                              n_journeys=256, seed=100, obs_mode="box", action_mode="weights")
    evaluate_journeys("popular", n_journeys=256, seed=100)       # any agent name, same journeys

A policy is either a callable mapping a batch of observations (the env's ``obs_mode``) to a
batch of actions (its ``action_mode``), e.g. a Stable-Baselines3 model's ``predict``, or an
agent name of `drnsim.agents.make_agent` (``"random"`` = uniform random scores, ``"popular"``,
``"oracle"``, ...), which acts on the raw observation. Every policy evaluated with the same
``seed`` and world meets the same journeys: journey j of the worlds of ``seed``, the same user
arriving at the same time in the same world, with the same random numbers (common random
numbers), so per-seed differences between policies are paired.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from drnsim.agents import make_agent
from drnsim.config import DAY
from drnsim.envs import UserJourneyVectorEnv, action_from_scores
from drnsim.envs.user_journey import AgentView

JOURNEY_COLUMNS = ["journey", "user_id", "visits", "clicks", "clicks_per_visit", "churned",
                   "active_days", "retention@1d", "retention@3d", "retention@7d"]


def evaluate_journeys(policy: Callable[[Any], Any] | str, n_journeys: int = 256,
                      seed: int = 10_000, **env_kwargs: Any) -> pd.DataFrame:
    """Run `policy` on the first `n_journeys` journeys of the worlds of `seed` (all at once,
    one per slot of a `UserJourneyVectorEnv` built with `env_kwargs`) until each has ended;
    one row per journey (`JOURNEY_COLUMNS`): its visits and clicks, ``churned`` (terminated),
    ``active_days`` (from its first to its last served visit) and ``retention@Xd`` (the user
    came back X days or more after the journey's first visit: its last served visit or the
    next visit it was truncated before is that late; where X exceeds the horizon, NaN).
    `journey_summary` turns the rows into the figures a comparison reports."""
    if isinstance(policy, str):
        env_kwargs = {**env_kwargs, "obs_mode": "dict", "action_mode": "scores"}
    env = UserJourneyVectorEnv(n_journeys, autoreset_mode="NextStep", **env_kwargs)
    horizon_days = env.horizon / DAY
    obs, info = env.reset(seed=seed)
    act = _agent_policy(env, policy) if isinstance(policy, str) else policy
    start, user = info["sim_time"].copy(), info["user_id"].copy()
    visits, clicks = np.zeros(n_journeys, np.int64), np.zeros(n_journeys)
    churned, over = np.zeros(n_journeys, bool), np.zeros(n_journeys, bool)
    last_visit, last_seen = start.copy(), start.copy()
    while not over.all():  # slots whose journey ended go on with others, not counted
        obs, _, terminated, truncated, info = env.step(act(obs))
        counted = ~over & (info["shown"][:, 0] >= 0)
        visits += counted
        clicks += np.where(counted, info["clicks"].sum(axis=1), 0)
        last_visit = np.where(counted, info["sim_time"], last_visit)
        seen = np.where(terminated, info["sim_time"], info["sim_time"] + info["return_gap"])
        last_seen = np.where(counted, seen, last_seen)
        churned |= counted & terminated
        over |= counted & (terminated | truncated)
    env.close()
    rows = pd.DataFrame({"journey": np.arange(n_journeys), "user_id": user, "visits": visits,
                         "clicks": clicks})
    rows["clicks_per_visit"] = rows["clicks"] / rows["visits"].clip(lower=1)
    rows["churned"] = churned
    rows["active_days"] = (last_visit - start) / DAY
    for days in (1, 3, 7):
        retained = (last_seen - start >= days * DAY).astype(float)
        rows[f"retention@{days}d"] = retained if days <= horizon_days else np.nan
    return rows[JOURNEY_COLUMNS]


def journey_summary(rows: pd.DataFrame) -> dict[str, float]:
    """The figures of one evaluation: ``clicks_per_visit`` (all clicks / all visits),
    ``clicks_per_user`` (mean clicks per journey: long-term value over the horizon),
    ``visits_per_user``, ``churn`` (share of journeys ending in churn) and the mean
    ``retention@Xd``."""
    return {"clicks_per_visit": rows["clicks"].sum() / max(rows["visits"].sum(), 1),
            "clicks_per_user": rows["clicks"].mean(), "visits_per_user": rows["visits"].mean(),
            "churn": rows["churned"].mean(),
            **{f"retention@{d}d": rows[f"retention@{d}d"].mean() for d in (1, 3, 7)}}


def _agent_policy(env: UserJourneyVectorEnv, name: str) -> Callable[[Any], np.ndarray]:
    """Act with the agent `name` on the raw observations (one agent per world, bound to a
    view of that world's journey users, so that oracles read the truth, and
    `oracle:longterm` plans up to each journey's end); it does not learn."""
    agents: dict[int, tuple[Any, AgentView]] = {}
    n_candidates = env.config.n_candidates

    def act(_: Any) -> np.ndarray:
        scores = np.zeros((env.num_envs, n_candidates))
        for w, group, batch in env.journeys.batches:
            rows = env.journeys.worlds[w].rows
            if w not in agents:
                agent, view = make_agent(name), AgentView(rows)
                view.show(rows, batch)
                if hasattr(agent, "bind"):
                    agent.bind(view)
                agents[w] = (agent, view)
            agent, view = agents[w]
            view.show(rows, batch, horizon=env.journeys.start[group] + env.horizon)
            obs = _take(env.raw_observation, group)
            obs["user"]["user_id"] = batch.users  # the world's own user ids, as agents expect
            scores[group] = agent.act(obs)
        return action_from_scores(scores).astype(np.float32)

    return act


def _take(tree: Any, rows: np.ndarray) -> Any:
    if isinstance(tree, dict):
        return {key: _take(value, rows) for key, value in tree.items()}
    return tree[rows]


__all__ = ["JOURNEY_COLUMNS", "evaluate_journeys", "journey_summary"]
