"""Logged slates as arrays, and logged visits as observations a target policy can rank.

`LoggedSlates.from_logs(logs, candidates, config)` checks a logs frame (`drnsim.logs`
schema) for what off-policy evaluation needs and lays it out per visit: the shown slates
(n, K) as candidate indices, their clicks, the logging policy's probabilities, and the
candidates of every visit, from the candidates table (`collect_logs(..., candidates=True)`)
or, without one, the shown items only. `observations(start, stop)` rebuilds the env
observations of a range of visits (the keys of docs/design.md section 3, plus
``obs["visit_id"]``), so that any agent's ``act`` scores the logged candidates as it would
have live.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from drnsim.config import WorldConfig
from drnsim.features import visit_observation
from drnsim.logs import (
    CANDIDATE_COLUMNS,
    LOG_POP,
    LOG_PROVIDER_CLICKS,
    LOG_TOPIC_CLICKS,
    check_logs,
    first_bad,
)

#: Per-slot columns of the logging policy's probabilities, copied into (n, K) arrays.
SLOT_COLUMNS = ("propensity", "propensity_se", "prefix_propensity", "greedy_candidate_index")
#: Per-visit columns (equal on a visit's rows), copied into (n,) arrays.
VISIT_COLUMNS = ("slate_propensity", "logging_epsilon")
TRUTH_COLUMN = "attractiveness"


@dataclass
class LoggedSlates:
    """n logged visits with slates of K slots over N candidate indices (see the module
    docstring). ``slot`` and ``visit`` hold the logging-probability columns present in
    the logs (`SLOT_COLUMNS`, `VISIT_COLUMNS`)."""

    first: pd.DataFrame  # first logged row of each visit, in time order
    slates: np.ndarray  # (n, K) candidate indices, -1 = empty slot
    reward: np.ndarray  # (n, K) clicks, 0 in empty slots
    n_valid: np.ndarray  # (n,) valid candidates of each visit
    slot: dict[str, np.ndarray]
    visit: dict[str, np.ndarray]
    candidates: dict[str, np.ndarray]  # per candidate row, sorted by (visit row, index)
    offsets: np.ndarray  # (n + 1,) candidate rows of visit i: offsets[i]:offsets[i + 1]
    complete: bool  # every valid candidate of every visit is logged
    config: WorldConfig

    @property
    def slate_size(self) -> int:
        return self.slates.shape[1]

    @property
    def shown(self) -> np.ndarray:
        return self.slates >= 0

    @property
    def visit_id(self) -> np.ndarray:
        return self.first["visit_id"].to_numpy()

    @property
    def has_truth(self) -> bool:
        return TRUTH_COLUMN in self.candidates

    def __len__(self) -> int:
        return len(self.first)

    @classmethod
    def from_logs(cls, logs: pd.DataFrame, candidates: pd.DataFrame | None = None,
                  config: WorldConfig | None = None,
                  slate_size: int | None = None) -> LoggedSlates:
        """Check and lay out ``logs`` (and the ``candidates`` table); the world ``config``
        gives the slate size (unless ``slate_size``), the number of candidate slots and the
        history length. ValueError names the column of any inconsistency."""
        cfg = WorldConfig.coerce(config)
        check_logs(logs, require=("candidate_index", "n_valid_candidates"))
        k = cfg.slate_size if slate_size is None else int(slate_size)
        df = logs.sort_values(["time", "visit_id", "position"], kind="stable",
                              ignore_index=True)
        position = df["position"].to_numpy(np.int64)
        first_bad(df, position >= k, "position",
                  f"must lie below the slate size {k} (the world's slate_size, or "
                  "slate_size=): the logs hold longer slates than the policy ranks")
        column = df["candidate_index"].to_numpy(np.int64)
        first_bad(df, (column < 0) | (column >= cfg.n_candidates), "candidate_index",
                  f"must be a candidate slot in [0, {cfg.n_candidates - 1}] (the world's "
                  "n_candidates)")
        vrow, visit_ids = pd.factorize(df["visit_id"])
        n = len(visit_ids)
        first_row = np.zeros(n, dtype=np.int64)
        first_row[vrow[::-1]] = np.arange(len(df))[::-1]
        first = df.iloc[first_row].reset_index(drop=True)
        for name in ("n_valid_candidates", "time", "user_id"):
            values = df[name].to_numpy()
            first_bad(df, values != values[first_row][vrow], name,
                      "must be equal on every row of a visit")
        n_valid = first["n_valid_candidates"].to_numpy(np.int64)
        _check_whole_slates(df, vrow, n_valid, k)
        slates = np.full((n, k), -1, dtype=np.int64)
        slates[vrow, position] = column
        ordered = np.sort(np.where(slates >= 0, slates, -1 - np.arange(k)), axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]).any(axis=1)
        first_bad(df, repeated[vrow], "candidate_index",
                  "must not repeat within a visit (one candidate shown twice)")
        reward = np.zeros((n, k))
        reward[vrow, position] = df["click"].to_numpy(np.float64)
        slot, visit = {}, {}
        for name in SLOT_COLUMNS:
            if name in df:
                fill = -1 if name == "greedy_candidate_index" else np.nan
                values = np.full((n, k), fill, dtype=np.float64)
                values[vrow, position] = df[name].to_numpy(np.float64)
                slot[name] = values.astype(np.int64) if name == "greedy_candidate_index" \
                    else values
        for name in VISIT_COLUMNS:
            if name in df:
                values = df[name].to_numpy(np.float64)
                varies = ~np.isclose(values, values[first_row][vrow], equal_nan=True)
                first_bad(df, varies, name, "must be equal on every row of a visit")
                visit[name] = values[first_row]
        if "slate_propensity" in visit and "prefix_propensity" in slot:
            last = slot["prefix_propensity"][np.arange(n), np.maximum((slates >= 0).sum(1) - 1,
                                                                       0)]
            mismatch = ~np.isclose(visit["slate_propensity"], last, rtol=1e-6, atol=0)
            first_bad(df, mismatch[vrow], "slate_propensity",
                      "must equal the visit's last prefix_propensity (the probability of the "
                      "whole slate)")
        if candidates is None:
            table, complete = df, bool(((slates >= 0).sum(1) == n_valid).all())
        else:
            table, complete = _check_candidates(candidates, df, visit_ids, slates, n_valid), True
        rows = pd.Index(visit_ids).get_indexer(table["visit_id"])
        order = np.lexsort((table["candidate_index"].to_numpy(), rows))
        order = order[rows[order] >= 0]
        columns = {name: table[name].to_numpy()[order]
                   for name in CANDIDATE_COLUMNS[2:] + (TRUTH_COLUMN,) if name in table}
        columns["row"] = rows[order]
        columns["candidate_index"] = table["candidate_index"].to_numpy(np.int64)[order]
        offsets = np.searchsorted(columns["row"], np.arange(n + 1))
        return cls(first=first, slates=slates, reward=reward, n_valid=n_valid, slot=slot,
                   visit=visit, candidates=columns, offsets=offsets, complete=complete,
                   config=cfg)

    def observations(self, start: int, stop: int, truth: bool = False) -> dict:
        """The env observation of visits start..stop-1, with ``obs["visit_id"]``; with
        ``truth`` also ``obs["candidates"]["attractiveness"]`` (hidden, for the oracle)."""
        cfg = self.config
        first = self.first.iloc[start:stop]
        b, n, w = len(first), cfg.n_candidates, len(LOG_POP)
        lo, hi = self.offsets[start], self.offsets[stop]
        row = self.candidates["row"][lo:hi] - start
        col = self.candidates["candidate_index"][lo:hi]

        def grid(name: str, fill: float, dtype: type) -> np.ndarray:
            out = np.full((b, n), fill, dtype=dtype)
            out[row, col] = self.candidates[name][lo:hi]
            return out

        def windows(names: tuple[str, ...]) -> np.ndarray:
            out = np.zeros((b, n, w), dtype=np.float32)
            for j, name in enumerate(names):
                out[row, col, j] = self.candidates[name][lo:hi]
            return out

        mask = np.zeros((b, n), dtype=np.int8)
        mask[row, col] = 1
        obs = visit_observation(first, cfg.history_length)
        obs["candidates"] = {"item_id": grid("item_id", -1, np.int64),
                             "topic": grid("topic", -1, np.int32),
                             "provider": grid("provider", -1, np.int32),
                             "age": grid("item_age", 0.0, np.float32),
                             "popularity": windows(LOG_POP), "mask": mask}
        obs["user_news"] = {"topic_clicks": windows(LOG_TOPIC_CLICKS),
                            "provider_clicks": windows(LOG_PROVIDER_CLICKS)}
        obs["visit_id"] = first["visit_id"].to_numpy()
        if truth:
            if not self.has_truth:
                raise ValueError(f"the candidates table has no column {TRUTH_COLUMN!r} (the "
                                 "hidden truth): collect the logs with collect_logs(..., "
                                 "candidates=True, truth=True)")
            obs["candidates"][TRUTH_COLUMN] = grid(TRUTH_COLUMN, 0.0, np.float64)
        return obs


def _check_whole_slates(df: pd.DataFrame, vrow: np.ndarray, n_valid: np.ndarray,
                        k: int) -> None:
    """Each visit shows min(K, n_valid) items at positions 0, 1, ...: ValueError naming
    'position' otherwise (a slate of another size, or rows left out)."""
    count = np.bincount(vrow, minlength=len(n_valid))
    top = np.zeros(len(n_valid), dtype=np.int64)
    np.maximum.at(top, vrow, df["position"].to_numpy(np.int64))
    expect = np.minimum(k, n_valid)
    bad = (count != expect) | (top != expect - 1)
    if bad.any():
        i = int(np.argmax(bad))
        visit = df["visit_id"].to_numpy()[np.argmax(vrow == i)]
        raise ValueError(f"logs column 'position': visit_id {visit} shows {count[i]} items "
                         f"(positions up to {top[i]}) but has {n_valid[i]} valid candidates and "
                         f"slates of {k} slots: each visit must show min({k}, "
                         "n_valid_candidates) items at positions 0, 1, ... (mismatched slate "
                         "sizes, or rows missing)")


def _check_candidates(candidates: pd.DataFrame, logs: pd.DataFrame, visit_ids: pd.Index,
                      slates: np.ndarray, n_valid: np.ndarray) -> pd.DataFrame:
    """The candidates table's rows of the logged visits, checked: its columns, one row per
    (visit, candidate_index), n_valid_candidates rows per visit, and the shown items at
    their candidate_index."""
    if not isinstance(candidates, pd.DataFrame):
        raise ValueError(f"candidates must be a pandas DataFrame, got "
                         f"{type(candidates).__name__}")
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates]
    if missing:
        raise ValueError(f"the candidates table lacks the columns {missing}; its columns are "
                         f"{list(CANDIDATE_COLUMNS)} (see drnsim.logs)")
    holes = [c for c in CANDIDATE_COLUMNS if candidates[c].isna().any()]
    if holes:
        raise ValueError(f"the candidates table has missing values (NaN) in the columns "
                         f"{holes}")
    rows = pd.Index(visit_ids).get_indexer(candidates["visit_id"])
    table = candidates[rows >= 0]
    rows = rows[rows >= 0]
    first_bad(table, table.duplicated(["visit_id", "candidate_index"]).to_numpy(),
              "candidate_index", "must occur once per visit in the candidates table")
    count = np.bincount(rows, minlength=len(visit_ids))
    short = np.flatnonzero(count != n_valid)
    if len(short):
        i = short[0]
        raise ValueError(f"the candidates table holds {count[i]} candidates of visit_id "
                         f"{visit_ids[i]}, whose logs column 'n_valid_candidates' says "
                         f"{n_valid[i]}: the table must hold every valid candidate of every "
                         "logged visit")
    index = pd.MultiIndex.from_arrays([table["visit_id"], table["candidate_index"]])
    shown = logs[["visit_id", "candidate_index", "item_id"]]
    where = index.get_indexer(pd.MultiIndex.from_arrays([shown["visit_id"],
                                                         shown["candidate_index"]]))
    items = table["item_id"].to_numpy()
    wrong = (where < 0) | (items[np.maximum(where, 0)] != shown["item_id"].to_numpy())
    first_bad(logs, wrong, "candidate_index",
              "must point at the shown item's row of the candidates table (same visit_id, "
              "candidate_index and item_id)")
    return table


__all__ = ["LoggedSlates", "SLOT_COLUMNS", "TRUTH_COLUMN", "VISIT_COLUMNS"]
