"""Gymnasium environments over the simulated world (docs/design.md section 3).

* `NewsFeedEnv`: one user visit per step (the classic single-request env, any RL library).
* `NewsFeedVectorEnv`: the next B visits of one shared world per step, array code throughout.

Action: one score in [-1, 1] per candidate; the env shows the K best in descending order, ties
to the lower index, padded candidates never. Reward: the visit's clicks. Step info: `shown`
(K candidate indices), `clicks` (K bools), `dwell` (K float32 seconds read per click, 0 where
not clicked: docs/design.md section 8), `user_id`, `visit_id`, `sim_time`, `gap`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from drnsim import _kernels as kernels
from drnsim.config import WINDOWS_SECONDS, WorldConfig
from drnsim.world import VisitBatch, World

_MAX_ID = np.iinfo(np.int32).max
_N_WINDOWS = len(WINDOWS_SECONDS)


def observation_space(config: WorldConfig) -> spaces.Dict:
    """The single-visit observation space: nested Dict of fixed-shape Boxes."""
    cfg = config
    cfg.check_memory()  # the spaces' bounds are arrays too: a size that cannot fit fails here
    n, hist = cfg.n_candidates, cfg.history_length
    inf = float(np.finfo(np.float32).max)  # finite bounds: check_env warns on infinite ones

    def ids(shape, high, low=-1):
        return spaces.Box(low, high, shape, dtype=np.int64)

    def ints(shape, high, low=-1):
        return spaces.Box(low, high, shape, dtype=np.int32)

    def reals(shape, low=0.0):
        return spaces.Box(low, inf, shape, dtype=np.float32)

    feature_high = np.array([cfg.n_age_buckets, cfg.n_genders, cfg.n_regions, cfg.n_devices]) - 1
    return spaces.Dict({
        "user": spaces.Dict({
            "user_id": ids((), cfg.n_users - 1, low=0),
            "features": spaces.Box(0, feature_high.astype(np.int32), (4,), dtype=np.int32)}),
        "context": spaces.Dict({
            "hour": ints((), 23, low=0),
            "weekday": ints((), 6, low=0),
            "since_last_visit": reals((), low=-1.0)}),
        "history": spaces.Dict({
            "item_id": ids((hist,), _MAX_ID),
            "topic": ints((hist,), cfg.n_topics - 1),
            "provider": ints((hist,), cfg.n_providers - 1),
            "age": reals((hist,)),
            "length": ints((), hist, low=0)}),
        "candidates": spaces.Dict({
            "item_id": ids((n,), _MAX_ID),
            "topic": ints((n,), cfg.n_topics - 1),
            "provider": ints((n,), cfg.n_providers - 1),
            "age": reals((n,)),
            "popularity": reals((n, _N_WINDOWS)),
            "mask": spaces.MultiBinary(n)}),
        "user_news": spaces.Dict({
            "topic_clicks": reals((n, _N_WINDOWS)),
            "provider_clicks": reals((n, _N_WINDOWS))}),
    })


def action_space(config: WorldConfig) -> spaces.Box:
    """One score in [-1, 1] per candidate."""
    return spaces.Box(-1.0, 1.0, (config.n_candidates,), dtype=np.float32)


# ----------------------------------------------------------------------------------------
def _as_float(scores: np.ndarray) -> np.ndarray:
    """float32 and float64 as they are (the ranking kernel takes both), anything else as
    float64."""
    return scores if scores.dtype in (np.float32, np.float64) else scores.astype(np.float64)


def validate_scores(action: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The action as a float array (float32 and float64 kept, anything else as float64) of
    shape `shape`; ValueError on a wrong shape, NaN or a score outside [-1, 1] (the error
    names the argument and the remedy)."""
    scores = _as_float(np.asarray(action))
    if scores.shape != shape:
        raise ValueError(f"action must have shape {shape} (one score per candidate), got "
                         f"{scores.shape}; reshape it or check n_candidates")
    low, high = (scores.min(), scores.max()) if scores.size else (0.0, 0.0)
    if np.isnan(low) or np.isnan(high):
        raise ValueError("action contains NaN scores; every score must be a number in [-1, 1]")
    if low < -1.0 or high > 1.0:
        bad = scores[np.abs(scores) > 1.0].flat[0]
        raise ValueError(f"action scores must lie in [-1, 1], got {bad!r}; rescale them or map "
                         "a ranking with drnsim.envs.scores_from_ranking")
    return scores


