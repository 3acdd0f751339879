"""The simulated news world as arrays: news stream, users, clock and visit queue.

No Gymnasium here: `envs/news_feed.py` wraps this. A step serves the next B visits of the
shared world in time order (docs/design.md sections 2-3):

    batch = world.next_batch(B)          # who opens the app, when, with which candidates
    obs = world.observe(batch)           # dict of arrays, no hidden state
    clicks = world.feedback(batch, shown)  # clicks on the shown slate, then returns scheduled

Only this module and `users.py` know hidden state; `attractiveness` / `click_probabilities`
expose the truth for the oracle agent and regret metrics.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from drnsim import _kernels as kernels
from drnsim._random import counter_normals, hash_uniform, stream_key
from drnsim.config import HOUR, WINDOWS_SECONDS, WorldConfig
from drnsim.users import NO_ITEM, UserPopulation

_WINDOWS = np.asarray(WINDOWS_SECONDS)
_REBASE_EXPONENT = 40.0  # rebase decayed counters long before exp() nears float32 range


@dataclass
class VisitBatch:
    """B visits served together; `candidates` holds item ids, -1 where padded."""

    users: np.ndarray  # (B,) int64
    times: np.ndarray  # (B,) float64, seconds since the start
    visit_ids: np.ndarray  # (B,) int64, global serving counter
    visit_numbers: np.ndarray  # (B,) int32, the user's n-th visit (from 0)
    gaps: np.ndarray  # (B,) float64, seconds since this user's previous visit, -1 if first
    candidates: np.ndarray  # (B, N) int64
    mask: np.ndarray  # (B, N) bool

    def __len__(self) -> int:
        return len(self.users)

    def rows(self, index: slice | np.ndarray) -> VisitBatch:
        """The sub-batch of some visits (e.g. `rows(slice(j, j + 1))` for one visit)."""
        return VisitBatch(self.users[index], self.times[index], self.visit_ids[index],
                          self.visit_numbers[index], self.gaps[index], self.candidates[index],
                          self.mask[index])


class ItemColumn:
    """One field of the stored news, indexed by item id like an array: ``news.topic[ids]``
    (ints, integer arrays of any shape, slices of ids). Ids of items that have left the
    store raise IndexError; `NewsStream.take` reads ids with -1 for none."""

    def __init__(self, news: NewsStream, name: str):
        self._news, self._name = news, name

    def __getitem__(self, ids: Any) -> np.ndarray:
        return getattr(self._news.table, self._name)[self._news.rows(ids)]

    def __len__(self) -> int:
        return len(self._news)


class NewsStream:
    """Fresh news: Poisson arrivals over topics whose shares trend, generated lazily in
    chunks; items are stored in publication order so that the live pool is an index range.

    Each item has hidden clickbait b_i = beta_p exp(sigma eps_i - sigma^2 / 2) >= 0
    (docs/design.md section 8): its provider's propensity beta_p ~ Exp(mean
    `bait_provider_mean`) times log-normal item noise (mean 1), both counter-based on
    `bait_key` (provider, item id), so they draw nothing from the news stream's generator.

    Item ids count every item ever published; the store keeps the items from id `first` on
    (`table`: one array per field, row = id - first) and forgets the older ones once no visit
    can show them (`forget_before`), so a long run holds a bounded store. ``news.topic[ids]``
    (likewise pub_time, provider, vector, quality, bait, clicks) reads by id."""

    FIELDS = ("pub_time", "topic", "provider", "vector", "quality", "bait", "clicks")

    def __init__(self, config: WorldConfig, rng: np.random.Generator, centroids: np.ndarray,
                 bait_key: np.uint64):
        self.config = config
        self.bait_key = bait_key
        self.provider_bait = (-config.bait_provider_mean
                              * np.log(hash_uniform(bait_key, 0, np.arange(config.n_providers))))
        self.rng = rng
        # The trend walk has its own generator: extending it (at times set by user touches)
        # must never shift the news draws, which are the same for every agent.
        self.trend_rng = np.random.default_rng(rng.integers(2**63))
        self.centroids = centroids
        cfg = config
        # Providers lean towards a few topics: P(provider | topic) from a sparse Dirichlet.
        self.provider_given_topic = rng.dirichlet(np.full(cfg.n_providers, 0.1), cfg.n_topics)
        self.start = -cfg.item_lifetime_hours * HOUR  # pool is full at t = 0
        self.trend = self.trend_rng.standard_normal((1, cfg.n_topics))  # hourly topic logits
        self.generated_until = self.start
        # Stored rows: views of the first rows of buffers that double when full, so that
        # generating news costs O(1) amortised per item. `clicks` holds decayed click
        # counters per window relative to clicks_ref_time: a click at t adds
        # exp((t - ref) / window); read at time T as counter * exp(-(T - ref) / window).
        self._buffers = {"pub_time": np.empty(0, np.float64), "topic": np.empty(0, np.int32),
                         "provider": np.empty(0, np.int32),
                         "vector": np.empty((0, cfg.latent_dim), np.float32),
                         "quality": np.empty(0, np.float32), "bait": np.empty(0, np.float32),
                         "clicks": np.empty((0, len(_WINDOWS)), np.float32)}
        self.table = SimpleNamespace(**self._buffers)
        self.first = 0
        for name in self.FIELDS:
            setattr(self, name, ItemColumn(self, name))
        self.clicks_ref_time = 0.0

    def __len__(self) -> int:
        """Items published so far (the next item's id)."""
        return self.first + len(self.table.pub_time)

    @property
    def capacity(self) -> int:
        """Rows allocated for the store."""
        return len(self._buffers["pub_time"])

    def rows(self, ids: Any) -> Any:
        """Store rows of item ids (an int, an integer array or a slice of ids); IndexError
        for ids not stored (left the store, or not published yet)."""
        if isinstance(ids, slice):
            start, stop, step = ids.indices(len(self))
            if start < self.first:
                raise IndexError(f"item ids from {start} on were asked for; the store keeps "
                                 f"ids {self.first}..{len(self) - 1}")
            return slice(start - self.first, max(stop - self.first, 0), step)
        ids = np.asarray(ids)
        if ids.size and (ids.min() < self.first or ids.max() >= len(self)):
            bad = ids.min() if ids.min() < self.first else ids.max()
            raise IndexError(f"item id {bad} is not stored: the store keeps ids "
                             f"{self.first}..{len(self) - 1} (items leave it "
                             f"{2 * self.config.item_lifetime_hours:g} h after publication)")
        return ids - self.first

    def take(self, name: str, ids: np.ndarray, fill: float = 0) -> np.ndarray:
        """Field ``name`` of item ids of any shape, ``fill`` where the id is -1."""
        ids = np.asarray(ids)
        present = ids >= 0
        values = getattr(self.table, name)[self.rows(np.where(present, ids, len(self) - 1))]
        where = present.reshape(present.shape + (1,) * (values.ndim - present.ndim))
        return np.where(where, values, np.asarray(fill, dtype=values.dtype))

    def __getstate__(self) -> dict:
        """Pickle and deepcopy without the stored rows, which are views of the buffers: a
        copied view would be an array of its own, and clicks counted into it would never
        reach its buffer (`__setstate__` makes them views of the copied buffers again)."""
        state = self.__dict__.copy()
        state["table"] = len(self.table.pub_time)
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        n_rows = state["table"]
        self.table = SimpleNamespace(**{name: buffer[:n_rows]
                                        for name, buffer in self._buffers.items()})

    def topic_logits_at(self, times: np.ndarray) -> np.ndarray:
        """Trending topic logits (n, T) at the given times (hourly grid, random walk)."""
        times = np.asarray(times)
        table, start = self.hourly_logits(float(times.max()) if times.size else self.start)
        return table[np.clip(np.floor((times - start) / HOUR).astype(np.int64), 0, None)]

    def hourly_logits(self, until: float) -> tuple[np.ndarray, float]:
        """The hourly trend table (hours, T) covering times up to `until`, and its start."""
        self._extend_trend(max(int(np.floor((until - self.start) / HOUR)), 0) + 1)
        return self.trend, self.start

    def _extend_trend(self, n_hours: int) -> None:
        missing = n_hours - len(self.trend)
        if missing > 0:
            step = self.config.topic_trend_volatility / np.sqrt(24.0)
            walk = np.cumsum(step * self.trend_rng.standard_normal((missing, self.config.n_topics)),
                             0)
            self.trend = np.concatenate([self.trend, self.trend[-1] + walk])

    def ensure(self, until: float, chunk_hours: float = 6.0) -> None:
        """Generate news up to time `until` (whole chunks, so that the stream is the same
        whatever order the world asks for it in)."""
        cfg = self.config
        while self.generated_until < until:
            t0, t1 = self.generated_until, self.generated_until + chunk_hours * HOUR
            n = self.rng.poisson(cfg.news_per_hour * chunk_hours)
            times = np.sort(self.rng.uniform(t0, t1, n))
            logits = self.topic_logits_at(times)
            gumbel = -np.log(-np.log(self.rng.random(logits.shape)))
            topic = np.argmax(logits + gumbel, axis=1)
            cdf = np.cumsum(self.provider_given_topic[topic], axis=1)
            provider = np.minimum((cdf < self.rng.random((n, 1)) * cdf[:, -1:]).sum(axis=1),
                                  cfg.n_providers - 1)
            eps = self.rng.standard_normal((n, cfg.latent_dim)) / np.sqrt(cfg.latent_dim)
            vec = self.centroids[topic] + cfg.item_noise * eps
            vec /= np.linalg.norm(vec, axis=1, keepdims=True)
            self._append(pub_time=times, topic=topic, provider=provider, vector=vec,
                         quality=self.rng.standard_normal(n),
                         bait=self._bait(np.arange(len(self), len(self) + n), provider),
                         clicks=0.0)
            self.generated_until = t1

    def forget_before(self, time: float) -> None:
        """Let items published before `time` leave the store (none of them may be shown or
        read by id afterwards). The rows move down only once the forgotten ones are at
        least as many as the kept ones (and 4,096), so the store holds at most about twice
        the items published since `time` and each row moves O(1) times."""
        dead = int(np.searchsorted(self.table.pub_time, time, side="left"))
        kept = len(self.table.pub_time) - dead
        if dead < max(kept, 4096):
            return
        for name, buffer in self._buffers.items():
            buffer[:kept] = buffer[dead:dead + kept]
            setattr(self.table, name, buffer[:kept])
        self.first += dead

    def _bait(self, items: np.ndarray, provider: np.ndarray) -> np.ndarray:
        """b_i = beta_p exp(sigma eps_i - sigma^2 / 2), eps_i a counter-based normal."""
        sigma = self.config.bait_item_noise
        eps = counter_normals(self.bait_key, 1, items)
        return self.provider_bait[provider] * np.exp(sigma * eps - sigma ** 2 / 2)

    def _append(self, **columns: np.ndarray | float) -> None:
        """Append rows to every item array (growing a full buffer to twice its size)."""
        start = len(self.table.pub_time)
        stop = start + len(columns["pub_time"])
        for name, values in columns.items():
            buffer = self._buffers[name]
            if stop > len(buffer):
                grown = np.empty((max(2 * len(buffer), stop, 1024),) + buffer.shape[1:],
                                 buffer.dtype)
                grown[:start] = buffer[:start]
                self._buffers[name] = buffer = grown
            buffer[start:stop] = values
            setattr(self.table, name, buffer[:stop])

    def add_clicks(self, items: np.ndarray, times: np.ndarray) -> None:
        """Count clicks (flat arrays of item ids and times) in the decayed counters."""
        latest = float(times.max(initial=self.clicks_ref_time))
        self.clicks_ref_time = rebase_click_counters(self.table.clicks, self.clicks_ref_time,
                                                     latest)
        kernels.add_clicks(self.table.clicks, items, times, self.first, self.clicks_ref_time,
                           _WINDOWS)


def rebase_click_counters(clicks: np.ndarray, ref_time: float, latest: float) -> float:
    """Decayed click counters (items, windows) hold sum exp((t_click - ref_time) / window);
    before counting clicks up to `latest`, move them (in place) to the reference `latest`
    when exp() would otherwise near the float32 range. Returns the reference time in use."""
    if (latest - ref_time) / _WINDOWS[0] <= _REBASE_EXPONENT:
        return ref_time
    clicks *= np.exp(-(latest - ref_time) / _WINDOWS).astype(np.float32)
    clicks[clicks < 1e-20] = 0.0  # no float32 denormals
    return latest


def click_decay(times: np.ndarray, ref_time: float) -> np.ndarray:
    """Factors (n, windows) that turn decayed counters into popularity at `times`: a click
    at t counts exp(-(T - t) / window) at time T."""
    return np.exp(-(np.asarray(times, np.float64)[:, None] - ref_time) / _WINDOWS)


def clock(times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hour of day (0-23) and weekday (0-6) of times in seconds: time 0 is a midnight that
    starts weekday 0 (real logs put it on a Monday, so weekday 0 = Monday)."""
    hour = np.floor(np.asarray(times) / HOUR).astype(np.int64)
    return (hour % 24).astype(np.int32), ((hour // 24) % 7).astype(np.int32)


class VisitQueue:
    """Upcoming visits: `next_time[u]` for every user plus a sorted window holding exactly the
    users whose next visit is <= `horizon`. Popping takes the window's head; the window is
    rebuilt (one O(U) partition) only when it runs dry, so a step costs O(B) amortised."""

    def __init__(self, next_time: np.ndarray, window_size: int):
        self.next_time = next_time
        self.window_size = window_size
        self._rebuild()

    def _rebuild(self) -> None:
        finite = np.isfinite(self.next_time)
        n_finite = int(finite.sum())
        k = min(self.window_size, n_finite)
        if k == 0:
            self.horizon = np.inf
            self.win_users = np.empty(0, dtype=np.int64)
            self.win_times = np.empty(0, dtype=np.float64)
            return
        self.horizon = np.inf if k == n_finite else float(
            np.partition(self.next_time, k - 1)[k - 1])
        users = np.flatnonzero(finite & (self.next_time <= self.horizon))
        order = np.argsort(self.next_time[users], kind="stable")
        self.win_users = users[order]
        self.win_times = self.next_time[self.win_users]

    def pop(self, n: int) -> tuple[np.ndarray, np.ndarray] | None:
        """The n earliest upcoming visits (users, times), or None if fewer than n remain."""
        if len(self.win_users) < n and np.isfinite(self.horizon):
            self._rebuild()
        if len(self.win_users) < n:
            return None
        users, times = self.win_users[:n], self.win_times[:n]
        self.win_users, self.win_times = self.win_users[n:], self.win_times[n:]
        self.next_time[users] = np.inf  # in flight until push()
        return users, times

    def earliest(self) -> float:
        """The time of the earliest upcoming visit (inf when none is left): no visit still to
        be served can precede it (a visit schedules only later ones)."""
        if len(self.win_times):
            return float(self.win_times[0])
        return float(self.next_time.min(initial=np.inf))

    def push(self, users: np.ndarray, times: np.ndarray) -> None:
        """Schedule the users' next visits (inf: never)."""
        self.next_time[users] = times
        self.win_users, self.win_times = kernels.merge_window(
            self.win_users, self.win_times, np.asarray(users, dtype=np.int64), times,
            self.horizon)


class World:
    """The whole simulated world. `reset(seed)` rebuilds it from one seed; every random
    number comes from streams spawned from that seed (docs/design.md section 2, "Randomness")."""

    def __init__(self, config: WorldConfig | None = None):
        self.config = config or WorldConfig()
        cfg = self.config
        cfg.check_memory()  # a size that cannot fit fails here, not in an allocation
        self.position_bias = (1.0 / np.arange(1, cfg.slate_size + 1) ** cfg.position_bias_kappa)
        self.n_fresh = {"freshest": cfg.n_candidates, "sampled": 0,
                        "mixed": cfg.n_candidates // 2}[cfg.candidate_mode]
        self.seed: int | None = None
        #: Whether `next_batch` lets items older than two lifetimes leave the store; a world
        #: whose batches may go back in time (user journeys' copy) keeps them all.
        self.forget_items = True

    # ------------------------------------------------------------------------------------
    def reset(self, seed: int | None = None, min_batch: int = 1) -> None:
        """Build a fresh world. `min_batch` sizes the visit queue's window."""
        cfg = self.config
        self.seed = seed
        root = np.random.SeedSequence(seed)
        # a 7th stream for the long-term world leaves the first six (and the world) as they were
        population, news, drift, jumps, visits, clicks, engagement = root.spawn(7)
        bait, satisfaction = engagement.spawn(2)
        centroid_rng = np.random.default_rng(population.spawn(1)[0])
        centroids = centroid_rng.standard_normal((cfg.n_topics, cfg.latent_dim))
        self.centroids = (centroids / np.linalg.norm(centroids, axis=1, keepdims=True)
                          ).astype(np.float32)
        self.news = NewsStream(cfg, np.random.default_rng(news), self.centroids,
                               stream_key(bait))
        self.users = UserPopulation(cfg, self.centroids, np.random.default_rng(population),
                                    stream_key(drift), stream_key(jumps),
                                    stream_key(visits))
        self.click_key = stream_key(clicks)
        self.satisfaction_key = stream_key(satisfaction)
        self.candidate_key = stream_key(clicks.spawn(1)[0])
        self.queue = VisitQueue(self.users.first_visit_times(),
                                window_size=max(64 * min_batch, 4096))
        self.served = 0
        self.clock = 0.0
        self._waiting_clicks = (np.empty(0, np.int64), np.empty(0, np.float64))

    @property
    def horizon(self) -> float:
        return self.config.horizon_seconds

    # ------------------------------------------------------------------------------------
    def next_batch(self, n: int) -> VisitBatch | None:
        """Pop the next n visits (distinct users, time order) and prepare their requests;
        None when fewer than n users are still active."""
        popped = self.queue.pop(n)
        if popped is None:
            return None
        users, times = popped
        users = users.astype(np.int64)
        self.clock = max(self.clock, float(times[-1]))
        self.news.ensure(float(times.max()))
        if self.forget_items:  # items older than twice their lifetime can no longer be shown
            self.news.forget_before(float(times.min()) - 2 * self.config.item_lifetime_hours
                                    * HOUR)
        self.users.evolve(users, times, self.news)
        last = self.users.last_visit[users]
        visit_numbers = self.users.visit_count[users]
        candidates = self._candidates(users, times, visit_numbers)
        batch = VisitBatch(users=users, times=times,
                           visit_ids=np.arange(self.served, self.served + n, dtype=np.int64),
                           visit_numbers=visit_numbers,
                           gaps=np.where(last >= 0, times - last, -1.0),
                           candidates=candidates, mask=candidates >= 0)
        self.served += n
        return batch

    def _candidates(self, users: np.ndarray, times: np.ndarray,
                    visit_numbers: np.ndarray) -> np.ndarray:
        """Freshest and/or stratified-sampled live item ids, -1 where padded
        (docs/design.md section 2); see `_kernels.candidates`."""
        cfg, news = self.config, self.news
        pub = news.table.pub_time
        lo = np.searchsorted(pub, times - cfg.item_lifetime_hours * HOUR, side="right")
        hi = np.searchsorted(pub, times, side="right")
        ids = np.empty((len(users), cfg.n_candidates), dtype=np.int64)
        kernels.candidates(lo + news.first, hi + news.first, self.n_fresh, self.candidate_key,
                           users, visit_numbers, ids)
        return ids

    # ------------------------------------------------------------------------------------
    def observe(self, batch: VisitBatch,
                popularity: np.ndarray | None = None) -> dict[str, dict[str, np.ndarray]]:
        """The observation of docs/design.md section 3 as a nested dict of (B, ...) arrays.
        `popularity` (B, N, windows), when given, replaces the item click counters (user
        journeys read popularity as of each visit's own time, `drnsim.journeys`)."""
        cfg, news, users, times = self.config, self.news, batch.users, batch.times
        b, n, hist, w = len(batch), cfg.n_candidates, cfg.history_length, len(_WINDOWS)
        user = {"user_id": users.copy(), "features": np.empty((b, 4), np.int32)}
        history = {"item_id": np.empty((b, hist), np.int64),
                   "topic": np.empty((b, hist), np.int32),
                   "provider": np.empty((b, hist), np.int32),
                   "age": np.empty((b, hist), np.float32),
                   "length": np.empty(b, np.int32)}
        candidates = {"item_id": np.empty((b, n), np.int64), "mask": np.empty((b, n), np.int8),
                      "topic": np.empty((b, n), np.int32),
                      "provider": np.empty((b, n), np.int32),
                      "age": np.empty((b, n), np.float32),
                      "popularity": np.empty((b, n, w), np.float32)}
        user_news = {"topic_clicks": np.empty((b, n, w), np.float32),
                     "provider_clicks": np.empty((b, n, w), np.float32)}
        decay = (click_decay(times, news.clicks_ref_time) if popularity is None
                 else np.zeros((b, w)))
        recent = self._recent_clicks(popularity is None)
        rows = news.table
        kernels.fill_observation(users, times, batch.candidates, self.users.features,
                                 *self.users.click_ring, rows.topic, rows.provider,
                                 rows.pub_time, rows.clicks, news.first, decay, _WINDOWS,
                                 cfg.n_topics, cfg.n_providers, user["features"],
                                 *history.values(), *candidates.values(),
                                 *user_news.values(), *recent)
        if popularity is not None:
            candidates["popularity"][:] = popularity
        hour, weekday = clock(times)
        context = {"hour": hour, "weekday": weekday,
                   "since_last_visit": batch.gaps.astype(np.float32)}
        return {"user": user, "context": context, "history": history,
                "candidates": {key: candidates[key] for key in _CANDIDATE_KEYS},
                "user_news": user_news}

    def _recent_clicks(self, needed: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The clicks waiting outside the counters (`count_clicks`) as
        `_kernels.fill_observation` reads them (`_kernels.recent_clicks`); empty when not
        `needed`."""
        items, times = self._waiting_clicks
        if not needed:
            items, times = items[:0], times[:0]
        news = self.news
        return kernels.recent_clicks(items, times, news.clicks_ref_time, _WINDOWS, news.first,
                                     len(news.table.pub_time))

    # ------------------------------------------------------------------------------------
    def attractiveness(self, batch: VisitBatch, columns: np.ndarray | None = None) -> np.ndarray:
        """True a_ui (B, n) of the batch's candidates (or of `columns`, candidate indices
        (B, n) with -1 for none, which get 0)."""
        items = batch.candidates if columns is None else _take_columns(batch.candidates, columns)
        return self.users.attractiveness(batch.users, batch.times, items, self.news)

    def click_engagement(self, batch: VisitBatch) -> np.ndarray:
        """The hidden truth of what a click on each candidate (B, N) does to the user's
        engagement, in expectation (docs/design.md section 8; 0 for padded candidates):
        E[s] - lambda w_sat satiation = q_i - lambda (d_bait (b_i - b_mean)
        + w_sat satiation_u,c_i).
        A slate's topic concentration adds -lambda w_slate C on top, whatever is clicked."""
        cfg, news, items = self.config, self.news, batch.candidates
        satiation = self.users.satiation(batch.users, batch.times, items, news)
        effect = news.take("quality", items) - cfg.tradeoff_strength * (
            cfg.bait_disappointment * (news.take("bait", items) - cfg.bait_provider_mean)
            + cfg.boredom_satiation_weight * satiation)
        return np.where(items >= 0, effect, 0.0)

    def click_coins(self, batch: VisitBatch, columns: np.ndarray | None = None) -> np.ndarray:
        """One uniform per (user, visit, item), for the candidates or the given columns: the
        same item in the same visit meets the same coin whichever agent shows it, at whatever
        rank (common random numbers)."""
        items = batch.candidates if columns is None else _take_columns(batch.candidates, columns)
        return hash_uniform(self.click_key, batch.users[:, None], batch.visit_numbers[:, None],
                            np.maximum(items, 0))

    def sample_clicks(self, attractiveness: np.ndarray, coins: np.ndarray,
                      shown: np.ndarray) -> np.ndarray:
        """Clicks (B, K) on slates given a_ui and coins of the shown items, rank order.
        Position model: click iff coin < theta_k a_ui (several per slate). Cascade: the first
        item with coin < a_ui is clicked and ends the scan."""
        if self.config.click_model == "position":
            clicks = coins < self.position_bias[None, :shown.shape[1]] * attractiveness
        else:
            attracted = (coins < attractiveness) & (shown >= 0)
            clicks = attracted & (np.cumsum(attracted, axis=1) == 1)
        return clicks & (shown >= 0)

    def _satisfaction_coef(self) -> np.ndarray:
        cfg = self.config
        return np.array([cfg.tradeoff_strength * cfg.bait_disappointment, cfg.bait_provider_mean,
                         cfg.satisfaction_noise, cfg.dwell_median_seconds,
                         cfg.dwell_satisfaction_gain, cfg.dwell_noise])

    def satisfaction(self, batch: VisitBatch, columns: np.ndarray | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Satisfaction s and dwell seconds (B, n) that a click on each candidate (or on the
        given columns) would bring (docs/design.md section 8; 0 where the column is -1):
        s = q_i - lambda d_bait (b_i - b_mean) + sigma_s eps, b_mean = `bait_provider_mean`
        (the mean bait of an item: a typical click is neutral, a bait-free one pleases),
        dwell = median exp(g_d s + sigma_d eps'),
        eps and eps' counter-based normals of (user, visit number, item)
        (`_kernels.satisfaction`): the same click meets the same satisfaction whichever agent
        shows it."""
        items = batch.candidates if columns is None else _take_columns(batch.candidates, columns)
        satisfaction, dwell = np.empty(items.shape), np.empty(items.shape)
        kernels.satisfaction(batch.users, batch.visit_numbers, items, self.news.table.quality,
                             self.news.table.bait, self.news.first, self.satisfaction_key,
                             self._satisfaction_coef(), satisfaction, dwell)
        return satisfaction, dwell

    def serve(self, batch: VisitBatch, shown: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """How users react to the slates `shown` (B, K candidate indices, -1 = empty slot),
        without consequences (`commit` applies them): the shown item ids, clicks (B, K) bool
        (`sample_clicks` of `attractiveness` and `click_coins`), and the dwell seconds
        (float32) and satisfaction of each click (`satisfaction`; 0 where not clicked), all
        in one pass (`_kernels.serve`); one visit's: pass `batch.rows(slice(j, j + 1))`."""
        b, k = shown.shape
        items, clicks = np.empty((b, k), np.int64), np.empty((b, k), np.bool_)
        dwell, satisfaction = np.empty((b, k), np.float32), np.empty((b, k))
        rows = self.news.table
        items_, times_, topics, _, ptr, length = self.users.click_ring
        kernels.serve(batch.users, batch.times, batch.visit_numbers, batch.candidates,
                      np.ascontiguousarray(shown, dtype=np.int64), self.users.interest,
                      self.users.channel_weight, rows.vector, rows.quality, rows.bait,
                      rows.pub_time, rows.topic, self.news.first, self.config.n_topics,
                      items_, times_, topics, ptr, length, self.users.appeal_coefficients(),
                      self.click_key, self.position_bias,
                      self.config.click_model == "cascade", self.satisfaction_key,
                      self._satisfaction_coef(), items, clicks, dwell, satisfaction)
        return items, clicks, dwell, satisfaction

    def commit(self, batch: VisitBatch, items: np.ndarray, clicks: np.ndarray,
               satisfaction: np.ndarray, popularity: bool = True,
               return_coins: np.ndarray | None = None) -> None:
        """The consequences of served visits (shown item ids, clicks, the clicks'
        satisfaction): engagement, history, interest reinforcement, item popularity, and each
        user's next visit (or churn). ``popularity=False`` leaves the items' click counters to
        a later `count_clicks` (the single env applies each visit's per-user consequences at
        its step, so that `churned` is known there, and the micro-batch's popularity at its
        end); ``return_coins``: the visits' `UserPopulation.return_coins`, drawn ahead."""
        self.users.consequences(batch.users, batch.times, items, clicks, satisfaction, self.news)
        next_times = self.users.schedule_returns(batch.users, batch.times, clicks.sum(axis=1),
                                                 return_coins)
        self.queue.push(batch.users, next_times)
        if popularity:
            self.count_clicks(batch, items, clicks)

    def count_clicks(self, batch: VisitBatch, items: np.ndarray, clicks: np.ndarray) -> None:
        """Count served clicks (``items``: the shown item ids (B, K)) in the items'
        popularity counters, once no visit still to be served precedes them: a click at or
        after the queue's earliest upcoming visit waits for a later call (a user who returns
        within a batch's span is served after the batch, and reads popularity as of its own
        time without the clicks of its future: docs/design.md section 10.3a). Call after the
        batch's next visits are scheduled."""
        b, j = np.nonzero(clicks)
        waiting_items, waiting_times = self._waiting_clicks
        new_items, new_times = items[b, j], batch.times[b]
        if len(waiting_items):
            new_items = np.concatenate([waiting_items, new_items])
            new_times = np.concatenate([waiting_times, new_times])
        due = new_times < self.queue.earliest()
        if due.any():
            self.news.add_clicks(new_items[due], new_times[due])
        self._waiting_clicks = (new_items[~due], new_times[~due])

    def feedback(self, batch: VisitBatch, shown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Users react to the slates `shown` (B, K candidate indices, -1 = empty slot):
        returns clicks (B, K) bool and dwell (B, K) float32 seconds (0 where not clicked),
        and applies their consequences (`serve`, then `commit`)."""
        items, clicks, dwell, satisfaction = self.serve(batch, shown)
        self.commit(batch, items, clicks, satisfaction)
        return clicks, dwell

    # ------------------------------------------------------------------------------------
    def describe_user(self, user: int) -> str:
        """Top interests of one user, for rendering (hidden state: not for agents)."""
        users = self.users
        order = np.argsort(-users.channel_weight[user])
        parts = [f"topic {users.channel_topic[user, m]} (w={users.channel_weight[user, m]:.2f})"
                 for m in order]
        return ", ".join(parts)


_CANDIDATE_KEYS = ("item_id", "topic", "provider", "age", "popularity", "mask")


def _take_columns(candidates: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Item ids at candidate columns (B, K); -1 where the column is -1."""
    items = np.take_along_axis(candidates, np.maximum(columns, 0), axis=1)
    return np.where(columns >= 0, items, NO_ITEM)


__all__ = ["ItemColumn", "NewsStream", "VisitBatch", "VisitQueue", "World", "click_decay", "clock",
           "rebase_click_counters"]
