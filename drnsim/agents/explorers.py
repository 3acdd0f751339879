"""Exploration wrappers over any scorer: epsilon-greedy slots and a count-based UCB bonus.

A wrapper forwards `bind`, `warm_start`, `observe` and `update` to the agent it wraps, so
``egreedy:static:lr`` explores around a static LR and still lets an online learner learn from
what was actually shown (``info["shown"]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from drnsim._validate import non_negative, probability
from drnsim.agents.base import BaseAgent, Obs, agent_name, check_agent, grow_rows
from drnsim.envs import scores_from_ranking


class Explorer(BaseAgent):
    """Shared plumbing of the wrappers: forward the protocol to ``base``."""

    prefix = "explore"

    def __init__(self, base: Any, seed: int = 0, name: str | None = None):
        super().__init__(seed, name or f"{self.prefix}:{agent_name(base)}")
        self.base = check_agent(base, "the wrapped agent (base)")

    def bind(self, env: Any) -> None:
        super().bind(env)
        if hasattr(self.base, "bind"):
            self.base.bind(env)

    def warm_start(self, logs: Any) -> None:
        if hasattr(self.base, "warm_start"):
            self.base.warm_start(logs)

    def observe(self, obs: Obs, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray]) -> None:
        self.base.observe(obs, action, reward, info)

    def update(self, sim_time: float) -> None:
        self.base.update(sim_time)


def ranking(scores: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Candidate indices (B, N), best first, padded candidates last (ties: lower index)."""
    return np.argsort(np.where(mask > 0, -scores, np.inf), axis=1, kind="stable")


class EpsilonGreedy(Explorer):
    """Each of the K slots of the base agent's slate is, with probability epsilon, swapped
    with a uniformly drawn live candidate from outside the slate (explores new items while
    keeping most of the list)."""

    prefix = "egreedy"

    def __init__(self, base: Any, epsilon: float = 0.1, seed: int = 0,
                 name: str | None = None):
        super().__init__(base, seed, name)
        self.epsilon = probability("epsilon", epsilon)

    def act(self, obs: Obs) -> np.ndarray:
        mask = obs["candidates"]["mask"]
        order = ranking(np.asarray(self.base.act(obs), dtype=np.float64), mask)
        rows, n = np.arange(order.shape[0]), order.shape[1]
        k = min(self.config.slate_size, n)
        spare = np.maximum((mask > 0).sum(axis=1) - k, 0)  # live candidates outside the slate
        for slot in range(k):
            swap = (self.rng.random(len(rows)) < self.epsilon) & (spare > 0)
            other = k + np.floor(self.rng.random(len(rows)) * spare).astype(np.int64)
            other = np.where(swap, other, slot)
            order[rows, slot], order[rows, other] = order[rows, other], order[rows, slot]
        return scores_from_ranking(order, n)


class UCBExplorer(Explorer):
    """Count-based optimism over any scorer: score = z(s) + c sqrt(ln(1 + T) / (1 + n_i)),
    with z(s) the base scores standardised over the visit's live candidates, n_i this agent's
    impressions of item i so far and T all its impressions (UCB1's bonus)."""

    prefix = "ucb"

    def __init__(self, base: Any, c: float = 0.5, seed: int = 0, name: str | None = None):
        super().__init__(base, seed, name)
        self.c = non_negative("c", c)
        self.counts = np.zeros(0)
        self.total = 0

    def act(self, obs: Obs) -> np.ndarray:
        live = obs["candidates"]["mask"] > 0
        items = np.maximum(obs["candidates"]["item_id"], 0)
        self.counts = grow_rows(self.counts, int(items.max(initial=0)) + 1, np.zeros)
        s = np.asarray(self.base.act(obs), dtype=np.float64)
        n_live = np.maximum(live.sum(axis=1, keepdims=True), 1)
        mean = np.where(live, s, 0.0).sum(axis=1, keepdims=True) / n_live
        std = np.sqrt(np.where(live, (s - mean) ** 2, 0.0).sum(axis=1, keepdims=True) / n_live)
        z = (s - mean) / np.maximum(std, 1e-12)
        bonus = self.c * np.sqrt(np.log1p(self.total) / (1.0 + self.counts[items]))
        return np.where(live, z + bonus, z)

    def observe(self, obs: Obs, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray]) -> None:
        shown = info["shown"]
        items = np.take_along_axis(obs["candidates"]["item_id"], np.maximum(shown, 0), 1)
        np.add.at(self.counts, items[shown >= 0], 1.0)
        self.total += int((shown >= 0).sum())
        super().observe(obs, action, reward, info)


__all__ = ["EpsilonGreedy", "Explorer", "UCBExplorer", "ranking"]
