"""Users of the simulated world: evolving interests, the click model and the return model.

All state is flat arrays indexed by user id (no per-user Python objects) and every method
touches only the users passed to it, so a step costs O(B) whatever the population size.
Equations (docs/design.md section 2):

* interests: M channels per user, channel m has weight w_m and vector u_m. Between touches
  u_m follows an Ornstein-Uhlenbeck walk around its topic centroid c,
  u(t+dt) = c + (u(t) - c) e^{-theta dt} + s sqrt((1 - e^{-2 theta dt}) / (2 theta)) xi,
  with xi a counter-based normal of (user, channel, dimension, touch time);
  it jumps to a different topic with hazard rho (jump times and destinations are
  counter-based, so they are the same for every agent), a click pulls the explaining
  channel towards the item, u_m <- u_m + eta (v_i - u_m), and recent clicks on a topic
  satiate it.
* clicks: a_ui = sigmoid(b0 + b1 max_m w_m <u_m, v_i> + b2 q_i + b3 log f_i(t) - b4 seen_ui
  - b5 satiation_u,c_i), shown at rank k with P(click) = theta_k a_ui, theta_k = 1 / k^kappa.
* returns: gap ~ Exp(rate), rate = r0_u exp(g (clicks - c_bar) + lambda g_E E_u); repeated
  empty visits churn, and so do disengaged users (E_u < 0).
* engagement (docs/design.md section 8): E_u decays towards 0 with time constant tau_E and
  after each visit adds the satisfaction of its clicks, s = q_i - lambda d_bait b_i + noise,
  minus its boredom (a slate crowded into few topics, clicks on satiated topics).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from drnsim import _kernels as kernels
from drnsim._random import hash_uniform, stream_uniforms
from drnsim.config import DAY, HOUR, WorldConfig

NO_ITEM = -1
_VISIT_STREAMS = (0, 1, 3)  # the visit key's coins after a visit: gap, churn, disengagement
_MAX_STREAK = np.iinfo(np.int16).max  # empty_streak saturates at its dtype's maximum


class ItemRows(Protocol):
    """The stored item arrays, row r = item id first + r (the world's news stream)."""

    vector: np.ndarray  # (rows, d) float32
    quality: np.ndarray  # (rows,) float32
    bait: np.ndarray  # (rows,) float32, hidden clickbait b_i >= 0
    pub_time: np.ndarray  # (rows,) float64
    topic: np.ndarray  # (rows,) int32
    provider: np.ndarray  # (rows,) int32


class ItemTable(Protocol):
    """The items users react to: the stored rows and the id of the first (items leave the
    store once no visit can show them; the world's news stream provides this)."""

    first: int
    table: ItemRows


class TopicTrend(Protocol):
    """The trending topic logits jumps land by (the world's news stream provides them)."""

    def hourly_logits(self, until: float) -> tuple[np.ndarray, float]:
        """The hourly table (hours, T) covering times up to `until`, and its start time."""


class UserPopulation:
    """Hidden and observable state of all users, as arrays of length U."""

    def __init__(self, config: WorldConfig, centroids: np.ndarray, init_rng: np.random.Generator,
                 drift_key: np.uint64, jump_key: np.uint64, visit_key: np.uint64):
        self.config = config
        self.centroids = centroids
        self.drift_key = drift_key
        self.jump_key = jump_key
        self.visit_key = visit_key
        cfg = config
        n_users, n_channels, dim, hist_len = (cfg.n_users, cfg.n_channels, cfg.latent_dim,
                                              cfg.history_length)

        # Observable static features, and per-feature topic preferences that tie them to
        # interests (so that demographic features carry signal, as in real logs).
        self.features = np.stack([
            init_rng.integers(0, cfg.n_age_buckets, n_users),
            init_rng.integers(0, cfg.n_genders, n_users),
            init_rng.integers(0, cfg.n_regions, n_users),
            init_rng.integers(0, cfg.n_devices, n_users),
        ], axis=1).astype(np.int16)
        self._feature_topic_logits = [
            init_rng.standard_normal((size, cfg.n_topics)).astype(np.float32)
            * cfg.feature_interest_strength
            for size in (cfg.n_age_buckets, cfg.n_genders, cfg.n_regions)
        ]
        self.base_rate = (np.exp(init_rng.normal(0.0, cfg.return_rate_spread, n_users))
                          / (cfg.mean_return_hours * HOUR)).astype(np.float32)

        # Interest channels.
        self.channel_weight = init_rng.dirichlet(np.ones(n_channels), n_users).astype(np.float32)
        self.channel_topic = np.empty((n_users, n_channels), dtype=np.int16)
        self.interest = np.empty((n_users, n_channels, dim), dtype=np.float32)
        self.ou_scale = cfg.drift_sigma / np.sqrt(dim)  # per-dimension sigma per sqrt(day)
        chunk = 65_536
        for start in range(0, n_users, chunk):
            users = np.arange(start, min(start + chunk, n_users))
            logits = self.preference_logits(users)[:, None, :]
            gumbel = -np.log(-np.log(init_rng.random((len(users), n_channels, cfg.n_topics))))
            topics = np.argmax(logits + gumbel, axis=2)
            self.channel_topic[users] = topics
            stationary = self.ou_scale / np.sqrt(2 * cfg.drift_reversion_per_day)
            self.interest[users] = centroids[topics] + stationary * init_rng.standard_normal(
                (len(users), n_channels, dim)).astype(np.float32)
        self.last_evolved = np.zeros(n_users, dtype=np.float64)
        self.jump_count = np.zeros((n_users, n_channels), dtype=np.int32)
        self.next_jump = self._jump_gaps(np.arange(n_users)[:, None],
                                         np.arange(n_channels)[None, :], self.jump_count)

        # Behaviour: clicked items as a ring buffer (chronological from ptr - len), with
        # each click's topic and provider (the history needs no item row).
        self.hist_item = np.full((n_users, hist_len), NO_ITEM, dtype=np.int32)
        self.hist_time = np.zeros((n_users, hist_len), dtype=np.float32)
        self.hist_topic = np.zeros((n_users, hist_len), dtype=_smallest_int(cfg.n_topics))
        self.hist_provider = np.zeros((n_users, hist_len), dtype=_smallest_int(cfg.n_providers))
        self.hist_ptr = np.zeros(n_users, dtype=np.int32)
        self.hist_len = np.zeros(n_users, dtype=np.int32)

        # Visits.
        self.visit_count = np.zeros(n_users, dtype=np.int32)
        self.last_visit = np.full(n_users, -1.0, dtype=np.float64)
        self.empty_streak = np.zeros(n_users, dtype=np.int16)
        self.churned = np.zeros(n_users, dtype=bool)
        # Engagement E_u right after the user's last visit (docs/design.md section 8).
        self.engagement = np.zeros(n_users, dtype=np.float64)

    # ------------------------------------------------------------------------------------
    def preference_logits(self, users: np.ndarray) -> np.ndarray:
        """Topic logits implied by static features (age, gender, region), shape (n, T)."""
        age, gender, region = self._feature_topic_logits
        f = self.features[users]
        return age[f[:, 0]] + gender[f[:, 1]] + region[f[:, 2]]

    def _jump_gaps(self, users: np.ndarray, channels: np.ndarray, k: np.ndarray) -> np.ndarray:
        """Time of the channel's next jump after its k-th: Exp(rho) gaps, counter-based."""
        rate = self.config.jump_rate_per_day / DAY
        if rate == 0:
            return np.full(np.broadcast_shapes(np.shape(users), np.shape(k)), np.inf)
        flat = users.astype(np.int64) * self.config.n_channels + channels
        return -np.log(hash_uniform(self.jump_key, 0, flat, k)) / rate

    def evolve(self, users: np.ndarray, times: np.ndarray, trend: TopicTrend) -> None:
        """Bring the interests of `users` (distinct) forward to `times`: topic jumps, then OU
        drift (`_kernels.evolve`). A jumping channel lands on a topic c other than its
        current one with probability softmax(trend + feature preference)_c over those topics,
        the trend of the jump's hour: every jump is a switch. The drift noise is counter-based
        on (user, touch time), so two agents that touch a user at the same times give it the
        same interests."""
        cfg = self.config
        table, start = trend.hourly_logits(float(times.max()) if len(times) else 0.0)
        kernels.evolve(users, times, self.last_evolved, self.next_jump, self.jump_count,
                       self.channel_topic, self.interest, self.centroids, self.features,
                       *self._feature_topic_logits, table, start, self.jump_key,
                       cfg.jump_rate_per_day / DAY, cfg.drift_reversion_per_day, self.ou_scale,
                       self.drift_key, np.ascontiguousarray(times, np.float64).view(np.uint64))

    # ------------------------------------------------------------------------------------
    @property
    def click_ring(self) -> tuple[np.ndarray, ...]:
        """Each user's last L clicks as a ring: items, times, topics, providers (U, L), the
        next write position and the number stored (U,). Slot s of the chronological
        history (oldest first) is at (ptr - len + s) % L; the kernels read it in place."""
        return (self.hist_item, self.hist_time, self.hist_topic, self.hist_provider,
                self.hist_ptr, self.hist_len)

    def attractiveness(self, users: np.ndarray, times: np.ndarray, items: np.ndarray,
                       news: ItemTable) -> np.ndarray:
        """a_ui of docs/design.md sections 2 and 8 for item ids (B, n) (-1 = none, gets 0)
        shown to users at `times`: sigmoid(b0 + b1 max_m w_m <u_m, v_i> + b2 q_i
        + lambda w_bait b_i + b3 log f_i(t) - b4 seen_ui - b5 satiation), satiation = sum over
        the user's clicks on the item's topic of exp(-(t - t_click) / tau_sat)."""
        items = np.ascontiguousarray(items, dtype=np.int64)
        out = np.empty(items.shape, dtype=np.float64)
        rows = news.table
        items_, times_, topics, _, ptr, length = self.click_ring
        kernels.attractiveness(users, times, items, self.interest, self.channel_weight,
                               rows.vector, rows.quality, rows.bait, rows.pub_time, rows.topic,
                               news.first, self.config.n_topics, items_, times_, topics, ptr,
                               length, self.appeal_coefficients(), out)
        return out

    def appeal_coefficients(self) -> np.ndarray:
        """The coefficients of the attractiveness kernels (`_kernels.attractiveness`)."""
        cfg = self.config
        return np.array([cfg.click_bias, cfg.relevance_weight, cfg.quality_weight,
                         cfg.freshness_weight / (cfg.freshness_tau_hours * HOUR),
                         cfg.seen_penalty, cfg.satiation_strength,
                         1.0 / (cfg.satiation_hours * HOUR),
                         cfg.tradeoff_strength * cfg.bait_weight])

    def satiation(self, users: np.ndarray, times: np.ndarray, items: np.ndarray,
                  news: ItemTable) -> np.ndarray:
        """The satiation term of `attractiveness` alone, per item id (B, n) (0 for -1): the
        user's clicks on the item's topic, each weighted exp(-(t - t_click) / tau_sat)."""
        items = np.ascontiguousarray(items, dtype=np.int64)
        out = np.empty(items.shape, dtype=np.float64)
        _, ring_times, topics, _, ptr, length = self.click_ring
        kernels.satiation(users, times, items, news.table.topic, news.first,
                          self.config.n_topics, ring_times, topics, ptr, length,
                          1.0 / (self.config.satiation_hours * HOUR), out)
        return out

    def consequences(self, users: np.ndarray, times: np.ndarray, items: np.ndarray,
                     clicks: np.ndarray, satisfaction: np.ndarray, news: ItemTable,
                     engage: bool = True, record: bool = True) -> None:
        """What visits leave behind (`_kernels.consequences`), for shown item ids (B, K; -1
        where empty), their clicks and the clicks' satisfaction:

        * ``engage``: E_u after the visit (docs/design.md section 8): decayed from the user's
          last visit, E <- E exp(-dt / tau_E), then E <- E + sum_clicks s_i - boredom,
          boredom = lambda (w_slate C + w_sat sum_clicks satiation_u,c_i), C the slate's topic
          concentration, the satiation from the history before this visit's clicks. Nothing
          to do at lambda = 0, where E has no effect: it stays 0. Call before
          `schedule_returns` (which reads E and moves last_visit).
        * ``record``: the clicks join the history ring and reinforce the channel that best
          explains each: u_m <- u_m + eta (v_i - u_m)."""
        cfg = self.config
        engage = engage and cfg.tradeoff_strength != 0
        if not (engage or record):
            return
        coef = np.array([1.0 / (cfg.engagement_tau_days * DAY),
                         cfg.tradeoff_strength * cfg.boredom_slate_weight,
                         cfg.tradeoff_strength * cfg.boredom_satiation_weight,
                         1.0 / (cfg.satiation_hours * HOUR)])
        rows = news.table
        kernels.consequences(users, times, np.ascontiguousarray(items, dtype=np.int64),
                             np.ascontiguousarray(clicks, dtype=np.bool_),
                             np.ascontiguousarray(satisfaction, dtype=np.float64), rows.vector,
                             rows.topic, rows.provider, news.first, cfg.n_topics,
                             self.interest, self.channel_weight, *self.click_ring,
                             self.last_visit, self.engagement, coef, cfg.reinforcement_rate,
                             engage, record)

    def update_engagement(self, users: np.ndarray, times: np.ndarray, shown_items: np.ndarray,
                          clicks: np.ndarray, satisfaction: np.ndarray, news: ItemTable) -> None:
        """The engagement part of `consequences` alone."""
        self.consequences(users, times, shown_items, clicks, satisfaction, news, record=False)

    # ------------------------------------------------------------------------------------
    def record_clicks(self, users: np.ndarray, times: np.ndarray,
                      clicked_items: np.ndarray, news: ItemTable) -> None:
        """Append clicks (B, K; -1 where none) to the history ring and reinforce the channel
        that best explains each click (the recording part of `consequences` alone)."""
        clicked_items = np.asarray(clicked_items)
        self.consequences(users, times, clicked_items, clicked_items >= 0,
                          np.zeros(clicked_items.shape), news, engage=False)

    def return_coins(self, users: np.ndarray) -> np.ndarray:
        """The coins `schedule_returns` draws for the users' current visits, (3, B): log of
        the gap coin, the churn coin, the disengagement coin, counter-based on (user, visit
        number). Drawn ahead for several visits of distinct users, they are the same."""
        coins = stream_uniforms(self.visit_key, _VISIT_STREAMS, users, self.visit_count[users])
        np.log(coins[0], out=coins[0])
        return coins

    def schedule_returns(self, users: np.ndarray, times: np.ndarray, n_clicks: np.ndarray,
                         coins: np.ndarray | None = None) -> np.ndarray:
        """Record a visit's outcome and return each user's next visit time (inf = churned).

        gap ~ Exp(rate), rate = r0_u * min(exp(g (clicks - c_bar) + lambda g_E
        tanh(E_u / E_s)), cap). Churn: after `churn_after_empty_visits` empty visits in a row
        with probability `churn_probability`, and (an independent coin) with probability
        lambda engagement_churn max(0, -tanh(E_u / E_s)). Every coin is counter-based on
        (user, visit number): common to every agent (``coins``: the visits' `return_coins`,
        when drawn ahead). At lambda = 0 both formulas are the clicks-only ones exactly.
        """
        cfg = self.config
        log_gap_coin, churn_coin, disengage_coin = (self.return_coins(users) if coins is None
                                                    else coins)
        # numpy's tanh, exp and log (its SIMD versions round differently from numba's), the
        # rest in one compiled pass: the same numbers as the all-numpy formula, bit for bit
        engagement = np.tanh(self.engagement[users] / cfg.engagement_scale)
        weight = cfg.tradeoff_strength * cfg.engagement_gain
        growth = np.exp(cfg.satisfaction_gain * (n_clicks - cfg.clicks_baseline)
                        + weight * engagement)
        next_times = np.empty(len(users))
        kernels.schedule_returns(
            users, times, n_clicks, log_gap_coin, growth, churn_coin, disengage_coin,
            engagement, self.base_rate, self.visit_count, self.last_visit, self.empty_streak,
            self.churned, cfg.max_rate_multiplier, cfg.churn_after_empty_visits,
            cfg.churn_probability, cfg.tradeoff_strength * cfg.engagement_churn, _MAX_STREAK,
            next_times)
        return next_times

    def first_visit_times(self) -> np.ndarray:
        """Each user's first visit: an Exp(r0_u) wait from time 0, counter-based."""
        users = np.arange(self.config.n_users)
        return -np.log(hash_uniform(self.visit_key, 2, users)) / self.base_rate


def _smallest_int(n: int) -> type:
    """The smallest signed integer type that holds 0..n-1 (ring topics and providers)."""
    return next(t for t in (np.int8, np.int16, np.int32, np.int64) if n - 1 <= np.iinfo(t).max)
