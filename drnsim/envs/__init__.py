"""Gymnasium environments over the simulated news world (docs/design.md section 3):
NewsFeed-v0 (the world's next visits) and UserJourney-v0 (users followed visit by visit,
docs/design.md section 9)."""

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
from drnsim.envs.spaces import ACTION_MODES, CANDIDATE_FEATURES, OBS_MODES
from drnsim.envs.user_journey import REWARD_MODES, UserJourneyEnv, UserJourneyVectorEnv

__all__ = [
    "ACTION_MODES",
    "CANDIDATE_FEATURES",
    "OBS_MODES",
    "REWARD_MODES",
    "UserJourneyEnv",
    "UserJourneyVectorEnv",
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
