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
from drnsim._random import hash_uniform
from drnsim.config import DAY, HOUR, WorldConfig

NO_ITEM = -1


class ItemTable(Protocol):
    """The item arrays users react to (the world's news stream provides them)."""

    vector: np.ndarray  # (n_items, d) float32
    quality: np.ndarray  # (n_items,) float32
    bait: np.ndarray  # (n_items,) float32, hidden clickbait b_i >= 0
    pub_time: np.ndarray  # (n_items,) float64
    topic: np.ndarray  # (n_items,) int32


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

        # Behaviour: clicked items as a ring buffer (chronological from ptr - len).
        self.hist_item = np.full((n_users, hist_len), NO_ITEM, dtype=np.int32)
        self.hist_time = np.zeros((n_users, hist_len), dtype=np.float32)
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
    def click_ring(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each user's last L clicks as a ring: items (U, L), times (U, L), the next write
        position and the number stored (U,). Slot s of the chronological history (oldest
        first) is at (ptr - len + s) % L; the kernels read it in place."""
        return self.hist_item, self.hist_time, self.hist_ptr, self.hist_len

    def attractiveness(self, users: np.ndarray, times: np.ndarray, items: np.ndarray,
                       news: ItemTable) -> np.ndarray:
        """a_ui of docs/design.md sections 2 and 8 for item ids (B, n) (-1 = none, gets 0)
        shown to users at `times`: sigmoid(b0 + b1 max_m w_m <u_m, v_i> + b2 q_i
        + lambda w_bait b_i + b3 log f_i(t) - b4 seen_ui - b5 satiation), satiation = sum over
        the user's clicks on the item's topic of exp(-(t - t_click) / tau_sat)."""
        cfg = self.config
        coef = np.array([cfg.click_bias, cfg.relevance_weight, cfg.quality_weight,
                         cfg.freshness_weight / (cfg.freshness_tau_hours * HOUR),
                         cfg.seen_penalty, cfg.satiation_strength,
                         1.0 / (cfg.satiation_hours * HOUR),
                         cfg.tradeoff_strength * cfg.bait_weight])
        out = np.empty(items.shape, dtype=np.float64)
        kernels.attractiveness(users, times, items, self.interest, self.channel_weight,
                               news.vector, news.quality, news.bait, news.pub_time, news.topic,
                               *self.click_ring, coef, out, kernels.n_chunks(len(users)))
        return out

    def satiation(self, users: np.ndarray, times: np.ndarray, items: np.ndarray,
                  item_topic: np.ndarray) -> np.ndarray:
        """The satiation term of `attractiveness` alone, per item id (B, n) (0 for -1): the
        user's clicks on the item's topic, each weighted exp(-(t - t_click) / tau_sat)."""
        out = np.empty(items.shape, dtype=np.float64)
        kernels.satiation(users, times, items, item_topic, *self.click_ring,
                          1.0 / (self.config.satiation_hours * HOUR), out)
        return out

    def update_engagement(self, users: np.ndarray, times: np.ndarray, shown_items: np.ndarray,
                          clicks: np.ndarray, satisfaction: np.ndarray,
                          item_topic: np.ndarray) -> None:
        """E_u after a visit (docs/design.md section 8): decayed from the user's last visit,
        E <- E exp(-dt / tau_E), then E <- E + sum_clicks s_i - boredom, boredom =
        lambda (w_slate C + w_sat sum_clicks satiation_u,c_i), C the slate's topic
        concentration (`_kernels.update_engagement`). Call before the visit's clicks enter
        the history and before `schedule_returns` (which reads E and moves last_visit).
        Nothing to do at lambda = 0, where E has no effect: it stays 0."""
        cfg = self.config
        if cfg.tradeoff_strength == 0:
            return
        coef = np.array([1.0 / (cfg.engagement_tau_days * DAY),
                         cfg.tradeoff_strength * cfg.boredom_slate_weight,
                         cfg.tradeoff_strength * cfg.boredom_satiation_weight,
                         1.0 / (cfg.satiation_hours * HOUR)])
        kernels.update_engagement(users, times, shown_items, clicks, satisfaction, item_topic,
                                  *self.click_ring, self.last_visit, self.engagement, coef)

    # ------------------------------------------------------------------------------------
    def record_clicks(self, users: np.ndarray, times: np.ndarray,
                      clicked_items: np.ndarray, item_vector: np.ndarray) -> None:
        """Append clicks (B, K; -1 where none) to the history ring and reinforce the channel
        that best explains each click: u_m <- u_m + eta (v_i - u_m) (`_kernels.record_clicks`)."""
        kernels.record_clicks(users, times, clicked_items, item_vector, self.interest,
                              self.channel_weight, *self.click_ring,
                              self.config.reinforcement_rate)

    def schedule_returns(self, users: np.ndarray, times: np.ndarray,
                         n_clicks: np.ndarray) -> np.ndarray:
        """Record a visit's outcome and return each user's next visit time (inf = churned).

        gap ~ Exp(rate), rate = r0_u * min(exp(g (clicks - c_bar) + lambda g_E
        tanh(E_u / E_s)), cap). Churn: after `churn_after_empty_visits` empty visits in a row
        with probability `churn_probability`, and (an independent coin) with probability
        lambda engagement_churn max(0, -tanh(E_u / E_s)). Every coin is counter-based on
        (user, visit number): common to every agent. At lambda = 0 both formulas are the
        clicks-only ones exactly.
        """
        cfg = self.config
        visit_no = self.visit_count[users]
        self.visit_count[users] = visit_no + 1
        self.last_visit[users] = times
        engagement = np.tanh(self.engagement[users] / cfg.engagement_scale)
        weight = cfg.tradeoff_strength * cfg.engagement_gain
        multiplier = np.minimum(np.exp(cfg.satisfaction_gain * (n_clicks - cfg.clicks_baseline)
                                       + weight * engagement), cfg.max_rate_multiplier)
        rate = self.base_rate[users] * multiplier
        gap = -np.log(hash_uniform(self.visit_key, 0, users, visit_no)) / rate
        streak = np.where(n_clicks > 0, 0, self.empty_streak[users] + 1)
        self.empty_streak[users] = np.minimum(streak, np.iinfo(np.int16).max)
        churn = ((streak >= cfg.churn_after_empty_visits)
                 & (hash_uniform(self.visit_key, 1, users, visit_no) < cfg.churn_probability))
        disengaged = cfg.tradeoff_strength * cfg.engagement_churn * np.maximum(-engagement, 0.0)
        churn |= hash_uniform(self.visit_key, 3, users, visit_no) < disengaged
        self.churned[users] |= churn
        return np.where(churn, np.inf, times + gap)

    def first_visit_times(self) -> np.ndarray:
        """Each user's first visit: an Exp(r0_u) wait from time 0, counter-based."""
        users = np.arange(self.config.n_users)
        return -np.log(hash_uniform(self.visit_key, 2, users)) / self.base_rate
