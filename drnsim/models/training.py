"""The trainer shared by every model: logged impressions -> binary cross-entropy on clicks
(+ the model's auxiliary loss), Adam, early stopping on a held-out split of the latest visits,
seeded without touching torch's global random state (`seeded_torch`). A non-finite loss stops
training with the step and batch that produced it."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from drnsim import _validate
from drnsim._parallel import torch_threads
from drnsim.features import FeatureBatch, batch_from_logs, iterate_batches
from drnsim.metrics import auc, gauc

if TYPE_CHECKING:
    from drnsim.models.base import RankingModel


class NonFiniteLossError(FloatingPointError, ValueError):
    """The training loss became NaN or infinite."""


@dataclass
class TrainingHistory:
    """What `fit` did: per-epoch training loss and, with a validation split, held-out loss
    and AUC; the model keeps the parameters of `best_epoch`. `fit` returns it and also
    stores it as ``model.history``; ``str(history)`` is a one-line report."""

    train_loss: list[float] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    valid_auc: list[float] = field(default_factory=list)
    best_epoch: int = -1
    steps: int = 0
    max_epochs: int = 0

    @property
    def epochs(self) -> int:
        """Epochs run (fewer than ``max_epochs`` when early stopping ended training)."""
        return len(self.train_loss)

    @property
    def stopped_early(self) -> bool:
        return self.epochs < self.max_epochs

    @property
    def best_loss(self) -> float:
        """The loss that chose `best_epoch`: held-out when there was a validation split."""
        losses = self.valid_loss or self.train_loss
        return losses[self.best_epoch] if 0 <= self.best_epoch < len(losses) else math.nan

    def __str__(self) -> str:
        stop = " (early stopping)" if self.stopped_early else ""
        which = "validation" if self.valid_loss else "training"
        return (f"{self.epochs} of {self.max_epochs} epochs{stop}, {self.steps} steps; best "
                f"epoch {self.best_epoch}: {which} loss {self.best_loss:.4f}")

    def to_frame(self) -> pd.DataFrame:
        n = len(self.train_loss)
        return pd.DataFrame({"epoch": range(n), "train_loss": self.train_loss,
                             "valid_loss": self.valid_loss + [np.nan] * (n - len(self.valid_loss)),
                             "valid_auc": self.valid_auc + [np.nan] * (n - len(self.valid_auc))})


@contextmanager
def seeded_torch(seed: int) -> Iterator[None]:
    """Run a block whose torch random draws (layer initialisation, dropout, sampled
    negatives) all come from ``seed``, and leave torch's global random state as it was.
    Layers draw from torch's default generators only (their constructors take no generator),
    so the block forks them (`torch.random.fork_rng`, CPU and the current CUDA device) and
    loads the state of a local generator seeded with ``seed``; on exit the caller's state is
    restored, whatever the block drew."""
    cuda = [torch.cuda.current_device()] if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda):
        torch.set_rng_state(torch.Generator().manual_seed(seed).get_state())
        for device in cuda:
            torch.cuda.default_generators[device].set_state(
                torch.Generator(f"cuda:{device}").manual_seed(seed).get_state())
        yield


def resolve_device(device: str | torch.device) -> torch.device:
    """'auto' -> CUDA when available, else CPU; anything else as given."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device='cuda' but CUDA is not available; use 'cpu' or 'auto'")
    return device


def masked_bce(logits: torch.Tensor, batch: FeatureBatch) -> torch.Tensor:
    """Mean binary cross-entropy over the valid items of the batch."""
    mask = batch.candidate_mask
    return F.binary_cross_entropy_with_logits(logits[mask], batch.labels[mask])


@torch.no_grad()
def predict_logits(model: RankingModel, data: FeatureBatch, batch_size: int = 512) -> torch.Tensor:
    """Logits (V, N) of every request of `data`, in eval mode."""
    was_training = model.training
    model.eval()
    device = model.device
    out = [model(b).float().cpu() for b in iterate_batches(data, batch_size, device=device)]
    model.train(was_training)
    return torch.cat(out)


def evaluate(model: RankingModel, data: FeatureBatch, batch_size: int = 512) -> dict[str, float]:
    """Held-out log loss, AUC and per-user GAUC over the valid items of `data`."""
    logits = predict_logits(model, data, batch_size)
    mask = data.candidate_mask
    labels = data.labels[mask]
    loss = F.binary_cross_entropy_with_logits(logits[mask], labels).item()
    users = data.user_fields[:, :1].cpu().expand_as(mask)[mask]
    return {"loss": loss, "auc": auc(labels.numpy(), logits[mask].numpy()),
            "gauc": gauc(labels.numpy(), logits[mask].numpy(), users.numpy())}


def adam(params: Iterable[torch.nn.Parameter], lr: float,
         weight_decay: float = 0.0) -> torch.optim.Adam:
    """Adam with the fused kernel (one pass over each parameter instead of ~10): the
    embedding tables hold most of a model's weights, and a dense step over them dominated
    training time (10x faster on CPU for AutoRec's 20M weights)."""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=True)


def split_by_time(full: FeatureBatch, valid_fraction: float) -> tuple[FeatureBatch,
                                                                      FeatureBatch | None]:
    """The earliest visits for training, the latest `valid_fraction` for validation."""
    if not 0.0 <= valid_fraction < 1.0:
        raise ValueError(f"valid_fraction must be in [0, 1), got {valid_fraction!r}")
    n = len(full)
    n_valid = int(round(n * valid_fraction))
    if valid_fraction > 0 and n_valid == 0 and n > 1:
        n_valid = 1
    if n_valid == 0:
        return full, None
    return full.index(slice(0, n - n_valid)), full.index(slice(n - n_valid, n))


