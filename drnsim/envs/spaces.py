"""Observation and action modes shared by `NewsFeed-v0` and `UserJourney-v0`.

Observation modes (``obs_mode``):

* ``"dict"``: the raw nested Dict of docs/design.md section 3 (ids, seconds, counts as they are).
* ``"flat_dict"``: a one-level Dict of float32 Boxes, every value scaled to the range its Box
  declares (for SB3's ``MultiInputPolicy``, RLlib and anything that takes a flat Dict):

  ================== ============ ==========================================================
  key                shape        values
  ================== ============ ==========================================================
  user_features      (A+G+R+D,)   one-hot age bucket, gender, region, device, in {0, 1}
  context            (6,)         sin, cos of 2 pi hour / 24 and of 2 pi weekday / 7 in
                                  [-1, 1]; log1p(hours since the user's last visit) in
                                  [0, 16] (0 on a first visit); first visit in {0, 1}
  history_topics     (T,)         share of the last L clicks per topic, in [0, 1]
  history_providers  (P,)         share of the last L clicks per provider, in [0, 1]
  history            (2,)         clicks stored / L in [0, 1]; log1p(hours since the latest
                                  click) in [0, 16] (0 without clicks)
  candidate_features (N * F,)     `CANDIDATE_FEATURES` of candidate n at n * F .. n * F + F - 1,
                                  each log1p(count or hours) in [0, 16]; 0 for padding
  candidate_topics   (N * T,)     one-hot topic of candidate n at n * T .. n * T + T - 1
  candidate_mask     (N,)         1 for a real candidate, 0 for padding
  ================== ============ ==========================================================

  Ids are not values: user and item ids are dropped, topics and demographics are one-hot,
  providers appear as history shares and as the user's clicks on each candidate's provider.
  Every Box is 1-D (SB3 flattens nothing itself and warns on other shapes). The 16 that
  bounds log1p values is e^16 - 1, about 8.9 million hours or clicks: never
  reached (values are clipped to it so that they stay inside the declared Box).
* ``"box"``: the flat_dict's values, flattened and concatenated in the key order above, as
  one float32 Box (3,501 values at the default sizes).

Action modes (``action_mode``):

* ``"scores"``: ``Box(-1, 1, (N,))``, one score per candidate (the env shows the K best).
* ``"weights"``: ``Box(-1, 1, (F,))``, one weight per candidate feature; a candidate's score
  is the dot product of the weights with its `CANDIDATE_FEATURES` (the flat_dict's
  ``candidate_features`` row), then the K best are shown as with scores. F = 13: a compact,
  state-dependent linear ranker that a policy-gradient method can learn.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
from gymnasium import spaces
from gymnasium.vector import VectorEnv
from gymnasium.vector.utils import batch_space

from drnsim.config import HOUR, WINDOW_NAMES, WorldConfig

OBS_MODES = ("dict", "flat_dict", "box")
ACTION_MODES = ("scores", "weights")
LOG_HIGH = 16.0
"""Upper bound of every log1p feature (see the module docstring)."""

CANDIDATE_FEATURES: tuple[str, ...] = (
    *(f"popularity_{w}" for w in WINDOW_NAMES),
    "age_hours",
    *(f"user_topic_clicks_{w}" for w in WINDOW_NAMES),
    *(f"user_provider_clicks_{w}" for w in WINDOW_NAMES),
)
"""Per-candidate features of the flat observations and of the ``weights`` action, each
log1p of: the item's decayed clicks in the 1 h / 6 h / 24 h / 1 week windows; its age in
hours; the user's clicks on its topic and on its provider in the same windows."""


