"""The Base model of DIN (Zhou et al. 2018, sec. 4.2): embeddings, sum-pooled behaviour
sequence, concatenation, MLP."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import DeepTower, FieldEmbedder


class EmbeddingMLP(RankingModel):
    """Embedding & MLP with sum pooling of the history (the history's order and its relation
    to the candidate are lost: DIN's motivation)."""

    def __init__(self, spec: FeatureSpec, dim: int = 16, hidden: Sequence[int] = (200, 80),
                 activation_name: str = "prelu", pooling: str = "sum"):
        super().__init__(spec)
        self.tower = DeepTower(FieldEmbedder(spec, dim, pooling), hidden, activation_name)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        return self.tower(batch)
