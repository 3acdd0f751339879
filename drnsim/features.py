"""Observations -> tensors: sparse fields, dense features, behaviour sequences, DRN's groups.

`build_batch(obs, spec)` turns an env observation (single or batched) into a `FeatureBatch`;
`batch_from_logs(df, spec)` does the same for logged impressions (`drnsim.logs` schema), with
N = the shown items of a visit and labels = clicks. Both share one code path, so a model
trained on logs scores live requests with identical features (docs/design.md section 4).

Index convention for categorical fields: 0 is padding / unknown, a value v is stored as v + 1.
Item ids grow forever (fresh news), so they are hashed into `n_item_buckets` buckets.

DRN's four feature groups (Zheng et al., WWW 2018, sec. 4.2): `state` = user features (static
profile + the user's clicks per topic in the 1 h / 6 h / 24 h / 1 week windows, from the
history) + context (hour, weekday, time since last visit); `action` = news features (topic,
provider, age, popularity counts) + user-news features (the user's clicks on the candidate's
topic and provider per window).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

import numpy as np
import pandas as pd
import torch

from drnsim._validate import InvalidTypeError, check_memory
from drnsim.config import HOUR, WINDOW_NAMES, WINDOWS_SECONDS, WorldConfig
from drnsim.logs import LOG_POP, LOG_PROVIDER_CLICKS, LOG_TOPIC_CLICKS, LOG_USER, check_logs

N_WINDOWS = len(WINDOWS_SECONDS)

USER_FIELDS = ("user_id", "age", "gender", "region", "device", "hour", "weekday")
ITEM_FIELDS = ("item", "topic", "provider")
DENSE_NAMES = (("log_age_hours",) + tuple(f"log_pop_{w}" for w in WINDOW_NAMES)
               + tuple(f"log_topic_clicks_{w}" for w in WINDOW_NAMES)
               + tuple(f"log_provider_clicks_{w}" for w in WINDOW_NAMES)
               + ("log_since_last_visit_hours", "first_visit", "log_history_length"))
N_ITEM_DENSE = 1 + 3 * N_WINDOWS  # the candidate-specific part of `dense` (news + user-news)


@dataclass(frozen=True)
class FeatureSpec:
    """Sizes of every field, so that models size their embeddings from it."""

    n_users: int
    n_item_buckets: int
    n_topics: int
    n_providers: int
    n_age_buckets: int
    n_genders: int
    n_regions: int
    n_devices: int
    history_length: int
    n_candidates: int
    slate_size: int

    @classmethod
    def from_config(cls, config: WorldConfig, n_item_buckets: int = 100_003) -> FeatureSpec:
        """The spec of a world's observations."""
        if n_item_buckets < 1:
            raise ValueError(f"n_item_buckets must be >= 1, got {n_item_buckets}")
        c = WorldConfig.coerce(config)
        return cls(c.n_users, n_item_buckets, c.n_topics, c.n_providers, c.n_age_buckets,
                   c.n_genders, c.n_regions, c.n_devices, c.history_length, c.n_candidates,
                   c.slate_size)

    @classmethod
    def from_logs(cls, logs: pd.DataFrame, n_item_buckets: int | None = None,
                  history_length: int | None = None) -> FeatureSpec:
        """The spec of a logs frame (`drnsim.logs` schema, e.g. from `drnsim.datasets`):
        every vocabulary sized by the largest id in the logs (histories included), so a
        field that holds only 0 (a source without providers or devices) gets one value.
        `n_item_buckets` defaults to one bucket per item id (no two items share an
        embedding row; ids seen later are hashed modulo it); `history_length` to the
        longest history; slate_size = n_candidates = the largest position + 1."""
        check_logs(logs)
        visits = logs.drop_duplicates("visit_id")  # one history per visit

        def largest(scalar: str, lists: str | None = None) -> int:
            top = int(logs[scalar].max())
            if lists is not None:
                top = max(top, max((int(np.max(v)) for v in visits[lists] if len(v)),
                                   default=0))
            return top

        if n_item_buckets is None:
            n_item_buckets = largest("item_id", "hist_item_id") + 1
        if n_item_buckets < 1:
            raise ValueError(f"n_item_buckets must be >= 1, got {n_item_buckets}")
        longest = max(int(visits["hist_item_id"].map(len).max()), 1)
        if history_length is None:
            history_length = longest
        if isinstance(history_length, bool) or not isinstance(history_length, int) \
                or history_length < 1:
            raise ValueError(f"history_length must be an integer >= 1, got {history_length!r}")
        slate = int(logs["position"].max()) + 1
        return cls(n_users=largest("user_id") + 1, n_item_buckets=n_item_buckets,
                   n_topics=largest("topic", "hist_topic") + 1,
                   n_providers=largest("provider", "hist_provider") + 1,
                   n_age_buckets=largest("user_age") + 1, n_genders=largest("user_gender") + 1,
                   n_regions=largest("user_region") + 1, n_devices=largest("user_device") + 1,
                   history_length=history_length, n_candidates=slate, slate_size=slate)

    @property
    def user_vocab(self) -> tuple[int, ...]:
        """Vocabulary size (with the padding index 0) of each user/context field."""
        return (self.n_users + 1, self.n_age_buckets + 1, self.n_genders + 1,
                self.n_regions + 1, self.n_devices + 1, 25, 8)

    @property
    def item_vocab(self) -> tuple[int, ...]:
        """Vocabulary size (with the padding index 0) of each item field."""
        return (self.n_item_buckets + 1, self.n_topics + 1, self.n_providers + 1)

    @property
    def n_user_fields(self) -> int:
        return len(USER_FIELDS)

    @property
    def n_item_fields(self) -> int:
        return len(ITEM_FIELDS)

    @property
    def dense_dim(self) -> int:
        return len(DENSE_NAMES)

    @property
    def state_dim(self) -> int:
        """One-hot profile and context, 3 activity values, topic clicks per window."""
        return (self.n_age_buckets + self.n_genders + self.n_regions + self.n_devices + 24 + 7
                + 3 + self.n_topics * N_WINDOWS)

    @property
    def action_dim(self) -> int:
        """One-hot topic and provider, then the candidate part of `dense`."""
        return self.n_topics + self.n_providers + N_ITEM_DENSE


