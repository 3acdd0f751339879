"""Gymnasium environments over the simulated world (docs/design.md section 3).

* `NewsFeedEnv`: one user visit per step (the classic single-request env, any RL library).
* `NewsFeedVectorEnv`: the next B visits of one shared world per step, array code throughout.

Action: one score in [-1, 1] per candidate; the env shows the K best in descending order, ties
to the lower index, padded candidates never. Reward: the visit's clicks. Step info: `shown`
(K candidate indices), `clicks` (K bools), `dwell` (K float32 seconds read per click, 0 where
not clicked: docs/design.md section 8), `user_id`, `visit_id`, `sim_time`, `gap`, and
`churned` (bool): this visit's user left the world after it and will never visit again. It is
the per-user `terminated` of the user's own MDP (the end of the user's sequence of visits),
revealed when it happens; it carries nothing hidden beyond what the missing next visit would
reveal later (docs/design.md section 12).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv

from drnsim import _kernels as kernels
from drnsim.config import WINDOWS_SECONDS, WorldConfig
from drnsim.envs.spaces import attach_spaces
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
    """float32 and float64 as they are (the ranking kernel takes both), other real numbers
    (integers, bools, float16) as float64; TypeError for anything else (complex, strings,
    objects: no part of a number is silently dropped)."""
    if scores.dtype in (np.float32, np.float64):
        return scores
    if scores.dtype.kind not in "biuf":
        raise TypeError(f"scores of dtype {scores.dtype} are not real numbers")
    return scores.astype(np.float64)


def check_reset_options(options: Any, allowed: tuple[str, ...] = ()) -> dict:
    """`reset`'s ``options`` as a dict; ValueError naming any key the env does not read (a
    misspelt option is an error, not silently ignored)."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"options must be a dict or None, got {type(options).__name__}")
    unknown = sorted(map(str, set(options) - set(allowed)))
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; this env reads "
                         f"{list(allowed) if allowed else 'none'}")
    return dict(options)


def check_started(started: bool) -> None:
    """RuntimeError for a `step` before the first `reset`."""
    if not started:
        raise RuntimeError("call reset() (e.g. reset(seed=0)) before step(): the env has no "
                           "visit to serve yet")