def rank_slates(scores: np.ndarray, mask: np.ndarray, slate_size: int) -> np.ndarray:
    """Top-K candidate indices per row (B, K): descending score, ties to the lower index,
    masked candidates never (their slots are -1)."""
    out = np.empty((scores.shape[0], min(slate_size, scores.shape[1])), dtype=np.int64)
    kernels.rank_slates(np.ascontiguousarray(_as_float(scores)),
                        np.ascontiguousarray(mask, dtype=np.bool_), out)
    return out


def scores_from_ranking(ranking: Any, n_candidates: int) -> np.ndarray:
    """Turn an explicit ranking (candidate indices, best first; 1-D or (B, R)) into env scores
    in [-1, 1]: ranked items get 1, 1 - 1/R, ... (all > -1), unranked ones -1."""
    ranking = np.asarray(ranking)
    single = ranking.ndim == 1
    rows = np.atleast_2d(ranking)
    if rows.ndim != 2 or not np.issubdtype(rows.dtype, np.integer):
        raise ValueError("ranking must be integer candidate indices, shape (R,) or (B, R)")
    if rows.size and (rows.min() < 0 or rows.max() >= n_candidates):
        raise ValueError(f"ranking indices must lie in [0, {n_candidates - 1}] "
                         f"(n_candidates={n_candidates}), got {rows.min()}..{rows.max()}")
    n_ranked = rows.shape[1]
    if n_ranked and (np.diff(np.sort(rows, axis=1), axis=1) == 0).any():
        raise ValueError("ranking must not repeat a candidate index")
    scores = np.full((rows.shape[0], n_candidates), -1.0, dtype=np.float32)
    values = (1.0 - np.arange(n_ranked) / max(n_ranked, 1)).astype(np.float32)
    np.put_along_axis(scores, rows, np.broadcast_to(values, rows.shape), axis=1)
    return scores[0] if single else scores