@dataclass
class FeatureBatch:
    """Tensors of B requests with N items each (N candidates, or K shown items from logs)."""

    user_fields: torch.Tensor  # (B, Fu) long
    item_fields: torch.Tensor  # (B, N, Fi) long
    dense: torch.Tensor  # (B, N, D) float
    history_fields: torch.Tensor  # (B, L, Fi) long
    history_mask: torch.Tensor  # (B, L) bool
    candidate_mask: torch.Tensor  # (B, N) bool
    state: torch.Tensor  # (B, S) float
    action: torch.Tensor  # (B, N, A) float
    labels: torch.Tensor | None = None  # (B, N) float

    def __len__(self) -> int:
        return self.user_fields.shape[0]

    def _map(self, fn) -> FeatureBatch:
        return FeatureBatch(**{f.name: None if getattr(self, f.name) is None
                               else fn(getattr(self, f.name)) for f in fields(self)})

    def to(self, device: str | torch.device) -> FeatureBatch:
        """The batch on another device."""
        return self._map(lambda t: t.to(device, non_blocking=True))

    def index(self, rows: Any) -> FeatureBatch:
        """The sub-batch of some requests (a slice or an index tensor)."""
        if isinstance(rows, torch.Tensor) and not rows.dtype.is_floating_point \
                and rows.dtype != torch.bool and rows.dim() == 1:
            # index_select gathers whole rows: ~3x faster than advanced indexing, same values
            return self._map(lambda t: t.index_select(0, rows.to(t.device)))
        return self._map(lambda t: t[rows])

    def history_order(self) -> torch.Tensor:
        """Request indices sorted by history length (stable), so that chunks of neighbours
        trim to similar lengths (`trim_history`)."""
        return torch.argsort(self.history_mask.sum(1), stable=True)

    def trim_history(self) -> FeatureBatch:
        """The batch without the trailing history columns that no request uses (at least one
        column is kept). Every model masks padded positions (DIN weighs them 0, DIEN's GRUs
        and MIMN's controller skip them), so scores are unchanged while the attention and
        the recurrences run over the longest real history in the batch instead of L."""
        used = self.history_mask.any(0)
        length = int(used.nonzero().max()) + 1 if bool(used.any()) else 1
        if length == self.history_mask.shape[1]:
            return self
        return replace(self, history_fields=self.history_fields[:, :length],
                       history_mask=self.history_mask[:, :length])

    def validate(self, spec: FeatureSpec) -> FeatureBatch:
        """Raise ValueError naming the first field whose shape or ids do not fit `spec`."""
        b, n = self.item_fields.shape[:2]
        expect = {"user_fields": (b, spec.n_user_fields),
                  "item_fields": (b, n, spec.n_item_fields),
                  "dense": (b, n, spec.dense_dim),
                  "history_fields": (b, spec.history_length, spec.n_item_fields),
                  "history_mask": (b, spec.history_length),
                  "candidate_mask": (b, n), "state": (b, spec.state_dim),
                  "action": (b, n, spec.action_dim)}
        if self.labels is not None:
            expect["labels"] = (b, n)
        for name, shape in expect.items():
            got = tuple(getattr(self, name).shape)
            if got != shape:
                hint = (f" (history_length={spec.history_length})"
                        if name.startswith("history") else "")
                raise ValueError(f"FeatureBatch.{name} has shape {got}, the FeatureSpec expects "
                                 f"{shape}{hint}")
        groups = (("user_fields", USER_FIELDS, spec.user_vocab),
                  ("item_fields", ITEM_FIELDS, spec.item_vocab),
                  ("history_fields", ITEM_FIELDS, spec.item_vocab))
        for name, names, vocab in groups:
            values = getattr(self, name).reshape(-1, len(names))
            if values.numel() == 0:
                continue
            low, high = (v.tolist() for v in torch.aminmax(values, dim=0))
            for j, field in enumerate(names):
                if low[j] < 0 or high[j] >= vocab[j]:
                    raise ValueError(f"FeatureBatch.{name}[{field}] holds index "
                                     f"{high[j] if high[j] >= vocab[j] else low[j]} outside "
                                     f"[0, {vocab[j] - 1}] (vocabulary of the FeatureSpec)")
        return self


