"""The ranking model zoo (DESIGN.md section 4): one file per model, shared layers in
`layers.py`, the trainer in `training.py`. `make_model(name, spec, **kwargs)` builds one."""

from __future__ import annotations

from typing import Any

from drnsim.features import FeatureSpec
from drnsim.models.afm import AFM
from drnsim.models.autorec import AutoRec
from drnsim.models.base import PADDED_SCORE, RankingModel
from drnsim.models.deep_cross import DeepCross
from drnsim.models.deep_crossing import DeepCrossing
from drnsim.models.deepfm import DeepFM
from drnsim.models.dien import DIEN
from drnsim.models.din import DIN
from drnsim.models.drn import DRN
from drnsim.models.embedding_mlp import EmbeddingMLP
from drnsim.models.fm import FM
from drnsim.models.fnn import FNN
from drnsim.models.lr import LR
from drnsim.models.mimn import MIMN
from drnsim.models.neural_cf import NeuralCF
from drnsim.models.nfm import NFM
from drnsim.models.pnn import PNN
from drnsim.models.training import (
    NonFiniteLossError,
    TrainingHistory,
    auc,
    fit,
    gauc,
    seeded_torch,
)
from drnsim.models.wide_deep import WideDeep

MODELS: dict[str, type[RankingModel]] = {
    "lr": LR, "fm": FM, "embedding_mlp": EmbeddingMLP, "autorec": AutoRec,
    "deep_crossing": DeepCrossing, "neural_cf": NeuralCF, "pnn": PNN, "wide_deep": WideDeep,
    "deep_cross": DeepCross, "fnn": FNN, "deepfm": DeepFM, "nfm": NFM, "afm": AFM, "din": DIN,
    "dien": DIEN, "mimn": MIMN, "drn": DRN,
}


def make_model(name: str, spec: FeatureSpec, seed: int | None = 0,
               **kwargs: Any) -> RankingModel:
    """Build model `name` sized by `spec`; parameters are initialised from `seed` (torch's
    global random state is left as it was: `seeded_torch`), or from torch's global generator
    when seed is None."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    if seed is None:
        return MODELS[name](spec, **kwargs)
    with seeded_torch(seed):
        return MODELS[name](spec, **kwargs)


__all__ = ["MODELS", "PADDED_SCORE", "NonFiniteLossError", "RankingModel", "TrainingHistory",
           "auc", "fit", "gauc", "make_model", *(cls.__name__ for cls in MODELS.values())]