def action_from_scores(scores: Any) -> np.ndarray:
    """Map any finite scores (B, N) or (N,) to a valid action by rank: the same ordering
    (ties to the lower index), values in [-1, 1]."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.atleast_2d(scores)
    if not np.isfinite(rows).all():
        raise ValueError("scores must be finite numbers (no NaN or inf)")
    order = np.argsort(-rows, axis=1, kind="stable")
    action = scores_from_ranking(order, rows.shape[1])
    return action[0] if scores.ndim == 1 else action


def visits_per_step(batch_size: int, n_users: int) -> int:
    """`batch_size`, capped at n_users / 16: a batch holds distinct users, so a batch that is
    a large share of the population spans hours and serves quick returners late."""
    return max(1, min(batch_size, n_users // 16))


# ----------------------------------------------------------------------------------------
class _WorldRunner:
    """What both envs share: reset a world and serve it `batch_size` visits at a time."""

    def __init__(self, config: WorldConfig, batch_size: int):
        if batch_size > config.n_users:
            raise ValueError(f"num_envs ({batch_size}) must be <= n_users ({config.n_users}): "
                             "a batch holds distinct users")
        self.config = config
        self.batch_size = batch_size
        self.world = World(config)
        self.batch: VisitBatch | None = None
        self.obs: dict | None = None
        self.served: tuple[VisitBatch, np.ndarray, np.ndarray] | None = None

    def reset(self, seed: int) -> tuple[dict, dict]:
        self.world.reset(seed, min_batch=self.batch_size)
        self.served = None
        if not self._advance():
            raise RuntimeError("the world has fewer active users than num_envs")
        k = self.config.slate_size
        nothing_shown = (np.full((self.batch_size, k), -1, dtype=np.int64),
                         np.zeros((self.batch_size, k), dtype=bool),
                         np.zeros((self.batch_size, k), dtype=np.float32))
        return self.obs, _info(self.batch, *nothing_shown)

    def _advance(self) -> bool:
        """Pop the next batch and observe it; False when the population is exhausted."""
        following = self.world.next_batch(self.batch_size)
        if following is None:
            return False
        self.batch, self.obs = following, self.world.observe(following)
        return True

    @property
    def truncated(self) -> bool:
        return bool(self.batch.times.min() >= self.world.horizon)

    def step(self, scores: np.ndarray) -> tuple[dict, np.ndarray, bool, bool, dict]:
        """Show the batch its slates, collect clicks, move to the next batch."""
        batch = self.batch
        shown = rank_slates(scores, batch.mask, self.config.slate_size)
        clicks, dwell = self.world.feedback(batch, shown)
        self.served = (batch, shown, clicks)
        reward = clicks.sum(axis=1).astype(np.float64)
        info = _info(batch, shown, clicks, dwell)
        if not self._advance():  # all but a handful of users churned: the world is over
            return self.obs, reward, True, False, info
        return self.obs, reward, False, self.truncated, info

    def render_text(self) -> str:
        world = self.world
        if self.served is None:
            user = int(self.batch.users[0])
            return (f"t={self.batch.times[0] / 3600:.2f}h  next visit: user {user} "
                    f"(interests: {world.describe_user(user)})")
        batch, shown, clicks = self.served
        lines = []
        for b in range(len(batch)):
            user = int(batch.users[b])
            lines.append(f"t={batch.times[b] / 3600:.2f}h  user {user}  visit "
                         f"{batch.visit_numbers[b]}  interests: {world.describe_user(user)}")
            for rank, (col, clicked) in enumerate(zip(shown[b], clicks[b], strict=True), start=1):
                if col >= 0:
                    item = int(batch.candidates[b, col])
                    age = (batch.times[b] - world.news.pub_time[item]) / 3600
                    lines.append(f"  {rank:2d}. item {item:7d}  topic {world.news.topic[item]:3d}"
                                 f"  age {age:5.1f}h  {'CLICK' if clicked else ''}")
        return "\n".join(lines)


class _PrefetchedVisits(_WorldRunner):
    """One visit per step, served from micro-batches of `batch_size` visits.

    Attractiveness and click coins of a micro-batch are computed once; each step only ranks
    and looks up, and the micro-batch's consequences are applied when it is used up. The
    users of a micro-batch are distinct, so each user's state is exact; item popularity lags
    by at most the micro-batch's span. A single env with prefetch P therefore reproduces the
    vector env with P slots given the same actions.
    """

    def _advance(self) -> bool:
        if not super()._advance():
            return False
        self.row = 0
        self.attractiveness = self.world.attractiveness(self.batch)
        self.coins = self.world.click_coins(self.batch)
        self.dwell = self.world.satisfaction(self.batch)[1].astype(np.float32)
        k = self.config.slate_size
        self.shown = np.full((self.batch_size, k), -1, dtype=np.int64)
        self.clicks = np.zeros((self.batch_size, k), dtype=bool)
        return True

    def reset(self, seed: int) -> tuple[dict, dict]:
        obs, info = super().reset(seed)
        return _row(obs, 0), _row(info, 0)

    @property
    def current(self) -> VisitBatch:
        return self.batch.rows(slice(self.row, self.row + 1))

    def step(self, scores: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        j, batch = self.row, self.batch
        shown = rank_slates(scores, batch.mask[j:j + 1], self.config.slate_size)
        cols = np.maximum(shown, 0)
        clicks = self.world.sample_clicks(np.take(self.attractiveness[j], cols),
                                          np.take(self.coins[j], cols), shown)
        dwell = np.where(clicks, np.take(self.dwell[j], cols), np.float32(0.0))
        self.shown[j], self.clicks[j] = shown[0], clicks[0]
        current = batch.rows(slice(j, j + 1))
        self.served = (current, shown, clicks)
        info = _row(_info(current, shown, clicks, dwell), 0)
        reward = float(clicks.sum())
        if j + 1 < self.batch_size:
            self.row = j + 1
            return _row(self.obs, self.row), reward, False, self._row_truncated(), info
        self.world.apply_feedback(batch, self.shown, self.clicks)
        if not self._advance():
            return _row(self.obs, j), reward, True, False, info
        return _row(self.obs, 0), reward, False, self._row_truncated(), info

    def _row_truncated(self) -> bool:
        return bool(self.batch.times[self.row] >= self.world.horizon)


def _info(batch: VisitBatch, shown: np.ndarray, clicks: np.ndarray,
          dwell: np.ndarray) -> dict[str, np.ndarray]:
    return {"shown": shown, "clicks": clicks, "dwell": dwell, "user_id": batch.users.copy(),
            "visit_id": batch.visit_ids.copy(), "sim_time": batch.times.copy(),
            "gap": batch.gaps.copy()}


def _row(tree: Any, j: int) -> Any:
    """Row j of a nested dict of batched arrays (scalars stay 0-d arrays, as Box spaces of
    shape () expect)."""
    if isinstance(tree, dict):
        return {key: _row(value, j) for key, value in tree.items()}
    return tree[j, ...]


def _seed_from(np_random: np.random.Generator, seed: int | None) -> int:
    return int(seed) if seed is not None else int(np_random.integers(0, 2**63 - 1))


class NewsFeedEnv(gym.Env):
    """One user visit per step. `gymnasium.make("drnsim/NewsFeed-v0", **config)`.

    Keyword arguments are `WorldConfig` fields (or pass `config=` a WorldConfig or dict).
    `reset(seed=s)` rebuilds the world from s, so equal seeds give identical episodes.
    Visits are drawn from the world `prefetch` at a time (see `_PrefetchedVisits`): item
    popularity counts lag by at most that many visits; `prefetch=1` is fully sequential.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, config: WorldConfig | Mapping[str, Any] | None = None,
                 render_mode: str | None = None, prefetch: int = 16, **overrides: Any):
        _check_render_mode(render_mode)
        self.config = WorldConfig.coerce(config, **overrides)
        if isinstance(prefetch, bool) or not isinstance(prefetch, (int, np.integer)) \
                or not 1 <= prefetch <= self.config.n_users:
            raise ValueError(f"prefetch must be an integer in [1, n_users={self.config.n_users}]"
                             f", got {prefetch!r}")
        self.render_mode = render_mode
        self.observation_space = observation_space(self.config)
        self.action_space = action_space(self.config)
        self._runner = _PrefetchedVisits(self.config, int(prefetch))

    @property
    def world(self) -> World:
        return self._runner.world

    @property
    def current_batch(self) -> VisitBatch | None:
        """The visit (a batch of one) that the next action will be shown to."""
        return self._runner.current

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        obs, info = self._runner.reset(_seed_from(self.np_random, seed))
        return obs, _python_info(info)

    def step(self, action):
        scores = validate_scores(action, self.action_space.shape)[None, :]
        obs, reward, terminated, truncated, info = self._runner.step(scores)
        return obs, reward, terminated, truncated, _python_info(info)

    def render(self) -> str | None:
        return self._runner.render_text() if self.render_mode == "ansi" else None


