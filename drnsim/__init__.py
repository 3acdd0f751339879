"""drnsim: simulate online-learning news recommenders (DRN and the deep-recommender lineage).

`import drnsim` registers the Gymnasium ids ``drnsim/NewsFeed-v0`` (the world's next visit
per step) and ``drnsim/UserJourney-v0`` (one user's successive visits per episode), each with
a ``vector_entry_point`` for the batched fast path; worker processes of RL libraries resolve
them by the module-qualified ids ``"drnsim:drnsim/NewsFeed-v0"`` and
``"drnsim:drnsim/UserJourney-v0"``. The loop helpers
(`run_episode`, `compare`, `make_agent`, ...) are imported lazily so that importing the
environment does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium

from drnsim._parallel import (  # first: thread settings before numba loads
    set_threads,
    set_torch_threads,
)
from drnsim.config import WorldConfig

__version__ = "0.1.0"

ENV_ID = "drnsim/NewsFeed-v0"
JOURNEY_ENV_ID = "drnsim/UserJourney-v0"

for _id, _module, _single, _vector in (
        (ENV_ID, "news_feed", "NewsFeedEnv", "NewsFeedVectorEnv"),
        (JOURNEY_ENV_ID, "user_journey", "UserJourneyEnv", "UserJourneyVectorEnv")):
    if _id not in gymnasium.registry:
        gymnasium.register(id=_id, entry_point=f"drnsim.envs.{_module}:{_single}",
                           vector_entry_point=f"drnsim.envs.{_module}:{_vector}")

_LAZY = {
    "run_episode": "drnsim.loop",
    "compare": "drnsim.loop",
    "summarize": "drnsim.metrics",
    "make_agent": "drnsim.agents",
    "World": "drnsim.world",
    "NewsFeedEnv": "drnsim.envs",
    "NewsFeedVectorEnv": "drnsim.envs",
    "UserJourneyEnv": "drnsim.envs",
    "UserJourneyVectorEnv": "drnsim.envs",
    "scores_from_ranking": "drnsim.envs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'drnsim' has no attribute {name!r}")


__all__ = [
    "ENV_ID", "JOURNEY_ENV_ID", "NewsFeedEnv", "NewsFeedVectorEnv", "UserJourneyEnv",
    "UserJourneyVectorEnv", "World", "WorldConfig", "__version__", "compare", "make_agent",
    "run_episode", "scores_from_ranking", "set_threads", "set_torch_threads", "summarize",
]