# ----------------------------------------------------------------------------------------
def _check_range(name: str, values: np.ndarray, high: int, valid: np.ndarray | None = None,
                 what: str = "") -> None:
    """ValueError naming the observation field when an id falls outside [0, high)."""
    v = values if valid is None else values[valid]
    if v.size and (v.min() < 0 or v.max() >= high):
        bad = v.max() if v.max() >= high else v.min()
        raise ValueError(f"observation field {name} holds {bad}, outside [0, {high - 1}]"
                         f"{what}; the FeatureSpec does not match this world")


def _log1p(x: np.ndarray) -> np.ndarray:
    """log(1 + max(x, 0)) in x's precision, as float32."""
    out = np.maximum(x, 0.0)
    return np.log1p(out, out=out).astype(np.float32, copy=False)


#: The observation keys `build_batch` reads, per group (the env's spec has them all).
OBS_KEYS = {"user": ("user_id", "features"), "context": ("hour", "weekday", "since_last_visit"),
            "history": ("item_id", "topic", "provider", "age", "length"),
            "candidates": ("item_id", "topic", "provider", "age", "popularity", "mask"),
            "user_news": ("topic_clicks", "provider_clicks")}


def check_observation(obs: Any) -> None:
    """ValueError naming the first missing group or key of an observation (InvalidTypeError
    when it is not a mapping), so that a wrong input fails with its name, not a KeyError."""
    if not isinstance(obs, Mapping):
        raise InvalidTypeError(f"obs must be an observation dict (or a FeatureBatch), got "
                               f"{type(obs).__name__}")
    for group, keys in OBS_KEYS.items():
        if not isinstance(obs.get(group), Mapping):
            raise ValueError(f"obs lacks the group {group!r} (a dict); an observation has "
                             f"{list(OBS_KEYS)}")
        missing = [k for k in keys if k not in obs[group]]
        if missing:
            raise ValueError(f"obs[{group!r}] lacks {missing}; it needs {list(keys)}")