class NewsFeedVectorEnv(VectorEnv):
    """The next `num_envs` visits of one shared world per step (the fast path).

    All slots share one world and one clock, so they end together: `truncated` is set for all
    at the horizon, and with the default NEXT_STEP autoreset the following `step` starts a new
    episode. A batch holds distinct users in time order; a user who returns within the span of
    a batch is served in a later batch, so keep num_envs a small share of n_users (1/16 or
    less: the batch then spans minutes of simulated time).
    """

    metadata = {"render_modes": ["ansi"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 64, config: WorldConfig | Mapping[str, Any] | None = None,
                 render_mode: str | None = None, **overrides: Any):
        _check_render_mode(render_mode)
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) \
                or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.config = WorldConfig.coerce(config, **overrides)
        self.config.check_memory(int(num_envs))
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.single_observation_space = observation_space(self.config)
        self.single_action_space = action_space(self.config)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._runner = _WorldRunner(self.config, self.num_envs)
        self._needs_reset = False

    @property
    def world(self) -> World:
        return self._runner.world

    @property
    def current_batch(self) -> VisitBatch | None:
        return self._runner.batch

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._needs_reset = False
        return self._runner.reset(_seed_from(self.np_random, seed))

    def step(self, actions):
        if self._needs_reset:  # NEXT_STEP autoreset: this step only starts a new episode
            obs, info = self.reset()
            zeros = np.zeros(self.num_envs, dtype=bool)
            return obs, np.zeros(self.num_envs), zeros, zeros.copy(), info
        scores = validate_scores(actions, self.action_space.shape)
        obs, reward, terminated, truncated, info = self._runner.step(scores)
        self._needs_reset = terminated or truncated
        return (obs, reward, np.full(self.num_envs, terminated), np.full(self.num_envs, truncated),
                info)

    def render(self) -> str | None:
        return self._runner.render_text() if self.render_mode == "ansi" else None


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode not in (None, "ansi"):
        raise ValueError(f"render_mode must be None or 'ansi', got {render_mode!r}")


def _python_info(info: dict[str, np.ndarray]) -> dict[str, Any]:
    """Single-env info: arrays for `shown`/`clicks`, Python numbers for the rest."""
    return {key: value if value.ndim else value.item() for key, value in info.items()}