def validate_scores(action: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The action as a float array (float32 and float64 kept, anything else as float64) of
    shape `shape`; ValueError on a wrong shape, NaN or a score outside [-1, 1] (the error
    names the argument and the remedy)."""
    try:
        scores = _as_float(np.asarray(action))
    except (TypeError, ValueError):
        raise ValueError(f"action must be an array of numbers of shape {shape} (one score per "
                         f"candidate), got {type(action).__name__} {str(action)[:40]!r}") from None
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
    return _rank(scores, mask, slate_size)[0]


def _rank(scores: np.ndarray, mask: np.ndarray, slate_size: int) -> tuple[np.ndarray, int]:
    """`rank_slates` and the number of scores that are NaN or outside [-1, 1]."""
    scores = np.ascontiguousarray(_as_float(np.asarray(scores)))
    out = np.empty((scores.shape[0], min(slate_size, scores.shape[1])), dtype=np.int64)
    bad = kernels.rank_slates(scores, np.ascontiguousarray(mask, dtype=np.bool_), out)
    return out, bad


def rank_actions(action: Any, shape: tuple[int, ...], mask: np.ndarray,
                 slate_size: int) -> np.ndarray:
    """The slates (B, K) an env action of ``shape`` shows (`rank_slates`), validated in the
    same pass: a wrong shape, NaN or a score outside [-1, 1] raises `validate_scores`'s
    error."""
    scores = np.asarray(action)
    if scores.shape != shape or scores.dtype not in (np.float32, np.float64):
        scores = validate_scores(scores, shape)
    shown, bad = _rank(scores.reshape(mask.shape), mask, slate_size)
    if bad:
        validate_scores(scores, shape)
    return shown


def _slates(action: Any, shape: tuple[int, ...], mask: np.ndarray, slate_size: int,
            validate: bool) -> np.ndarray:
    """`rank_actions` for an agent's action; plain ranking for scores the env decoded from
    another action mode (e.g. weights: any finite numbers)."""
    if validate:
        return rank_actions(action, shape, mask, slate_size)
    return rank_slates(np.asarray(action).reshape(mask.shape), mask, slate_size)


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
                         np.zeros((self.batch_size, k), dtype=np.float32),
                         np.zeros(self.batch_size, dtype=bool))
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

    def step(self, action: Any, shape: tuple[int, ...], validate: bool = True
             ) -> tuple[dict, np.ndarray, bool, bool, dict]:
        """Show the batch its slates (the action validated against ``shape``, unless it is
        scores the env decoded itself), collect clicks, move to the next batch."""
        batch = self.batch
        shown = _slates(action, shape, batch.mask, self.config.slate_size, validate)
        clicks, dwell = self.world.feedback(batch, shown)
        self.served = (batch, shown, clicks)
        reward = clicks.sum(axis=1).astype(np.float64)
        info = _info(batch, shown, clicks, dwell, self.world.users.churned[batch.users])
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

    Each step ranks its visit's slate, serves it (`World.serve` on that row: its clicks,
    dwell and satisfaction) and applies the visit's consequences for its user (`World.commit`
    on that row: engagement, history, next visit or churn, so that `churned` is known at the
    step); the items' click counters take the micro-batch's clicks when it is used up. The
    users of a micro-batch are distinct, so each user's state is exact; item popularity lags
    by at most the micro-batch's span. A single env with prefetch P therefore reproduces the
    vector env with P slots given the same actions.
    """

    def _advance(self) -> bool:
        if not super()._advance():
            return False
        self.row = 0
        b, k = self.batch_size, self.config.slate_size
        self.shown = np.full((b, k), -1, dtype=np.int64)
        self.items = np.full((b, k), -1, dtype=np.int64)
        self.clicks = np.zeros((b, k), dtype=bool)
        batch = self.batch
        # Python numbers for the step infos, and the observation's leaves for its rows
        self._scalars = list(zip(batch.users.tolist(), batch.visit_ids.tolist(),
                                 batch.times.tolist(), batch.gaps.tolist(), strict=True))
        self._leaves = [(group, list(arrays.items())) for group, arrays in self.obs.items()]
        # the users are distinct: each one's return coins can be drawn for all rows at once
        self._return_coins = self.world.users.return_coins(batch.users)
        return True

    def reset(self, seed: int) -> tuple[dict, dict]:
        obs, info = super().reset(seed)
        return self._obs_row(0), _row(info, 0)

    def _obs_row(self, j: int) -> dict:
        """Row j of the micro-batch's observation (0-d arrays for the scalars, as Box
        spaces of shape () expect)."""
        return {group: {key: array[j, ...] for key, array in arrays}
                for group, arrays in self._leaves}

    @property
    def current(self) -> VisitBatch:
        return self.batch.rows(slice(self.row, self.row + 1))

    def step(self, action: Any, shape: tuple[int, ...], validate: bool = True
             ) -> tuple[dict, float, bool, bool, dict]:
        j, batch = self.row, self.batch
        rows = slice(j, j + 1)
        shown = _slates(action, shape, batch.mask[rows], self.config.slate_size, validate)
        current = batch.rows(rows)
        items, clicks, dwell, satisfaction = self.world.serve(current, shown)
        self.world.commit(current, items, clicks, satisfaction, popularity=False,
                          return_coins=self._return_coins[:, rows])
        self.shown[j], self.items[j], self.clicks[j] = shown[0], items[0], clicks[0]
        self.served = (batch, rows, shown, clicks)
        user, visit, time, gap = self._scalars[j]
        info = {"shown": shown[0], "clicks": clicks[0], "dwell": dwell[0], "user_id": user,
                "visit_id": visit, "sim_time": time, "gap": gap,
                "churned": bool(self.world.users.churned[user])}
        reward = float(clicks.sum())
        if j + 1 < self.batch_size:
            self.row = j + 1
            return self._obs_row(self.row), reward, False, self._row_truncated(), info
        self.world.count_clicks(batch, self.items, self.clicks)
        if not self._advance():
            return self._obs_row(j), reward, True, False, info
        return self._obs_row(0), reward, False, self._row_truncated(), info

    def render_text(self) -> str:
        if self.served is not None and len(self.served) == 4:
            batch, rows, shown, clicks = self.served
            self.served = (batch.rows(rows), shown, clicks)
        return super().render_text()

    def _row_truncated(self) -> bool:
        return bool(self.batch.times[self.row] >= self.world.horizon)


def _info(batch: VisitBatch, shown: np.ndarray, clicks: np.ndarray, dwell: np.ndarray,
          churned: np.ndarray) -> dict[str, np.ndarray]:
    return {"shown": shown, "clicks": clicks, "dwell": dwell, "user_id": batch.users.copy(),
            "visit_id": batch.visit_ids.copy(), "sim_time": batch.times.copy(),
            "gap": batch.gaps.copy(), "churned": churned}


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

    Keyword arguments are `WorldConfig` fields (or pass `config=` a WorldConfig or dict); any
    other keyword raises TypeError. `reset(seed=s)` rebuilds the world from s, so equal seeds
    give identical episodes. Visits are drawn from the world `prefetch` at a time (see
    `_PrefetchedVisits`): item popularity counts lag by at most that many visits;
    `prefetch=1` is fully sequential. ``obs_mode`` ("dict", "flat_dict", "box") and
    ``action_mode`` ("scores", "weights") are documented in `drnsim.envs.spaces`.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, config: WorldConfig | Mapping[str, Any] | None = None,
                 render_mode: str | None = None, prefetch: int = 16, obs_mode: str = "dict",
                 action_mode: str = "scores", **overrides: Any):
        _check_render_mode(render_mode)
        self.config = coerce_config(type(self).__name__, config, overrides)
        if isinstance(prefetch, bool) or not isinstance(prefetch, (int, np.integer)) \
                or not 1 <= prefetch <= self.config.n_users:
            raise ValueError(f"prefetch must be an integer in [1, n_users={self.config.n_users}]"
                             f", got {prefetch!r}")
        self.render_mode = render_mode
        attach_spaces(self, obs_mode, action_mode, observation_space(self.config))
        self._runner = _PrefetchedVisits(self.config, int(prefetch))
        self._plain = self._decoder.mode == "scores" and self._encoder.mode == "dict"
        self._started = False
        self._raw: dict | None = None

    @property
    def world(self) -> World:
        return self._runner.world

    @property
    def current_batch(self) -> VisitBatch | None:
        """The visit (a batch of one) that the next action will be shown to."""
        return self._runner.current

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        check_reset_options(options)
        super().reset(seed=seed)
        obs, info = self._runner.reset(_seed_from(self.np_random, seed))
        return self._encode(obs), _python_info(info)

    def step(self, action):
        check_started(self._started)
        if self._plain:  # the raw action, validated while it is ranked
            return self._runner.step(action, self.action_space.shape)
        scores = self._decoder.scores(action, self._raw, batched=False)
        obs, reward, terminated, truncated, info = self._runner.step(scores, scores.shape,
                                                                     validate=False)
        return self._encode(obs), reward, terminated, truncated, info

    def _encode(self, obs: dict) -> Any:
        """The observation in `obs_mode`; keeps the raw batch of one for weights actions."""
        self._started = True
        if self._plain:
            return obs
        self._raw = _add_batch_axis(obs)
        return obs if self._encoder.mode == "dict" else _row(self._encoder.encode(self._raw), 0)

    def render(self) -> str | None:
        return self._runner.render_text() if self.render_mode == "ansi" else None