def check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> str:
    """`value` if it is one of `allowed`, else ValueError naming the argument."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"{name} must be one of {allowed}, got {value!r}")
    return value


# ----------------------------------------------------------------------------------------
def candidate_features(obs: dict) -> np.ndarray:
    """`CANDIDATE_FEATURES` (B, N, F) float32 of a batched raw observation; 0 where padded."""
    cand, news = obs["candidates"], obs["user_news"]
    parts = [cand["popularity"], cand["age"][..., None] / HOUR, news["topic_clicks"],
             news["provider_clicks"]]
    features = np.log1p(np.concatenate(parts, axis=-1, dtype=np.float32))
    features *= cand["mask"][..., None]
    return np.minimum(features, LOG_HIGH, out=features)


def _counts(ids: np.ndarray, size: int) -> np.ndarray:
    """Per row, how often each id in [0, size) occurs (negative ids are padding)."""
    rows = np.broadcast_to(np.arange(ids.shape[0])[:, None], ids.shape)
    valid = ids >= 0
    flat = np.bincount(rows[valid] * size + ids[valid], minlength=ids.shape[0] * size)
    return flat.reshape(ids.shape[0], size)


def _one_hot(ids: np.ndarray, size: int) -> np.ndarray:
    return (ids[..., None] == np.arange(size)).astype(np.float32)


def _log1p_hours(seconds: np.ndarray) -> np.ndarray:
    return np.minimum(np.log1p(np.maximum(seconds, 0.0) / HOUR), LOG_HIGH).astype(np.float32)


class ObservationEncoder:
    """Maps the raw batched observation to the ``obs_mode`` (see the module docstring);
    `space` is the single-visit observation space of that mode."""

    def __init__(self, config: WorldConfig, mode: str, dict_space: spaces.Dict):
        self.config = config
        self.mode = check_choice("obs_mode", mode, OBS_MODES)
        self.feature_sizes = (config.n_age_buckets, config.n_genders, config.n_regions,
                              config.n_devices)
        self.flat_space = self._flat_space()
        if mode == "dict":
            self.space = dict_space
        elif mode == "flat_dict":
            self.space = self.flat_space
        else:
            boxes = self.flat_space.spaces.values()
            self.space = spaces.Box(np.concatenate([b.low.ravel() for b in boxes]),
                                    np.concatenate([b.high.ravel() for b in boxes]),
                                    dtype=np.float32)

    def _flat_space(self) -> spaces.Dict:
        cfg = self.config
        n, t, p = cfg.n_candidates, cfg.n_topics, cfg.n_providers

        def unit(shape):
            return spaces.Box(0.0, 1.0, shape, dtype=np.float32)

        return spaces.Dict(OrderedDict({  # in this order (a plain dict would be sorted)
            "user_features": unit((sum(self.feature_sizes),)),
            "context": spaces.Box(np.array([-1, -1, -1, -1, 0, 0], np.float32),
                                  np.array([1, 1, 1, 1, LOG_HIGH, 1], np.float32),
                                  dtype=np.float32),
            "history_topics": unit((t,)),
            "history_providers": unit((p,)),
            "history": spaces.Box(0.0, np.array([1.0, LOG_HIGH], np.float32), dtype=np.float32),
            "candidate_features": spaces.Box(0.0, LOG_HIGH, (n * len(CANDIDATE_FEATURES),),
                                             dtype=np.float32),
            "candidate_topics": unit((n * t,)),
            "candidate_mask": unit((n,)),
        }))

    def encode(self, obs: dict) -> Any:
        """The batched observation (leading axis B) in this mode; `obs` is returned as it is
        in ``"dict"`` mode."""
        if self.mode == "dict":
            return obs
        flat = self.flat(obs)
        if self.mode == "flat_dict":
            return flat
        return np.concatenate([flat[key] for key in self.flat_space.spaces], axis=1)

    def flat(self, obs: dict) -> dict[str, np.ndarray]:
        """The flat_dict values of a batched raw observation."""
        cfg = self.config
        user, context, hist, cand = obs["user"], obs["context"], obs["history"], obs["candidates"]
        hour = 2 * np.pi * context["hour"] / 24.0
        weekday = 2 * np.pi * context["weekday"] / 7.0
        gap = context["since_last_visit"]
        length = hist["length"]
        b = len(length)
        latest_age = hist["age"][np.arange(b), np.maximum(length - 1, 0)]
        denominator = np.float32(cfg.history_length)
        return {
            "user_features": np.concatenate(
                [_one_hot(user["features"][:, j], size)
                 for j, size in enumerate(self.feature_sizes)], axis=1),
            "context": np.stack([np.sin(hour), np.cos(hour), np.sin(weekday), np.cos(weekday),
                                 _log1p_hours(gap), (gap < 0)], axis=1).astype(np.float32),
            "history_topics": (_counts(hist["topic"], cfg.n_topics) / denominator
                               ).astype(np.float32),
            "history_providers": (_counts(hist["provider"], cfg.n_providers) / denominator
                                  ).astype(np.float32),
            "history": np.stack([length / denominator,
                                 np.where(length > 0, _log1p_hours(latest_age), 0.0)],
                                axis=1).astype(np.float32),
            "candidate_features": candidate_features(obs).reshape(b, -1),
            "candidate_topics": _one_hot(cand["topic"], cfg.n_topics).reshape(b, -1),
            "candidate_mask": cand["mask"].astype(np.float32),
        }


# ----------------------------------------------------------------------------------------
class ActionDecoder:
    """Maps an action of the ``action_mode`` to candidate scores; `space` is the
    single-visit action space."""

    def __init__(self, config: WorldConfig, mode: str):
        self.mode = check_choice("action_mode", mode, ACTION_MODES)
        size = config.n_candidates if mode == "scores" else len(CANDIDATE_FEATURES)
        self.space = spaces.Box(-1.0, 1.0, (size,), dtype=np.float32)

    def scores(self, action: Any, obs: dict, batched: bool = True) -> np.ndarray:
        """Scores (B, N) for an action given the batched raw observation (leading axis B);
        ``batched=False``: one visit's action, without the leading axis."""
        from drnsim.envs.news_feed import validate_scores

        b = len(obs["candidates"]["mask"])
        shape = (b, *self.space.shape) if batched else self.space.shape
        if self.mode == "scores":
            return validate_scores(action, shape).reshape(b, -1)
        weights = validate_weights(action, shape).reshape(b, -1)
        return np.einsum("bnf,bf->bn", candidate_features(obs), weights.astype(np.float32))


