"""Agents of the push -> feedback -> update loop and `make_agent`, the registry.

Names (`known_agents()` lists them): ``random``, ``popular``, ``oracle`` (myopic: true click
probabilities), ``oracle:longterm`` (true clicks and their effect on engagement), ``linucb``,
``hlinucb``; the DRN variants ``drn``, ``drn:dn``, ``drn:ddqn``, ``drn:ddqn+u``,
``drn:ddqn+u+eg``, ``drn:ddqn+u+ucb`` (`drnsim.agents.drn`); ``static:<model>`` and
``online:<model>`` for every model of `drnsim.models.MODELS`; the wrappers
``egreedy:<agent>`` and ``ucb:<agent>`` over any of these; and ``package.module:Class`` for a
user's own class following the `Agent` protocol.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from typing import Any

from drnsim.agents.bandits import HLinUCBAgent, LinUCBAgent
from drnsim.agents.base import Agent, BaseAgent, Every, agent_name
from drnsim.agents.explorers import EpsilonGreedy, UCBExplorer
from drnsim.agents.simple import LongTermOracleAgent, OracleAgent, PopularAgent, RandomAgent

AGENTS: dict[str, Callable[..., Any]] = {
    "random": RandomAgent,
    "popular": PopularAgent,
    "oracle": OracleAgent,
    "oracle:longterm": LongTermOracleAgent,
    "linucb": LinUCBAgent,
    "hlinucb": HLinUCBAgent,
}
WRAPPERS: dict[str, Callable[..., Any]] = {"egreedy": EpsilonGreedy, "ucb": UCBExplorer}
MODEL_MODES = ("static", "online")


def known_agents() -> list[str]:
    """Every registered agent name (wrappers and import paths as patterns)."""
    from drnsim.agents.drn import DRN_VARIANTS
    from drnsim.models import MODELS

    return [*AGENTS, *DRN_VARIANTS,
            *(f"{mode}:{model}" for mode in MODEL_MODES for model in MODELS),
            *(f"{wrapper}:<agent>" for wrapper in WRAPPERS), "module:Class"]


def make_agent(name: str, **kwargs: Any) -> Any:
    """Build an agent by name (see the module docstring). Keyword arguments go to the
    agent's constructor; for a wrapper, those its constructor takes (e.g. ``epsilon``,
    ``c``, ``seed``) go to it and the rest to the wrapped agent."""
    if not isinstance(name, str):
        raise TypeError(f"agent name must be a string, got {type(name).__name__}")
    head, _, rest = name.partition(":")
    if name in AGENTS:
        return AGENTS[name](**kwargs)
    if head in WRAPPERS and rest:
        wrapper = WRAPPERS[head]
        own = set(inspect.signature(wrapper).parameters) - {"base", "name"}
        base_kwargs = {k: v for k, v in kwargs.items() if k not in own or k == "seed"}
        return wrapper(make_agent(rest, **base_kwargs),
                       **{k: v for k, v in kwargs.items() if k in own})
    if head in MODEL_MODES and rest:
        from drnsim.agents.learned import LEARNED
        from drnsim.models import MODELS

        if rest in MODELS:
            return LEARNED[head](rest, **kwargs)
    if head == "drn":
        from drnsim.agents.drn import make_drn

        return make_drn(name, **kwargs)
    if rest.isidentifier() and head not in WRAPPERS and head not in MODEL_MODES:
        try:
            cls = getattr(importlib.import_module(head), rest)
        except (ImportError, AttributeError) as exc:
            raise ValueError(f"cannot import agent class {name!r}: {exc}") from exc
        return cls(**kwargs)
    raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(known_agents())}")


__all__ = [
    "AGENTS", "Agent", "BaseAgent", "EpsilonGreedy", "Every", "HLinUCBAgent", "LinUCBAgent",
    "LongTermOracleAgent", "OracleAgent", "PopularAgent", "RandomAgent", "UCBExplorer",
    "WRAPPERS", "agent_name", "known_agents", "make_agent",
]
