"""Reference agents without learning: random, popular (recent clicks) and the oracle."""

from __future__ import annotations

from typing import Any

import numpy as np

from drnsim._validate import check_annotation
from drnsim.agents.base import BaseAgent, Obs, unwrap_env
from drnsim.config import WINDOWS_SECONDS


class RandomAgent(BaseAgent):
    """Uniform random scores: a random slate of live candidates (the lower bound)."""

    name = "random"

    def act(self, obs: Obs) -> np.ndarray:
        return self.rng.random(obs["candidates"]["mask"].shape)


class PopularAgent(BaseAgent):
    """Most clicked recently: score = sum_w weight_w * clicks_w over the candidates' decayed
    click counts in the 1 h / 6 h / 24 h / 1 week windows (default weights 1, 0.1, 0.01, 0:
    the last hour first, older windows break ties), then the freshest item."""

    name = "popular"

    def __init__(self, window_weights: tuple[float, ...] = (1.0, 0.1, 0.01, 0.0),
                 seed: int = 0, name: str | None = None):
        super().__init__(seed, name)
        check_annotation("window_weights", window_weights, tuple[float, ...])
        if len(window_weights) != len(WINDOWS_SECONDS):
            raise ValueError(f"window_weights must hold {len(WINDOWS_SECONDS)} numbers (one "
                             f"per popularity window), got {window_weights!r}")
        self.window_weights = np.asarray(window_weights, dtype=np.float64)

    def act(self, obs: Obs) -> np.ndarray:
        cand = obs["candidates"]
        clicks = cand["popularity"].astype(np.float64) @ self.window_weights
        return clicks - 1e-9 * cand["age"]  # ties: newer first


class OracleAgent(BaseAgent):
    """Ranks by the true attractiveness a_ui (`World.attractiveness`): under the position
    model sum_k theta_k a_(k) is maximal for a descending order (rearrangement inequality),
    so this is the upper bound on expected clicks. Needs `bind(env)`: it reads the world."""

    name = "oracle"

    def bind(self, env: Any) -> None:
        super().bind(env)
        self.env = unwrap_env(env)

    def act(self, obs: Obs) -> np.ndarray:
        if not hasattr(self, "env"):
            raise RuntimeError("the oracle reads the true world: call oracle.bind(env) first "
                               "(run_episode and compare do)")
        batch = self.env.current_batch
        if not np.array_equal(batch.users, np.atleast_1d(obs["user"]["user_id"])):
            raise RuntimeError("the oracle was given an observation that is not the env's "
                               "current visit batch")
        return self.env.world.attractiveness(batch)


__all__ = ["OracleAgent", "PopularAgent", "RandomAgent"]
