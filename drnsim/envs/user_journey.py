"""UserJourney-v0: an MDP of one user's successive visits, for RL libraries (docs/design.md
section 9). The simulation behind it is `drnsim.journeys`; this module adds the Gymnasium
surface: spaces and modes, rewards, episode ends, autoreset, and the background policy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from drnsim.config import DAY, HOUR, WorldConfig
from drnsim.envs.news_feed import (
    _check_render_mode,
    _python_info,
    _row,
    _seed_from,
    action_from_scores,
    check_autoreset,
    check_reset_options,
    coerce_config,
    observation_space,
    rank_slates,
    same_step_info,
)
from drnsim.envs.spaces import attach_spaces, check_choice
from drnsim.journeys import Journeys
from drnsim.world import VisitBatch, World

REWARD_MODES = ("clicks", "clicks+dwell", "clicks+return")
_MAX_ID = np.iinfo(np.int64).max


class AgentView:
    """What an agent's ``bind(env)`` and the oracles read, for one world: the world, its
    config and the visits being served (`current_batch`)."""

    def __init__(self, world: World):
        self.world: World | JourneyEnds = world
        self.config = world.config
        self.current_batch: VisitBatch | None = None

    @property
    def unwrapped(self) -> AgentView:
        return self

    def show(self, world: World, batch: VisitBatch,
             horizon: np.ndarray | None = None) -> AgentView:
        """Serve `batch` of `world`; `horizon` (B,) seconds, when given, is each visit's
        journey end, which `world.horizon` then reads (`oracle:longterm` plans up to it)."""
        self.world = world if horizon is None else JourneyEnds(world, horizon)
        self.config, self.current_batch = world.config, batch
        return self


class JourneyEnds:
    """A world whose ``horizon`` is the end of each served visit's journey (B,) instead of
    the world's episode end; everything else is the world's."""

    def __init__(self, world: World, horizon: np.ndarray):
        self._world = world
        self.horizon = horizon

    def __getattr__(self, name: str) -> Any:
        return getattr(self._world, name)


class AgentPolicy:
    """A drnsim agent as a journey world's background policy (`drnsim.journeys.Policy`): it
    ranks with `act` and learns from the background's visits with `observe` and `update`, as
    in `drnsim.loop.play`; warm-up visits are served by its current state without learning."""

    def __init__(self, agent: Any):
        from drnsim.agents.base import BaseAgent  # agents import the envs: import at call time

        self.agent = agent
        self.view: AgentView | None = None
        self._scores: np.ndarray | None = None
        # agents that keep BaseAgent's no-op observe and update (random, popular, oracle)
        # learn nothing: skip building their feedback
        self.learns = not (getattr(type(agent), "observe", None) is BaseAgent.observe
                           and getattr(type(agent), "update", None) is BaseAgent.update)

    def serve(self, world: World, batch: VisitBatch, obs: dict) -> np.ndarray:
        if self.view is None:
            self.view = AgentView(world)
            if hasattr(self.agent, "bind"):
                self.agent.bind(self.view)
        self.view.show(world, batch)
        scores = np.asarray(self.agent.act(obs), dtype=np.float64)
        if scores.shape != batch.mask.shape or not np.isfinite(scores).all():
            raise ValueError(f"background agent returned scores of shape {scores.shape} (or "
                             f"non-finite ones); expected finite scores of shape "
                             f"{batch.mask.shape}")
        self._scores = scores
        return rank_slates(scores, batch.mask, world.config.slate_size)

    def learn(self, world: World, batch: VisitBatch, obs: dict, shown: np.ndarray,
              clicks: np.ndarray, dwell: np.ndarray) -> None:
        if not self.learns:
            return
        info = {"shown": shown, "clicks": clicks, "dwell": dwell, "user_id": batch.users,
                "visit_id": batch.visit_ids, "sim_time": batch.times, "gap": batch.gaps}
        self.agent.observe(obs, action_from_scores(self._scores).astype(np.float32),
                           clicks.sum(axis=1).astype(np.float64), info)
        self.agent.update(float(batch.times.max()))


def _make_background(name: Any, kwargs: Mapping[str, Any] | None) -> Any:
    """The background agent, or ValueError naming the ``background`` argument."""
    from drnsim.agents import make_agent  # agents import the envs: import at call time

    if not isinstance(name, str):
        raise ValueError(f"background must be an agent name (see `drnsim agents`), got {name!r}")
    try:
        return make_agent(name, **dict(kwargs or {}))
    except (ValueError, TypeError) as exc:
        raise ValueError(f"background={name!r} is not a usable agent: {exc}") from exc


def _positive(name: str, value: Any, allow_zero: bool = False) -> float:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) \
        and np.isfinite(value) and (value >= 0 if allow_zero else value > 0)
    if not ok:
        raise ValueError(f"{name} must be a finite number {'>=' if allow_zero else '>'} 0, "
                         f"got {value!r}")
    return float(value)


def _count(name: str, value: Any, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


# ----------------------------------------------------------------------------------------
class _JourneyRunner:
    """What the single and the vector env share: journeys in `n_slots` slots, the raw
    observation of each slot (`raw`), the visit each slot is at (`visit`), rewards and
    episode ends."""

    def __init__(self, config: WorldConfig, n_slots: int, horizon_days: float | None,
                 warmup_days: float, reward_mode: str, reward_weight: float,
                 return_tau_hours: float | None, background: str,
                 background_kwargs: Mapping[str, Any] | None, journeys_per_world: int | None,
                 max_episode_steps: int | None):
        self.config = config
        self.n_slots = n_slots
        self.horizon = _positive("horizon_days", config.episode_days if horizon_days is None
                                 else horizon_days) * DAY
        self.warmup_days = _positive("warmup_days", warmup_days, allow_zero=True)
        self.reward_mode = check_choice("reward_mode", reward_mode, REWARD_MODES)
        self.reward_weight = _positive("reward_weight", reward_weight, allow_zero=True)
        self.return_tau = _positive("return_tau_hours", config.mean_return_hours
                                    if return_tau_hours is None else return_tau_hours) * HOUR
        _make_background(background, background_kwargs)  # fail early on a bad name
        self.background, self.background_kwargs = background, dict(background_kwargs or {})
        default = max(8 * n_slots, min(65_536, max(8192, 4 * config.n_users)))
        self.journeys_per_world = _count("journeys_per_world", default
                                         if journeys_per_world is None else journeys_per_world,
                                         low=n_slots)
        self.max_episode_steps = None if max_episode_steps is None else \
            _count("max_episode_steps", max_episode_steps)
        self.background_batch = max(1, min(1024, config.n_users // 16))
        self.journeys: Journeys | None = None
        self.raw: dict = {}
        self.visit: dict = {}
        self.last: dict | None = None  # the last step's outcome, for render

    def _policy(self) -> AgentPolicy:
        return AgentPolicy(_make_background(self.background, self.background_kwargs))

    def reset(self, seed: int) -> dict:
        """New worlds from `seed`, a journey in every slot; returns the visits' info."""
        self.journeys = Journeys(self.config, self.n_slots, seed, self.warmup_days,
                                 self.journeys_per_world, self.background_batch, self._policy)
        slots = np.arange(self.n_slots)
        self.journeys.begin(slots)
        self.raw, self.visit = self.journeys.prepare(slots, np.ones(self.n_slots, bool))
        self.last = None
        return {key: value.copy() for key, value in self.visit.items()}

    def restart(self, slots: np.ndarray) -> None:
        """The next journeys in `slots` (ending any still running there)."""
        self.journeys.begin(slots)
        self.raw, self.visit = self.journeys.prepare(slots, np.ones(len(slots), bool),
                                                     (self.raw, self.visit))

    def step(self, scores: np.ndarray, restart: np.ndarray | None = None,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
        """Serve the slots that have a visit, then start the next journeys in the `restart`
        slots (slots whose journey ended earlier); reward, terminated, truncated and info per
        slot (zeros for slots not served). Afterwards `raw` holds each served slot's next
        observation: the next visit, also when truncated (the state to bootstrap from), and
        the last visit's again when the user churned; and the restarted slots' first."""
        journeys = self.journeys
        visit = self.visit
        k = self.config.slate_size
        out = journeys.serve(scores, lambda s, mask: rank_slates(s, mask, k))
        served, next_time = out["served"], out["next_time"]
        return_gap = np.where(served, next_time - visit["sim_time"], np.nan)
        terminated = served & ~np.isfinite(next_time)
        over = np.isfinite(next_time) & (next_time >= journeys.start + self.horizon)
        if self.max_episode_steps is not None:
            over |= journeys.steps >= self.max_episode_steps
        truncated = served & ~terminated & over
        continuing = served & ~terminated & ~truncated
        info = {"shown": out["shown"], "clicks": out["clicks"], "dwell": out["dwell"],
                **{key: value.copy() for key, value in visit.items()}, "return_gap": return_gap}
        reward = self._reward(out, return_gap)
        starting = np.zeros(self.n_slots, bool)
        if restart is not None and len(restart):
            journeys.begin(restart)
            starting[restart] = True
        observed = np.flatnonzero(continuing | truncated | starting)
        if len(observed):
            store = (continuing | starting)[observed]
            self.raw, self.visit = journeys.prepare(observed, store, (self.raw, self.visit))
        journeys.finish(np.flatnonzero(terminated | truncated))
        self.last = info
        return reward, terminated, truncated, info

    def _reward(self, out: dict, return_gap: np.ndarray) -> np.ndarray:
        """clicks; + w * dwell minutes; or + w * exp(-return gap / tau) (0 on churn)."""
        reward = out["clicks"].sum(axis=1).astype(np.float64)
        if self.reward_mode == "clicks+dwell":
            reward += self.reward_weight * out["dwell"].sum(axis=1) / 60.0
        elif self.reward_mode == "clicks+return":
            with np.errstate(invalid="ignore"):
                bonus = np.exp(-np.nan_to_num(return_gap, nan=np.inf) / self.return_tau)
            reward += self.reward_weight * np.where(out["served"], bonus, 0.0)
        return reward

    def render_text(self) -> str:
        if self.last is None:
            return "\n".join(f"slot {j}: user {self.visit['user_id'][j]} at "
                             f"t={self.visit['sim_time'][j] / HOUR:.2f}h (first visit of the "
                             "journey)" for j in range(self.n_slots))
        info = self.last
        lines = []
        for j in range(self.n_slots):
            if (info["shown"][j] < 0).all():
                continue
            gap = info["return_gap"][j]
            after = "churned" if not np.isfinite(gap) else f"returns after {gap / HOUR:.1f}h"
            lines.append(f"slot {j}: user {info['user_id'][j]} visit {info['visit_number'][j]} "
                         f"t={info['sim_time'][j] / HOUR:.2f}h  shown {info['shown'][j].tolist()}"
                         f"  clicks {int(info['clicks'][j].sum())}  {after}")
        return "\n".join(lines)


def _dict_space(config: WorldConfig) -> gym.spaces.Dict:
    """NewsFeed-v0's raw Dict, with journey user ids (n_users and up) as the user id."""
    space = observation_space(config)
    space["user"]["user_id"] = gym.spaces.Box(0, _MAX_ID, (), dtype=np.int64)
    return space


_DOC_ARGS = """
    Spaces (`drnsim.envs.spaces` documents every value): observation ``obs_mode="dict"``,
    NewsFeed-v0's nested Dict (``user.user_id`` up to 2^63 - 1: journey users are numbered
    from n_users); ``"flat_dict"``, 8 float32 Boxes, each value scaled to its Box;
    ``"box"``, the same values as one float32 Box (3,501 at the default sizes). Action
    ``action_mode="scores"``, ``Box(-1, 1, (n_candidates,))``, the K best shown; ``"weights"``,
    ``Box(-1, 1, (13,))``, weights of `drnsim.envs.CANDIDATE_FEATURES` whose dot product ranks the
    candidates.

    Arguments (keywords; any other keyword must be a `WorldConfig` field, else TypeError):

    * ``config`` / world keywords: the world (`WorldConfig`). ``n_users`` are the
      background users; the journey users come on top.
    * ``horizon_days`` (default: the world's ``episode_days``, 7): an episode is truncated at
      the journey user's first visit at or after this long after the journey's first visit.
    * ``warmup_days`` (1.0): before its journey starts, each user is served by the background
      policy from its first visit for this long (its history and return rhythm build up);
      0 starts journeys at the user's first visit ever.
    * ``reward_mode``: ``"clicks"`` (default) r = number of clicks of the visit;
      ``"clicks+dwell"`` r = clicks + reward_weight * (dwell minutes of the visit's clicks,
      ``info["dwell"]``: the long-term world's signal of satisfaction, docs/design.md
      section 8); ``"clicks+return"``
      r = clicks + reward_weight * exp(-g / return_tau_hours), g = hours until this user's
      next visit (0 when the user churns): the return the slate earned, credited to it.
    * ``reward_weight`` (1.0), ``return_tau_hours`` (default: the world's
      ``mean_return_hours``).
    * ``obs_mode`` ("dict", "flat_dict", "box") and ``action_mode`` ("scores", "weights"): see
      `drnsim.envs.spaces`. In "dict" mode ``user.user_id`` is the journey user's id
      (n_users + the journey's number), item ids are those of the journey's world.
    * ``background`` ("popular"): any agent name of `drnsim.agents.make_agent` (e.g. "random",
      "oracle", "linucb", "module:Class") with ``background_kwargs``; it serves the background
      users (and learns from them, if it learns) and the warm-ups.
    * ``journeys_per_world`` (default 4 * n_users, at least 8,192 and at most 65,536, and at
      least 8 per slot): journeys hosted by one world before the next world (seeded from the
      same seed) takes over. A world's background is simulated once for all its journeys
      (16 days, about 48 * n_users visits), so more journeys per world cost fewer background
      visits each; its memory grows with n_users + journeys_per_world (about 1.4 kB each).
    * ``max_episode_steps`` (None): also truncate after this many visits.

    Episode end: ``terminated`` when the user churns (the returned observation repeats the
    last visit's); ``truncated`` at the horizon (the returned observation is the user's next
    visit, the state to bootstrap from). There is no ``spec.max_episode_steps``: a journey
    lasts ``horizon_days`` of simulated time, about 7 to 170 visits at the defaults (users'
    return gaps differ).
    ``info``: ``shown`` (K candidate indices, -1 = empty), ``clicks`` (K bools),
    ``user_id``, ``visit_number`` (the user's n-th visit, warm-up included), ``sim_time``
    (seconds), ``gap`` (seconds since the user's previous visit, -1 for a first visit),
    ``return_gap`` (seconds until the next visit, inf when churned) and ``dwell`` (K float32
    seconds read per click, 0 where not clicked).

    Semantics (`drnsim.journeys`): journeys are users on their own timelines over a background
    world of ``n_users`` users; a visit at time t sees item popularity as of t (every
    background click before t); journey users' clicks do not count in popularity. The worlds
    depend only on the seed, and each journey only on them and its own actions.
"""


class UserJourneyEnv(gym.Env):
    __doc__ = """One user's successive visits: ``gymnasium.make("drnsim/UserJourney-v0")``.

    Each episode follows one user: a step shows a slate to the user's current visit, and the
    next observation is the same user's next visit, while every other user's visits are
    served by a background policy, so the news and its popularity keep moving.
    `reset(seed=s)` builds the worlds from s; `reset()` without a seed starts the next
    journey of the same worlds (a new user). Its first journey is slot 0's of a
    `UserJourneyVectorEnv` with the same seed, visit for visit, given the same actions.
""" + _DOC_ARGS

    metadata = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(self, config: WorldConfig | Mapping[str, Any] | None = None, *,
                 horizon_days: float | None = None, warmup_days: float = 1.0,
                 reward_mode: str = "clicks", reward_weight: float = 1.0,
                 return_tau_hours: float | None = None, obs_mode: str = "dict",
                 action_mode: str = "scores", background: str = "popular",
                 background_kwargs: Mapping[str, Any] | None = None,
                 journeys_per_world: int | None = None, max_episode_steps: int | None = None,
                 render_mode: str | None = None, **overrides: Any):
        _check_render_mode(render_mode)
        self.config = coerce_config(type(self).__name__, config, overrides)
        self.render_mode = render_mode
        attach_spaces(self, obs_mode, action_mode, _dict_space(self.config))
        self._runner = _JourneyRunner(self.config, 1, horizon_days, warmup_days, reward_mode,
                                      reward_weight, return_tau_hours, background,
                                      background_kwargs, journeys_per_world, max_episode_steps)
        self._over = True

    @property
    def journeys(self) -> Journeys | None:
        """The simulation (`drnsim.journeys.Journeys`, one slot)."""
        return self._runner.journeys

    @property
    def raw_observation(self) -> dict:
        """The current visit's raw observation ("dict" mode, leading axis 1)."""
        return self._runner.raw

    def attractiveness(self) -> np.ndarray:
        """The true a_ui (N,) of the current visit's candidates (hidden: for oracles)."""
        return self._runner.journeys.attractiveness()[0]

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        check_reset_options(options)
        super().reset(seed=seed)
        if seed is not None or self._runner.journeys is None:
            info = self._runner.reset(_seed_from(self.np_random, seed))
        else:
            self._runner.restart(np.zeros(1, np.int64))
            info = self._runner.visit
        self._over = False
        return self._observation(), _python_info(_row(info, 0))

    def step(self, action):
        if self._over:
            raise RuntimeError("the journey is over (or was never started): call reset()")
        scores = self._decoder.scores(action, self._runner.raw, batched=False)
        reward, terminated, truncated, info = self._runner.step(scores)
        self._over = bool(terminated[0] or truncated[0])
        return (self._observation(), float(reward[0]), bool(terminated[0]), bool(truncated[0]),
                _python_info(_row(info, 0)))

    def _observation(self) -> Any:
        return _row(self._encoder.encode(self._runner.raw), 0)

    def render(self) -> str | None:
        return self._runner.render_text() if self.render_mode == "ansi" else None


class UserJourneyVectorEnv(VectorEnv):
    __doc__ = """``num_envs`` journeys at once in shared worlds (the vector entry point of
    ``drnsim/UserJourney-v0``): slot j follows one user until its journey ends, then the next
    journey. Slots are independent: a slot's trajectory is that of the single env given the
    same journey and actions. ``autoreset_mode`` (Gymnasium 1.x, `metadata["autoreset_mode"]`):
    NEXT_STEP (default: the step after an ending one starts the slot's next journey, ignores
    its action and returns reward 0), SAME_STEP (the ending step returns the next journey's
    first observation; the last one is in ``info["final_obs"]``, its info in
    ``info["final_info"]``), DISABLED (call ``reset(options={"reset_mask": ended})``).
""" + _DOC_ARGS

    metadata = {"render_modes": ["ansi"], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 64, config: WorldConfig | Mapping[str, Any] | None = None,
                 *, horizon_days: float | None = None, warmup_days: float = 1.0,
                 reward_mode: str = "clicks", reward_weight: float = 1.0,
                 return_tau_hours: float | None = None, obs_mode: str = "dict",
                 action_mode: str = "scores", background: str = "popular",
                 background_kwargs: Mapping[str, Any] | None = None,
                 journeys_per_world: int | None = None, max_episode_steps: int | None = None,
                 autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
                 render_mode: str | None = None, **overrides: Any):
        _check_render_mode(render_mode)
        self.num_envs = _count("num_envs", num_envs)
        self.config = coerce_config(type(self).__name__, config, overrides)
        self.render_mode = render_mode
        self.metadata = {**type(self).metadata, "autoreset_mode": check_autoreset(autoreset_mode)}
        attach_spaces(self, obs_mode, action_mode, _dict_space(self.config))
        self._runner = _JourneyRunner(self.config, self.num_envs, horizon_days, warmup_days,
                                      reward_mode, reward_weight, return_tau_hours, background,
                                      background_kwargs, journeys_per_world, max_episode_steps)
        self._ended = np.ones(self.num_envs, bool)

    @property
    def journeys(self) -> Journeys | None:
        """The simulation (`drnsim.journeys.Journeys`)."""
        return self._runner.journeys

    @property
    def horizon(self) -> float:
        """Seconds from a journey's first visit to its truncation."""
        return self._runner.horizon

    @property
    def raw_observation(self) -> dict:
        """Every slot's current raw observation ("dict" mode, leading axis num_envs)."""
        return self._runner.raw

    def attractiveness(self) -> np.ndarray:
        """The true a_ui (num_envs, N) of the slots' current visits (0 for slots without
        one): hidden, for oracles."""
        return self._runner.journeys.attractiveness()

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        mask = check_reset_options(options, ("reset_mask",)).get("reset_mask")
        if mask is not None:
            mask = np.asarray(mask)
            if mask.shape != (self.num_envs,) or mask.dtype != np.bool_ or not mask.any():
                raise ValueError(f"reset_mask must be a bool array of shape ({self.num_envs},) "
                                 f"with at least one True, got {mask!r}")
            if self._runner.journeys is None or seed is not None:
                raise ValueError("reset with a reset_mask continues the current worlds: call "
                                 "reset(seed=...) without a mask first")
            slots = np.flatnonzero(mask)
            self._runner.restart(slots)
            self._ended[slots] = False
            info = {key: value.copy() for key, value in self._runner.visit.items()}
            return self._encoder.encode(self._runner.raw), info
        super().reset(seed=seed)
        if seed is None and self._runner.journeys is not None:
            self._runner.restart(np.arange(self.num_envs))
            info = {key: value.copy() for key, value in self._runner.visit.items()}
        else:
            info = self._runner.reset(_seed_from(self.np_random, seed))
        self._ended[:] = False
        return self._encoder.encode(self._runner.raw), info

    def step(self, actions):
        runner = self._runner
        mode = self.metadata["autoreset_mode"]
        if runner.journeys is None:
            raise RuntimeError("call reset() before step()")
        waiting = np.flatnonzero(self._ended)
        if len(waiting) and mode == AutoresetMode.DISABLED:
            raise RuntimeError(f"slots {waiting.tolist()} ended and autoreset_mode is DISABLED: "
                               "call reset(options={'reset_mask': ...}) for them first")
        scores = self._decoder.scores(actions, runner.raw)
        # NEXT_STEP: this step only starts the ended slots' next journeys
        reward, terminated, truncated, info = runner.step(scores, restart=waiting)
        for key in ("user_id", "visit_number", "sim_time", "gap"):
            info[key][waiting] = runner.visit[key][waiting]
        ended = terminated | truncated
        if mode == AutoresetMode.SAME_STEP and ended.any():
            info = same_step_info(info, self._encoder.encode(runner.raw), ended)
            runner.restart(np.flatnonzero(ended))
            self._ended[:] = False
        else:
            self._ended = ended.copy()
        return self._encoder.encode(runner.raw), reward, terminated, truncated, info

    def render(self) -> str | None:
        return self._runner.render_text() if self.render_mode == "ansi" else None


__all__ = ["REWARD_MODES", "AgentPolicy", "AgentView", "UserJourneyEnv", "UserJourneyVectorEnv"]
