"""User journeys: users followed visit by visit through a shared world that keeps moving.

No Gymnasium here: `envs/user_journey.py` wraps this (docs/design.md section 9).

**A journey world** (`JourneyWorld`) is one seeded world of ``n_users + R`` users, held as two
copies built from the same seed (so they share the news stream, the topic trends and every
user's initial state):

* the **background**: users ``0 .. n_users - 1`` visit in time order, served ``b`` visits at a
  time by the background policy exactly as `NewsFeedVectorEnv` serves them (their clicks feed
  item popularity, their returns are scheduled, they churn);
* the **journey rows**: users ``n_users .. n_users + R - 1`` never visit in the background.
  Journey ``k`` (user ``n_users + k``) arrives, with its first visit ever, at
  ``A_k = 1 day + k * 7 days / R`` (one simulated day lets popularity build up; seven days
  cover every weekday), is served by the background policy for ``warmup_days`` (its
  warm-up: a history, an interest state, a return rhythm), and from its first visit at or
  after ``A_k + warmup_days`` it is the agent's, visit after visit, until it churns or its
  next visit falls ``horizon`` after that start.

**What is exact.** A journey visit at time t reads item popularity as of t: the decayed counts
of every background click before t (`ClickLog`, a time-travel query; not lagged by
batches). Everything else a visit sees or causes (candidates, interests, clicks, the next
visit, churn) depends only on the user's own state, the items' intrinsic values and t, all of
which the journey row has exactly; its randomness is counter-based on the row and its visit
number (common random numbers). The background never sees the journey users: their clicks
(warm-up included) do not count in item popularity, a small effect while the journeys that
run at once are few next to ``n_users``. So the background is a fixed function of the seed
and the background policy, and a journey depends only on the world, its own row and the
actions it is given: it runs the same alone or beside any other journeys (every random draw
after a world's creation is counter-based on the user and its visit or touch time: clicks,
return gaps, interest drift, satisfaction and dwell).

**Why not serve the journeys inside the background's time order.** A step of B journeys needs
the next visit of every journey user at once, and their return gaps differ by hours to days.
Parking each user until every user has a visit inflates all gaps to the slowest one's; serving
early returners at their past time lets them see popularity from their own future. Journeys
on their own timelines over a background that can be read as of any time avoid both, and the
background is simulated once per world however many journeys read it.

A world hosts ``R`` journeys (`Journeys` opens the next world, seeded from the same seed and
its number, when they are all taken, and drops a world when its last journey ends), so memory
stays bounded however long an agent trains.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
from numba import njit, prange

from drnsim.config import DAY, WINDOWS_SECONDS, WorldConfig
from drnsim.world import VisitBatch, VisitQueue, World

FIRST_ARRIVAL_DAYS = 1.0
"""Journey users arrive from this time on: the background has served a day, popularity is warm."""
ARRIVAL_SPAN_DAYS = 7.0
"""A world's R journeys arrive evenly over this span (every weekday)."""
MAX_LIFETIME_WINDOWS = 500.0
"""`ClickLog` keeps exp(age / window) per click in float64: items may live at most this many
of the shortest window (1 h)."""

_WINDOWS = np.asarray(WINDOWS_SECONDS)
_LEVELS = 16  # binary-lifting links per click: 1, 2, 4, ... 2^15 clicks back


# ----------------------------------------------------------------------------------------
@njit(cache=True)
def _file_clicks(items, times, pub, first, windows, head, log_time, log_cum, log_jump, start):
    """Append clicks (in time order) at log positions start, start + 1, ...: the running sum
    c(p)_w = c(previous click of the item)_w + exp((t - pub_i) / window_w) and the links to the
    item's 2^k-th previous click."""
    for j in range(items.shape[0]):
        p = start + j
        item = items[j]
        previous = head[item]
        log_time[p] = times[j]
        for w in range(windows.shape[0]):
            base = log_cum[previous, w] if previous >= 0 else 0.0
            log_cum[p, w] = base + np.exp((times[j] - pub[item - first]) / windows[w])
        log_jump[p, 0] = previous
        for k in range(1, log_jump.shape[1]):
            half = log_jump[p, k - 1]
            log_jump[p, k] = log_jump[half, k - 1] if half >= 0 else -1
        head[item] = p


