"""A disk cache of fitted models, so that equal fits run once (docs/design.md section 10.5).

``static:<model>`` and ``online:<model>`` of one agent seed warm-start the same model (same
initial weights, from the agent and world seeds) on the same logs with the same trainer
seed: the same fit, bit for bit. With a cache, the second loads what the first stored.

A fit is keyed by everything its result depends on: the pickled initial model (class,
configuration, parameters), the training batch's tensors, the trainer's keywords, the torch
version, the intra-op thread count `fit` runs on (`drnsim._parallel.get_torch_threads`:
results depend on it) and the source of the drnsim package (an edited model or trainer
never reads an old fit). Two equal fits that pickle differently only miss (each fits); a
hit is always the fit it stands for. Processes that ask for the same fit at once wait for
the first (a file lock), so it runs once. The files are pickles: load only a folder you
wrote.
"""

from __future__ import annotations

import hashlib
import io
import pickle
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import torch
from filelock import FileLock

from drnsim._parallel import get_torch_threads
from drnsim.features import FeatureBatch, batch_from_logs
from drnsim.results import atomic_path

if TYPE_CHECKING:
    from drnsim.models.base import RankingModel

_PACKAGE = Path(__file__).resolve().parents[1]


def _source_digest() -> bytes:
    """Hash of every source file of the drnsim package."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(_PACKAGE.rglob("*.py")):
        digest.update(str(path.relative_to(_PACKAGE)).encode())
        digest.update(path.read_bytes())
    return digest.digest()


def fit_key(model: RankingModel, batch: FeatureBatch, fit_kwargs: dict[str, Any]) -> str:
    """The cache key of ``model.fit(batch, **fit_kwargs)`` (module docstring)."""
    digest = hashlib.blake2b(digest_size=20)
    buffer = io.BytesIO()
    torch.save(model, buffer, pickle_protocol=pickle.HIGHEST_PROTOCOL)
    digest.update(buffer.getvalue())
    for name, tensor in vars(batch).items():
        digest.update(name.encode())
        if tensor is not None:
            digest.update(f"{tensor.dtype}{tuple(tensor.shape)}".encode())
            digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    digest.update(repr(sorted(fit_kwargs.items())).encode())
    digest.update(f"torch {torch.__version__} threads {get_torch_threads()}".encode())
    digest.update(_source_digest())
    return digest.hexdigest()


def cached_fit(directory: str | Path, model: RankingModel, data: pd.DataFrame | FeatureBatch,
               **fit_kwargs: Any) -> RankingModel:
    """``model`` fitted on ``data`` (a logs DataFrame or a FeatureBatch) as
    ``model.fit(data, **fit_kwargs)`` does, or the equal fit stored under ``directory``
    (then a new model object: use the returned one). A fit made here is stored there."""
    batch = data if isinstance(data, FeatureBatch) else batch_from_logs(data, model.spec)
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{fit_key(model, batch, fit_kwargs)}.pt"
    with FileLock(str(path) + ".lock"):
        if path.exists():
            return torch.load(path, map_location=model.device, weights_only=False)
        model.fit(batch, **fit_kwargs)
        with atomic_path(path) as tmp:
            torch.save(model, tmp)
    return model


__all__ = ["cached_fit", "fit_key"]