def validate_weights(action: Any, shape: tuple[int, ...]) -> np.ndarray:
    """The ``weights`` action as a float array of `shape`; ValueError naming the action, its
    expected length and the features on a wrong shape, NaN or a weight outside [-1, 1]."""
    try:
        weights = np.asarray(action, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"action must be an array of numbers of shape {shape} "
                         f"(action_mode='weights'), got {type(action).__name__} "
                         f"{str(action)[:40]!r}") from None
    if weights.shape != shape:
        raise ValueError(f"action must have shape {shape} (action_mode='weights': one weight "
                         f"in [-1, 1] per candidate feature, {len(CANDIDATE_FEATURES)} features "
                         f"{CANDIDATE_FEATURES}), got shape {weights.shape}")
    if np.isnan(weights).any():
        raise ValueError("action contains NaN weights; every weight must be a number in [-1, 1]")
    if weights.size and np.abs(weights).max() > 1.0:
        worst = weights.flat[np.abs(weights).argmax()]
        raise ValueError(f"action weights must lie in [-1, 1], got {worst!r}")
    return weights


def attach_spaces(env: Any, obs_mode: str, action_mode: str, dict_space: spaces.Dict) -> None:
    """Give ``env`` (its ``config`` set) the encoder and decoder of the modes, as
    ``env._encoder`` / ``env._decoder``, and its spaces: ``observation_space`` and
    ``action_space`` for a single env; ``single_*`` and the batched ones for a `VectorEnv`
    (its ``num_envs`` set). ``dict_space`` is the env's raw ("dict") observation space."""
    env._encoder = ObservationEncoder(env.config, obs_mode, dict_space)
    env._decoder = ActionDecoder(env.config, action_mode)
    if not isinstance(env, VectorEnv):
        env.observation_space, env.action_space = env._encoder.space, env._decoder.space
        return
    env.single_observation_space = env._encoder.space
    env.single_action_space = env._decoder.space
    env.observation_space = batch_space(env.single_observation_space, env.num_envs)
    env.action_space = batch_space(env.single_action_space, env.num_envs)


__all__ = ["ACTION_MODES", "CANDIDATE_FEATURES", "LOG_HIGH", "OBS_MODES", "ActionDecoder",
           "ObservationEncoder", "attach_spaces", "candidate_features", "check_choice",
           "validate_weights"]
