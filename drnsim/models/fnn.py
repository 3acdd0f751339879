"""Factorization-machine supported neural network (Zhang et al. 2016): z_i = (w_i, v_i) taken
from a trained FM (eq. 3-4: two stages, FM first, then the MLP fine-tunes everything)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.fm import FM
from drnsim.models.layers import MLP, FieldEmbedder, FirstOrder
from drnsim.models.training import seeded_torch


class FNN(RankingModel):
    """MLP over [w_i, v_i] of every field, initialised from an FM by `prepare` (stage 1 trains
    an FM on the same training split) or `init_from_fm`."""

    def __init__(self, spec: FeatureSpec, dim: int = 16, hidden: Sequence[int] = (128, 64)):
        super().__init__(spec)
        self.linear = FirstOrder(spec)
        self.embed = FieldEmbedder(spec, dim)
        self.mlp = MLP(self.embed.n_fields * (dim + 1), hidden, 1)
        self.initialised_from_fm = False

    def init_from_fm(self, fm: FM) -> None:
        """Copy the FM's first-order weights and factor vectors."""
        if fm.embed.dim != self.embed.dim:
            raise ValueError(f"FM has dim {fm.embed.dim}, this FNN {self.embed.dim}")
        self.linear.load_state_dict(fm.linear.state_dict())
        self.embed.load_state_dict(fm.embed.state_dict())
        self.initialised_from_fm = True

    def prepare(self, train: FeatureBatch, **fit_kwargs: Any) -> None:
        """Stage 1: train an FM on the training split and copy its embeddings."""
        if self.initialised_from_fm:
            return
        with seeded_torch(fit_kwargs.get("seed", 0)):  # like make_model("fm", seed=seed)
            fm = FM(self.spec, self.embed.dim)
        fm.fit(train, **fit_kwargs)
        self.init_from_fm(fm)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        z = torch.cat([self.linear.weights.fields(batch), self.embed.fields(batch)], -1)
        return self.mlp(z.flatten(-2)).squeeze(-1)