@njit(cache=True, parallel=True)
def _popularity(items, times, pub, first, windows, head, log_time, log_cum, log_jump, out):
    """out[b, n, w] = sum over the filed clicks of item items[b, n] before times[b] of
    exp(-(t - t_click) / window_w) = c(last click before t)_w * exp(-(t - pub_i) / window_w);
    counts below 1e-6 read as 0, as in `World.observe`."""
    top = log_jump.shape[1] - 1
    for b in prange(items.shape[0]):
        t = times[b]
        for n in range(items.shape[1]):
            item = items[b, n]
            p = head[item] if 0 <= item < head.shape[0] else -1
            if p >= 0 and log_time[p] >= t:  # walk back to the item's first click at >= t
                while log_jump[p, top] >= 0 and log_time[log_jump[p, top]] >= t:
                    p = log_jump[p, top]
                for k in range(top - 1, -1, -1):
                    q = log_jump[p, k]
                    if q >= 0 and log_time[q] >= t:
                        p = q
                p = log_jump[p, 0]
            for w in range(windows.shape[0]):
                if p < 0:
                    out[b, n, w] = 0.0
                else:
                    count = log_cum[p, w] * np.exp(-(t - pub[item - first]) / windows[w])
                    out[b, n, w] = count if count >= 1e-6 else 0.0


class ClickLog:
    """Background clicks, readable as of any past time (docs/design.md section 3's popularity
    windows, evaluated at a visit's own time): popularity of item i at t, window W =
    sum over its clicks at t_c < t of exp(-(t - t_c) / W).

    Each click is filed with the running sum over its item's clicks so far,
    c = sum exp((t_c - pub_i) / W), and links to the item's 1st, 2nd, 4th, ... previous click;
    a query walks back from the item's newest click in O(log clicks) and reads c at the last
    click before t. Clicks must be filed in time order: `add` buffers a served batch's clicks
    and `commit(safe)` files those before `safe`, a time no later click can precede."""

    def __init__(self):
        self.n = 0
        self.time = np.empty(0, np.float64)
        self.cum = np.empty((0, len(_WINDOWS)), np.float64)
        self.jump = np.empty((0, _LEVELS), np.int32)
        self.head = np.empty(0, np.int32)  # newest filed click of each item, -1 if none
        self.committed_until = -np.inf
        self._pending: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, items: np.ndarray, times: np.ndarray) -> None:
        """Buffer clicks (flat arrays of item ids and times)."""
        if len(items):
            self._pending.append((items.astype(np.int64), times.astype(np.float64)))

    def commit(self, safe: float, pub_time: np.ndarray, first: int = 0) -> None:
        """File the buffered clicks before `safe` (in time order); later ones stay buffered.
        ``pub_time[i - first]`` is item i's publication time (a world's stored items:
        ``news.table.pub_time`` from id ``news.first`` on)."""
        self.committed_until = max(self.committed_until, safe)
        if not self._pending:
            return
        items = np.concatenate([i for i, _ in self._pending])
        times = np.concatenate([t for _, t in self._pending])
        due = times < safe
        self._pending = [(items[~due], times[~due])] if not due.all() else []
        if not due.any():
            return
        order = np.argsort(times[due], kind="stable")
        items, times = items[due][order], times[due][order]
        self._grow(self.n + len(items), first + len(pub_time))
        _file_clicks(items, times, pub_time, first, _WINDOWS, self.head, self.time, self.cum,
                     self.jump, self.n)
        self.n += len(items)

    def _grow(self, n_clicks: int, n_items: int) -> None:
        if n_clicks > len(self.time):
            size = max(2 * len(self.time), n_clicks, 4096)
            self.time = _resized(self.time, size, 0.0)
            self.cum = _resized(self.cum, size, 0.0)
            self.jump = _resized(self.jump, size, -1)
        if n_items > len(self.head):
            self.head = _resized(self.head, max(2 * len(self.head), n_items, 1024), -1)

    def popularity(self, items: np.ndarray, times: np.ndarray, pub_time: np.ndarray,
                   first: int = 0) -> np.ndarray:
        """Decayed click counts (B, N, windows) float32 of item ids (B, N; -1 = none) as of
        each row's time (publication times as in `commit`); every time must be at or before
        `committed_until`."""
        if len(times) and float(times.max()) > self.committed_until:
            raise RuntimeError("popularity asked for a time the background has not reached: "
                               "advance it first")
        out = np.empty(items.shape + (len(_WINDOWS),), np.float32)
        _popularity(items, times, pub_time, first, _WINDOWS, self.head, self.time, self.cum,
                    self.jump, out)
        return out


