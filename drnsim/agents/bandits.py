"""Linear contextual bandits: LinUCB with shared parameters and HLinUCB (hidden features).

Both score candidates by an upper confidence bound and learn from every shown item
(reward r = click) online, in `observe`. The observable context x of a candidate is
`candidate_features`: what the observation says about the item and this user's relation to it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from drnsim._validate import int_at_least, non_negative, positive
from drnsim.agents.base import BaseAgent, Obs, grow_rows
from drnsim.config import HOUR

FRESHNESS_HOURS = 4.0


def candidate_features(obs: Obs, n_topics: int | None = None) -> np.ndarray:
    """Observable context x (B, N, D) of each candidate: [1, log1p popularity (4 windows),
    log1p user clicks on its topic (4), log1p user clicks on its provider (4),
    exp(-age / 4 h)] plus, with ``n_topics``, a one-hot of its topic (D = 14 + n_topics)."""
    cand, user_news = obs["candidates"], obs["user_news"]
    parts = [np.ones(cand["age"].shape + (1,)),
             np.log1p(cand["popularity"]),
             np.log1p(user_news["topic_clicks"]),
             np.log1p(user_news["provider_clicks"]),
             np.exp(-cand["age"] / (FRESHNESS_HOURS * HOUR))[..., None]]
    if n_topics is not None:
        parts.append(np.eye(n_topics)[np.maximum(cand["topic"], 0)])
    x = np.concatenate(parts, axis=-1)
    return x * (cand["mask"] > 0)[..., None]


def shown_rows(info: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Visit index b, candidate index n and reward r (click) of every shown item."""
    b, k = np.nonzero(info["shown"] >= 0)
    return b, info["shown"][b, k], info["clicks"][b, k].astype(np.float64)


class LinUCBAgent(BaseAgent):
    """LinUCB with one parameter vector shared by all users (Li et al. 2010, eq. 4 without the
    per-arm part): theta = A^-1 b, A = lambda I + sum x x^T, b = sum r x;
    score = x^T theta + alpha sqrt(x^T A^-1 x)."""

    name = "linucb"

    def __init__(self, alpha: float = 0.3, ridge: float = 1.0, topics: bool = True,
                 seed: int = 0, name: str | None = None):
        super().__init__(seed, name)
        non_negative("alpha", alpha)
        positive("ridge", ridge)
        self.alpha, self.ridge, self.topics = alpha, ridge, topics

    def bind(self, env: Any) -> None:
        super().bind(env)
        self.n_topics = self.config.n_topics if self.topics else None
        dim = 14 + (self.n_topics or 0)
        self.A = self.ridge * np.eye(dim)
        self.b = np.zeros(dim)
        self._solve()

    def _solve(self) -> None:
        self.A_inv = np.linalg.inv(self.A)
        self.theta = self.A_inv @ self.b

    def _features(self, obs: Obs) -> np.ndarray:
        """x of the candidates, computed once per observation (act, then observe)."""
        if getattr(self, "_features_of", None) is not obs:
            self._features_of, self._x = obs, candidate_features(obs, self.n_topics)
        return self._x

    def act(self, obs: Obs) -> np.ndarray:
        x = self._features(obs)
        width = np.sqrt(np.maximum(((x @ self.A_inv) * x).sum(axis=-1), 0.0))
        return x @ self.theta + self.alpha * width

    def observe(self, obs: Obs, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray]) -> None:
        b, n, r = shown_rows(info)
        x = self._features(obs)[b, n]
        self.A += x.T @ x
        self.b += x.T @ r
        self._solve()


