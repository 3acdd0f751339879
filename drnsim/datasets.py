"""Real logs in: public formats -> the logs schema of `drnsim.logs`, with every derived
feature computed by the simulator's own code (docs/design.md section 13).

    logs = read_movielens("ml-100k")        # u.data, u.item, u.user (ratings as clicks)
    logs = read_mind("MINDsmall_train")     # behaviors.tsv, news.tsv (real impressions)
    logs = logs_from_events(impressions, items, users)   # impressions from any source
    spec = FeatureSpec.from_logs(logs)      # every vocabulary sized from the logs

Nothing is downloaded: the readers take a folder that holds the files.

**The derived features** (`logs_from_events`) are the simulator's: visits are replayed in
time order through the kernels the world observes with (`_kernels.fill_observation` per
visit, `_kernels.ring_push` and `_kernels.add_clicks` for the clicks, the counters rebased
by `world.rebase_click_counters`). So, for a visit at time T:

* ``pop_<w>`` = sum over earlier clicks on the item of exp(-(T - t_click) / w), a decayed
  count (w = 1 h, 6 h, 24 h, 1 week); values under 1e-6 read as 0;
* ``hist_*`` = the user's last ``history_length`` clicks before the visit, oldest first, with
  their ages T - t_click in seconds; ``topic_clicks_<w>`` / ``provider_clicks_<w>`` = how many
  of those clicks, younger than w, share the candidate's topic / provider;
* ``item_age`` = T - the item's publication time (seconds); ``since_last_visit`` (and
  ``gap``, the same) = T - the user's previous visit (-1 on the first);
* ``hour``, ``weekday`` = `world.clock(T)`.

"Earlier" means an earlier *group* and an earlier time: visits of one group are served
together and see none of each other's clicks, as the B visits of one vector-env step, and a
visit never counts a click later than itself (a visit of a later group can precede clicks
of an earlier one, as a user served late does in the simulator: docs/design.md section
10.3a). By default a group is one timestamp, so that ties never leak a click into a visit
at the same second.

**Time.** The readers measure time in seconds from the Monday 00:00 before the first event
(UTC for MovieLens' Unix times, the file's own clock for MIND), so that `world.clock` gives
the real hour of day and weekday (0 = Monday).

**Fields a source lacks** (MIND: user profile and provider; MovieLens: provider and device)
hold 0, so `FeatureSpec.from_logs` gives them a one-value vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numba
import numpy as np
import pandas as pd

from drnsim import _kernels as kernels
from drnsim.config import DAY, HOUR, WINDOWS_SECONDS
from drnsim.logs import (
    LOG_COLUMNS,
    LOG_HISTORY,
    LOG_POP,
    LOG_PROVIDER_CLICKS,
    LOG_TOPIC_CLICKS,
    LOG_USER,
)
from drnsim.world import click_decay, clock, rebase_click_counters

_WINDOWS = np.asarray(WINDOWS_SECONDS)
_N_WINDOWS = len(WINDOWS_SECONDS)
IMPRESSION_COLUMNS = ("visit_id", "user_id", "time", "position", "click", "item_id")
"""The columns `logs_from_events` needs in ``impressions`` (one row per shown item)."""
ITEM_COLUMNS = ("topic", "provider", "pub_time")
USER_COLUMNS = LOG_USER
_CHUNK_SECONDS = 40 * HOUR  # decayed counters are rebased between chunks (world.py's rule)
_CHUNK_VISITS = 20_000  # visits per replay chunk: bounds the (visits, slots) work arrays

#: MovieLens-100k's genres, in the order of u.item's flags (topic = the first flag set).
MOVIELENS_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy",
                    "Crime", "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror",
                    "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War", "Western")
#: MovieLens-1M's age groups (lower bounds, years), used for MovieLens-100k's exact ages.
MOVIELENS_AGE_GROUPS = (0, 18, 25, 35, 45, 50, 56)
_MAX_UNIX_SECONDS = np.iinfo(np.int64).max // 10**9  # 2262-04-11 23:47:16 UTC, pandas' limit
_EXACT_INTEGERS = 2**53  # beyond it float64 (how fields are parsed) skips whole numbers


# ---------------------------------------------------------------------------------------
# The replay: the simulator's kernels over logged visits
@numba.njit(cache=True)
def _replay(users, times, group_start, candidates, clicked, ring_items, ring_times, ring_topics,
            ring_providers, ring_ptr, ring_len, item_topic, item_provider, item_pub,
            item_clicks, decay, windows, ref_time, n_topics, n_providers, hist_items,
            hist_topic, hist_provider, hist_age, hist_length, cand_items, cand_mask,
            cand_topic, cand_provider, cand_age, popularity, topic_clicks, provider_clicks,
            safe, wait_items, wait_times, n_wait):
    """Observe then apply the visits of each group in turn (rows [group_start[g],
    group_start[g + 1])): features from the world's own observation kernels
    (`_kernels._observe_history`, `_kernels._observe_candidates`), clicks into the user's
    ring (`_kernels.ring_push`) and the item counters (`_kernels.add_clicks`). As in
    `World.count_clicks`, a click enters the counters only before ``safe[g]`` (the earliest
    visit of any later group); until then it waits in ``wait_items`` / ``wait_times``
    (``n_wait[0]`` of them, kept across calls) and visits read it as the world does
    (`_kernels.recent_clicks`)."""
    topic_counts = np.zeros((n_topics, _N_WINDOWS), np.float32)
    provider_counts = np.zeros((n_providers, _N_WINDOWS), np.float32)
    n_slots = candidates.shape[1]
    capacity = candidates.shape[0] * n_slots + wait_items.shape[0]  # the chunk's + waiting
    click_items = np.empty(capacity, np.int64)
    click_times = np.empty(capacity, np.float64)
    for g in range(group_start.shape[0] - 1):
        lo, hi = group_start[g], group_start[g + 1]
        recent_start, recent_times, recent_cum = kernels.recent_clicks(
            wait_items[:n_wait[0]], wait_times[:n_wait[0]], ref_time, windows, 0,
            item_pub.shape[0])
        for b in range(lo, hi):
            u = users[b]
            hist_length[b] = ring_len[u]
            kernels._observe_history(b, u, times[b], ring_items, ring_times, ring_topics,
                                     ring_providers, ring_ptr, ring_len, windows, hist_items,
                                     hist_topic, hist_provider, hist_age, topic_counts,
                                     provider_counts)
            kernels._observe_candidates(b, times[b], candidates, item_topic, item_provider,
                                        item_pub, item_clicks, 0, decay, cand_items,
                                        cand_mask, cand_topic, cand_provider, cand_age,
                                        popularity, topic_clicks, provider_clicks,
                                        topic_counts, provider_counts, recent_start,
                                        recent_times, recent_cum)
            for slot in range(ring_len[u]):  # leave the scratch zeroed
                topic_counts[hist_topic[b, slot], :] = 0.0
                provider_counts[hist_provider[b, slot], :] = 0.0
        n_clicks, kept = 0, 0
        for k in range(n_wait[0]):  # the waiting clicks first, then the group's
            if wait_times[k] < safe[g]:
                click_items[n_clicks], click_times[n_clicks] = wait_items[k], wait_times[k]
                n_clicks += 1
            else:
                wait_items[kept], wait_times[kept] = wait_items[k], wait_times[k]
                kept += 1
        for b in range(lo, hi):
            for k in range(n_slots):
                item = candidates[b, k]
                if item >= 0 and clicked[b, k]:
                    kernels.ring_push(ring_items, ring_times, ring_topics, ring_providers,
                                      ring_ptr, ring_len, users[b], item, times[b],
                                      item_topic[item], item_provider[item])
                    if times[b] < safe[g]:
                        click_items[n_clicks], click_times[n_clicks] = item, times[b]
                        n_clicks += 1
                    else:
                        wait_items[kept], wait_times[kept] = item, times[b]
                        kept += 1
        n_wait[0] = kept
        kernels.add_clicks(item_clicks, click_items[:n_clicks], click_times[:n_clicks], 0,
                           ref_time, windows)


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{name} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{name} lacks the columns {missing}; it needs {list(columns)}")


def _ids(frame: pd.DataFrame, column: str, name: str) -> np.ndarray:
    """A column of whole numbers >= 0 as int64; ValueError naming the first bad value."""
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(values) | (values < 0) | (values != np.round(values))
    if bad.any():
        raise ValueError(f"{name} column {column!r} must hold whole numbers >= 0, got "
                         f"{frame[column].iloc[int(np.argmax(bad))]!r}")
    return values.astype(np.int64)


def _lookup(table: pd.DataFrame | None, key: str, column: str, ids: np.ndarray,
            size: int, name: str) -> np.ndarray:
    """Per-id values (size,) of an optional column of a table keyed by `key`; 0 when the
    table or the column is absent. Every id in `ids` must be in the table."""
    out = np.zeros(size, np.int64)
    if table is None or column not in table.columns:
        return out
    keys = _ids(table, key, name)
    if len(np.unique(keys)) < len(keys):
        repeated = keys[pd.Series(keys).duplicated().to_numpy()][0]
        raise ValueError(f"{name} has two rows for {key} {repeated}")
    out[keys] = _ids(table, column, name)
    known = np.zeros(size, bool)
    known[keys] = True
    if not known[ids].all():
        missing = ids[~known[ids]][0]
        raise ValueError(f"{key} {missing} occurs in the impressions but not in {name}")
    return out


def logs_from_events(impressions: pd.DataFrame, items: pd.DataFrame | None = None,
                     users: pd.DataFrame | None = None, *, history_length: int = 50,
                     prior_clicks: pd.DataFrame | None = None,
                     group: str | None = None) -> pd.DataFrame:
    """Logs (the `drnsim.logs` schema, one row per shown item) from raw impressions, with
    the derived features computed as the simulator computes them (module docstring).

    impressions: one row per shown item with ``visit_id, user_id, time`` (seconds),
        ``position`` (0 = top), ``click`` (0/1) and ``item_id``; ids are whole numbers >= 0.
        Other columns (a rating, dwell, original keys, ...) are carried into the logs.
    items: ``item_id`` with optional ``topic``, ``provider`` (ids >= 0; 0 when absent) and
        ``pub_time`` (seconds; when absent, the item's first impression or prior click).
    users: ``user_id`` with optional ``user_age, user_gender, user_region, user_device``.
    prior_clicks: ``user_id, item_id, time``: clicks before the logged period (e.g. MIND's
        histories), pushed into the users' histories in that order before the first visit;
        they do not count towards popularity.
    group: a column of ``impressions`` whose values order the replay: visits with equal
        values are served together and see none of each other's clicks (default: ``time``).
    """
    _require_columns(impressions, IMPRESSION_COLUMNS, "impressions")
    if len(impressions) == 0:
        raise ValueError("impressions is empty: there is nothing to turn into logs")
    if isinstance(history_length, bool) or not isinstance(history_length, int) \
            or history_length < 1:
        raise ValueError(f"history_length must be an integer >= 1, got {history_length!r}")
    group = group or "time"
    if group not in impressions.columns:
        raise ValueError(f"group {group!r} is not a column of impressions; columns: "
                         f"{list(impressions.columns)}")
    times = pd.to_numeric(impressions["time"], errors="coerce").to_numpy(np.float64)
    if not np.isfinite(times).all():
        bad = impressions["time"].iloc[int(np.argmax(~np.isfinite(times)))]
        raise ValueError(f"impressions column 'time' must hold finite seconds, got {bad!r}")
    clicks = pd.to_numeric(impressions["click"], errors="coerce").to_numpy(np.float64)
    if not np.isin(clicks, (0, 1)).all():
        raise ValueError(f"impressions column 'click' must hold 0 or 1, got "
                         f"{impressions['click'].iloc[int(np.argmax(~np.isin(clicks, (0, 1))))]!r}")
    id_values = {c: _ids(impressions, c, "impressions")
                 for c in ("visit_id", "user_id", "position", "item_id")}

    frame = impressions.assign(time=times, click=clicks.astype(np.int8), **id_values)
    frame = frame.sort_values([group, "time", "visit_id", "position"], kind="stable",
                              ignore_index=True)
    repeated = frame.duplicated(["visit_id", "position"])
    if repeated.any():
        at = int(np.argmax(repeated.to_numpy()))
        raise ValueError(f"impressions have two rows for visit_id {frame['visit_id'][at]} at "
                         f"position {frame['position'][at]}: each (visit_id, position) must "
                         "occur once")
    visit_index, _ = pd.factorize(frame["visit_id"])
    visits = frame.groupby(visit_index, sort=True).agg(
        visit_id=("visit_id", "first"), user_id=("user_id", "first"),
        n_users=("user_id", "nunique"), time=("time", "first"), t_max=("time", "max"),
        group=(group, "first"), n_groups=(group, "nunique"))
    torn = (visits["n_users"] > 1) | (visits["t_max"] > visits["time"]) | (visits["n_groups"] > 1)
    if torn.any():
        raise ValueError(f"visit_id {visits['visit_id'][torn].iloc[0]} has rows with different "
                         f"user_id, time or {group}: a visit is one user at one time")

    prior = None
    if prior_clicks is not None:
        _require_columns(prior_clicks, ("user_id", "item_id", "time"), "prior_clicks")
        prior = {c: _ids(prior_clicks, c, "prior_clicks") for c in ("user_id", "item_id")}
        prior["time"] = pd.to_numeric(prior_clicks["time"], errors="coerce").to_numpy(
            np.float64)
        if not np.isfinite(prior["time"]).all():
            raise ValueError("prior_clicks column 'time' must hold finite seconds")
    item_ids = frame["item_id"].to_numpy()
    all_items = item_ids if prior is None else np.concatenate([item_ids, prior["item_id"]])
    n_items = int(all_items.max()) + 1
    if items is not None:
        _require_columns(items, ("item_id",), "items")
        n_items = max(n_items, int(_ids(items, "item_id", "items").max(initial=-1)) + 1)
    user_ids = visits["user_id"].to_numpy()
    n_users = int(user_ids.max()) + 1
    if prior is not None:
        n_users = max(n_users, int(prior["user_id"].max(initial=-1)) + 1)
    if users is not None:
        _require_columns(users, ("user_id",), "users")
        n_users = max(n_users, int(_ids(users, "user_id", "users").max(initial=-1)) + 1)

    item_topic = _lookup(items, "item_id", "topic", all_items, n_items, "items").astype(np.int32)
    item_provider = _lookup(items, "item_id", "provider", all_items, n_items,
                            "items").astype(np.int32)
    item_pub = _publication_times(items, frame, prior, n_items)
    profile = np.stack([_lookup(users, "user_id", c, user_ids, n_users, "users")
                        for c in USER_COLUMNS], axis=1)

    # the replay, chunk by chunk; each chunk's counters are referenced to its last time
    n_visits = len(visits)
    n_slots = int(frame["position"].max()) + 1
    row_visit = visit_index
    row_pos = frame["position"].to_numpy()
    grid_items = np.full((n_visits, n_slots), -1, np.int64)
    grid_items[row_visit, row_pos] = item_ids
    grid_clicks = np.zeros((n_visits, n_slots), np.bool_)
    grid_clicks[row_visit, row_pos] = frame["click"].to_numpy() == 1
    visit_times = visits["time"].to_numpy()
    group_first = np.flatnonzero(np.r_[True, visits["group"].to_numpy()[1:]
                                       != visits["group"].to_numpy()[:-1]])

    ring = (np.full((n_users, history_length), -1, np.int64),  # items, times, topics,
            np.zeros((n_users, history_length), np.float64),  # providers, next slot, length
            np.zeros((n_users, history_length), np.int32),
            np.zeros((n_users, history_length), np.int32),
            np.zeros(n_users, np.int32), np.zeros(n_users, np.int32))
    if prior is not None:
        order = np.argsort(prior["time"], kind="stable")
        _push_all(prior["user_id"][order], prior["item_id"][order], prior["time"][order],
                  item_topic, item_provider, *ring)
    counters = np.zeros((n_items, _N_WINDOWS), np.float32)
    ref_time = float(visit_times[0])
    n_topics, n_providers = int(item_topic.max()) + 1, int(item_provider.max()) + 1

    derived = {name: np.empty((n_visits, n_slots), dtype) for name, dtype in (
        ("item_id", np.int64), ("mask", np.int8), ("topic", np.int32), ("provider", np.int32),
        ("item_age", np.float32))}
    for name in ("popularity", "topic_clicks", "provider_clicks"):
        derived[name] = np.empty((n_visits, n_slots, _N_WINDOWS), np.float32)
    history = {"item_id": np.empty((n_visits, history_length), np.int64),
               "topic": np.empty((n_visits, history_length), np.int32),
               "provider": np.empty((n_visits, history_length), np.int32),
               "age": np.empty((n_visits, history_length), np.float32)}
    hist_len = np.empty(n_visits, np.int32)
    # safe[g]: the earliest visit of any later group (visits are sorted by group, then time)
    group_min = visit_times[group_first]
    safe = np.r_[np.minimum.accumulate(group_min[::-1])[::-1][1:], np.inf]
    n_clicked = int(grid_clicks.sum())
    waiting = (np.empty(n_clicked, np.int64), np.empty(n_clicked, np.float64),
               np.zeros(1, np.int64))
    for lo, hi in _chunks(group_first, visit_times, n_visits):
        ref_time = rebase_click_counters(counters, ref_time, float(visit_times[hi - 1]))
        in_chunk = (group_first >= lo) & (group_first < hi)
        starts = group_first[in_chunk] - lo
        part = slice(lo, hi)
        _replay(user_ids[part], visit_times[part], np.r_[starts, hi - lo].astype(np.int64),
                grid_items[part], grid_clicks[part], *ring, item_topic, item_provider,
                item_pub, counters, click_decay(visit_times[part], ref_time), _WINDOWS,
                ref_time, n_topics, n_providers, history["item_id"][part],
                history["topic"][part], history["provider"][part], history["age"][part],
                hist_len[part], *(derived[k][part] for k in (
                    "item_id", "mask", "topic", "provider", "item_age", "popularity",
                    "topic_clicks", "provider_clicks")), safe[in_chunk], *waiting)

    out = {c: frame[c].to_numpy() for c in ("visit_id", "user_id", "time", "position", "click",
                                            "item_id")}
    out["position"] = out["position"].astype(np.int32)
    out["topic"] = derived["topic"][row_visit, row_pos]
    out["provider"] = derived["provider"][row_visit, row_pos]
    out["item_age"] = derived["item_age"][row_visit, row_pos]
    for key, names in (("popularity", LOG_POP), ("topic_clicks", LOG_TOPIC_CLICKS),
                       ("provider_clicks", LOG_PROVIDER_CLICKS)):
        values = derived[key][row_visit, row_pos]
        for j, name in enumerate(names):
            out[name] = values[:, j]
    for j, name in enumerate(LOG_USER):
        out[name] = profile[out["user_id"], j].astype(np.int32)
    hour, weekday = clock(out["time"])
    since = _since_last_visit(user_ids, visit_times)
    out.update(hour=hour, weekday=weekday, since_last_visit=since[row_visit].astype(np.float32),
               history_length=hist_len[row_visit])
    for name, key in zip(LOG_HISTORY, ("item_id", "topic", "provider", "age"), strict=True):
        per_visit = [history[key][v, :hist_len[v]] for v in range(n_visits)]
        column = np.empty(len(frame), dtype=object)
        column[:] = [per_visit[v] for v in row_visit]
        out[name] = column
    out["gap"] = out["since_last_visit"]
    logs = pd.DataFrame(out)
    for column in frame.columns:  # the caller's own columns (a rating, dwell, keys, ...)
        if column not in logs.columns:
            logs[column] = frame[column].to_numpy()
    return logs[list(LOG_COLUMNS) + [c for c in logs.columns if c not in LOG_COLUMNS]]


@numba.njit(cache=True)
def _push_all(users, items, times, item_topic, item_provider, ring_items, ring_times,
              ring_topics, ring_providers, ring_ptr, ring_len):
    for j in range(users.shape[0]):
        item = items[j]
        kernels.ring_push(ring_items, ring_times, ring_topics, ring_providers, ring_ptr,
                          ring_len, users[j], item, times[j], item_topic[item],
                          item_provider[item])


def _publication_times(items: pd.DataFrame | None, frame: pd.DataFrame, prior: dict | None,
                       n_items: int) -> np.ndarray:
    """Each item's publication time: the items' ``pub_time`` where given, else its first
    impression (or prior click, whichever is earlier)."""
    first = np.full(n_items, np.inf)
    np.minimum.at(first, frame["item_id"].to_numpy(), frame["time"].to_numpy())
    if prior is not None:
        np.minimum.at(first, prior["item_id"], prior["time"])
    if items is not None and "pub_time" in items.columns:
        given = pd.to_numeric(items["pub_time"], errors="coerce").to_numpy(np.float64)
        if not np.isfinite(given).all():
            raise ValueError("items column 'pub_time' must hold finite seconds")
        first[_ids(items, "item_id", "items")] = given
    return np.where(np.isfinite(first), first, 0.0)


def _chunks(group_first: np.ndarray, visit_times: np.ndarray,
            n_visits: int) -> list[tuple[int, int]]:
    """Visit ranges [lo, hi) made of whole groups, each spanning at most `_CHUNK_SECONDS`
    (so that the decayed counters stay far from the float32 range) and at most about
    `_CHUNK_VISITS` visits (a group is never split)."""
    bounds, lo = [], 0
    ends = np.r_[group_first[1:], n_visits]
    for start, end in zip(group_first.tolist(), ends.tolist(), strict=True):
        if start > lo and (end - lo > _CHUNK_VISITS
                           or visit_times[end - 1] - visit_times[lo] > _CHUNK_SECONDS):
            bounds.append((lo, start))
            lo = start
    bounds.append((lo, n_visits))
    return bounds


def _since_last_visit(users: np.ndarray, times: np.ndarray) -> np.ndarray:
    """Seconds since the same user's previous visit (visits in replay order), -1 if none."""
    previous = pd.Series(times).groupby(users).shift(1).to_numpy()
    return np.where(np.isnan(previous), -1.0, times - previous)


# ---------------------------------------------------------------------------------------
# Reading delimited files with errors that name the file and the line
class _Table:
    """The fields of a delimited text file, column by column, with each row's line number."""

    def __init__(self, path: Path, sep: str, names: Sequence[str], encoding: str = "utf-8",
                 header: bool = False):
        self.path = path
        if not path.is_file():
            raise ValueError(f"{path}: no such file")
        try:
            text = path.read_text(encoding=encoding)
        except UnicodeDecodeError as exc:
            line = path.read_bytes()[:exc.start].count(b"\n") + 1
            raise ValueError(f"{path} line {line}: not {encoding} text") from None
        rows, lines = [], []
        shown_sep = {"\t": "tab", "|": "'|'"}.get(sep, repr(sep))
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or (header and number == 1):
                continue
            fields = line.split(sep)
            if len(fields) != len(names):
                raise ValueError(f"{path} line {number}: expected {len(names)} {shown_sep}-"
                                 f"separated columns ({', '.join(names)}), got {len(fields)}")
            rows.append(fields)
            lines.append(number)
        if not rows:
            raise ValueError(f"{path} line 1: the file is empty; expected lines of "
                             f"{len(names)} {shown_sep}-separated columns ({', '.join(names)})")
        self.lines = np.asarray(lines)
        self.columns = {name: [row[j] for row in rows] for j, name in enumerate(names)}

    def error(self, row: int, message: str) -> ValueError:
        return ValueError(f"{self.path} line {self.lines[row]}: {message}")

    def integers(self, name: str, low: int = 0, high: int | None = None,
                 meaning: str = "") -> np.ndarray:
        """Column `name` as int64; the first value that is not a whole number in low..high
        (high: at most 2**53, the whole numbers a float64 holds exactly) is an error naming
        its line and the allowed range (`meaning` explains the range)."""
        raw = pd.Series(self.columns[name])
        values = pd.to_numeric(raw, errors="coerce").to_numpy(np.float64)
        top = _EXACT_INTEGERS if high is None else high
        bad = ~np.isfinite(values) | (values != np.round(values)) | (values < low) \
            | (values > top)
        if bad.any():
            row = int(np.argmax(bad))
            allowed = f">= {low}" if high is None and not values[row] > top \
                else f"from {low} to {top}{meaning}"
            raise self.error(row, f"{name} must be a whole number {allowed}, got {raw[row]!r}")
        return values.astype(np.int64)

    def datetimes(self, name: str, fmt: str) -> pd.Series:
        raw = pd.Series(self.columns[name])
        values = pd.to_datetime(raw, format=fmt, errors="coerce")
        if values.isna().any():
            row = int(np.argmax(values.isna().to_numpy()))
            raise self.error(row, f"cannot parse the {name} {raw[row]!r} (expected a time like "
                                  f"{pd.Timestamp('2019-11-15 10:22:32').strftime(fmt)!r})")
        return values


def _seconds_from_monday(stamps: pd.Series) -> tuple[np.ndarray, pd.Timestamp]:
    """Seconds since the Monday 00:00 on or before the earliest stamp (naive times), and
    that origin: `world.clock` of the result gives the stamps' hour of day and weekday."""
    first = stamps.min().normalize()
    origin = first - pd.Timedelta(days=first.weekday())
    return (stamps - origin).dt.total_seconds().to_numpy(np.float64), origin


def _dense_ids(keys: Sequence, known: Sequence | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids 0..n-1 for `keys`, numbered in the order of `known` (or of first
    appearance); also the keys in id order."""
    index = pd.Index(pd.unique(pd.Series(known if known is not None else keys)))
    return index.get_indexer(keys), index.to_numpy()


# ---------------------------------------------------------------------------------------
# MovieLens-100k
def read_movielens(folder: str | Path, *, click_threshold: float = 4.0,
                   session_gap_hours: float = 1.0, slate_size: int = 10,
                   history_length: int = 50) -> pd.DataFrame:
    """MovieLens-100k (``u.data``, ``u.item``, ``u.user`` in `folder`) as logs.

    Conversion (docs/design.md section 13):

    * **clicks**: every rating is an impression (the user was shown the movie and watched
      it); it is a click when the rating is >= `click_threshold` (default 4 of 5), so the
      negatives are the movies a user rated below it (seen, not liked). No unrated movie is
      added as a negative.
    * **visits**: a user's ratings in time order (ties by movie id) form sessions, split
      where two ratings are more than `session_gap_hours` apart; each session is cut into
      slates of at most `slate_size` ratings in that order, one visit each, positions 0, 1, ...
      MovieLens shows no ranked list, so positions carry no position bias (calibrate then
      finds kappa near 0).
    * **items**: topic = the first genre flag set in ``u.item`` (`MOVIELENS_GENRES`, 0 =
      unknown); provider 0 (none); publication time = the movie's first rating in the
      data (its arrival in this catalogue: a movie's release date is years before).
    * **users**: ``user_age`` = MovieLens-1M's age group (`MOVIELENS_AGE_GROUPS`: under 18,
      18-24, 25-34, 35-44, 45-49, 50-55, 56+), ``user_gender`` 0 = M, 1 = F,
      ``user_region`` = the zip code's first digit (the US zip region, 0-9; 10 for a zip
      that does not start with a digit), ``user_device`` 0 (none; occupation is dropped).
    * ids: ``user_id`` / ``item_id`` count from 0 in u.user / u.item order; the original ids
      are kept in ``user_key`` / ``item_key``, the rating in ``rating``. Time: seconds from
      the Monday 00:00 UTC before the first rating.

    A rating that is not a whole number 1..5, or a timestamp that is not a whole number of
    Unix seconds from 0 to 9223372036 (2262-04-11, pandas' last time), is an error naming
    the line of u.data.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder (a MovieLens-100k folder holds u.data, "
                         "u.item and u.user)")
    _positive_number("session_gap_hours", session_gap_hours)
    _positive_number("click_threshold", click_threshold)
    _whole("slate_size", slate_size)
    ratings = _Table(folder / "u.data", "\t", ("user id", "item id", "rating", "timestamp"))
    movies = _Table(folder / "u.item", "|", ("movie id", "title", "release date",
                                             "video release date", "IMDb URL",
                                             *MOVIELENS_GENRES), encoding="latin-1")
    people = _Table(folder / "u.user", "|", ("user id", "age", "gender", "occupation",
                                             "zip code"))
    movie_keys = movies.integers("movie id")
    user_keys = people.integers("user id")
    for table, keys, what in ((movies, movie_keys, "movie"), (people, user_keys, "user")):
        repeated = pd.Series(keys).duplicated().to_numpy()
        if repeated.any():
            raise table.error(int(np.argmax(repeated)), f"{what} id {keys[repeated][0]} "
                                                        "appears twice")
    flags = np.stack([movies.integers(g) for g in MOVIELENS_GENRES], axis=1)
    if flags.max() > 1:
        row = int(np.argmax(flags.max(1) > 1))
        raise movies.error(row, "genre flags must be 0 or 1")
    topic = np.where(flags.any(1), np.argmax(flags, axis=1), 0)
    ages = people.integers("age")
    gender = pd.Series(people.columns["gender"]).str.upper()
    if not gender.isin(["M", "F"]).all():
        row = int(np.argmax(~gender.isin(["M", "F"]).to_numpy()))
        raise people.error(row, f"gender must be M or F, got {people.columns['gender'][row]!r}")
    zips = pd.Series(people.columns["zip code"]).str.strip().str[:1]
    region = np.where(zips.str.isdigit(), pd.to_numeric(zips, errors="coerce").fillna(0), 10)

    user_raw, item_raw = ratings.integers("user id"), ratings.integers("item id")
    rating = ratings.integers("rating", 1, 5)
    stamps = ratings.integers("timestamp", 0, _MAX_UNIX_SECONDS, " (Unix seconds up to "
                              "2262-04-11 23:47:16 UTC, pandas' last time)")
    user_id, _ = _dense_ids(user_raw, user_keys)
    item_id, _ = _dense_ids(item_raw, movie_keys)
    for ids, raw, what, where in ((user_id, user_raw, "user", "u.user"),
                                  (item_id, item_raw, "item", "u.item")):
        if (ids < 0).any():
            row = int(np.argmax(ids < 0))
            raise ratings.error(row, f"{what} id {raw[row]} is not in {where}")
    seconds, _ = _seconds_from_monday(pd.Series(pd.to_datetime(stamps, unit="s")))
    events = pd.DataFrame({"user_id": user_id, "item_id": item_id, "time": seconds,
                           "rating": rating, "user_key": user_raw, "item_key": item_raw})
    events = events.sort_values(["time", "user_id", "item_id"], kind="stable",
                                ignore_index=True)
    # sessions, then slates of at most slate_size ratings, one visit each
    by_user = events.sort_values(["user_id", "time", "item_id"], kind="stable")
    gap = by_user.groupby("user_id")["time"].diff()
    new_session = (gap.isna() | (gap > session_gap_hours * HOUR)).to_numpy()
    session = np.cumsum(new_session)
    rank = pd.Series(np.arange(len(by_user))).groupby(session).cumcount().to_numpy()
    slate = np.cumsum(new_session | (rank % slate_size == 0))
    by_user = by_user.assign(position=(rank % slate_size).astype(np.int32), slate=slate)
    # a visit happens at its first rating; visits are numbered in time order
    start = by_user.groupby("slate")["time"].transform("min")
    by_user = by_user.assign(time=start.to_numpy())
    order = by_user.drop_duplicates("slate").sort_values(["time", "user_id", "slate"],
                                                         kind="stable")
    visit_of = pd.Series(np.arange(len(order)), index=order["slate"].to_numpy())
    impressions = by_user.assign(visit_id=visit_of[by_user["slate"].to_numpy()].to_numpy(),
                                 click=(by_user["rating"] >= click_threshold).astype(np.int8))
    impressions = impressions.drop(columns="slate")
    items = pd.DataFrame({"item_id": np.arange(len(movie_keys)), "topic": topic})
    age_group = np.searchsorted(MOVIELENS_AGE_GROUPS, ages, side="right") - 1
    users = pd.DataFrame({"user_id": np.arange(len(user_keys)), "user_age": age_group,
                          "user_gender": (gender == "F").astype(int).to_numpy(),
                          "user_region": region.astype(np.int64)})
    return logs_from_events(impressions, items, users, history_length=history_length)


# ---------------------------------------------------------------------------------------
# MIND
def read_mind(folder: str | Path, *, history_length: int = 50) -> pd.DataFrame:
    """MIND (``behaviors.tsv`` and ``news.tsv`` of one split, e.g. MINDsmall_train) as logs.

    Conversion (docs/design.md section 13):

    * **visits**: one impression (a line of behaviors.tsv) is one visit: its news in the
      file's order are the slate, positions 0, 1, ..., the ``-1`` / ``-0`` suffix the click.
      MIND shuffled the order of each impression, so positions are not the ranks shown and
      carry no position bias. A split without labels (MIND's test set) is an error.
    * **histories**: MIND's history column (clicks before the logged weeks, without times)
      of a user's first impression enters the user's history before the first visit, at one
      week before the Monday the log's time starts on, so it counts in no window; later
      clicks join it as the simulator's do. They do not count towards popularity.
    * **items**: topic = the category (ids in sorted category order); provider 0 (MIND
      names no publisher); publication time = the first impression showing the news.
    * **users**: no profile (``user_age`` ... ``user_device`` are 0).
    * ids: ``user_id`` / ``item_id`` count from 0 in order of appearance (news in news.tsv
      order); the original ids are kept in ``user_key`` / ``item_key``, the impression id is
      ``visit_id``. Time: seconds from the Monday 00:00 before the first impression, in the
      file's own clock.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"{folder}: no such folder (a MIND folder holds behaviors.tsv and "
                         "news.tsv)")
    news = _Table(folder / "news.tsv", "\t", ("news id", "category", "subcategory", "title",
                                              "abstract", "url", "title entities",
                                              "abstract entities"))
    behaviors = _Table(folder / "behaviors.tsv", "\t", ("impression id", "user id", "time",
                                                        "history", "impressions"))
    news_keys = np.asarray(news.columns["news id"], dtype=object)
    repeated = pd.Series(news_keys).duplicated().to_numpy()
    if repeated.any():
        raise news.error(int(np.argmax(repeated)), f"news id {news_keys[repeated][0]!r} "
                                                   "appears twice")
    news_index = pd.Index(news_keys)
    categories = sorted(set(news.columns["category"]))
    topic = pd.Index(categories).get_indexer(news.columns["category"])
    stamps = behaviors.datetimes("time", "%m/%d/%Y %I:%M:%S %p")
    seconds, _ = _seconds_from_monday(stamps)
    visit_ids = behaviors.integers("impression id")
    repeated = pd.Series(visit_ids).duplicated().to_numpy()
    if repeated.any():
        raise behaviors.error(int(np.argmax(repeated)), f"impression id "
                                                         f"{visit_ids[repeated][0]} appears twice")
    user_id, user_keys = _dense_ids(behaviors.columns["user id"])

    tokens = [s.split() for s in behaviors.columns["impressions"]]
    lengths = np.fromiter((len(t) for t in tokens), np.int64, len(tokens))
    if (lengths == 0).any():
        raise behaviors.error(int(np.argmax(lengths == 0)), "the impression list is empty")
    flat = pd.Series([t for row in tokens for t in row])
    row_of = np.repeat(np.arange(len(tokens)), lengths)
    parts = flat.str.rpartition("-")
    labelled = (parts[1] == "-") & parts[2].isin(["0", "1"])
    if not labelled.all():
        bad = int(np.argmax(~labelled.to_numpy()))
        problem = f"has the click label {'-' + parts[2][bad]!r}, not -0 or -1" if parts[1][bad] \
            else "has no click label (-0 or -1); MIND's test split has none"
        raise behaviors.error(int(row_of[bad]), f"impression {flat[bad]!r} {problem}")
    item_id = news_index.get_indexer(parts[0])
    _known_news(item_id, parts[0], row_of, behaviors)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    impressions = pd.DataFrame({
        "visit_id": visit_ids[row_of], "user_id": user_id[row_of], "time": seconds[row_of],
        "position": (np.arange(len(flat)) - starts[row_of]).astype(np.int32),
        "click": (parts[2] == "1").astype(np.int8).to_numpy(), "item_id": item_id,
        "user_key": np.asarray(user_keys, dtype=object)[user_id[row_of]],
        "item_key": parts[0].to_numpy()})

    first = pd.Series(seconds).groupby(user_id).idxmin().to_numpy()  # first impression rows
    history = [behaviors.columns["history"][row].split() for row in first]
    hist_len = np.fromiter((len(h) for h in history), np.int64, len(history))
    hist_keys = pd.Series([k for h in history for k in h], dtype=object)
    hist_rows = np.repeat(first, hist_len)
    hist_items = news_index.get_indexer(hist_keys)
    _known_news(hist_items, hist_keys, hist_rows, behaviors)
    prior = pd.DataFrame({"user_id": user_id[hist_rows], "item_id": hist_items,
                          "time": np.full(len(hist_items), -7 * DAY)})
    items = pd.DataFrame({"item_id": np.arange(len(news_keys)), "topic": topic})
    return logs_from_events(impressions, items, history_length=history_length,
                            prior_clicks=prior)


def _known_news(item_id: np.ndarray, keys: pd.Series, rows: np.ndarray, table: _Table) -> None:
    if (item_id < 0).any():
        bad = int(np.argmax(item_id < 0))
        raise table.error(int(rows[bad]), f"news id {keys.iloc[bad]!r} is not in news.tsv")


def read_logs(path: str | Path) -> pd.DataFrame:
    """Logs from a path: a logs file (.parquet or .csv, `drnsim.logs.save_logs`), a MIND
    folder (behaviors.tsv) or a MovieLens-100k folder (u.data), read with the defaults."""
    from drnsim.logs import load_logs

    path = Path(path)
    if path.is_dir():
        if (path / "behaviors.tsv").exists():
            return read_mind(path)
        if (path / "u.data").exists():
            return read_movielens(path)
        raise ValueError(f"{path}: a folder of logs must be MIND (behaviors.tsv, news.tsv) or "
                         "MovieLens-100k (u.data, u.item, u.user)")
    if not path.exists():
        raise ValueError(f"{path}: no such file or folder")
    return load_logs(path)


def _positive_number(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _whole(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


__all__ = ["IMPRESSION_COLUMNS", "MOVIELENS_AGE_GROUPS", "MOVIELENS_GENRES", "logs_from_events",
           "read_logs", "read_mind", "read_movielens"]