def _resized(array: np.ndarray, size: int, fill: float) -> np.ndarray:
    grown = np.full((size,) + array.shape[1:], fill, array.dtype)
    grown[:len(array)] = array
    return grown


# ----------------------------------------------------------------------------------------
class Policy(Protocol):
    """Who serves the background and the warm-ups (`envs/user_journey.py` adapts agents)."""

    def serve(self, world: World, batch: VisitBatch, obs: dict) -> np.ndarray:
        """The slates (B, K candidate indices, -1 = empty) shown to the batch's visits."""

    def learn(self, world: World, batch: VisitBatch, obs: dict, shown: np.ndarray,
              clicks: np.ndarray, dwell: np.ndarray) -> None:
        """Feedback of background visits (warm-ups are not learned from)."""


class JourneySchedule:
    """The journey copy's visit queue: `pop` hands over exactly the staged visits (journeys
    live on their own timelines, not in the background's time order) and `push`, called by
    `World.feedback`, records each user's next visit (inf when churned)."""

    def __init__(self, n_users: int):
        self.next_time = np.full(n_users, np.inf)
        self._staged: tuple[np.ndarray, np.ndarray] | None = None

    def stage(self, users: np.ndarray, times: np.ndarray) -> None:
        self._staged = (users.astype(np.int64), times.astype(np.float64))

    def pop(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        users, times = self._staged
        if len(users) != n:
            raise RuntimeError(f"staged {len(users)} journey visits, asked for {n}")
        self._staged = None
        return users, times

    def push(self, users: np.ndarray, times: np.ndarray) -> None:
        self.next_time[users] = times

    def earliest(self) -> float:
        """inf: the journey copy counts every click at once (its own item counters are not
        read: journey visits take popularity from the `ClickLog`)."""
        return np.inf


class JourneyWorld:
    """One world hosting `n_journeys` journeys (see the module docstring). `seed` builds both
    copies; `policy` serves the background (`background_batch` visits at a time) and the
    warm-ups."""

    def __init__(self, config: WorldConfig, seed: int, n_journeys: int, warmup_days: float,
                 background_batch: int, policy: Policy):
        if config.item_lifetime_hours > MAX_LIFETIME_WINDOWS:
            raise ValueError(f"item_lifetime_hours must be <= {MAX_LIFETIME_WINDOWS:.0f} for "
                             f"user journeys, got {config.item_lifetime_hours!r}")
        self.n_users, self.n_journeys = config.n_users, n_journeys
        self.warmup = warmup_days * DAY
        self.background_batch = background_batch
        self.policy = policy
        full = config.replace(n_users=config.n_users + n_journeys)
        self.background = World(full)
        self.background.reset(seed, min_batch=background_batch)
        first = self.background.queue.next_time.copy()
        first[self.n_users:] = np.inf  # journey rows never visit in the background
        self.background.queue = VisitQueue(first, self.background.queue.window_size)
        self.rows = World(full)
        self.rows.forget_items = False  # journey visits are not in time order across journeys
        self.rows.reset(seed)
        self.schedule = JourneySchedule(full.n_users)
        self.rows.queue = self.schedule
        self.log = ClickLog()
        self.claimed = 0  # journeys handed out
        self.active = 0  # journeys handed out and not yet over
        self.background_visits = 0
        self.warmup_visits = 0
        self._next: VisitBatch | None = None  # popped, not yet served background batch
        self._frontier = -np.inf

    # -- background ----------------------------------------------------------------------
    def frontier(self) -> float:
        """Every background click before this time is in the log (the earliest visit not yet
        served; later visits can only schedule later ones)."""
        if self._next is None:
            self._next = self.background.next_batch(self.background_batch)
            # None: fewer active users than a batch remain; the background goes quiet
            self._frontier = np.inf if self._next is None else float(self._next.times.min())
            news = self.background.news
            self.log.commit(self._frontier, news.table.pub_time, news.first)
        return self._frontier

    def advance(self, until: float) -> None:
        """Serve the background until every click before `until` is logged."""
        while self.frontier() < until:
            batch, self._next = self._next, None
            world = self.background
            obs = world.observe(batch)
            shown = self.policy.serve(world, batch, obs)
            clicks, dwell = world.feedback(batch, shown)
            items = np.take_along_axis(batch.candidates, np.maximum(shown, 0), axis=1)
            self.log.add(items[clicks], np.broadcast_to(batch.times[:, None], clicks.shape)[clicks])
            self.policy.learn(world, batch, obs, shown, clicks, dwell)
            self.background_visits += len(batch)

    @property
    def simulated_visits(self) -> int:
        return self.background_visits + self.warmup_visits

    # -- journeys ------------------------------------------------------------------------
    def claim(self) -> int | None:
        """The next journey's number k (its user is row n_users + k), None when all are
        taken."""
        if self.claimed == self.n_journeys:
            return None
        self.claimed += 1
        self.active += 1
        return self.claimed - 1

    def arrival(self, journeys: np.ndarray) -> np.ndarray:
        """A_k: the first visit of journey k's user."""
        return (FIRST_ARRIVAL_DAYS + journeys * ARRIVAL_SPAN_DAYS / self.n_journeys) * DAY

    def visits(self, journeys: np.ndarray, times: np.ndarray) -> VisitBatch:
        """The visits (distinct journeys) at the given times, prepared by the journey copy
        (interests brought forward, candidates drawn)."""
        self.schedule.stage(self.n_users + journeys, times)
        return self.rows.next_batch(len(journeys))

    def observe(self, batch: VisitBatch) -> dict:
        """The observation of journey visits, with item popularity as of each visit's time."""
        self.advance(float(batch.times.max()))
        news = self.rows.news
        popularity = self.log.popularity(batch.candidates, batch.times, news.table.pub_time,
                                         news.first)
        return self.rows.observe(batch, popularity=popularity)

    def feedback(self, batch: VisitBatch, shown: np.ndarray,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Clicks (B, K) on the shown slates, their dwell seconds (B, K, 0 where not clicked)
        and each user's next visit time (inf: churned); the users' own consequences are those
        of `World.feedback`."""
        clicks, dwell = self.rows.feedback(batch, shown)
        return clicks, dwell, self.schedule.next_time[batch.users].copy()

    def warm_up(self, journeys: np.ndarray) -> np.ndarray:
        """Serve each journey's user with the background policy from its arrival until its
        first visit at or after arrival + warmup_days; that visit's time is returned (the
        journey's start; inf when the user churned during the warm-up)."""
        times = self.arrival(journeys)
        ends = times + self.warmup
        start = np.full(len(journeys), np.inf)
        while True:
            due = np.isfinite(times) & (times < ends)
            ready = np.isfinite(times) & ~due & ~np.isfinite(start)
            start[ready] = times[ready]
            if not due.any():
                return start
            batch = self.visits(journeys[due], times[due])
            obs = self.observe(batch)
            shown = self.policy.serve(self.rows, batch, obs)
            times[due] = self.feedback(batch, shown)[2]
            self.warmup_visits += len(batch)


# ----------------------------------------------------------------------------------------
class Journeys:
    """B slots, each following one journey at a time, over as many `JourneyWorld`s as are
    needed (journeys are taken in order; world w is seeded from (seed, w)).

    Per slot: `world` and `journey` (which journey), `start` (its first agent-served visit),
    `time` (the visit to serve next, or the one it ended on), `steps` (visits served).
    `batches` holds (world, slots, visits): the prepared visits that `serve` shows slates to."""

    def __init__(self, config: WorldConfig, n_slots: int, seed: int, warmup_days: float,
                 journeys_per_world: int, background_batch: int,
                 make_policy: Callable[[], Policy]):
        self.config = config
        self.n_slots = n_slots
        self.seed = int(seed)
        self.warmup_days = warmup_days
        self.journeys_per_world = journeys_per_world
        self.background_batch = background_batch
        self.make_policy = make_policy
        self.worlds: dict[int, JourneyWorld] = {}
        self.newest = -1
        self.world = np.full(n_slots, -1, np.int64)
        self.journey = np.full(n_slots, -1, np.int64)
        self.start = np.full(n_slots, np.nan)
        self.time = np.full(n_slots, np.nan)
        self.steps = np.zeros(n_slots, np.int64)
        self.batches: list[tuple[int, np.ndarray, VisitBatch]] = []
        self._retired_visits = 0  # background and warm-up visits of dropped worlds

    def world_seed(self, number: int) -> int:
        sequence = np.random.SeedSequence(self.seed, spawn_key=(number,))
        return int(sequence.generate_state(1, np.uint64)[0] >> np.uint64(1))

    def _open_world(self) -> JourneyWorld:
        self.newest += 1
        world = JourneyWorld(self.config, self.world_seed(self.newest), self.journeys_per_world,
                             self.warmup_days, self.background_batch, self.make_policy())
        self.worlds[self.newest] = world
        self._drop_idle()
        return world

    def _drop_idle(self) -> None:
        """Drop the worlds, but the newest, that no journey runs in any more."""
        for w in [w for w, world in self.worlds.items() if w != self.newest and not world.active]:
            self._retired_visits += self.worlds.pop(w).simulated_visits

    def user_ids(self, slots: np.ndarray) -> np.ndarray:
        """Journey users' ids: n_users + (world number * R + journey number), unique per env."""
        return self.config.n_users + self.world[slots] * self.journeys_per_world \
            + self.journey[slots]

    def finish(self, slots: np.ndarray) -> None:
        """The journeys of these slots are over; a world with no journey left is dropped."""
        for w in self.world[slots]:
            self.worlds[w].active -= 1
        self.world[slots] = -1
        self._drop_idle()

    def begin(self, slots: np.ndarray) -> None:
        """Give each slot the next journey (warmed up; users who churn during their warm-up
        are skipped), ending the journeys still running there."""
        slots = np.asarray(slots, dtype=np.int64)
        running = slots[self.world[slots] >= 0]
        if len(running):
            self._unprepare(running)
            self.finish(running)
        pending = slots
        while len(pending):
            for slot in pending:
                if self.newest < 0 or (k := self.worlds[self.newest].claim()) is None:
                    k = self._open_world().claim()
                self.world[slot], self.journey[slot] = self.newest, k
            for w in np.unique(self.world[pending]):
                group = pending[self.world[pending] == w]
                self.start[group] = self.worlds[w].warm_up(self.journey[group])
            churned = pending[~np.isfinite(self.start[pending])]
            self.finish(churned)
            pending = churned
        self.time[slots] = self.start[slots]
        self.steps[slots] = 0

    def prepare(self, slots: np.ndarray, store: np.ndarray,
                previous: tuple[dict, dict] | None = None) -> tuple[dict, dict]:
        """Visits of `slots` at their `time`, observed: (raw obs, visit info) with a row per
        slot, the user id replaced by the journey's id; the other slots' rows are copied from
        `previous`. The visits of `slots[store]` are the ones the next `serve` shows slates
        to."""
        slots = np.asarray(slots, dtype=np.int64)
        parts = []
        for w in np.unique(self.world[slots]):
            in_world = self.world[slots] == w
            group, keep = slots[in_world], store[in_world]
            world = self.worlds[w]
            batch = world.visits(self.journey[group], self.time[group])
            obs = world.observe(batch)
            obs["user"]["user_id"] = self.user_ids(group)
            info = {"user_id": self.user_ids(group), "visit_number": batch.visit_numbers.copy(),
                    "sim_time": batch.times.copy(), "gap": batch.gaps.copy()}
            if keep.any():
                self.batches.append((int(w), group[keep], batch if keep.all()
                                     else batch.rows(keep)))
            parts.append((group, obs, info))
        old_obs, old_info = previous if previous is not None else (None, None)
        return (_assemble([(g, o) for g, o, _ in parts], self.n_slots, old_obs),
                _assemble([(g, i) for g, _, i in parts], self.n_slots, old_info))

    def serve(self, scores: np.ndarray, rank: Callable[[np.ndarray, np.ndarray], np.ndarray],
              ) -> dict[str, np.ndarray]:
        """Show the prepared visits their slates (`rank(scores, mask)` of the slots' rows of
        `scores` (n_slots, N)) and collect the outcome per slot: shown, clicks, dwell, next
        visit time (nan for slots not served) and `served`; moves `time` to the next visit."""
        k = self.config.slate_size
        out = {"shown": np.full((self.n_slots, k), -1, np.int64),
               "clicks": np.zeros((self.n_slots, k), bool),
               "dwell": np.zeros((self.n_slots, k), np.float32),
               "next_time": np.full(self.n_slots, np.nan),
               "served": np.zeros(self.n_slots, bool)}
        for w, group, batch in self.batches:
            world = self.worlds[w]
            shown = rank(scores[group], batch.mask)
            clicks, dwell, next_time = world.feedback(batch, shown)
            out["shown"][group], out["clicks"][group] = shown, clicks
            out["dwell"][group] = dwell
            out["next_time"][group] = next_time
            out["served"][group] = True
        self.batches = []
        served = out["served"]
        self.time[served] = out["next_time"][served]
        self.steps[served] += 1
        return out

    def attractiveness(self) -> np.ndarray:
        """True a_ui (n_slots, N) of the prepared visits (0 for slots without one): the
        hidden truth, for oracles and regret."""
        out = np.zeros((self.n_slots, self.config.n_candidates))
        for w, group, batch in self.batches:
            out[group] = self.worlds[w].rows.attractiveness(batch)
        return out

    def _unprepare(self, slots: np.ndarray) -> None:
        """Forget the prepared visits of `slots`."""
        kept = []
        for w, group, batch in self.batches:
            keep = ~np.isin(group, slots)
            if keep.any():
                kept.append((w, group[keep], batch.rows(keep)))
        self.batches = kept

    @property
    def simulated_visits(self) -> int:
        """Background and warm-up visits simulated so far (the cost behind the journeys)."""
        return self._retired_visits + sum(w.simulated_visits for w in self.worlds.values())


def _assemble(parts: list[tuple[np.ndarray, dict]], n_slots: int, previous: dict | None) -> dict:
    """One tree with a row per slot: each part's rows at its slots, `previous`'s rows
    elsewhere (fresh arrays: earlier observations handed out are never written to)."""
    covered = np.zeros(n_slots, bool)
    for group, _ in parts:
        covered[group] = True

    def build(trees: list, before: Any) -> Any:
        if isinstance(trees[0], dict):
            return {key: build([t[key] for t in trees], None if before is None else before[key])
                    for key in trees[0]}
        out = np.empty((n_slots,) + trees[0].shape[1:], trees[0].dtype)
        if not covered.all():
            out[~covered] = before[~covered]
        for tree, (group, _) in zip(trees, parts, strict=True):
            out[group] = tree
        return out

    return build([tree for _, tree in parts], previous)


__all__ = ["ClickLog", "JourneySchedule", "JourneyWorld", "Journeys", "Policy"]