def build_batch(obs: dict, spec: FeatureSpec, device: str | torch.device = "cpu",
                labels: np.ndarray | None = None) -> FeatureBatch:
    """A `FeatureBatch` from an env observation (single, or batched with a leading B axis)."""
    check_observation(obs)
    user, ctx, hist, cand, un = (obs["user"], obs["context"], obs["history"],
                                 obs["candidates"], obs["user_news"])
    single = np.ndim(user["user_id"]) == 0

    def arr(x: Any) -> np.ndarray:
        a = np.asarray(x)
        return a[None] if single else a

    uid, prof = arr(user["user_id"]), arr(user["features"])
    hour, weekday, since = arr(ctx["hour"]), arr(ctx["weekday"]), arr(ctx["since_last_visit"])
    h_item, h_topic, h_prov, h_age = (arr(hist[k]) for k in ("item_id", "topic", "provider",
                                                              "age"))
    h_len = arr(hist["length"])
    c_item, c_topic, c_prov = (arr(cand[k]) for k in ("item_id", "topic", "provider"))
    c_age, pop, c_mask = arr(cand["age"]), arr(cand["popularity"]), arr(cand["mask"])
    t_clicks, p_clicks = arr(un["topic_clicks"]), arr(un["provider_clicks"])

    big_l = spec.history_length
    for name, a in (("history.item_id", h_item), ("history.topic", h_topic),
                    ("history.provider", h_prov), ("history.age", h_age)):
        if a.shape[-1] != big_l:
            raise ValueError(f"observation field {name} has length {a.shape[-1]}, the "
                             f"FeatureSpec expects history_length={big_l}")
    if c_item.ndim != 2:
        raise ValueError(f"observation field candidates.item_id must have shape (B, N) or (N,),"
                         f" got {np.shape(cand['item_id'])}")
    b, n = c_item.shape
    leading = {"candidates.topic": c_topic, "candidates.provider": c_prov,
               "candidates.age": c_age, "candidates.popularity": pop, "candidates.mask": c_mask,
               "user_news.topic_clicks": t_clicks, "user_news.provider_clicks": p_clicks}
    for name, a in leading.items():
        if a.shape[:2] != (b, n):
            raise ValueError(f"observation field {name} has shape {a.shape}; candidates.item_id"
                             f" has (B, N) = {(b, n)}, and every candidate field must match it")
    for name, a in (("user.user_id", uid), ("context.hour", hour), ("history.length", h_len)):
        if a.shape[:1] != (b,):
            raise ValueError(f"observation field {name} has shape {a.shape}, expected ({b},) "
                             "(one per visit)")
    h_mask = np.arange(big_l)[None, :] < h_len[:, None]
    c_valid = c_mask.astype(bool)
    _check_range("user.user_id", uid, spec.n_users)
    for j, (name, high) in enumerate(zip(("age", "gender", "region", "device"),
                                         spec.user_vocab[1:5], strict=True)):
        _check_range(f"user.features[{name}]", prof[:, j], high - 1)
    _check_range("context.hour", hour, 24)
    _check_range("context.weekday", weekday, 7)
    _check_range("history.length", h_len, big_l + 1)
    for prefix, topic, prov, valid in (("candidates", c_topic, c_prov, c_valid),
                                       ("history", h_topic, h_prov, h_mask)):
        _check_range(f"{prefix}.topic", topic, spec.n_topics, valid, " (n_topics)")
        _check_range(f"{prefix}.provider", prov, spec.n_providers, valid, " (n_providers)")

    def item_fields(item, topic, prov, valid):
        out = np.stack([item % spec.n_item_buckets + 1, topic.astype(np.int64) + 1,
                        prov.astype(np.int64) + 1], axis=-1)
        return np.where(valid[..., None], out, 0)

    first = since < 0
    since_h = np.where(first, 0.0, _log1p(since / HOUR))
    log_len = _log1p(h_len.astype(np.float32))
    item_dense = np.concatenate([_log1p(c_age / HOUR)[..., None], _log1p(pop),
                                 _log1p(t_clicks), _log1p(p_clicks)], axis=-1)
    user_dense = np.stack([since_h, first.astype(np.float32), log_len], axis=-1)  # (B, 3)
    item_dense = np.where(c_valid[..., None], item_dense, 0.0)
    dense = np.concatenate([item_dense, np.broadcast_to(user_dense[:, None], (b, n, 3))], -1)

    # DRN state: one-hot profile and context, activity, the user's clicks per topic and window
    onehots = [np.eye(size - 1, dtype=np.float32)[values] for size, values in
               zip(spec.user_vocab[1:5], prof.T, strict=True)]
    onehots += [np.eye(24, dtype=np.float32)[hour], np.eye(7, dtype=np.float32)[weekday]]
    windows = np.asarray(WINDOWS_SECONDS, dtype=np.float32)
    in_window = (h_age[..., None] < windows) & h_mask[..., None]  # (B, L, W)
    topic_counts = np.zeros((b, spec.n_topics, N_WINDOWS), dtype=np.float32)
    rows = np.broadcast_to(np.arange(b)[:, None], h_topic.shape)
    np.add.at(topic_counts, (rows[h_mask], h_topic[h_mask]), in_window[h_mask].astype(np.float32))
    state = np.concatenate(onehots + [user_dense, _log1p(topic_counts).reshape(b, -1)], axis=-1)
    user_fields = np.stack([uid + 1, prof[:, 0] + 1, prof[:, 1] + 1, prof[:, 2] + 1,
                            prof[:, 3] + 1, hour + 1, weekday + 1], axis=-1)

    def t(x, dtype):
        writable = np.require(x, requirements=["C", "W"])
        return torch.as_tensor(writable).to(device=device, dtype=dtype)

    candidate_fields = t(item_fields(c_item, c_topic, c_prov, c_valid), torch.long)
    dense_t = t(dense, torch.float32)
    return FeatureBatch(
        user_fields=t(user_fields, torch.long), item_fields=candidate_fields, dense=dense_t,
        history_fields=t(item_fields(h_item, h_topic, h_prov, h_mask), torch.long),
        history_mask=t(h_mask, torch.bool), candidate_mask=t(c_valid, torch.bool),
        state=t(state, torch.float32),
        action=drn_action(candidate_fields[..., 1], candidate_fields[..., 2],
                          dense_t[..., :N_ITEM_DENSE], spec),
        labels=None if labels is None else t(labels, torch.float32))


