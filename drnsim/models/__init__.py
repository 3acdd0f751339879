"""The ranking model zoo (docs/design.md section 4): one file per model, shared layers in
`layers.py`, the trainer in `training.py`. `make_model(name, spec, **kwargs)` builds one."""

from __future__ import annotations

import numbers
from typing import Any

import torch

from drnsim import _validate
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
from drnsim.models.training import NonFiniteLossError, TrainingHistory, auc, fit, gauc
from drnsim.models.wide_deep import WideDeep

MODELS: dict[str, type[RankingModel]] = {
    "lr": LR, "fm": FM, "embedding_mlp": EmbeddingMLP, "autorec": AutoRec,
    "deep_crossing": DeepCrossing, "neural_cf": NeuralCF, "pnn": PNN, "wide_deep": WideDeep,
    "deep_cross": DeepCross, "fnn": FNN, "deepfm": DeepFM, "nfm": NFM, "afm": AFM, "din": DIN,
    "dien": DIEN, "mimn": MIMN, "drn": DRN,
}


def check_model_keywords(name: str, kwargs: dict[str, Any]) -> None:
    """Check model `name`'s constructor keywords before building it: an unknown model is a
    ValueError, a keyword the model does not take a TypeError naming it and the allowed
    ones, a value of the wrong type an InvalidTypeError, and a size (an integer, or each
    integer of a list of layer widths) below 1 or a negative weight a ValueError."""
    if not isinstance(name, str) or name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    _validate.check_keywords(f"model {name!r}", kwargs, MODELS[name], exclude=("spec",))
    for key, value in kwargs.items():
        if isinstance(value, bool | str):
            continue
        if isinstance(value, list | tuple):
            for i, width in enumerate(value):
                _validate.integer(f"model {name!r}: {key}[{i}]", width, 1)
        elif isinstance(value, numbers.Integral):
            _validate.integer(f"model {name!r}: {key}", value, 1)
        elif isinstance(value, numbers.Real):
            _validate.non_negative(f"model {name!r}: {key}", value)


def make_model(name: str, spec: FeatureSpec, seed: int | None = 0,
               **kwargs: Any) -> RankingModel:
    """Build model `name` sized by `spec`; parameters are initialised from `seed` (the global
    torch RNG is left as it was) unless seed is None. Keywords are checked first
    (`check_model_keywords`)."""
    check_model_keywords(name, kwargs)
    if not isinstance(spec, FeatureSpec):
        raise _validate.InvalidTypeError(f"spec must be a drnsim.features.FeatureSpec, got "
                                         f"{type(spec).__name__} (FeatureSpec.from_config)")
    if seed is not None:
        seed = _validate.seed("seed", seed)
    if seed is None:
        return MODELS[name](spec, **kwargs)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MODELS[name](spec, **kwargs)


__all__ = ["MODELS", "PADDED_SCORE", "NonFiniteLossError", "RankingModel", "TrainingHistory",
           "auc", "check_model_keywords", "fit", "gauc", "make_model",
           *(cls.__name__ for cls in MODELS.values())]
