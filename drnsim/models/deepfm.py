"""DeepFM (Guo et al. 2017): y = sigmoid(y_FM + y_DNN) (eq. 1), the FM component (eq. 2) and
the deep component share one embedding layer."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import DeepTower, FieldEmbedder, FirstOrder, fm_interaction


class DeepFM(RankingModel):
    """FM + MLP over the same field embeddings."""

    def __init__(self, spec: FeatureSpec, dim: int = 16, hidden: Sequence[int] = (128, 64)):
        super().__init__(spec)
        self.linear = FirstOrder(spec)
        self.embed = FieldEmbedder(spec, dim)
        self.deep = DeepTower(self.embed, hidden)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        fm = self.linear(batch) + fm_interaction(self.embed.fields(batch))
        return fm + self.deep(batch)