def drn_action(topic: torch.Tensor, provider: torch.Tensor, item_dense: torch.Tensor,
               spec: FeatureSpec) -> torch.Tensor:
    """DRN's action features (B, N, A) of the candidates: one-hot topic and provider, then
    the news and user-news dense features. ``topic`` and ``provider`` are the candidates'
    item-field indices (B, N) (value + 1, 0 = padded: one-hot of nothing), ``item_dense``
    the candidate part of `FeatureBatch.dense` (B, N, N_ITEM_DENSE). It is how `build_batch`
    makes `FeatureBatch.action`, and lets the DRN replay memory store the compact columns."""
    dtype = item_dense.dtype
    return torch.cat([_one_hot(topic, spec.n_topics, dtype),
                      _one_hot(provider, spec.n_providers, dtype), item_dense], dim=-1)


def _one_hot(index: torch.Tensor, classes: int, dtype: torch.dtype) -> torch.Tensor:
    """One-hot (..., classes) of indices 0..classes, 0 = none (all zeros): by scatter, which
    unlike `F.one_hot` does not first scan the input for its range."""
    out = torch.zeros(index.shape + (classes + 1,), dtype=dtype, device=index.device)
    out.scatter_(-1, index.long().unsqueeze(-1), 1.0)
    return out[..., 1:]


# ----------------------------------------------------------------------------------------
def _pad_lists(column: pd.Series, length: int, fill: float, dtype: Any) -> np.ndarray:
    """Stack a column of variable-length lists into (rows, length), padded with `fill`."""
    lists = [np.asarray(v, dtype=dtype)[-length:] for v in column]  # the latest `length`
    lens = np.fromiter((len(v) for v in lists), dtype=np.int64, count=len(lists))
    out = np.full((len(lists), length), fill, dtype=dtype)
    if lens.sum():
        out[np.arange(length)[None, :] < lens[:, None]] = np.concatenate(lists)
    return out