class HLinUCBAgent(BaseAgent):
    """HLinUCB (Wang, Wu and Wang, CIKM 2016, Algorithm 1): reward r = x_a^T theta_u^x +
    v_a^T theta_u^v with observable item context x_a and hidden item features v_a (l dims),
    estimated by alternating ridge regressions:

    * user u: A_u = lambda1 I + sum z z^T, b_u = sum r z with z = [x_a; v_a], theta_u = A_u^-1 b_u;
    * item a: C_a = lambda2 I + sum theta_u^v theta_u^v^T,
      d_a = sum theta_u^v (r - x_a^T theta_u^x), v_a = C_a^-1 d_a;
    * score = z^T theta_u + alpha_u sqrt(z^T A_u^-1 z) + alpha_a sqrt(theta_u^v^T C_a^-1 theta_u^v).

    Hidden features start as small random vectors (all-zero ones would never move)."""

    name = "hlinucb"

    def __init__(self, hidden_dim: int = 5, alpha_user: float = 0.3, alpha_item: float = 0.1,
                 ridge_user: float = 1.0, ridge_item: float = 1.0, init_scale: float = 0.1,
                 seed: int = 0, name: str | None = None):
        super().__init__(seed, name)
        int_at_least("hidden_dim", hidden_dim, 1)
        for key, value in (("alpha_user", alpha_user), ("alpha_item", alpha_item),
                           ("init_scale", init_scale)):
            non_negative(key, value)
        positive("ridge_user", ridge_user)
        positive("ridge_item", ridge_item)
        self.hidden_dim, self.alpha_user, self.alpha_item = hidden_dim, alpha_user, alpha_item
        self.ridge_user, self.ridge_item, self.init_scale = ridge_user, ridge_item, init_scale

    def bind(self, env: Any) -> None:
        super().bind(env)
        n_users, l = self.config.n_users, self.hidden_dim
        self.x_dim = 14
        dim = self.x_dim + l
        self.A = np.tile(self.ridge_user * np.eye(dim, dtype=np.float32), (n_users, 1, 1))
        self.b = np.zeros((n_users, dim), dtype=np.float32)
        self.C = np.zeros((0, l, l))
        self.d = np.zeros((0, l))
        self.v = np.zeros((0, l))

    def _items(self, items: np.ndarray) -> np.ndarray:
        """Make room for item ids up to items.max(); returns the ids clipped at 0."""
        l, size = self.hidden_dim, int(items.max(initial=0)) + 1
        self.C = grow_rows(self.C, size, lambda n: np.tile(self.ridge_item * np.eye(l), (n, 1, 1)))
        self.d = grow_rows(self.d, size, lambda n: np.zeros((n, l)))
        self.v = grow_rows(self.v, size, lambda n: self.init_scale * self.rng.standard_normal(
            (n, l)))
        return np.maximum(items, 0)

    def _user_params(self, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """theta_u (B, D) and A_u^-1 (B, D, D) of the visiting users."""
        A_inv = np.linalg.inv(self.A[users].astype(np.float64))
        return np.einsum("bde,be->bd", A_inv, self.b[users]), A_inv

    def act(self, obs: Obs) -> np.ndarray:
        users = obs["user"]["user_id"]
        items = self._items(obs["candidates"]["item_id"])
        z = np.concatenate([candidate_features(obs), self.v[items]], axis=-1)  # (B, N, D)
        theta, A_inv = self._user_params(users)
        theta_v = theta[:, self.x_dim:]
        C_inv = np.linalg.inv(self.C[items])  # (B, N, l, l)
        user_width = ((z @ A_inv) * z).sum(axis=-1)
        item_width = np.einsum("bnde,bd,be->bn", C_inv, theta_v, theta_v, optimize=True)
        return (np.einsum("bnd,bd->bn", z, theta)
                + self.alpha_user * np.sqrt(np.maximum(user_width, 0.0))
                + self.alpha_item * np.sqrt(np.maximum(item_width, 0.0)))

    def observe(self, obs: Obs, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray]) -> None:
        users = obs["user"]["user_id"]
        b, n, r = shown_rows(info)
        items = self._items(obs["candidates"]["item_id"][b, n])
        x = candidate_features(obs)[b, n]
        z = np.concatenate([x, self.v[items]], axis=1)
        # Users (distinct within a step): accumulate their rank-K updates.
        u = users[b]
        np.add.at(self.A, u, np.einsum("kd,ke->kde", z, z).astype(np.float32))
        np.add.at(self.b, u, (z * r[:, None]).astype(np.float32))
        theta, _ = self._user_params(users)
        theta_x, theta_v = theta[b, :self.x_dim], theta[b, self.x_dim:]
        # Items (may repeat across visits): hidden features from the updated users.
        np.add.at(self.C, items, np.einsum("kd,ke->kde", theta_v, theta_v))
        np.add.at(self.d, items, theta_v * (r - (x * theta_x).sum(axis=1))[:, None])
        touched = np.unique(items)
        self.v[touched] = np.linalg.solve(self.C[touched], self.d[touched][..., None])[..., 0]


__all__ = ["HLinUCBAgent", "LinUCBAgent", "candidate_features", "shown_rows"]
