"""Logistic regression: P(click) = sigmoid(w0 + sum_i w_i x_i), one weight per feature."""

from __future__ import annotations

import torch

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import FirstOrder


class LR(RankingModel):
    """One weight per categorical value (user, context, candidate, mean of the history's
    items) plus a weight per dense feature."""

    def __init__(self, spec: FeatureSpec):
        super().__init__(spec)
        self.linear = FirstOrder(spec)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        return self.linear(batch)
