"""Product-based neural network (Qu et al. 2016): l_1 = ReLU(l_z + l_p + b_1) with l_z a linear
map of the field embeddings z and l_p of the products p (eqs. 3-6): IPNN p = pairwise inner
products <f_i, f_j> (sec. 3.2), OPNN p = f_sum f_sum^T, the outer product of the summed field
embeddings (sec. 3.3)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from drnsim.features import FeatureBatch, FeatureSpec
from drnsim.models.base import RankingModel
from drnsim.models.layers import MLP, FieldEmbedder, inner_products, outer_product

PRODUCTS = {"inner": inner_products, "outer": outer_product}


class PNN(RankingModel):
    """`product='inner'` (IPNN) or `'outer'` (OPNN)."""

    score_chunk = 8  # (candidates x history/pairs x hidden) intermediates

    def __init__(self, spec: FeatureSpec, dim: int = 16, product: str = "inner",
                 hidden: Sequence[int] = (128, 64)):
        super().__init__(spec)
        if product not in PRODUCTS:
            raise ValueError(f"product must be one of {sorted(PRODUCTS)}, got {product!r}")
        self.product = product
        self.embed = FieldEmbedder(spec, dim)
        f = self.embed.n_fields
        p_dim = f * (f - 1) // 2 if product == "inner" else dim * dim
        self.mlp = MLP([f * dim, p_dim], hidden, 1)

    def forward(self, batch: FeatureBatch) -> torch.Tensor:
        z = self.embed.fields(batch)
        return self.mlp(z.flatten(-2), PRODUCTS[self.product](z)).squeeze(-1)
