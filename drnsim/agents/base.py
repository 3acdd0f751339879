"""The agent protocol of the push -> feedback -> update loop (docs/design.md section 5).

An agent is any object with three methods; the loop (`drnsim.loop.run_episode`) calls them
once per step, always with a leading batch axis B (the loop adds it for the single-visit env):

* ``act(obs) -> scores``: one finite float per candidate, shape (B, N); higher is shown first.
  The loop maps scores by rank onto the env's [-1, 1] action (`drnsim.envs.action_from_scores`);
  an agent that builds an explicit list turns it into scores with `scores_from_ranking`.
* ``observe(obs, action, reward, info)``: the feedback of the visits just served: ``obs`` is
  the observation `act` saw, ``action`` the env action (B, N), ``reward`` the clicks (B,), and
  ``info`` the env's step info with arrays of leading axis B (``shown`` (B, K) candidate
  indices, ``clicks`` (B, K), ``user_id``, ``visit_id``, ``sim_time`` and ``gap``, the
  seconds since the user's previous visit: the delayed activeness feedback).
* ``update(sim_time)``: called after every `observe` with the simulated time in seconds; the
  agent's own schedule (see `Every`) turns it into minor or major updates.

Optional hooks, used when present:

* ``bind(env)``: called once after ``env.reset`` with the (vector or single) env; agents that
  need the world's size or the true world (the oracle) read it here.
* ``warm_start(logs)``: `drnsim.loop.compare` hands every agent the same pre-period logs
  (a `drnsim.logs` DataFrame, one row per shown item) before the episode starts.

A user's own class plugs in unchanged (README example)::

    import numpy as np, drnsim

    class Freshest:                                   # any object with act/observe/update
        name = "freshest"
        def act(self, obs):                           # obs arrays have a leading axis B
            return -obs["candidates"]["age"]          # (B, N) scores: newest first
        def observe(self, obs, action, reward, info): pass   # clicks: info["clicks"]
        def update(self, sim_time): pass              # schedule retraining here

    frame = drnsim.compare([Freshest(), "popular", "random"], seeds=(0, 1), days=1.0)
    print(drnsim.summarize(frame, baseline="random"))
"""

from __future__ import annotations

import inspect
from typing import Any, Protocol, runtime_checkable

import numpy as np

from drnsim._validate import InvalidTypeError
from drnsim._validate import seed as check_seed
from drnsim.config import WorldConfig

Obs = dict[str, Any]
"""A batched observation: nested dict of arrays with leading axis B (docs/design.md section 3)."""


@runtime_checkable
class Agent(Protocol):
    """What the loop needs from an agent (see the module docstring)."""

    def act(self, obs: Obs) -> np.ndarray: ...

    def observe(self, obs: Obs, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray]) -> None: ...

    def update(self, sim_time: float) -> None: ...


def agent_name(agent: Any) -> str:
    """The agent's ``name`` attribute, else its class name."""
    return str(getattr(agent, "name", None) or type(agent).__name__)


def check_agent(agent: Any, what: str = "agent") -> Any:
    """``agent`` if it has the methods of the `Agent` protocol (act, observe, update);
    InvalidTypeError naming the missing ones otherwise (a class is checked the same way,
    before it is instantiated)."""
    missing = [m for m in ("act", "observe", "update") if not callable(getattr(agent, m, None))]
    if missing:
        kind = "class" if inspect.isclass(agent) else type(agent).__name__
        raise InvalidTypeError(f"{what} ({kind}) lacks {', '.join(missing)}: an agent needs "
                               "act(obs), observe(obs, action, reward, info) and "
                               "update(sim_time) (drnsim/agents/base.py)")
    return agent


def unwrap_env(env: Any) -> Any:
    """The NewsFeedEnv / NewsFeedVectorEnv under any Gymnasium wrappers."""
    return getattr(env, "unwrapped", env)


class Every:
    """A simulated-time schedule: ``due(t)`` is True once per ``period`` seconds
    (the first time at ``start + period``); ``period = 0`` means every call."""

    def __init__(self, period: float, start: float = 0.0):
        self.period = float(period)
        self.next = float(start) + self.period

    def due(self, sim_time: float) -> bool:
        if sim_time < self.next:
            return False
        if self.period > 0:  # skip the periods that passed without a call (a quiet night)
            self.next += self.period * (np.floor((sim_time - self.next) / self.period) + 1)
        return True


def grow_rows(table: np.ndarray, size: int, init: Any) -> np.ndarray:
    """``table`` with at least ``size`` rows (doubling), new rows from ``init(n_new)``: for
    per-item statistics indexed by item id, which grows as news arrives."""
    if size <= len(table):
        return table
    new_rows = max(size, 2 * len(table), 1024) - len(table)
    return np.concatenate([table, np.asarray(init(new_rows), dtype=table.dtype)])


class BaseAgent:
    """A convenient base: stores the world config on `bind`, derives a seeded generator from
    the agent's ``seed`` and the world's seed, and makes `observe`/`update` no-ops (it has
    no `warm_start`: `compare` collects logs only for agents that define one). Subclasses
    override `act` and whatever they learn from."""

    name: str = "agent"

    def __init__(self, seed: int = 0, name: str | None = None):
        self.seed = check_seed("seed", seed)
        if name is not None and not isinstance(name, str):
            raise InvalidTypeError(f"name must be a string or None, got {name!r}")
        if name is not None:
            self.name = name
        self.config: WorldConfig | None = None
        self.rng = np.random.default_rng(self.seed)

    def bind(self, env: Any) -> None:
        """Read the world config; re-seed ``rng`` from (agent seed, world seed) so that runs
        on different world seeds explore differently and equal seeds repeat exactly."""
        base = unwrap_env(env)
        self.config = base.config
        world_seed = base.world.seed
        entropy = [self.seed] if world_seed is None else [self.seed, int(world_seed)]
        self.rng = np.random.default_rng(entropy)

    def act(self, obs: Obs) -> np.ndarray:
        raise NotImplementedError

    def observe(self, obs: Obs, action: np.ndarray, reward: np.ndarray,
                info: dict[str, np.ndarray]) -> None:
        return None

    def update(self, sim_time: float) -> None:
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"


__all__ = ["Agent", "BaseAgent", "Every", "Obs", "agent_name", "check_agent", "grow_rows",
           "unwrap_env"]