def check_fit_arguments(valid_fraction: float = 0.1, epochs: int = 10, batch_size: int = 256,
                        lr: float = 1e-3, patience: int = 2, seed: int = 0,
                        device: str | torch.device = "cpu", progress: bool = False,
                        weight_decay: float = 0.0) -> None:
    """ValueError (InvalidTypeError for a wrong type) naming the first `fit` argument outside
    its range: epochs, batch_size and patience are integers >= 1 (``epochs=0`` would return
    an untrained model), valid_fraction in [0, 1), lr > 0, weight_decay >= 0."""
    _validate.number("valid_fraction", valid_fraction, 0.0, 1.0, high_open=True)
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("patience", patience)):
        _validate.int_at_least(name, value, 1)
    _validate.positive("lr", lr)
    _validate.non_negative("weight_decay", weight_decay)
    _validate.seed("seed", seed)
    _validate.boolean("progress", progress)
    if not isinstance(device, str | torch.device):
        raise _validate.InvalidTypeError(f"device must be 'cpu', 'cuda', 'auto' or a "
                                         f"torch.device, got {device!r}")


def check_fit_keywords(kwargs: Mapping[str, Any], what: str = "fit_kwargs") -> None:
    """Check keyword arguments meant for `fit` (an agent's ``fit_kwargs``) before training:
    unknown names raise TypeError, values as `check_fit_arguments`."""
    _validate.check_annotation(what, kwargs, dict)
    _validate.check_keywords(what, kwargs, check_fit_arguments)
    check_fit_arguments(**kwargs)


@torch_threads()
def fit(model: RankingModel, logs: pd.DataFrame | FeatureBatch, valid_fraction: float = 0.1,
        epochs: int = 10, batch_size: int = 256, lr: float = 1e-3, patience: int = 2,
        seed: int = 0, device: str | torch.device = "cpu", progress: bool = False,
        weight_decay: float = 0.0) -> TrainingHistory:
    """Train `model` on logged impressions (a logs DataFrame or a FeatureBatch of visits in
    time order). Adam on BCE + auxiliary loss; after each epoch the held-out loss decides
    early stopping (`patience` epochs without improvement) and the best parameters are kept.
    Returns the `TrainingHistory` (epochs run, losses), also stored as ``model.history``;
    with ``progress`` the bar shows the epoch and its losses."""
    check_fit_arguments(valid_fraction, epochs, batch_size, lr, patience, seed, device,
                        progress, weight_decay)
    dev = resolve_device(device)
    if not isinstance(logs, FeatureBatch | pd.DataFrame):
        raise _validate.InvalidTypeError(f"logs must be a logs DataFrame or a FeatureBatch, "
                                         f"got {type(logs).__name__}")
    full = logs if isinstance(logs, FeatureBatch) else batch_from_logs(logs, model.spec)
    if full.labels is None:
        raise ValueError("training data has no labels (clicks)")
    full.validate(model.spec)
    train, valid = split_by_time(full, valid_fraction)
    model.to(dev)
    with seeded_torch(seed):
        model.prepare(train, epochs=epochs, batch_size=batch_size, lr=lr, patience=patience,
                      seed=seed, device=dev, weight_decay=weight_decay)
    with seeded_torch(seed):
        return _train(model, train, valid, epochs, batch_size, lr, patience, seed, dev,
                      progress, weight_decay)


def _train(model: RankingModel, train: FeatureBatch, valid: FeatureBatch | None, epochs: int,
           batch_size: int, lr: float, patience: int, seed: int, dev: torch.device,
           progress: bool, weight_decay: float) -> TrainingHistory:
    """The epochs of `fit` (Adam, early stopping on ``valid``'s loss, or on the training
    loss without it; the best epoch's parameters are kept)."""
    optimizer = adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    history = TrainingHistory(max_epochs=epochs)
    best, best_state, bad = float("inf"), None, 0
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=epochs * -(-len(train) // batch_size), desc=type(model).__name__)
    for epoch in range(epochs):
        model.train()
        total, count = 0.0, 0
        for i, batch in enumerate(iterate_batches(train, batch_size, True, seed + epoch, dev)):
            logits, aux = model.forward_with_aux(batch)
            loss = masked_bce(logits, batch) + aux
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"training loss is {loss.item()} at step {history.steps} (epoch {epoch}, "
                    f"batch {i}, requests {i * batch_size}..{i * batch_size + len(batch) - 1} "
                    f"of the shuffled epoch); lower lr or check the logged features")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history.steps += 1
            total += loss.item() * len(batch)
            count += len(batch)
            if bar is not None:
                bar.update(1)
        history.train_loss.append(total / max(count, 1))
        if valid is not None:
            scores = evaluate(model, valid)
            history.valid_loss.append(scores["loss"])
            history.valid_auc.append(scores["auc"])
            current = scores["loss"]
        else:
            current = history.train_loss[-1]
        if bar is not None:
            losses = {"epoch": epoch, "train_loss": f"{history.train_loss[-1]:.4f}"}
            if history.valid_loss:
                losses["valid_loss"] = f"{history.valid_loss[-1]:.4f}"
            bar.set_postfix(losses)
        if current < best:
            best, bad, history.best_epoch = current, 0, epoch
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        else:
            bad += 1
            if bad >= patience:
                break
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    model.history = history
    return history
