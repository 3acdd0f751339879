"""Target policies for off-policy evaluation: agents bound and trained offline, then frozen.

`make_target(policy, config, train_logs)` turns what a user names into a
`drnsim.policies.SlatePolicy`:

* a `SlatePolicy` (`TopKPolicy`, `EpsilonGreedyPolicy`, `PlackettLucePolicy`, ...): as it is;
* ``"random"``: `UniformPolicy` (exact probabilities, not one random draw per visit);
* ``"oracle"``: the top K by the hidden attractiveness (`TruthScorer`); from logs it needs the
  candidates table of ``collect_logs(..., candidates=True, truth=True)``, in
  `drnsim.ope.ground_truth` it reads the live world;
* any other agent name of `drnsim.agents.make_agent`, or an agent object: bound with
  ``bind(env)`` to a stand-in env of the logs' world (same `WorldConfig`; agents read its
  config, e.g. LinUCB its number of topics), then trained on ``train_logs``: through the
  agent's ``warm_start(logs)`` when it has one (``static:<model>``, ``online:<model>``, DRN),
  else by replaying the logged visits in time order through ``observe`` and ``update``
  (LinUCB, HLinUCB, a user's agent that learns in ``observe``); agents that learn nothing
  (``popular``) are only bound. The agent is then wrapped in `TopKPolicy`: its ``act``
  ranks the logged candidates and nothing updates it any more (a frozen policy, which is
  what off-policy evaluation estimates; `ground_truth` serves it frozen too). An agent
  object given without ``train_logs`` is used as it is (bind and train it yourself).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from drnsim.config import WorldConfig
from drnsim.ope.data import TRUTH_COLUMN, LoggedSlates
from drnsim.policies import SlatePolicy, TopKPolicy, UniformPolicy, is_slate_policy


class TruthScorer:
    """Scores candidates by their hidden attractiveness a_ui, which only off-policy
    evaluation puts into ``obs["candidates"]["attractiveness"]`` (from a candidates table
    logged with truth, or from the live world in `ground_truth`): the oracle as a target."""

    name = "oracle"
    reads_truth = True

    def act(self, obs: dict) -> np.ndarray:
        if TRUTH_COLUMN not in obs["candidates"]:
            raise ValueError(f"policy 'oracle' ranks by the hidden truth, which the logs lack "
                             f"(candidates column {TRUTH_COLUMN!r}): collect them with "
                             "collect_logs(..., candidates=True, truth=True)")
        return obs["candidates"][TRUTH_COLUMN]


class OraclePolicy(TopKPolicy):
    """The K candidates of highest hidden attractiveness (`TruthScorer`)."""

    reads_truth = True

    def __init__(self) -> None:
        super().__init__(TruthScorer(), name="oracle")


def stand_in_env(config: WorldConfig, seed: int = 0) -> Any:
    """A reset env of the logs' world, for agents whose ``bind`` reads the config."""
    from drnsim.envs import NewsFeedVectorEnv

    env = NewsFeedVectorEnv(num_envs=1, config=config)
    env.reset(seed=seed)
    return env


def replay_logs(agent: Any, logs: pd.DataFrame, config: WorldConfig,
                batch_size: int = 256) -> None:
    """Feed logged visits to ``agent.observe`` (and ``update``) in time order, batch by
    batch: observations with the shown items as the only candidates (at their
    candidate_index), info with ``shown``, ``clicks``, ``user_id``, ``visit_id``,
    ``sim_time`` and ``gap`` as the env gives them."""
    data = LoggedSlates.from_logs(logs, config=config)
    first = data.first
    for start in range(0, len(data), batch_size):
        stop = min(start + batch_size, len(data))
        obs = data.observations(start, stop)
        slates = data.slates[start:stop]
        info = {"shown": slates, "clicks": data.reward[start:stop] > 0,
                "user_id": first["user_id"].to_numpy(np.int64)[start:stop],
                "visit_id": first["visit_id"].to_numpy(np.int64)[start:stop],
                "sim_time": first["time"].to_numpy(np.float64)[start:stop],
                "gap": first["gap"].to_numpy(np.float64)[start:stop] if "gap" in first
                else np.full(stop - start, -1.0)}
        action = np.full(obs["candidates"]["mask"].shape, -1.0, dtype=np.float32)
        agent.observe(obs, action, info["clicks"].sum(axis=1).astype(np.float64), info)
        agent.update(float(info["sim_time"].max()))


def make_target(policy: Any, config: WorldConfig | dict | None = None,
                train_logs: pd.DataFrame | None = None, seed: int = 0) -> SlatePolicy:
    """The frozen `SlatePolicy` of ``policy`` (see the module docstring)."""
    cfg = WorldConfig.coerce(config)
    if is_slate_policy(policy):
        if train_logs is not None:
            raise ValueError(f"{policy!r} is already a slate policy: it has nothing to train "
                             "on train_logs")
        return policy
    if isinstance(policy, str):
        if policy == "random":
            return UniformPolicy()
        if policy == "oracle":
            return OraclePolicy()
        from drnsim.agents import make_agent

        agent, name = make_agent(policy), policy
    elif callable(getattr(policy, "act", None)):
        agent, name = policy, None
        if train_logs is None:
            return TopKPolicy(agent)
    else:
        raise ValueError(f"policy must be an agent name, an agent (with act) or a "
                         f"drnsim.policies.SlatePolicy, got {type(policy).__name__}")
    if hasattr(agent, "bind"):
        agent.bind(stand_in_env(cfg, seed))
    if train_logs is not None:
        if hasattr(agent, "warm_start"):
            agent.warm_start(train_logs)
        elif _learns_in_observe(agent):
            replay_logs(agent, train_logs, cfg)
    return TopKPolicy(agent, name=name)


def _learns_in_observe(agent: Any) -> bool:
    """Whether the agent overrides `BaseAgent.observe` (the base's is a no-op)."""
    from drnsim.agents.base import BaseAgent

    observe = getattr(type(agent), "observe", None)
    return observe is not None and observe is not BaseAgent.observe


__all__ = ["OraclePolicy", "TruthScorer", "make_target", "replay_logs", "stand_in_env"]