class NewsFeedVectorEnv(VectorEnv):
    """The next `num_envs` visits of one shared world per step (the fast path).

    All slots share one world and one clock, so they end together: `truncated` is set for all
    at the horizon. ``autoreset_mode`` (Gymnasium 1.x semantics, `metadata["autoreset_mode"]`):
    NEXT_STEP (default: the following `step` starts a new world and ignores its action),
    SAME_STEP (the ending step returns the new world's first observation; the last one is in
    ``info["final_obs"]`` and ``info["final_info"]``), DISABLED (`reset()` yourself; the slots
    share a world, so a ``reset_mask`` must select all of them). A batch holds distinct users in
    time order; a user who returns within the span of a batch is served in a later batch, so
    keep num_envs a small share of n_users (1/16 or less: the batch then spans minutes of
    simulated time). ``obs_mode`` and ``action_mode``: see `drnsim.envs.spaces`. Any keyword
    that is neither an argument here nor a `WorldConfig` field raises TypeError.
    """

    metadata = {"render_modes": ["ansi"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 64, config: WorldConfig | Mapping[str, Any] | None = None,
                 render_mode: str | None = None, obs_mode: str = "dict",
                 action_mode: str = "scores",
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 **overrides: Any):
        _check_render_mode(render_mode)
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) \
                or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        self.config = coerce_config(type(self).__name__, config, overrides)
        self.config.check_memory(int(num_envs))
        self.num_envs = int(num_envs)
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "autoreset_mode": check_autoreset(autoreset_mode)}
        attach_spaces(self, obs_mode, action_mode, observation_space(self.config))
        self._runner = _WorldRunner(self.config, self.num_envs)
        self._needs_reset = False

    @property
    def world(self) -> World:
        return self._runner.world

    @property
    def current_batch(self) -> VisitBatch | None:
        return self._runner.batch

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        mask = check_reset_options(options, ("reset_mask",)).get("reset_mask")
        if mask is not None and not np.all(mask):
            raise ValueError("reset_mask must select every slot: NewsFeed-v0's slots share one "
                             "world and one clock, so they reset together")
        super().reset(seed=seed)
        self._needs_reset = False
        obs, info = self._runner.reset(_seed_from(self.np_random, seed))
        return self._encoder.encode(obs), info

    def step(self, actions):
        check_started(self._runner.obs is not None)
        mode = self.metadata["autoreset_mode"]
        if self._needs_reset:
            if mode == AutoresetMode.DISABLED:
                raise RuntimeError("the episode is over and autoreset_mode is DISABLED: call "
                                   "reset() before stepping again")
            obs, info = self.reset()  # NEXT_STEP: this step only starts a new episode
            zeros = np.zeros(self.num_envs, dtype=bool)
            return obs, np.zeros(self.num_envs), zeros, zeros.copy(), info
        if self._decoder.mode == "scores":  # validated while it is ranked
            obs, reward, terminated, truncated, info = self._runner.step(
                actions, self.action_space.shape)
        else:
            scores = self._decoder.scores(actions, self._runner.obs)
            obs, reward, terminated, truncated, info = self._runner.step(scores, scores.shape,
                                                                         validate=False)
        obs = self._encoder.encode(obs)
        ended = np.full(self.num_envs, terminated or truncated)
        if ended.all() and mode == AutoresetMode.SAME_STEP:
            info = same_step_info(info, obs, ended)
            obs, _ = self.reset()
        else:
            self._needs_reset = bool(ended.all())
        return obs, reward, np.full(self.num_envs, terminated), np.full(self.num_envs, truncated), \
            info

    def render(self) -> str | None:
        return self._runner.render_text() if self.render_mode == "ansi" else None


