"""Reward models for the direct method and doubly robust estimators.

A reward model predicts r_hat_k(x, a), the click probability of candidate a at slot k of
visit x, as ``predict(obs, slate_size) -> (B, K, N)``. `ZooRewardModel` makes one from any
model of `drnsim.models`: the zoo models score items without a position, so on top of the
model's click logit f(x, a) it fits one logit offset per slot on the same logs,

    r_hat_k(x, a) = sigmoid(f(x, a) + beta_k),

beta_k by Newton's method on the clicks at slot k with f fixed (a position-based model:
right when clicks follow one, approximate under a cascade).
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import pandas as pd
import torch

from drnsim.config import WorldConfig
from drnsim.features import FeatureSpec, batch_from_logs


class RewardModel(Protocol):
    """What DM and DR need: r_hat_k(x, a) for every slot and candidate."""

    def predict(self, obs: dict, slate_size: int) -> np.ndarray: ...


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def slot_offsets(logits: np.ndarray, clicks: np.ndarray, shown: np.ndarray,
                 iterations: int = 50) -> np.ndarray:
    """beta_k maximising sum_i log-likelihood of clicks[i, k] under sigmoid(logits[i, k] +
    beta_k) over the shown slots (Newton's method per slot; 0 for a slot never shown)."""
    k = logits.shape[1]
    beta = np.zeros(k)
    for slot in range(k):
        f, y = logits[shown[:, slot], slot], clicks[shown[:, slot], slot]
        if len(f) == 0 or y.min() == y.max():  # no data, or all one class: no finite optimum
            continue
        for _ in range(iterations):
            p = _sigmoid(f + beta[slot])
            hessian = float((p * (1 - p)).sum())
            step = float((y - p).sum()) / max(hessian, 1e-12)
            beta[slot] += float(np.clip(step, -5.0, 5.0))
            if abs(step) < 1e-10:
                break
    return beta


class ZooRewardModel:
    """r_hat_k(x, a) = sigmoid(f(x, a) + beta_k): ``model`` (a name of
    `drnsim.models.MODELS`) trained on the logs with ``fit_kwargs`` (`RankingModel.fit`),
    then the per-slot offsets (`slot_offsets`)."""

    def __init__(self, model: str = "lr", config: WorldConfig | None = None, seed: int = 0,
                 fit_kwargs: dict[str, Any] | None = None, **model_kwargs: Any):
        from drnsim.models import MODELS

        if model not in MODELS:
            raise ValueError(f"reward model {model!r} is not a zoo model; known: "
                             f"{', '.join(MODELS)}")
        self.model_name, self.model_kwargs = model, model_kwargs
        self.config = WorldConfig.coerce(config)
        self.seed = seed
        self.fit_kwargs = {"seed": seed, **(fit_kwargs or {})}
        self.model = None
        self.offsets: np.ndarray | None = None

    def fit(self, logs: pd.DataFrame) -> ZooRewardModel:
        """Train the zoo model and the slot offsets on ``logs``."""
        from drnsim.models import make_model

        spec = FeatureSpec.from_config(self.config)
        torch.manual_seed(self.seed)
        self.model = make_model(self.model_name, spec, **self.model_kwargs)
        batch = batch_from_logs(logs, spec)
        self.model.fit(batch, **self.fit_kwargs)
        logits = self.model.score(batch)
        shown = batch.candidate_mask.numpy()
        self.offsets = slot_offsets(np.where(shown, logits, 0.0), batch.labels.numpy(), shown)
        return self

    def predict(self, obs: dict, slate_size: int) -> np.ndarray:
        if self.model is None:
            raise RuntimeError("fit the reward model on logs first (ZooRewardModel.fit)")
        logits = self.model.score(obs).astype(np.float64)  # (B, N), padded: -1e9
        beta = np.zeros(slate_size)
        beta[:min(slate_size, len(self.offsets))] = self.offsets[:slate_size]
        return _sigmoid(logits[:, None, :] + beta[None, :, None])

    def __repr__(self) -> str:
        return f"<ZooRewardModel {self.model_name!r}>"


__all__ = ["RewardModel", "ZooRewardModel", "slot_offsets"]
