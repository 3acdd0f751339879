"""Reference agents without learning: random, popular (recent clicks) and the two oracles."""

from __future__ import annotations

from typing import Any

import numpy as np

from drnsim._validate import check_annotation
from drnsim.agents.base import BaseAgent, Obs, unwrap_env
from drnsim.config import DAY, WINDOWS_SECONDS
from drnsim.envs import scores_from_ranking
from drnsim.world import VisitBatch


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
        batch = self._batch(obs)
        return self.env.world.attractiveness(batch)

    def _batch(self, obs: Obs) -> VisitBatch:
        """The env's current visits, checked against the observation the agent was given."""
        if not hasattr(self, "env"):
            raise RuntimeError(f"{self.name} reads the true world: call bind(env) first "
                               "(run_episode and compare do)")
        batch = self.env.current_batch
        if not np.array_equal(batch.users, np.atleast_1d(obs["user"]["user_id"])):
            raise RuntimeError(f"{self.name} was given an observation that is not the env's "
                               "current visit batch")
        return batch


class LongTermOracleAgent(OracleAgent):
    """Far-sighted oracle (docs/design.md section 8): ranks with the hidden truth of both a
    click's probability and its effect on the user's engagement, and with it on future visits.

    Rule. The return rate r_u reads engagement through lambda g_E tanh(E_u / E_s), so a unit
    of engagement now raises the log-rate by lambda g_E (1 - tanh^2(E_u / E_s)) / E_s for a
    time that decays with tau_E; over the R seconds left in the episode it brings about
    k_u = c_u r_u lambda g_E (1 - tanh^2(E_u / E_s)) / E_s tau_E (1 - exp(-R / tau_E)) extra
    clicks (first order: no compounding, no churn), where r_u is the user's current return
    rate at c_u clicks and c_u = sum_k theta_k a_(k) the expected clicks of the myopic slate.
    A click on candidate i changes engagement by e_i = q_i - lambda (d_bait b_i + w_sat
    satiation_u,c_i) (`World.click_engagement`), and the slate's topic concentration C costs
    lambda w_slate C. The slate is filled greedily, slot j = 1..K taking the remaining
    candidate with the largest theta_j a_i (1 + k_u e_i) - k_u lambda w_slate dC_i, where
    dC_i = (2 n_c + 1) / (K (K - 1)) is the rise of C when a K-slate that already holds n_c
    items of i's topic gets one more. With lambda = 0 the rule is the myopic oracle's."""

    name = "oracle:longterm"

    def act(self, obs: Obs) -> np.ndarray:
        batch = self._batch(obs)
        world, cfg = self.env.world, self.env.world.config
        attractiveness = world.attractiveness(batch)
        k = min(cfg.slate_size, attractiveness.shape[1])
        theta = world.position_bias[:k]
        myopic_clicks = -np.sort(-attractiveness, axis=1)[:, :k] @ theta
        users, times = batch.users, batch.times
        since = np.where(world.users.last_visit[users] >= 0,
                         times - world.users.last_visit[users], 0.0)
        tau = cfg.engagement_tau_days * DAY
        engaged = np.tanh(world.users.engagement[users] * np.exp(-since / tau)
                          / cfg.engagement_scale)
        weight = cfg.tradeoff_strength * cfg.engagement_gain
        rate = world.users.base_rate[users] * np.minimum(
            np.exp(cfg.satisfaction_gain * (myopic_clicks - cfg.clicks_baseline)
                   + weight * engaged), cfg.max_rate_multiplier)
        slope = weight * (1.0 - engaged ** 2) / cfg.engagement_scale
        remaining = np.maximum(world.horizon - times, 0.0)
        value = (myopic_clicks * rate * slope * tau * -np.expm1(-remaining / tau))[:, None]
        gain = attractiveness * (1.0 + value * world.click_engagement(batch))
        crowding = value * cfg.tradeoff_strength * cfg.boredom_slate_weight / max(k * (k - 1), 1)
        topics = world.news.topic[np.maximum(batch.candidates, 0)]
        return scores_from_ranking(greedy_slate(gain, crowding, topics, batch.mask, theta),
                                   attractiveness.shape[1])


def greedy_slate(gain: np.ndarray, crowding: np.ndarray, topics: np.ndarray, mask: np.ndarray,
                 theta: np.ndarray) -> np.ndarray:
    """Fill K = len(theta) slots (B, K candidate indices) one by one: slot j takes the valid,
    unused candidate with the largest theta_j gain_i - crowding (2 n_c + 1), n_c the number
    of items of candidate i's topic already in the slate (`LongTermOracleAgent`'s rule).
    Rows with fewer valid candidates than K fill the rest with unused padded ones."""
    b, n = gain.shape
    rows = np.arange(b)
    used = ~mask.astype(bool)
    padded = used.copy()
    counts = np.zeros((b, int(topics.max(initial=0)) + 1))
    slate = np.empty((b, len(theta)), dtype=np.int64)
    for j, position_bias in enumerate(theta):
        same_topic = np.take_along_axis(counts, topics, axis=1)
        value = position_bias * gain - crowding * (2.0 * same_topic + 1.0)
        pick = np.where(used, -np.inf, value).argmax(axis=1)
        exhausted = used[rows, pick]  # every valid candidate is in the slate already
        pick = np.where(exhausted, np.where(padded & ~used, 0, 1).argmin(axis=1), pick)
        slate[:, j] = pick
        used[rows, pick] = True
        counts[rows, topics[rows, pick]] += ~exhausted
    return slate


__all__ = ["LongTermOracleAgent", "OracleAgent", "PopularAgent", "RandomAgent", "greedy_slate"]
