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

from drnsim._validate import InvalidTypeError, check_keywords, takes_var_keywords
from drnsim.agents.bandits import HLinUCBAgent, LinUCBAgent
from drnsim.agents.base import Agent, BaseAgent, Every, agent_name, check_agent
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


def import_path(name: str) -> tuple[str, str] | None:
    """``(module, class)`` when ``name``, after any wrapper prefixes (``egreedy:``, ``ucb:``),
    names a user's class by import path (``package.module:Class``); None otherwise."""
    head, _, rest = name.partition(":")
    if name in AGENTS or head in MODEL_MODES or head == "drn":
        return None
    if head in WRAPPERS and rest:
        return import_path(rest)
    if rest.isidentifier() and all(part.isidentifier() for part in head.split(".")):
        return head, rest
    return None


def _import_class(name: str, module: str, attribute: str) -> type:
    try:
        cls = getattr(importlib.import_module(module), attribute)
    except (ImportError, AttributeError, SyntaxError) as exc:
        raise ValueError(f"cannot import agent class {name!r}: "
                         f"{type(exc).__name__}: {exc}") from None
    if not inspect.isclass(cls):
        raise InvalidTypeError(f"agent {name!r} is a {type(cls).__name__}, not a class: only "
                               "a class with act, observe and update can be an agent")
    return check_agent(cls, f"agent class {name!r}")


def make_agent(name: str, /, **kwargs: Any) -> Any:
    """Build an agent by name (see the module docstring). Keyword arguments go to the
    agent's constructor; for a wrapper, those its constructor takes (e.g. ``epsilon``,
    ``c``, ``seed``) go to it and the rest to the wrapped agent. Unknown names and keywords
    the constructors do not take raise ValueError / TypeError naming them, and values of
    the wrong type InvalidTypeError, before anything is built. An import path must name a
    class with act, observe and update: nothing else is called."""
    if not isinstance(name, str):
        raise InvalidTypeError(f"agent name must be a string, got {name!r} "
                               f"({type(name).__name__})")
    what = f"agent {name!r}"
    head, _, rest = name.partition(":")
    if name in AGENTS:
        check_keywords(what, kwargs, AGENTS[name])
        return AGENTS[name](**kwargs)
    if head in WRAPPERS and rest:
        wrapper = WRAPPERS[head]
        own = set(inspect.signature(wrapper).parameters) - {"base", "name"}
        base_kwargs = {k: v for k, v in kwargs.items() if k not in own or k == "seed"}
        own_kwargs = {k: v for k, v in kwargs.items() if k in own}
        check_keywords(what, own_kwargs, wrapper, exclude=("base",))
        return wrapper(make_agent(rest, **base_kwargs), **own_kwargs)
    if head in MODEL_MODES and rest:
        from drnsim.agents.learned import LEARNED, StaticModelAgent
        from drnsim.models import MODELS

        if rest in MODELS:
            check_keywords(what, kwargs, LEARNED[head], StaticModelAgent, MODELS[rest],
                           exclude=("model", "spec"))
            return LEARNED[head](rest, **kwargs)
    if head == "drn":
        from drnsim.agents.drn import DRNAgent, DRNConfig, make_drn
        from drnsim.agents.learned import StaticModelAgent
        from drnsim.models import MODELS

        check_keywords(what, kwargs, make_drn, DRNAgent, StaticModelAgent, MODELS["drn"],
                       DRNConfig, exclude=("variant", "model", "spec", "config", "fit_kwargs",
                                           "fit_cache"))
        return make_drn(name, **kwargs)
    target = import_path(name)
    if target is not None and head not in WRAPPERS:
        cls = _import_class(name, *target)
        if not takes_var_keywords(cls):
            check_keywords(what, kwargs, cls)
        return cls(**kwargs)
    raise ValueError(f"unknown agent {name!r}; known agents: {', '.join(known_agents())}")


__all__ = [
    "AGENTS", "Agent", "BaseAgent", "EpsilonGreedy", "Every", "HLinUCBAgent", "LinUCBAgent",
    "LongTermOracleAgent", "OracleAgent", "PopularAgent", "RandomAgent", "UCBExplorer",
    "WRAPPERS", "agent_name", "check_agent", "import_path", "known_agents", "make_agent",
]
