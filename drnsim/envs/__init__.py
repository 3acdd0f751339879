"""Gymnasium environments over the simulated news world (docs/design.md section 3)."""

from drnsim.envs.news_feed import (
    NewsFeedEnv,
    NewsFeedVectorEnv,
    action_from_scores,
    action_space,
    observation_space,
    rank_slates,
    scores_from_ranking,
    validate_scores,
    visits_per_step,
)

__all__ = [
    "NewsFeedEnv",
    "NewsFeedVectorEnv",
    "action_from_scores",
    "action_space",
    "observation_space",
    "rank_slates",
    "scores_from_ranking",
    "validate_scores",
    "visits_per_step",
]
