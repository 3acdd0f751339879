"""drnsim: simulate online-learning news recommenders (DRN and the deep-recommender lineage).

`import drnsim` registers the Gymnasium id ``drnsim/NewsFeed-v0`` (single visit per step,
with a ``vector_entry_point`` for the batched fast path). The loop helpers
(`run_episode`, `compare`, `make_agent`, ...) are imported lazily so that importing the
environment does not import torch.
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium

from drnsim import _parallel  # noqa: F401  (first: thread settings before numba loads)
from drnsim.config import WorldConfig

__version__ = "0.1.0"

ENV_ID = "drnsim/NewsFeed-v0"

if ENV_ID not in gymnasium.registry:
    gymnasium.register(
        id=ENV_ID,
        entry_point="drnsim.envs.news_feed:NewsFeedEnv",
        vector_entry_point="drnsim.envs.news_feed:NewsFeedVectorEnv",
    )

_LAZY = {
    "run_episode": "drnsim.loop",
    "compare": "drnsim.loop",
    "summarize": "drnsim.loop",
    "make_agent": "drnsim.agents",
    "World": "drnsim.world",
    "NewsFeedEnv": "drnsim.envs",
    "NewsFeedVectorEnv": "drnsim.envs",
    "scores_from_ranking": "drnsim.envs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'drnsim' has no attribute {name!r}")


__all__ = [
    "ENV_ID", "NewsFeedEnv", "NewsFeedVectorEnv", "World", "WorldConfig", "__version__",
    "compare", "make_agent", "run_episode", "scores_from_ranking", "summarize",
]
