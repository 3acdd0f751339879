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

from dataclasses import dataclass, fields

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
        return VisitBatch(*(getattr(self, f.name)[index] for f in fields(self)))


class NewsStream:
    """Fresh news: Poisson arrivals over topics whose shares trend, generated lazily in
    chunks; items are stored in publication order so that the live pool is an index range.

    Each item has hidden clickbait b_i = beta_p exp(sigma eps_i - sigma^2 / 2) >= 0
    (docs/design.md section 8): its provider's propensity beta_p ~ Exp(mean
    `bait_provider_mean`) times log-normal item noise (mean 1), both counter-based on
    `bait_key` (provider, item id), so they draw nothing from the news stream's generator."""

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
        # Item arrays: views of the first len(self) rows of buffers that double when full,
        # so that generating news costs O(1) amortised per item. `clicks` holds decayed click
        # counters per window relative to clicks_ref_time: a click at t adds
        # exp((t - ref) / window); read at time T as counter * exp(-(T - ref) / window).
        self._buffers = {"pub_time": np.empty(0, np.float64), "topic": np.empty(0, np.int32),
                         "provider": np.empty(0, np.int32),
                         "vector": np.empty((0, cfg.latent_dim), np.float32),
                         "quality": np.empty(0, np.float32), "bait": np.empty(0, np.float32),
                         "clicks": np.empty((0, len(_WINDOWS)), np.float32)}
        for name, buffer in self._buffers.items():
            setattr(self, name, buffer)
        self.clicks_ref_time = 0.0

    def __len__(self) -> int:
        return len(self.pub_time)

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

    def _bait(self, items: np.ndarray, provider: np.ndarray) -> np.ndarray:
        """b_i = beta_p exp(sigma eps_i - sigma^2 / 2), eps_i a counter-based normal."""
        sigma = self.config.bait_item_noise
        eps = counter_normals(self.bait_key, 1, items)
        return self.provider_bait[provider] * np.exp(sigma * eps - sigma ** 2 / 2)

    def _append(self, **columns: np.ndarray | float) -> None:
        """Append rows to every item array (growing a full buffer to twice its size)."""
        start = len(self)
        stop = start + len(columns["pub_time"])
        for name, values in columns.items():
            buffer = self._buffers[name]
            if stop > len(buffer):
                grown = np.empty((max(2 * len(buffer), stop, 1024),) + buffer.shape[1:],
                                 buffer.dtype)
                grown[:start] = buffer[:start]
                self._buffers[name] = buffer = grown
            buffer[start:stop] = values
            setattr(self, name, buffer[:stop])

    def add_clicks(self, items: np.ndarray, times: np.ndarray) -> None:
        """Count clicks (flat arrays) at their times in the decayed counters."""
        latest = float(times.max(initial=self.clicks_ref_time))
        self.clicks_ref_time = rebase_click_counters(self.clicks, self.clicks_ref_time, latest)
        kernels.add_clicks(self.clicks, items, times, self.clicks_ref_time, _WINDOWS)


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

    def push(self, users: np.ndarray, times: np.ndarray) -> None:
        """Schedule the users' next visits (inf: never)."""
        self.next_time[users] = times
        inside = np.isfinite(times) & (times <= self.horizon)
        if inside.any():
            order = np.argsort(times[inside], kind="stable")
            new_users, new_times = users[inside][order], times[inside][order]
            at = np.searchsorted(self.win_times, new_times, side="right")
            self.win_users = np.insert(self.win_users, at, new_users)
            self.win_times = np.insert(self.win_times, at, new_times)


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
        self.users.evolve(users, times, self.news)
        last = self.users.last_visit[users]
        candidates, mask = self._candidates(users, times)
        batch = VisitBatch(users=users, times=times,
                           visit_ids=np.arange(self.served, self.served + n, dtype=np.int64),
                           visit_numbers=self.users.visit_count[users].copy(),
                           gaps=np.where(last >= 0, times - last, -1.0),
                           candidates=candidates, mask=mask)
        self.served += n
        return batch

    def _candidates(self, users: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Freshest and/or stratified-sampled live items (docs/design.md section 2);
        see `_kernels.candidates`."""
        cfg, pub = self.config, self.news.pub_time
        lo = np.searchsorted(pub, times - cfg.item_lifetime_hours * HOUR, side="right")
        hi = np.searchsorted(pub, times, side="right")
        ids = np.empty((len(users), cfg.n_candidates), dtype=np.int64)
        kernels.candidates(lo, hi, self.n_fresh, self.candidate_key, users,
                           self.users.visit_count[users], ids)
        return ids, ids >= 0

    # ------------------------------------------------------------------------------------
    def observe(self, batch: VisitBatch) -> dict[str, dict[str, np.ndarray]]:
        """The observation of docs/design.md section 3 as a nested dict of (B, ...) arrays."""
        cfg, news, users, times = self.config, self.news, batch.users, batch.times
        b, n, hist, w = len(batch), cfg.n_candidates, cfg.history_length, len(_WINDOWS)
        hist_items = np.empty((b, hist), np.int64)
        out = {
            "cand_topic": np.empty((b, n), np.int32), "cand_provider": np.empty((b, n), np.int32),
            "cand_age": np.empty((b, n), np.float32), "popularity": np.empty((b, n, w), np.float32),
            "topic_clicks": np.empty((b, n, w), np.float32),
            "provider_clicks": np.empty((b, n, w), np.float32),
            "hist_topic": np.empty((b, hist), np.int32),
            "hist_provider": np.empty((b, hist), np.int32),
            "hist_age": np.empty((b, hist), np.float32)}
        kernels.fill_observation(users, times, batch.candidates, *self.users.click_ring,
                                 news.topic, news.provider, news.pub_time, news.clicks,
                                 click_decay(times, news.clicks_ref_time), _WINDOWS,
                                 cfg.n_topics, cfg.n_providers, hist_items, *out.values(),
                                 kernels.n_chunks(b))
        hour, weekday = clock(times)
        return {
            "user": {"user_id": users.copy(),
                     "features": self.users.features[users].astype(np.int32)},
            "context": {"hour": hour, "weekday": weekday,
                        "since_last_visit": batch.gaps.astype(np.float32)},
            "history": {"item_id": hist_items,
                        "topic": out["hist_topic"],
                        "provider": out["hist_provider"],
                        "age": out["hist_age"],
                        "length": self.users.hist_len[users].astype(np.int32)},
            "candidates": {"item_id": batch.candidates.copy(),
                           "topic": out["cand_topic"],
                           "provider": out["cand_provider"],
                           "age": out["cand_age"],
                           "popularity": out["popularity"],
                           "mask": batch.mask.astype(np.int8)},
            "user_news": {"topic_clicks": out["topic_clicks"],
                          "provider_clicks": out["provider_clicks"]},
        }

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
        safe = np.maximum(items, 0)
        satiation = self.users.satiation(batch.users, batch.times, items, news.topic)
        effect = news.quality[safe] - cfg.tradeoff_strength * (
            cfg.bait_disappointment * (news.bait[safe] - cfg.bait_provider_mean)
            + cfg.boredom_satiation_weight * satiation)
        return np.where(items >= 0, effect, 0.0)

    def click_coins(self, batch: VisitBatch, columns: np.ndarray | None = None) -> np.ndarray:
        """One uniform per (user, visit, item), for the candidates or the given columns: the
        same item in the same visit meets the same coin whichever agent shows it, at whatever
        rank (common random numbers)."""
        items = batch.candidates if columns is None else _take_columns(batch.candidates, columns)
        return self._coins(batch, items)

    def _coins(self, batch: VisitBatch, items: np.ndarray) -> np.ndarray:
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
        cfg = self.config
        items = batch.candidates if columns is None else _take_columns(batch.candidates, columns)
        coef = np.array([cfg.tradeoff_strength * cfg.bait_disappointment, cfg.bait_provider_mean,
                         cfg.satisfaction_noise, cfg.dwell_median_seconds,
                         cfg.dwell_satisfaction_gain, cfg.dwell_noise])
        satisfaction, dwell = np.empty(items.shape), np.empty(items.shape)
        kernels.satisfaction(batch.users, batch.visit_numbers, items, self.news.quality,
                             self.news.bait, self.satisfaction_key, coef, satisfaction, dwell)
        return satisfaction, dwell

    def feedback(self, batch: VisitBatch, shown: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Users react to the slates `shown` (B, K candidate indices, -1 = empty slot):
        returns clicks (B, K) bool and dwell (B, K) float32 seconds (0 where not clicked),
        and applies their consequences."""
        items = _take_columns(batch.candidates, shown)
        appeal = self.users.attractiveness(batch.users, batch.times, items, self.news)
        clicks = self.sample_clicks(appeal, self._coins(batch, items), shown)
        satisfaction, dwell = self.satisfaction(batch, shown)
        self._consequences(batch, items, clicks, satisfaction)
        return clicks, np.where(clicks, dwell, 0.0).astype(np.float32)

    def apply_feedback(self, batch: VisitBatch, shown: np.ndarray, clicks: np.ndarray) -> None:
        """Consequences of a batch's clicks: engagement, history, interest reinforcement,
        item popularity, and each user's next visit (or churn)."""
        self._consequences(batch, _take_columns(batch.candidates, shown), clicks,
                           self.satisfaction(batch, shown)[0])

    def _consequences(self, batch: VisitBatch, items: np.ndarray, clicks: np.ndarray,
                      satisfaction: np.ndarray) -> None:
        clicked_items = np.where(clicks, items, NO_ITEM)
        self.users.update_engagement(batch.users, batch.times, items, clicks, satisfaction,
                                     self.news.topic)
        self.users.record_clicks(batch.users, batch.times, clicked_items, self.news.vector)
        b, _ = np.nonzero(clicks)
        if len(b):
            self.news.add_clicks(clicked_items[clicks], batch.times[b])
        next_times = self.users.schedule_returns(batch.users, batch.times, clicks.sum(axis=1))
        self.queue.push(batch.users, next_times)

    # ------------------------------------------------------------------------------------
    def describe_user(self, user: int) -> str:
        """Top interests of one user, for rendering (hidden state: not for agents)."""
        users = self.users
        order = np.argsort(-users.channel_weight[user])
        parts = [f"topic {users.channel_topic[user, m]} (w={users.channel_weight[user, m]:.2f})"
                 for m in order]
        return ", ".join(parts)


def _take_columns(candidates: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Item ids at candidate columns (B, K); -1 where the column is -1."""
    items = np.take_along_axis(candidates, np.maximum(columns, 0), axis=1)
    return np.where(columns >= 0, items, NO_ITEM)


__all__ = ["World", "VisitBatch", "NewsStream", "VisitQueue"]
