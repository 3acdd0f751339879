"""Neural collaborative filtering (He et al. 2017), purely collaborative (user and item ids):
GMF phi = p_u * q_i (eq. 9), MLP tower over [p_u; q_i] (eq. 10), NeuMF
y = sigmoid(h^T [phi_GMF; phi_MLP]) (eqs. 11-12). With pretraining (sec. 3.4.1) GMF and MLP
are trained first and NeuMF's prediction layer is h = [alpha h_GMF; (1 - alpha) h_MLP],
alpha = 0.5."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import MLP
from drnsim.models.training import seeded_torch

VARIANTS = ("neumf", "gmf", "mlp")


class NeuralCF(RankingModel):
    """`variant` 'neumf' (default, pretrained from GMF and MLP when `pretrain`), 'gmf' or
    'mlp'."""

    def __init__(self, spec: FeatureSpec, dim: int = 16, mlp_hidden: Sequence[int] = (64, 32, 16),
                 variant: str = "neumf", pretrain: bool = True, alpha: float = 0.5):
        super().__init__(spec)
        if variant not in VARIANTS:
            raise ValueError(f"variant must be one of {VARIANTS}, got {variant!r}")
        self.variant, self.pretrain, self.alpha = variant, pretrain, alpha
        self.dim, self.mlp_hidden = dim, tuple(mlp_hidden)
        n_users, n_items = spec.user_vocab[0], spec.item_vocab[0]
        width = 0
        if variant in ("neumf", "gmf"):
            self.gmf_user, self.gmf_item = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
            width += dim
        if variant in ("neumf", "mlp"):
            self.mlp_user, self.mlp_item = nn.Embedding(n_users, dim), nn.Embedding(n_items, dim)
            self.tower = MLP([dim, dim], mlp_hidden, out_dim=None)
            width += self.tower.out_dim
        for module in self.modules():
            if isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=0.01)
        self.predict = nn.Linear(width, 1)
        self.pretrained = False  # set by load_pretrained; later fits continue from it

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        user, item = batch.user_fields[:, :1], batch.item_fields[..., 0]
        parts = []
        if self.variant in ("neumf", "gmf"):
            parts.append(self.gmf_user(user) * self.gmf_item(item))
        if self.variant in ("neumf", "mlp"):
            parts.append(self.tower(self.mlp_user(user), self.mlp_item(item)))
        return self.predict(torch.cat(parts, -1)).squeeze(-1)

    def load_pretrained(self, gmf: NeuralCF, mlp: NeuralCF) -> None:
        """NeuMF from a trained GMF and MLP: embeddings and tower copied, prediction layer
        h = [alpha h_GMF; (1 - alpha) h_MLP] and bias alpha b_GMF + (1 - alpha) b_MLP."""
        if self.variant != "neumf" or gmf.variant != "gmf" or mlp.variant != "mlp":
            raise ValueError("load_pretrained needs a NeuMF model, a 'gmf' and an 'mlp' model")
        a = self.alpha
        with torch.no_grad():
            for name in ("gmf_user", "gmf_item"):
                getattr(self, name).weight.copy_(getattr(gmf, name).weight)
            for name in ("mlp_user", "mlp_item"):
                getattr(self, name).weight.copy_(getattr(mlp, name).weight)
            self.tower.load_state_dict(mlp.tower.state_dict())
            self.predict.weight.copy_(torch.cat([a * gmf.predict.weight,
                                                 (1 - a) * mlp.predict.weight], 1))
            self.predict.bias.copy_(a * gmf.predict.bias + (1 - a) * mlp.predict.bias)
        self.pretrained = True

    def prepare(self, train: FeatureBatch, **fit_kwargs: Any) -> None:
        """Pretraining: fit GMF and MLP on the training split, then `load_pretrained`; once
        only, so that an online refit continues from the trained NeuMF."""
        if self.variant != "neumf" or not self.pretrain or self.pretrained:
            return
        with seeded_torch(fit_kwargs.get("seed", 0)):
            gmf = NeuralCF(self.spec, self.dim, self.mlp_hidden, "gmf")
            mlp = NeuralCF(self.spec, self.dim, self.mlp_hidden, "mlp")
        gmf.fit(train, **fit_kwargs)
        mlp.fit(train, **fit_kwargs)
        self.load_pretrained(gmf, mlp)