class UnsupportedRenderMode(TypeError, ValueError):
    """A render mode this env does not have. A TypeError too: Stable-Baselines3's
    `make_vec_env` and TorchRL's `GymEnv` ask for ``render_mode="rgb_array"`` and retry without
    it only on TypeError."""


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode not in (None, "ansi"):
        raise UnsupportedRenderMode(f"render_mode must be None or 'ansi' (drnsim renders text), "
                                    f"got {render_mode!r}")


def coerce_config(owner: str, config: WorldConfig | Mapping[str, Any] | None,
                  overrides: Mapping[str, Any]) -> WorldConfig:
    """The world config from `config` and keyword overrides; a keyword that is not a
    `WorldConfig` field raises TypeError (as Python does for an unexpected keyword argument:
    libraries such as Stable-Baselines3 and TorchRL retry without optional keywords on it)."""
    unknown = sorted(set(overrides) - set(WorldConfig.field_names()))
    if unknown:
        raise TypeError(f"{owner} got unexpected keyword argument(s) {unknown}: keywords are "
                        f"the env's own arguments or WorldConfig fields "
                        f"({', '.join(WorldConfig.field_names())})")
    return WorldConfig.coerce(config, **overrides)


def check_autoreset(mode: AutoresetMode | str) -> AutoresetMode:
    """An `AutoresetMode` (or its value, e.g. "SameStep"); ValueError naming the argument."""
    try:
        return AutoresetMode(mode)
    except ValueError:
        allowed = [m.value for m in AutoresetMode]
        raise ValueError(f"autoreset_mode must be one of {allowed} (gymnasium.vector."
                         f"AutoresetMode), got {mode!r}") from None


def same_step_info(info: dict, final_obs: Any, ended: np.ndarray) -> dict:
    """SAME_STEP autoreset info (Gymnasium 1.x): the ended slots' last observations in
    ``final_obs`` (an object array, None elsewhere) and their step info in ``final_info``,
    each with its ``_key`` mask."""
    objects = np.full(len(ended), None, dtype=object)
    for j in np.flatnonzero(ended):
        objects[j] = _row(final_obs, j)
    final_info = {}
    for key, value in info.items():
        final_info[key] = value
        final_info[f"_{key}"] = ended.copy()
    return {**info, "final_obs": objects, "_final_obs": ended.copy(), "final_info": final_info,
            "_final_info": ended.copy()}


def _add_batch_axis(tree: Any) -> Any:
    if isinstance(tree, dict):
        return {key: _add_batch_axis(value) for key, value in tree.items()}
    return np.asarray(tree)[None, ...]


def _python_info(info: dict[str, np.ndarray]) -> dict[str, Any]:
    """Single-env info: arrays for `shown`/`clicks`, Python numbers for the rest."""
    return {key: value if value.ndim else value.item() for key, value in info.items()}