def visit_observation(first: pd.DataFrame, history_length: int) -> dict[str, dict]:
    """The user, context and history parts of an env observation, one per visit, from the
    first logged row of each visit (`drnsim.logs` columns); histories longer than
    ``history_length`` keep their latest items."""
    length = np.minimum(first["history_length"].to_numpy(np.int32), history_length)
    return {
        "user": {"user_id": first["user_id"].to_numpy(np.int64),
                 "features": first[list(LOG_USER)].to_numpy(np.int32)},
        "context": {"hour": first["hour"].to_numpy(np.int32),
                    "weekday": first["weekday"].to_numpy(np.int32),
                    "since_last_visit": first["since_last_visit"].to_numpy(np.float32)},
        "history": {"item_id": _pad_lists(first["hist_item_id"], history_length, -1, np.int64),
                    "topic": _pad_lists(first["hist_topic"], history_length, -1, np.int32),
                    "provider": _pad_lists(first["hist_provider"], history_length, -1,
                                           np.int32),
                    "age": _pad_lists(first["hist_age"], history_length, 0.0, np.float32),
                    "length": length},
    }


def batch_from_logs(logs: pd.DataFrame, spec: FeatureSpec,
                    device: str | torch.device = "cpu") -> FeatureBatch:
    """One `FeatureBatch` of every logged visit, in time order: N = shown items (K slots,
    ordered by position; empty slots masked), labels = clicks. Histories longer than the
    spec's history_length keep their latest items."""
    check_logs(logs)
    df = logs.sort_values(["time", "visit_id", "position"], kind="stable")
    vidx, _ = pd.factorize(df["visit_id"])
    n_visits = int(vidx.max()) + 1
    k = max(int(df["position"].max()) + 1, 1)
    # every (visit, slot) cell holds ids and N_ITEM_DENSE floats in a few working copies
    check_memory({f"{n_visits} visits x {k} slots (the largest position + 1)":
                  n_visits * k * 16 * (N_ITEM_DENSE + 8)}, "the logs' feature batch")
    pos = df["position"].to_numpy(np.int64)
    first = df.drop_duplicates("visit_id")

    def grid(values: np.ndarray, fill: float, dtype: Any) -> np.ndarray:
        out = np.full((n_visits, k) + values.shape[1:], fill, dtype=dtype)
        out[vidx, pos] = values
        return out

    def col(names):
        return df[list(names)].to_numpy(np.float32)

    mask = grid(np.ones(len(df), np.int8), 0, np.int8)
    obs = {
        **visit_observation(first, spec.history_length),
        "candidates": {"item_id": grid(df["item_id"].to_numpy(np.int64), -1, np.int64),
                       "topic": grid(df["topic"].to_numpy(np.int32), -1, np.int32),
                       "provider": grid(df["provider"].to_numpy(np.int32), -1, np.int32),
                       "age": grid(df["item_age"].to_numpy(np.float32), 0, np.float32),
                       "popularity": grid(col(LOG_POP), 0, np.float32), "mask": mask},
        "user_news": {"topic_clicks": grid(col(LOG_TOPIC_CLICKS), 0, np.float32),
                      "provider_clicks": grid(col(LOG_PROVIDER_CLICKS), 0, np.float32)},
    }
    labels = grid(df["click"].to_numpy(np.float32), 0, np.float32)
    return build_batch(obs, spec, device=device, labels=labels)


def iterate_batches(full: FeatureBatch, batch_size: int, shuffle: bool = False, seed: int = 0,
                    device: str | torch.device = "cpu") -> Iterator[FeatureBatch]:
    """Mini-batches of requests of `full`, in order or shuffled with a seeded permutation,
    each cut to its longest history (`FeatureBatch.trim_history`)."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    order = (torch.randperm(len(full), generator=torch.Generator().manual_seed(seed))
             if shuffle else None)
    for start in range(0, len(full), batch_size):
        rows = (order[start:start + batch_size] if order is not None
                else slice(start, start + batch_size))
        yield full.index(rows).trim_history().to(device)


def logs_to_batches(logs: pd.DataFrame | FeatureBatch, spec: FeatureSpec, batch_size: int = 256,
                    shuffle: bool = True, seed: int = 0,
                    device: str | torch.device = "cpu") -> Iterator[FeatureBatch]:
    """Mini-batches of visits (N = shown items, labels = clicks); `shuffle` is seeded."""
    full = logs if isinstance(logs, FeatureBatch) else batch_from_logs(logs, spec)
    return iterate_batches(full, batch_size, shuffle, seed, device)


__all__ = ["FeatureBatch", "FeatureSpec", "batch_from_logs", "build_batch", "iterate_batches",
           "logs_to_batches", "visit_observation", "USER_FIELDS", "ITEM_FIELDS", "DENSE_NAMES"]
